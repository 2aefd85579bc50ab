// AERS live dashboard: plain ES modules, no build step. Speaks feed schema v1 (docs/feed.md).

import { state } from "./state.js";
import { $ } from "./dom.js";
import { PROTOCOL, feedUrl, undo, report, refusal } from "./api.js";
import { buildGraph, updateGraphNode } from "./graph.js";
import { buildControls, applyValues, showControlError, clearControlError } from "./controls.js";
import { buildMeters, foldMeters, paintMeters } from "./meters.js";
import { assess, buildLoadTable, updateLoadTable } from "./health.js";
import { resetTimeline, onEvent, pushHistory, drawTimeline, drawStrip } from "./timeline.js";
import { loadTypes, openPalette, closePalette, buildPalette } from "./palette.js";

// ------------------------------------------------------------------ connection

function connect() {
  const ws = new WebSocket(feedUrl());
  state.socket = ws;
  setStatus("connecting…", false);
  ws.onopen = () => { state.retry = 0; setStatus("live", true); };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => {
    setStatus("reconnecting…", false);
    const delay = Math.min(5000, 250 * 2 ** state.retry++);  // backoff, capped at 5 s
    setTimeout(connect, delay);
  };
  ws.onerror = () => ws.close();
}

function setStatus(text, up) {
  const el = $("status");
  el.textContent = text;
  el.className = `pill ${up ? "up" : "down"}`;
  el.dataset.state = up ? "up" : "down";
}

function onMessage(msg) {
  if (msg.v !== PROTOCOL) return;
  switch (msg.type) {
    case "graph": return onGraph(msg);
    case "frame": return onFrame(msg);
    case "params": return applyValues(msg.nodes);
    case "event": return onEvent(msg);
    case "edited":
      $("last-ack").textContent = `edit by ${msg.who} live @ sample ${msg.sample}`
        + (msg.latency_after !== msg.latency_before ? `, latency ${msg.latency_after} smp` : "");
      return undefined;
    case "ack":
      state.acks.push(msg);
      clearControlError(msg);
      $("last-ack").textContent = msg.edit
        ? `edit (${msg.edit.ops.length} ops) @ sample ${msg.sample}`
        : `${msg.action} ${msg.node}${msg.param ? "." + msg.param : ""} = ${msg.value} @ sample ${msg.sample} (pass ${msg.loop})`;
      return undefined;
    case "error":
      state.errors.push(msg);
      showControlError(msg);
      $("last-error").textContent = `${msg.code}: ${refusal(msg)}`;
      return undefined;
    default: return undefined;
  }
}

function onGraph(graph) {
  const first = !state.graph;
  state.graph = graph;
  resetTimeline();
  buildGraph(graph);
  buildMeters(graph);
  buildControls(graph);
  buildLoadTable();
  buildPalette();
  $("edits").textContent = graph.edits;
  $("undo").disabled = graph.edits === 0;
  if (first) loadTypes().then(() => buildControls(state.graph));
}

// ------------------------------------------------------------------ frames

function onFrame(f) {
  // Every frame is folded into state (peaks, clip latches, health counters); the page is
  // painted once per animation frame with the newest one, so a busy page never lags.
  state.frame = f; state.frames++;
  const now = performance.now();
  foldMeters(f.nodes, now);
  state.alarms = Object.fromEntries(Object.entries(f.nodes).map(([id, m]) => [id, assess(id, m, now)]));
  pushHistory(f);
  if (!state.painting) { state.painting = true; requestAnimationFrame(paint); }
}

function paint() {
  state.painting = false;
  const f = state.frame;
  $("sample").textContent = (f.sample / state.graph.sample_rate).toFixed(2);
  $("loop").textContent = f.loop;
  $("block-us").textContent = f.block_us.mean.toFixed(0);
  $("cpu").textContent = f.cpu.engine.toFixed(1);
  $("xruns").textContent = f.xruns;
  $("dropped").textContent = f.dropped;
  $("xruns").parentElement.classList.toggle("bad", f.xruns > (state.lastXruns ?? f.xruns));
  state.lastXruns = f.xruns;
  for (const [id, m] of Object.entries(f.nodes)) updateGraphNode(id, m, state.alarms[id]);
  for (const action of ["bypass", "mute", "solo"]) {
    for (const [id, m] of Object.entries(f.nodes)) {
      const b = document.querySelector(`[data-testid="${action}-${CSS.escape(id)}"]`);
      if (b) b.setAttribute("aria-pressed", m[action]);
    }
  }
  paintMeters(f.nodes);
  updateLoadTable(f);
  drawStrip();
  drawTimeline();
}

// ------------------------------------------------------------------ page controls

$("undo").onclick = async () => {
  const result = await undo();
  report($("undo-error"), result);
  if (result.ok) $("last-ack").textContent = `undo (${result.body.edit.ops.length} ops) @ sample ${result.body.sample}`;
};
$("add-node").onclick = () => ($("palette").hidden ? openPalette() : closePalette());
$("palette-close").onclick = closePalette;
$("palette-search").oninput = buildPalette;
$("palette").addEventListener("keydown", (ev) => { if (ev.key === "Escape") closePalette(); });
document.addEventListener("keydown", (ev) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (!typing && (ev.ctrlKey || ev.metaKey) && ev.key === "z") { ev.preventDefault(); $("undo").click(); }
});
window.addEventListener("resize", () => { if (state.graph) buildGraph(state.graph); });

connect();
