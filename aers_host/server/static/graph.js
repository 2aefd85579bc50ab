// The routing graph: a layered left-to-right layout, cables you can drag, click and remove,
// nodes you can drag (positions kept in localStorage), mini meters and health badges.

import { state, nodeById } from "./state.js";
import { svg, html, $, esc, byTestId, dbText } from "./dom.js";
import { edit, report, messageSlot } from "./api.js";
import { select } from "./controls.js";

const PAD = 18, ROW_GAP = 20, MIN_COL = 150, HEAD = 20;
const DB_MIN = -60, DB_MAX = 6;
const STORE = "aers.positions";
let geometry = { pos: new Map(), width: 0, height: 0, nodeW: 130, bottom: 0 };

const savedPositions = () => {
  try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch { return {}; }
};
function savePosition(id, p) {
  const all = savedPositions();
  all[id] = [Math.round(p.x), Math.round(p.y)];
  localStorage.setItem(STORE, JSON.stringify(all));
}

/** Fraction of a meter's length for a level in dB on the −60…+6 dB scale. */
export const meterFraction = (db) => Math.min(1, Math.max(0, (db - DB_MIN) / (DB_MAX - DB_MIN)));

const nodeHeight = (n) => HEAD + 22 + 7 * Math.max(n.meter_channels, 1) + 16;

/**
 * Mark the cables that close a loop: a depth-first walk from the sources (in config order)
 * meets them as back edges, so a feedback delay sits after the bus it listens to and its
 * return runs back along the bottom (the planner's own order puts the delay first).
 */
function markReturns(graph) {
  const out = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) out.get(e.from).push(e);
  const seen = new Map();  // id → 1 on the walk's path, 2 done
  const walk = (id) => {
    seen.set(id, 1);
    for (const e of out.get(id)) {
      const s = seen.get(e.to);
      e.back = s === 1;
      if (!s) walk(e.to);
    }
    seen.set(id, 2);
  };
  const roots = [...graph.nodes.filter((n) => n.role === "source"), ...graph.nodes];
  for (const n of roots) if (!seen.has(n.id)) walk(n.id);
}

/** Layers: longest path over forward cables; every output in the last column. */
function assignLayers(graph) {
  markReturns(graph);
  const layer = new Map(graph.nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < graph.nodes.length; pass++) {
    let changed = false;
    for (const e of graph.edges) {
      if (e.back || layer.get(e.to) > layer.get(e.from)) continue;
      layer.set(e.to, layer.get(e.from) + 1);
      changed = true;
    }
    if (!changed) break;
  }
  const last = Math.max(...layer.values());
  for (const n of graph.nodes) if (n.role === "sink") layer.set(n.id, last);
  return layer;
}

/**
 * Order the nodes of each layer by the mean position of their neighbours (barycentres).
 * A cable that skips layers gets a waypoint in each layer it crosses (Sugiyama's dummy
 * nodes), so it runs between nodes instead of behind them.
 */
function orderLayers(graph) {
  const layers = [];
  const layerOf = assignLayers(graph);
  for (const n of graph.nodes) (layers[layerOf.get(n.id)] ||= []).push(n.id);
  const forward = [];
  graph.edges.forEach((e, i) => {
    e.via = [];
    if (e.back) return;
    let prev = e.from;
    for (let l = layerOf.get(e.from) + 1; l < layerOf.get(e.to); l++) {
      const id = `~${i}:${l}`;
      (layers[l] ||= []).push(id);
      e.via.push(id);
      forward.push({ from: prev, to: id });
      prev = id;
    }
    forward.push({ from: prev, to: e.to });
  });
  const rank = new Map();
  const setRanks = () => layers.forEach((ids) => ids.forEach((id, i) => rank.set(id, i)));
  setRanks();
  const sweep = (key, other) => {
    for (const ids of layers) {
      if (!ids) continue;
      const score = new Map(ids.map((id) => {
        const ns = forward.filter((e) => e[key] === id).map((e) => rank.get(e[other]));
        return [id, ns.length ? ns.reduce((a, b) => a + b, 0) / ns.length : rank.get(id)];
      }));
      ids.sort((a, b) => score.get(a) - score.get(b));
      ids.forEach((id, i) => rank.set(id, i));
    }
  };
  for (let i = 0; i < 3; i++) { sweep("to", "from"); layers.reverse(); sweep("from", "to"); layers.reverse(); }
  return layers.filter(Boolean);
}

