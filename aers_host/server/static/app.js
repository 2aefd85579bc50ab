// AERS live dashboard: plain JS, no build step. Speaks feed schema v1 (docs/feed.md).
"use strict";

const PROTOCOL = 1;
const DB_MIN = -60;           // meter scale: -60 dBFS … 0 dBFS
const HISTORY = 300;          // strip-chart points (10 s at 30 Hz)
const NODE_W = 184, COL_W = 250, ROW_GAP = 22, PAD = 16;
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  graph: null, frame: null, socket: null, retry: 0, req: 0,
  history: [], events: [], notices: [], acks: [], errors: [], frames: 0,
};
window.aers = state;  // for tests and the console

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function html(tag, attrs, parent, text) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  if (parent) parent.appendChild(el);
  return el;
}

// ------------------------------------------------------------------ connection

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  const ws = new WebSocket(`${proto}//${location.host}/ws${query}`);
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

function send(message) {
  const ws = state.socket;
  if (!ws || ws.readyState !== WebSocket.OPEN) return null;
  const req = ++state.req;
  ws.send(JSON.stringify({ v: PROTOCOL, req, ...message }));
  return req;
}

function onMessage(msg) {
  if (msg.v !== PROTOCOL) return;
  if (msg.type === "graph") buildGraph(msg);
  else if (msg.type === "frame") onFrame(msg);
  else if (msg.type === "event") onEvent(msg);
  else if (msg.type === "ack" && msg.edit) {
    state.acks.push(msg);
    $("last-ack").textContent = `edit (${msg.edit.ops.length} ops) @ sample ${msg.sample}`;
  } else if (msg.type === "edited") {
    $("last-ack").textContent = `edit by ${msg.who} live @ sample ${msg.sample}`
      + (msg.latency_after !== msg.latency_before ? `, latency ${msg.latency_after}` : "");
  } else if (msg.type === "ack") {
    state.acks.push(msg);
    $("last-ack").textContent = `${msg.action} ${msg.node}${msg.param ? "." + msg.param : ""}`
      + ` = ${msg.value} @ sample ${msg.sample} (pass ${msg.loop})`;
  } else if (msg.type === "error") {
    state.errors.push(msg);
    $("last-error").textContent = `${msg.code}: ${msg.message}`;
  }
}

// ------------------------------------------------------------------ graph

function buildGraph(graph) {
  state.graph = graph;
  state.history = []; state.events = [];
  const root = $("graph");
  root.replaceChildren();
  const layers = new Map();
  for (const n of graph.nodes) {
    if (!layers.has(n.layer)) layers.set(n.layer, []);
    layers.get(n.layer).push(n);
  }
  const pos = new Map();
  let height = 0;
  for (const [layer, nodes] of layers) {
    let y = PAD;
    for (const n of nodes) {
      const h = 58 + 9 * Math.max(n.meter_channels, 1);
      pos.set(n.id, { x: PAD + layer * COL_W, y, h });
      y += h + ROW_GAP;
    }
    height = Math.max(height, y);
  }
  const width = PAD * 2 + (Math.max(...layers.keys()) + 1) * COL_W - (COL_W - NODE_W);
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  root.style.height = `${Math.max(240, height)}px`;
  root.style.maxWidth = `${width * 1.4}px`;
  const edges = svg("g", {}, root);
  for (const e of graph.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    const x1 = a.x + NODE_W, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
    const bend = e.feedback ? -80 : Math.max(40, (x2 - x1) / 2);
    const d = e.feedback
      ? `M${x1},${y1} C${x1 + 60},${y1 - 90} ${x2 - 60},${y2 - 90} ${x2},${y2}`
      : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
    const cls = `edge${e.feedback ? " feedback" : ""}${e.port !== "main" ? " sidechain" : ""}`;
    svg("path", { d, class: cls, "data-testid": `edge-${e.from}-${e.to}` }, edges);
    if (e.gain_db) {
      const t = svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, class: "edge-label" }, edges);
      t.textContent = `${e.gain_db > 0 ? "+" : ""}${e.gain_db} dB`;
    }
  }
  for (const n of graph.nodes) drawNode(root, n, pos.get(n.id));
  $("graph-info").textContent = `${graph.nodes.length} nodes · ${graph.sample_rate} Hz · block `
    + `${graph.block_size} · latency ${graph.total_latency} samples`
    + (graph.loop_frames ? ` · loops every ${(graph.loop_frames / graph.sample_rate).toFixed(2)} s`
      : " · live");
  buildControls(graph);
}

