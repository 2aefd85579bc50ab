// The meter bridge (every node, every channel: RMS bar, peak line, 1.5 s peak hold, latched
// clip LED, numbers) and the master section (outputs: momentary/short-term LUFS, true peak).

import { state } from "./state.js";
import { html, $, dbText, byTestId } from "./dom.js";
import { meterFraction } from "./graph.js";

const HOLD_MS = 1500;
const TICKS = [6, 0, -6, -12, -18, -24, -36, -48, -60];
const CLIP_DB = 0;  // a sample at or above full scale (as the feed rounds it) latches the LED

function scale(parent) {
  const s = html("div", { class: "scale", "aria-hidden": "true" }, parent);
  for (const t of TICKS) {
    const tick = html("span", {}, s, t > 0 ? `+${t}` : String(t));
    tick.style.bottom = `${meterFraction(t) * 100}%`;
  }
  return s;
}

function channelBar(parent, id, c) {
  const bar = html("div", { class: "bar", "data-testid": `bar-${id}-${c}` }, parent);
  for (const t of TICKS) {
    const line = html("i", { class: t === 0 ? "zero" : "" }, bar);
    line.style.bottom = `${meterFraction(t) * 100}%`;
  }
  html("div", { class: "rms" }, bar);
  html("div", { class: "peak" }, bar);
  html("div", { class: "hold", "data-testid": `hold-${id}-${c}` }, bar);
  return bar;
}

function clipLed(parent, id, c) {
  const led = html("button", { class: "clip", "data-testid": `clip-${id}-${c}`, "data-clipped": "false",
    "aria-pressed": "false", "aria-label": `${id} channel ${c + 1} clip indicator: press to reset`,
    title: "clip (latched) — click to reset" }, parent);
  led.onclick = () => resetClip(id, c);
  return led;
}

function resetClip(id, c) {
  const m = state.meters[id];
  if (!m) return;
  m.clipped[c] = false;
  const led = byTestId(`clip-${id}-${c}`);
  led.dataset.clipped = "false";
  led.setAttribute("aria-pressed", "false");
}

/** One strip per node with a meter (the bridge) and the outputs' master section. */
export function buildMeters(graph) {
  const bridge = $("bridge");
  bridge.replaceChildren();
  scale(bridge);
  const master = $("master");
  master.replaceChildren();
  const old = state.meters;
  state.meters = {};
  for (const n of graph.nodes) {
    if (!n.meter_channels) continue;
    const keep = old[n.id] && old[n.id].hold.length === n.meter_channels ? old[n.id] : null;
    state.meters[n.id] = keep || {
      hold: Array(n.meter_channels).fill(graph.db_floor),
      holdAt: Array(n.meter_channels).fill(0),
      clipped: Array(n.meter_channels).fill(false),
      max: graph.db_floor,
    };
    const strip = html("div", { class: `strip ${n.role}`, "data-testid": `strip-${n.id}`, title: `${n.id} (${n.type})` }, bridge);
    const leds = html("div", { class: "leds" }, strip);
    const bars = html("div", { class: "bars" }, strip);
    for (let c = 0; c < n.meter_channels; c++) {
      clipLed(leds, n.id, c);
      channelBar(bars, n.id, c);
    }
    html("output", { class: "readout", "data-testid": `readout-${n.id}` }, strip, "−∞");
    html("span", { class: "name" }, strip, n.id.replace(/_/g, "_\u200b"));  // break after _
    if (n.role === "sink") buildMaster(master, n);
  }
  for (const [id, m] of Object.entries(state.meters)) {
    m.clipped.forEach((on, c) => { if (on) latch(id, c); });
  }
}