function layout(graph, width) {
  const layers = orderLayers(graph);
  const cols = layers.length;
  const colW = Math.max(MIN_COL, (width - 2 * PAD) / cols);
  const nodeW = Math.min(168, colW - 40);
  const pos = new Map();
  let height = 0;
  layers.forEach((ids, layer) => {
    let y = PAD;
    for (const id of ids) {
      const n = nodeById(id);
      const h = n ? nodeHeight(n) : 8;  // a waypoint of a cable needs only a lane
      pos.set(id, { x: PAD + layer * colW, y, h, waypoint: !n });
      y += h + (n ? ROW_GAP : 6);
    }
    height = Math.max(height, y);
  });
  const saved = savedPositions();
  for (const [id, p] of pos) {
    if (saved[id]) { p.x = saved[id][0]; p.y = saved[id][1]; }
  }
  return { pos, nodeW, width: Math.max(width, PAD + cols * colW) };
}

/** Build (or rebuild, after an edit) the whole graph from a `graph` message. */
export function buildGraph(graph) {
  const root = $("graph");
  root.replaceChildren();
  const width = Math.max(600, root.parentElement.clientWidth - 4);
  geometry = { ...geometry, ...layout(graph, width) };
  const g = svg("g", { class: "edges" }, root);
  g.id = "edges";
  svg("g", { id: "nodes" }, root);
  svg("g", { id: "edge-labels", class: "labels" }, root);
  for (const n of graph.nodes) drawNode(n);
  routeEdges();
  $("graph-info").textContent = `${graph.nodes.length} nodes · ${graph.sample_rate} Hz · block `
    + `${graph.block_size} · latency ${graph.total_latency} smp`
    + (graph.loop_frames ? ` · loops every ${(graph.loop_frames / graph.sample_rate).toFixed(1)} s` : " · live");
}

function fitViewBox() {
  let w = geometry.width, h = 0;
  for (const [id, p] of geometry.pos) {
    if (!nodeById(id)) continue;
    w = Math.max(w, p.x + geometry.nodeW + PAD + 20);
    h = Math.max(h, p.y + p.h);
  }
  const feedback = state.graph.edges.filter((e) => e.back).length;
  geometry.bottom = h + 16;
  h += 24 + 12 * feedback;
  const root = $("graph");
  root.setAttribute("viewBox", `0 0 ${w} ${h}`);
  root.style.height = `${Math.max(260, h * (root.clientWidth || w) / w)}px`;
}

function drawNode(n) {
  const p = geometry.pos.get(n.id), w = geometry.nodeW;
  const g = svg("g", {
    class: `node ${n.role}`, "data-testid": `graph-node-${n.id}`, "data-node": n.id,
    transform: `translate(${p.x},${p.y})`, tabindex: 0, role: "button",
    "aria-label": `${n.id}, ${n.type}. Enter selects, arrow keys move, Delete removes`,
  }, $("nodes"));
  svg("rect", { class: "box", width: w, height: p.h, rx: 7 }, g);
  svg("path", { class: "head", d: `M0,7 a7,7 0 0 1 7,-7 h${w - 14} a7,7 0 0 1 7,7 v${HEAD - 7} h${-w} z` }, g);
  svg("text", { x: 9, y: 14.5, class: "title" }, g).textContent = n.id;
  const channels = n.channels_in === n.channels_out || !n.channels_in || !n.channels_out
    ? `${n.channels_out || n.channels_in} ch` : `${n.channels_in}→${n.channels_out}`;
  const typeLine = svg("text", { x: 9, y: HEAD + 14, class: "type" }, g);
  const latency = n.latency ? ` · ${n.latency} smp` : "";
  const full = `${n.type} · ${channels}${latency}`;
  typeLine.textContent = full.length * 6 <= w - 14 ? full : `${n.type}${latency}`;  // fit the box
  svg("title", {}, typeLine).textContent = `${n.type}, ${n.channels_in} in → ${n.channels_out} out`
    + `${n.latency ? `, latency ${n.latency} samples` : ""}`;
  for (let c = 0; c < n.meter_channels; c++) {
    const y = HEAD + 22 + c * 7;
    svg("rect", { class: "meter-bg", x: 9, y, width: w - 18, height: 5, rx: 1 }, g);
    svg("rect", { class: "meter-rms", x: 9, y, width: 0, height: 5,
      "data-testid": `rms-${n.id}-${c}` }, g);
    svg("rect", { class: "meter-peak", x: 9, y: y + 1.5, width: 0, height: 2,
      "data-testid": `meter-${n.id}-${c}`, "data-peak-db": state.graph.db_floor }, g);
  }
  svg("text", { x: 9, y: p.h - 6, class: "stats", "data-testid": `stats-${n.id}` }, g).textContent = "–";
  const badge = svg("g", { class: "badge", "data-testid": `badge-${n.id}`,
    transform: `translate(${w - 8},-6)` }, g);
  svg("title", {}, badge);
  svg("rect", { x: -44, y: 0, width: 44, height: 14, rx: 7 }, badge);
  svg("text", { x: -22, y: 10.5, "text-anchor": "middle" }, badge);
  if (n.role !== "source") port(g, n, "main", 0, p.h / 2);
  if (n.sidechain) {
    port(g, n, "sidechain", 0, p.h - 9);
    svg("text", { x: -8, y: p.h + 2, class: "port-label", "text-anchor": "end" }, g).textContent = "sc";
  }
  if (n.role !== "sink") port(g, n, "out", w, p.h / 2);
  if (state.selected === n.id) g.classList.add("selected");
  attachNodeDrag(g, n.id);
}