function drawNode(root, n, p) {
  const g = svg("g", { class: `node ${n.role}`, "data-testid": `graph-node-${n.id}`,
    "data-node": n.id, transform: `translate(${p.x},${p.y})` }, root);
  svg("rect", { class: "box", width: NODE_W, height: p.h }, g);
  svg("text", { x: 10, y: 17 }, g).textContent = n.id;
  svg("text", { x: 10, y: 31, class: "type" }, g).textContent =
    `${n.type} · ${n.channels_in}→${n.channels_out}${n.latency ? ` · ${n.latency} smp` : ""}`;
  for (let c = 0; c < n.meter_channels; c++) {
    const y = 40 + c * 9;
    svg("rect", { class: "meter-bg", x: 10, y, width: NODE_W - 20, height: 7 }, g);
    svg("rect", { class: "meter-rms", x: 10, y, width: 0, height: 7,
      "data-testid": `rms-${n.id}-${c}` }, g);
    svg("rect", { class: "meter-peak", x: 10, y: y + 2, width: 0, height: 3,
      "data-testid": `meter-${n.id}-${c}`, "data-peak-db": graphFloor() }, g);
  }
  svg("text", { x: 10, y: p.h - 8, class: "stats", "data-testid": `stats-${n.id}` }, g)
    .textContent = "–";
}

const graphFloor = () => (state.graph ? state.graph.db_floor : -120);
const meterWidth = (db) => (NODE_W - 20) * Math.min(1, Math.max(0, (db - DB_MIN) / -DB_MIN));

// ------------------------------------------------------------------ controls

function buildControls(graph) {
  const root = $("controls");
  root.replaceChildren();
  for (const n of graph.nodes) {
    const card = html("div", { class: "card", "data-testid": `node-card-${n.id}` }, root);
    const h = html("h3", {}, card, n.id + " ");
    html("small", {}, h, n.type);
    const buttons = html("div", { class: "buttons" }, card);
    for (const action of ["bypass", "mute", "solo"]) {
      const b = html("button", { "data-testid": `${action}-${n.id}`, "aria-pressed": n[action] },
        buttons, action);
      if (action === "bypass" && !n.can_bypass) b.disabled = true;
      b.onclick = () => send({ type: action, node: n.id, value: b.getAttribute("aria-pressed") !== "true" });
    }
    for (const p of n.params) addSlider(card, n, p);
  }
}

function addSlider(card, n, p) {
  const row = html("label", { class: "param" }, card);
  html("span", {}, row, p.name);
  const log = p.unit === "Hz" && p.min > 0;
  const toPos = (v) => (log ? Math.log(v / p.min) / Math.log(p.max / p.min) : (v - p.min) / (p.max - p.min));
  const fromPos = (x) => (log ? p.min * (p.max / p.min) ** x : p.min + x * (p.max - p.min));
  const input = html("input", { type: "range", min: 0, max: 1, step: 0.001,
    value: toPos(p.value), "data-testid": `param-${n.id}-${p.name}` }, row);
  const out = html("output", {}, row, fmt(p.value, p.unit));
  let timer = null;
  input.oninput = () => {
    const value = Number(fromPos(Number(input.value)).toPrecision(6));
    out.textContent = fmt(value, p.unit);
    clearTimeout(timer);  // at most one change per 50 ms while dragging
    timer = setTimeout(() => send({ type: "param", node: n.id, param: p.name, value }), 50);
  };
}

const fmt = (v, unit) => `${Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)} ${unit || ""}`.trim();

// ------------------------------------------------------------------ frames

function onFrame(f) {
  state.frame = f; state.frames++;
  $("sample").textContent = f.sample;
  $("loop").textContent = f.loop;
  $("block-us").textContent = f.block_us.mean.toFixed(1);
  $("cpu").textContent = f.cpu.engine.toFixed(1);
  $("xruns").textContent = f.xruns;
  $("in-flight").textContent = f.events_in_flight;
  $("dropped").textContent = f.dropped;
  for (const [id, m] of Object.entries(f.nodes)) updateNode(id, m);
  state.history.push([f.block_us.mean, f.block_us.max, f.cpu.engine]);
  if (state.history.length > HISTORY) state.history.shift();
  drawStrip();
  drawTimeline();
}