function buildMaster(root, n) {
  const box = html("div", { class: "out", "data-testid": `master-${n.id}` }, root);
  html("h3", {}, box, n.id);
  const bars = html("div", { class: "master-bars" }, box);
  for (let c = 0; c < n.meter_channels; c++) {
    const row = html("div", { class: "hbar", "data-testid": `master-bar-${n.id}-${c}` }, bars);
    html("div", { class: "rms" }, row);
    html("div", { class: "peak" }, row);
    html("div", { class: "hold" }, row);
  }
  const ticks = html("div", { class: "hscale", "aria-hidden": "true" }, bars);
  for (const t of TICKS) {
    const s = html("span", {}, ticks, t > 0 ? `+${t}` : String(t));
    s.style.left = `${meterFraction(t) * 100}%`;
  }
  const nums = html("dl", { class: "loudness" }, box);
  for (const [key, label, unit] of [["lufs_m", "Momentary", "LUFS"], ["lufs_s", "Short-term", "LUFS"],
    ["true_peak_db", "True peak", "dBTP"]]) {
    const item = html("div", {}, nums);
    html("dt", {}, item, label);
    const dd = html("dd", { "data-testid": `${key.replace("_db", "").replace("_", "-")}-${n.id}` }, item, "–");
    html("small", {}, dd, ` ${unit}`);
  }
}

function latch(id, c) {
  const led = byTestId(`clip-${id}-${c}`);
  if (!led) return;
  led.dataset.clipped = "true";
  led.setAttribute("aria-pressed", "true");
}

const pct = (db) => `${(meterFraction(db) * 100).toFixed(2)}%`;

/** Fold one frame into the meters' state (every frame: no peak or clip is missed). */
export function foldMeters(nodes, now) {
  for (const [id, f] of Object.entries(nodes)) {
    const m = state.meters[id];
    if (!m) continue;
    f.peak_db.forEach((db, c) => {
      if (c >= m.hold.length) return;
      if (db >= m.hold[c] || now - m.holdAt[c] > HOLD_MS) { m.hold[c] = db; m.holdAt[c] = now; }
      if (db >= CLIP_DB && !m.clipped[c]) { m.clipped[c] = true; latch(id, c); }
    });
  }
}

function elements(id, m) {
  if (m.els && m.els.strip.isConnected) return m.els;
  const strip = byTestId(`strip-${id}`);
  const bars = strip ? [...strip.querySelectorAll(".bar")].map((b) => ({
    rms: b.querySelector(".rms"), peak: b.querySelector(".peak"), hold: b.querySelector(".hold") })) : [];
  const rows = m.hold.map((_, c) => byTestId(`master-bar-${id}-${c}`)).filter(Boolean).map((r) => ({
    rms: r.querySelector(".rms"), peak: r.querySelector(".peak"), hold: r.querySelector(".hold") }));
  const loud = Object.fromEntries(["lufs-m", "lufs-s", "true-peak"].map((k) => [k, byTestId(`${k}-${id}`)]));
  m.els = { strip, bars, rows, readout: strip && strip.querySelector(".readout"), loud };
  return m.els;
}

/** Paint the latest frame's levels (once per animation frame). */
export function paintMeters(nodes) {
  for (const [id, f] of Object.entries(nodes)) {
    const m = state.meters[id];
    if (!m) continue;
    const els = elements(id, m);
    if (!els.strip) continue;
    let loudest = -Infinity;
    f.peak_db.forEach((db, c) => {
      if (c >= m.hold.length) return;
      loudest = Math.max(loudest, m.hold[c]);
      const level = 100 - meterFraction(f.rms_db[c]) * 100;
      const bar = els.bars[c];
      if (bar) {
        bar.rms.style.clipPath = `inset(${level}% 0 0 0)`;
        bar.peak.style.bottom = pct(db);
        bar.hold.style.bottom = pct(m.hold[c]);
        bar.hold.classList.toggle("over", m.hold[c] >= CLIP_DB);
        bar.hold.classList.toggle("hot", m.hold[c] > -6 && m.hold[c] < CLIP_DB);
      }
      const row = els.rows[c];
      if (row) {
        row.rms.style.clipPath = `inset(0 ${level}% 0 0)`;
        row.peak.style.left = pct(db);
        row.hold.style.left = pct(m.hold[c]);
      }
    });
    els.readout.textContent = dbText(loudest, state.graph.db_floor);
    els.readout.classList.toggle("over", loudest >= CLIP_DB);
    if ("lufs_m" in f) {
      for (const [key, tid] of [["lufs_m", "lufs-m"], ["lufs_s", "lufs-s"], ["true_peak_db", "true-peak"]]) {
        const el = els.loud[tid];
        if (el) el.firstChild.textContent = f[key] === null ? "–" : dbText(f[key], -70);
      }
      if (els.loud["true-peak"]) els.loud["true-peak"].classList.toggle("over", f.true_peak_db >= -1);
    }
  }
}