function port(g, n, kind, cx, cy) {
  const el = svg("circle", { class: `port ${kind}`, cx, cy, r: 6, "data-port": kind,
    "data-port-node": n.id, "data-testid": `port-${kind}-${n.id}` }, g);
  svg("title", {}, el).textContent = kind === "out" ? `${n.id} output: drag to an input`
    : `${n.id} ${kind === "main" ? "input" : "side-chain input"}`;
  if (kind === "out") attachCableDrag(el, n.id);
  return el;
}

// ------------------------------------------------------------------ edges

function anchor(id, kind) {
  const p = geometry.pos.get(id), w = geometry.nodeW;
  if (kind === "out") return [p.x + w, p.y + p.h / 2];
  if (kind === "sidechain") return [p.x, p.y + p.h - 9];
  return [p.x, p.y + p.h / 2];
}

function edgePath(e, lane) {
  const [x1, y1] = anchor(e.from, "out");
  const [x2, y2] = anchor(e.to, e.port === "sidechain" ? "sidechain" : "main");
  if (e.back) {  // back along the bottom, under every node
    const y = geometry.bottom + 10 + lane * 12;
    return { d: `M${x1},${y1} h12 q6,0 6,6 V${y - 6} q0,6 -6,6 H${x2 - 12} q-6,0 -6,-6 V${y2 + 6} q0,-6 6,-6 H${x2}`,
      mid: [(x1 + x2) / 2, y - 3] };
  }
  const saved = savedPositions();
  const via = saved[e.from] || saved[e.to] ? [] : (e.via || []).map((id) => geometry.pos.get(id));
  if (via.length) {  // through its waypoints: a curve into each, straight across its column
    let d = `M${x1},${y1}`, x = x1, y = y1;
    for (const p of [...via.map((w) => [w.x, w.y + w.h / 2, w.x + geometry.nodeW]), [x2, y2, x2]]) {
      const bend = Math.max(20, (p[0] - x) / 2);
      d += ` C${x + bend},${y} ${p[0] - bend},${p[1]} ${p[0]},${p[1]}`;
      if (p[2] !== p[0]) d += ` H${p[2]}`;
      [x, y] = [p[2], p[1]];
    }
    const first = via[0];
    return { d, mid: [(x1 + first.x) / 2, (y1 + first.y + first.h / 2) / 2] };
  }
  // A cubic from the output to the input; the label sits 30 % along, near its source.
  const bend = Math.max(30, Math.abs(x2 - x1) / 2);
  const c1 = [x1 + bend, y1], c2 = [x2 - bend, y2], t = 0.3, u = 1 - t;
  const at = (a, b, c, d) => u * u * u * a + 3 * u * u * t * b + 3 * u * t * t * c + t * t * t * d;
  const d = `M${x1},${y1} C${c1[0]},${c1[1]} ${c2[0]},${c2[1]} ${x2},${y2}`;
  return { d, mid: [at(x1, c1[0], c2[0], x2), at(y1, c1[1], c2[1], y2)] };
}

function edgeLabel(e) {
  const parts = [];
  if (e.port === "sidechain") parts.push("side-chain");
  if (e.tap === "pre") parts.push("pre");
  if (e.gain_db) parts.push(`${e.gain_db > 0 ? "+" : "−"}${Math.abs(e.gain_db)} dB`);
  if (e.delay) parts.push(`+${e.delay} smp`);
  return parts.join(" · ");
}