function updateNode(id, m) {
  const g = document.querySelector(`[data-node="${CSS.escape(id)}"]`);
  if (!g) return;
  g.classList.toggle("muted", m.mute);
  g.classList.toggle("bypassed", m.bypass);
  g.classList.toggle("soloed", m.solo);
  g.classList.toggle("inaudible", !m.audible);
  m.peak_db.forEach((db, c) => {
    const bar = g.querySelector(`[data-testid="meter-${CSS.escape(id)}-${c}"]`);
    bar.setAttribute("width", meterWidth(db));
    bar.setAttribute("data-peak-db", db);
    bar.setAttribute("class", `meter-peak${db > -0.1 ? " clip" : db > -6 ? " hot" : ""}`);
    g.querySelector(`[data-testid="rms-${CSS.escape(id)}-${c}"]`)
      .setAttribute("width", meterWidth(m.rms_db[c]));
  });
  const peak = m.peak_db.length ? Math.max(...m.peak_db) : null;
  g.querySelector(".stats").textContent = `${peak === null ? "" : peak.toFixed(1) + " dBFS · "}`
    + `${m.time_us.toFixed(1)} µs · ${m.load.toFixed(2)} %`
    + (m.rtt_us === undefined ? "" : ` · RTT ${m.rtt_us.toFixed(0)} µs`)
    + (m.node_xruns ? ` · ${m.node_xruns} xruns` : "");
  for (const action of ["bypass", "mute", "solo"]) {
    const b = document.querySelector(`[data-testid="${action}-${CSS.escape(id)}"]`);
    if (b) b.setAttribute("aria-pressed", m[action]);
  }
}

function robustTop(values) {
  // Scale to the 95th percentile so one warm-up spike does not flatten the chart;
  // taller values are clipped at the top edge.
  const sorted = [...values].sort((a, b) => a - b);
  return Math.max(1, sorted[Math.floor(0.95 * (sorted.length - 1))] || 0) * 1.5;
}

function drawStrip() {
  const canvas = $("strip"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, hist = state.history;
  ctx.clearRect(0, 0, w, h);
  if (!hist.length) return;
  const maxUs = robustTop(hist.map((r) => r[1]));
  const maxCpu = robustTop(hist.map((r) => r[2]));
  const series = [[0, "#4fa3ff", maxUs], [1, "#b889ff", maxUs], [2, "#e8c547", maxCpu]];
  for (const [k, color, top] of series) {
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
    hist.forEach((r, i) => {
      const x = (i / (HISTORY - 1)) * w, y = h - 4 - Math.min(1, r[k] / top) * (h - 18);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
  }
  const peakUs = Math.max(...hist.map((r) => r[1]));
  ctx.fillStyle = "#7d8b99"; ctx.font = "11px sans-serif";
  ctx.fillText(`${maxUs.toFixed(0)} µs (max seen ${peakUs.toFixed(0)} µs)`, 4, 12);
  ctx.fillText(`${maxCpu.toFixed(1)} % CPU`, w - 80, 12);
}

// ------------------------------------------------------------------ events

function absolute(sample, loop) {
  const lf = state.graph && state.graph.loop_frames;
  return lf ? loop * lf + sample : sample;
}

function onEvent(e) {
  const at = absolute(e.sample, e.loop);
  if (e.kind === "start") state.events.push({ id: e.id, category: e.category, start: at, stop: null });
  else {
    const open = state.events.find((x) => x.id === e.id && x.stop === null);
    if (open) open.stop = at;
  }
  if (state.events.length > 200) state.events.splice(0, state.events.length - 200);
  state.notices.push(e);
  const li = html("li", {}, null, `${e.kind.padEnd(5)} ${e.id} (${e.category}) → ${e.to} @ ${e.sample}`);
  $("event-log").prepend(li);
  while ($("event-log").children.length > 50) $("event-log").lastChild.remove();
}

function drawTimeline() {
  const canvas = $("timeline"), ctx = canvas.getContext("2d"), g = state.graph, f = state.frame;
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (!g || !f) return;
  const now = absolute(f.sample, f.loop), span = 10 * g.sample_rate, t0 = now - span;
  const cats = [...new Set(state.events.map((e) => e.category))];
  const rowH = Math.min(24, (h - 20) / Math.max(1, cats.length));
  const colors = ["#3ccf7a", "#4fa3ff", "#ef5350", "#e8c547", "#b889ff"];
  ctx.font = "11px sans-serif";
  cats.forEach((c, i) => { ctx.fillStyle = "#7d8b99"; ctx.fillText(c, 4, 14 + i * rowH + rowH / 2); });
  for (const e of state.events) {
    const end = e.stop === null ? now : e.stop;
    if (end < t0) continue;
    const i = cats.indexOf(e.category);
    const x1 = 80 + Math.max(0, (e.start - t0) / span) * (w - 84), x2 = 80 + ((end - t0) / span) * (w - 84);
    ctx.fillStyle = colors[i % colors.length];
    ctx.fillRect(x1, 6 + i * rowH, Math.max(2, x2 - x1), rowH - 6);
  }
  ctx.strokeStyle = "#d8e1ea"; ctx.beginPath(); ctx.moveTo(w - 4, 0); ctx.lineTo(w - 4, h); ctx.stroke();
  ctx.fillStyle = "#7d8b99";
  ctx.fillText(state.events.length ? "now" : "no scene events yet", state.events.length ? w - 30 : 84, h - 4);
}

connect();
