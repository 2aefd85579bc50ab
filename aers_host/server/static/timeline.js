// The scene timeline (beds and long sources as bars, one-shots as ticks, one row per
// category with its voice count, a playhead), the event log, and the block-time strip chart.

import { state } from "./state.js";
import { html, $ } from "./dom.js";

const HISTORY = 300;          // strip-chart points (10 s at 30 Hz)
const TICK_S = 0.3;           // voices shorter than this are drawn as ticks
const LIVE_SPAN_S = 20;       // window shown when the scene does not loop
const COLORS = ["#3ccf7a", "#4fa3ff", "#ef8a50", "#e8c547", "#b889ff", "#4dd0c8", "#f06292"];
const INK = "#d8e1ea", DIM = "#8a98a6", GRID = "#243240";

// Canvas sizes come from a ResizeObserver: reading clientWidth while drawing would force
// a layout of the whole page on every frame.
const sizes = new Map();
const observer = new ResizeObserver((entries) => {
  for (const e of entries) sizes.set(e.target, [e.contentRect.width, e.contentRect.height]);
});

function fitCanvas(canvas) {
  if (!sizes.has(canvas)) { observer.observe(canvas); sizes.set(canvas, [canvas.clientWidth, canvas.clientHeight]); }
  const ratio = window.devicePixelRatio || 1, [w, h] = sizes.get(canvas);
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return [ctx, w, h];
}

export function resetTimeline() {
  state.history = [];
  state.events = [];
}

/** A live `event` notice: into the log (newest first). */
export function onEvent(e) {
  state.notices.push(e);
  if (state.notices.length > 500) state.notices.splice(0, 100);
  const li = html("li", { class: e.kind }, null, `${e.kind.padEnd(5)} ${e.id} (${e.category}) → ${e.to} @ ${e.sample}`);
  const log = $("event-log");
  log.prepend(li);
  while (log.children.length > 50) log.lastChild.remove();
}

export function pushHistory(f) {
  state.history.push([f.block_us.mean, f.block_us.max, f.cpu.engine]);
  if (state.history.length > HISTORY) state.history.shift();
}

export function drawTimeline() {
  const g = state.graph, f = state.frame;
  const [ctx, w, h] = fitCanvas($("timeline"));
  ctx.clearRect(0, 0, w, h);
  if (!g || !f) return;
  const scene = g.scene || [];
  const sr = g.sample_rate, now = f.sample;
  const looping = Boolean(g.loop_frames);
  const t0 = looping ? 0 : Math.max(0, now - LIVE_SPAN_S * sr);
  const span = looping ? g.loop_frames : LIVE_SPAN_S * sr;
  const cats = [...new Set(scene.map((v) => v.category))];
  const left = 118, right = w - 8, top = 4, axis = 16;
  const rowH = Math.min(26, (h - top - axis) / Math.max(1, cats.length));
  const x = (s) => left + ((s - t0) / span) * (right - left);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  // Second grid and labels.
  const step = span / sr > 30 ? 5 : span / sr > 12 ? 2 : 1;
  ctx.fillStyle = DIM;
  for (let s = Math.ceil(t0 / sr / step) * step; s * sr <= t0 + span; s += step) {
    const gx = x(s * sr);
    ctx.fillStyle = GRID; ctx.fillRect(gx, top, 1, h - top - axis);
    ctx.fillStyle = DIM; ctx.fillText(`${s}s`, gx + 2, h - axis / 2);
  }
  const voices = state.timelineVoices = {};
  cats.forEach((cat, i) => {
    const y = top + i * rowH, color = COLORS[i % COLORS.length];
    const sounding = scene.filter((v) => v.category === cat && v.at <= now && now < v.end).length;
    voices[cat] = sounding;
    ctx.fillStyle = i % 2 ? "#111920" : "#0e151b";
    ctx.fillRect(0, y, w, rowH);
    ctx.fillStyle = sounding ? INK : DIM;
    ctx.fillText(cat, 6, y + rowH / 2);
    ctx.fillStyle = sounding ? color : DIM;
    ctx.fillText(`${sounding} voice${sounding === 1 ? "" : "s"}`, 72, y + rowH / 2);
    for (const v of scene) {
      if (v.category !== cat || v.end < t0 || v.at > t0 + span) continue;
      const x1 = x(Math.max(v.at, t0)), x2 = x(Math.min(v.end, t0 + span));
      const on = v.at <= now && now < v.end;
      ctx.fillStyle = color;
      if ((v.end - v.at) / sr < TICK_S) {
        ctx.globalAlpha = on ? 1 : 0.8;
        ctx.fillRect(x1 - 1, y + 3, 3, rowH - 6);
      } else {
        ctx.globalAlpha = on ? 0.95 : 0.45;
        ctx.fillRect(x1, y + 5, Math.max(3, x2 - x1), rowH - 10);
      }
      ctx.globalAlpha = 1;
    }
  });
  if (!scene.length) {
    ctx.fillStyle = DIM;
    ctx.fillText("this graph has no scene events", left, (h - axis) / 2);
  }
  const px = x(now);
  ctx.fillStyle = INK;
  ctx.fillRect(px, top, 1.5, h - top - axis);
  $("timeline-info").textContent = `${(now / sr).toFixed(1)} s${looping ? ` of ${(g.loop_frames / sr).toFixed(1)} s · pass ${f.loop}` : ""}`
    + ` · ${f.events_in_flight} sounding`;
}

function robustTop(values) {
  // Scale to the 95th percentile so one warm-up spike does not flatten the chart;
  // taller values are clipped at the top edge.
  const sorted = [...values].sort((a, b) => a - b);
  return Math.max(1, sorted[Math.floor(0.95 * (sorted.length - 1))] || 0) * 1.5;
}

export function drawStrip() {
  const [ctx, w, h] = fitCanvas($("strip"));
  const hist = state.history;
  ctx.clearRect(0, 0, w, h);
  if (!hist.length) return;
  const period = state.graph ? state.graph.block_period_us : 0;
  const maxUs = robustTop(hist.map((r) => r[1]));
  const maxCpu = robustTop(hist.map((r) => r[2]));
  const series = [[0, "#4fa3ff", maxUs], [1, "#b889ff", maxUs], [2, "#e8c547", maxCpu]];
  for (const [k, color, top] of series) {
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
    hist.forEach((r, i) => {
      const px = (i / (HISTORY - 1)) * w, py = h - 4 - Math.min(1, r[k] / top) * (h - 18);
      if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    });
    ctx.stroke();
  }
  const peakUs = Math.max(...hist.map((r) => r[1]));
  ctx.fillStyle = DIM; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "top";
  ctx.fillText(`top ${maxUs.toFixed(0)} µs · max seen ${peakUs.toFixed(0)} µs`
    + (period ? ` · period ${period.toFixed(0)} µs` : ""), 4, 3);
  ctx.textAlign = "right";
  ctx.fillText(`top ${maxCpu.toFixed(1)} % CPU`, w - 4, 3);
  ctx.textAlign = "left";
}