/** Draw every cable from the current node positions (after a build or a node drag). */
export function routeEdges() {
  fitViewBox();
  const root = $("edges"), labels = $("edge-labels");
  root.replaceChildren();
  labels.replaceChildren();
  let lane = 0;
  for (const e of state.graph.edges) {
    if (!geometry.pos.has(e.from) || !geometry.pos.has(e.to)) continue;
    const { d, mid } = edgePath(e, e.back ? lane++ : 0);
    const cls = `edge${e.back ? " feedback" : ""}${e.port === "sidechain" ? " sidechain" : ""}`;
    const name = `${e.from} → ${e.to}${e.port === "sidechain" ? " (side-chain)" : ""}`;
    const group = svg("g", { class: "cable" }, root);
    svg("path", { d, class: cls, "data-testid": `edge-${e.from}-${e.to}` }, group);
    const hit = svg("path", { d, class: "edge-hit", tabindex: 0, role: "button",
      "data-testid": `cable-${e.from}-${e.to}-${e.port}`,
      "aria-label": `cable ${name}${e.gain_db ? `, ${e.gain_db} dB` : ""}: Enter to edit` }, group);
    svg("title", {}, hit).textContent = `${name} — click to set its gain or remove it`;
    hit.addEventListener("click", (ev) => openCable(e, ev.clientX, ev.clientY));
    hit.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        const r = hit.getBoundingClientRect();
        openCable(e, r.left + r.width / 2, r.top + r.height / 2);
      }
    });
    const label = edgeLabel(e);
    if (label) {
      const t = svg("text", { x: mid[0], y: mid[1] - 4, class: `edge-label${e.port === "sidechain" ? " sc" : ""}`,
        "text-anchor": "middle", "data-testid": `edge-label-${e.from}-${e.to}` }, labels);
      t.textContent = label;
    }
  }
}

// ------------------------------------------------------------------ interaction

function toSvg(clientX, clientY) {
  const root = $("graph"), pt = root.createSVGPoint();
  pt.x = clientX; pt.y = clientY;
  return pt.matrixTransform(root.getScreenCTM().inverse());
}

function moveNode(id, x, y) {
  const p = geometry.pos.get(id);
  p.x = Math.max(0, x); p.y = Math.max(0, y);
  byTestId(`graph-node-${id}`).setAttribute("transform", `translate(${p.x},${p.y})`);
  routeEdges();
}

function attachNodeDrag(g, id) {
  g.addEventListener("pointerdown", (ev) => {
    if (ev.target.closest("[data-port]") || ev.button !== 0) return;
    const start = toSvg(ev.clientX, ev.clientY), p = geometry.pos.get(id);
    const origin = { x: p.x, y: p.y };
    let moved = false;
    g.setPointerCapture(ev.pointerId);
    const move = (m) => {
      const now = toSvg(m.clientX, m.clientY);
      if (!moved && Math.hypot(now.x - start.x, now.y - start.y) < 4) return;
      moved = true;
      g.classList.add("dragging");
      moveNode(id, origin.x + now.x - start.x, origin.y + now.y - start.y);
    };
    const up = () => {
      g.removeEventListener("pointermove", move);
      g.removeEventListener("pointerup", up);
      g.classList.remove("dragging");
      if (moved) savePosition(id, geometry.pos.get(id));
      else select(id);
    };
    g.addEventListener("pointermove", move);
    g.addEventListener("pointerup", up);
  });
  g.addEventListener("keydown", (ev) => {
    const step = ev.shiftKey ? 40 : 10, p = geometry.pos.get(id);
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[ev.key]) {
      ev.preventDefault();
      moveNode(id, p.x + moves[ev.key][0], p.y + moves[ev.key][1]);
      savePosition(id, p);
    } else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      select(id);
    } else if (ev.key === "Delete" || ev.key === "Backspace") {
      ev.preventDefault();
      removeNode(id, byTestId(`card-error-${id}`));
    }
  });
}

/** Remove a node (and its cables) through the edit API; a refusal shows in `msgEl`. */
export async function removeNode(id, msgEl) {
  report(msgEl, await edit({ op: "remove_node", id }));
}

function attachCableDrag(el, from) {
  el.addEventListener("pointerdown", (ev) => {
    ev.stopPropagation();
    ev.preventDefault();
    const [x1, y1] = anchor(from, "out");
    const wire = svg("path", { class: "edge wire", "data-testid": "wire" }, $("edges"));
    const root = $("graph");
    root.classList.add("patching");
    const move = (m) => {
      const p = toSvg(m.clientX, m.clientY);
      wire.setAttribute("d", `M${x1},${y1} C${x1 + 60},${y1} ${p.x - 60},${p.y} ${p.x},${p.y}`);
    };
    const up = async (u) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      root.classList.remove("patching");
      wire.remove();
      const target = document.elementFromPoint(u.clientX, u.clientY);
      const portEl = target && target.closest("[data-port]");
      if (!portEl || portEl.dataset.port === "out") return;
      const to = portEl.dataset.portNode, portName = portEl.dataset.port;
      const op = { op: "connect", from, to, ...(portName === "sidechain" ? { port: "sidechain" } : {}) };
      report($("graph-error"), await edit(op));
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
}

// ------------------------------------------------------------------ cable popover

function openCable(e, clientX, clientY) {
  const pop = $("cable-popover"), panel = pop.parentElement.getBoundingClientRect();
  pop.replaceChildren();
  pop.hidden = false;
  pop.style.left = `${Math.min(clientX - panel.left, panel.width - 260)}px`;
  pop.style.top = `${clientY - panel.top + 10}px`;
  const port = e.port === "sidechain" ? { port: "sidechain" } : {};
  html("h3", {}, pop, `${e.from} → ${e.to}${e.port === "sidechain" ? " (side-chain)" : ""}`);
  const row = html("label", { class: "row" }, pop, "gain ");
  const gain = html("input", { type: "number", step: 0.5, min: -120, max: 24, value: e.gain_db,
    "data-testid": "cable-gain", "aria-label": "cable gain in dB" }, row);
  html("span", { class: "unit" }, row, "dB");
  const buttons = html("div", { class: "buttons" }, pop);
  const set = html("button", { "data-testid": "cable-set-gain" }, buttons, "Set gain");
  const remove = html("button", { class: "danger", "data-testid": "cable-remove" }, buttons, "Remove cable");
  const close = html("button", { "aria-label": "close" }, buttons, "✕");
  const msg = messageSlot(pop, "cable-error");
  const done = (result) => { report(msg, result); if (result.ok) pop.hidden = true; };
  set.onclick = async () => done(await edit({ op: "set_gain", from: e.from, to: e.to, ...port,
    gain_db: Number(gain.value) }));
  gain.onkeydown = (k) => { if (k.key === "Enter") set.click(); };
  remove.onclick = async () => done(await edit({ op: "disconnect", from: e.from, to: e.to, ...port }));
  close.onclick = () => { pop.hidden = true; };
  pop.onkeydown = (k) => { if (k.key === "Escape") pop.hidden = true; };
  gain.focus();
}

// ------------------------------------------------------------------ per frame

/** Mini meters, flags and the stats line of one node from a frame. */
export function updateGraphNode(id, m, alarm) {
  const g = document.querySelector(`[data-node="${esc(id)}"]`);
  if (!g) return;
  g.classList.toggle("muted", m.mute);
  g.classList.toggle("bypassed", m.bypass);
  g.classList.toggle("soloed", m.solo);
  g.classList.toggle("inaudible", !m.audible);
  const span = geometry.nodeW - 18;
  m.peak_db.forEach((db, c) => {
    const bar = byTestId(`meter-${id}-${c}`, g);
    if (!bar) return;
    bar.setAttribute("width", span * meterFraction(db));
    bar.setAttribute("data-peak-db", db);
    bar.setAttribute("class", `meter-peak${db >= 0 ? " clip" : db > -6 ? " hot" : ""}`);
    byTestId(`rms-${id}-${c}`, g).setAttribute("width", span * meterFraction(m.rms_db[c]));
  });
  const peak = m.peak_db.length ? Math.max(...m.peak_db) : null;
  g.querySelector(".stats").textContent = `${peak === null ? "" : `${dbText(peak)} dB · `}`
    + `${m.time_us.toFixed(0)} µs`
    + (m.rtt_us === undefined ? "" : ` · RTT ${m.rtt_us.toFixed(0)} µs`);
  g.classList.toggle("alarm", Boolean(alarm && alarm.level === "alarm"));
  g.classList.toggle("warn", Boolean(alarm && alarm.level === "warn"));
  const badge = g.querySelector(".badge");
  if (alarm) {
    badge.querySelector("text").textContent = `⚠ ${alarm.count}`;
    badge.querySelector("title").textContent = alarm.reason;
    badge.setAttribute("aria-label", alarm.reason);
  }
}
