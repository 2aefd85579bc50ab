// Node cards: bypass/mute/solo, every declared parameter (sliders with a number field, or a
// select for enumerated ones), the EQ band editor, config values, keyboard patching and
// removal. Every control is a real form element, so the keyboard reaches all of them.

import { state, nodeById } from "./state.js";
import { html, $, fmt, byTestId } from "./dom.js";
import { edit, request, report, messageSlot, PROTOCOL } from "./api.js";

/** Send a feed control over the WebSocket; `msgEl` shows its refusal (by `req`). */
export function send(message, msgEl) {
  const ws = state.socket;
  if (!ws || ws.readyState !== WebSocket.OPEN) return null;
  const req = ++state.req;
  if (msgEl) state.pending.set(req, msgEl);
  ws.send(JSON.stringify({ v: PROTOCOL, req, ...message }));
  return req;
}

/** Select a node: highlight it in the graph and bring its card into view. */
export function select(id) {
  state.selected = id;
  document.querySelectorAll(".node.selected, .card.selected")
    .forEach((el) => el.classList.remove("selected"));
  const g = byTestId(`graph-node-${id}`), card = byTestId(`node-card-${id}`);
  if (g) g.classList.add("selected");
  if (card) {  // scroll the card list only, never the page
    card.classList.add("selected");
    const list = $("controls"), top = card.offsetTop;
    if (top < list.scrollTop || top + card.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTo({ top: top - 6, behavior: "smooth" });
    }
  }
}

export function buildControls(graph) {
  const root = $("controls");
  const scroll = root.scrollTop;
  root.replaceChildren();
  for (const n of graph.nodes) buildCard(root, n);
  root.scrollTop = scroll;
  if (state.selected && nodeById(state.selected)) select(state.selected);
}

function buildCard(root, n) {
  const card = html("section", { class: `card ${n.role}`, "data-testid": `node-card-${n.id}`,
    "aria-label": `${n.id} controls` }, root);
  const head = html("header", {}, card);
  const h = html("h3", {}, head);
  const name = html("button", { class: "name", title: "show in the graph" }, h, n.id);
  name.onclick = () => select(n.id);
  html("small", {}, h, n.type);
  const buttons = html("div", { class: "buttons" }, head);
  const msg = messageSlot(null, `card-error-${n.id}`);
  for (const action of ["bypass", "mute", "solo"]) {
    const b = html("button", { class: `flag ${action}`, "data-testid": `${action}-${n.id}`,
      "aria-pressed": String(n[action]), title: action }, buttons, action[0].toUpperCase());
    b.setAttribute("aria-label", `${action} ${n.id}`);
    if (action === "bypass" && !n.can_bypass) b.disabled = true;
    b.onclick = () => send({ type: action, node: n.id, value: b.getAttribute("aria-pressed") !== "true" }, msg);
  }
  const remove = html("button", { class: "remove", "data-testid": `remove-${n.id}`,
    "aria-label": `remove ${n.id}`, title: "remove this node and its cables" }, buttons, "✕");
  remove.onclick = async () => report(msg, await edit({ op: "remove_node", id: n.id }));
  for (const p of n.params) addParam(card, n, p);
  if (n.type === "eq" && Array.isArray(n.config.bands)) addBands(card, n);
  const numeric = new Set(n.params.map((p) => p.name));
  const extra = Object.entries(n.config || {}).filter(([k]) => !numeric.has(k) && k !== "bands");
  if (extra.length) {
    const dl = html("dl", { class: "config" }, card);
    for (const [k, v] of extra) {
      html("dt", {}, dl, k);
      html("dd", {}, dl, typeof v === "object" ? JSON.stringify(v) : String(v));
    }
  }
  if (n.role !== "sink") addConnect(card, n, msg);
  card.appendChild(msg);
}

// ------------------------------------------------------------------ parameters

function addParam(card, n, p) {
  const row = html("div", { class: "param" }, card);
  const label = html("label", { for: `p-${n.id}-${p.name}`, title: p.doc || p.name }, row, p.name);
  const msg = messageSlot(null, `param-error-${n.id}-${p.name}`);
  if (p.choices) {
    const sel = html("select", { id: `p-${n.id}-${p.name}`, "data-testid": `param-${n.id}-${p.name}`,
      "data-value": p.value }, row);
    const shown = nearest(p.choices, p.value);
    for (const c of p.choices) html("option", { value: c.value, selected: c.value === shown }, sel, c.label);
    sel.onchange = () => send({ type: "param", node: n.id, param: p.name, value: Number(sel.value) }, msg);
    row.classList.add("choice");
    row.appendChild(msg);
    return;
  }
  const log = p.unit === "Hz" && p.min > 0;
  const toPos = (v) => (log ? Math.log(v / p.min) / Math.log(p.max / p.min) : (v - p.min) / (p.max - p.min));
  const fromPos = (x) => (log ? p.min * (p.max / p.min) ** x : p.min + x * (p.max - p.min));
  const range = html("input", { type: "range", min: 0, max: 1, step: 0.001, id: `p-${n.id}-${p.name}`,
    value: toPos(p.value), "data-testid": `param-${n.id}-${p.name}`, "data-value": p.value,
    "aria-valuetext": fmt(p.value, p.unit) }, row);
  const number = html("input", { type: "number", min: p.min, max: p.max, step: "any",
    value: round(p.value), "data-testid": `value-${n.id}-${p.name}`,
    "aria-label": `${n.id} ${p.name}${p.unit ? ` in ${p.unit}` : ""}` }, row);
  html("span", { class: "unit" }, row, p.unit || "");
  label.htmlFor = range.id;
  let timer = null;
  const show = (value) => {
    range.dataset.value = value;
    range.setAttribute("aria-valuetext", fmt(value, p.unit));
    if (document.activeElement !== number) number.value = round(value);
  };
  range.oninput = () => {
    const value = Number(fromPos(Number(range.value)).toPrecision(6));
    show(value);
    clearTimeout(timer);  // at most one change per 50 ms while dragging
    timer = setTimeout(() => send({ type: "param", node: n.id, param: p.name, value }, msg), 50);
  };
  number.onchange = () => {
    const value = Number(number.value);
    range.value = toPos(value);
    send({ type: "param", node: n.id, param: p.name, value }, msg);
  };
  range.aersSet = (value) => {  // a value from the server (edit, automation, another page)
    if (document.activeElement === range) return;
    range.value = toPos(value);
    show(value);
  };
  row.appendChild(msg);
}

const round = (v) => Number(Number(v).toPrecision(5));

/** The labelled value closest to `value` (what a loader snapping to its choices plays). */
const nearest = (choices, value) => choices.reduce(
  (best, c) => (Math.abs(c.value - value) < Math.abs(best - value) ? c.value : best), choices[0].value);

/** Running values from a `params` message: move the controls that are not being touched. */
export function applyValues(nodes) {
  for (const [id, values] of Object.entries(nodes)) {
    const n = nodeById(id);
    for (const [name, value] of Object.entries(values)) {
      if (n) { const p = n.params.find((x) => x.name === name); if (p) p.value = value; }
      const el = byTestId(`param-${id}-${name}`);
      if (!el) continue;
      if (el.tagName === "SELECT") {
        const p = n && n.params.find((x) => x.name === name);
        if (document.activeElement !== el && p) el.value = String(nearest(p.choices, value));
        el.dataset.value = value;
      } else if (el.aersSet) el.aersSet(value);
    }
  }
}

// ------------------------------------------------------------------ EQ bands

function bandSchema() {
  const eq = state.types && state.types.find((t) => t.name === "eq");
  const items = eq && eq.schema.properties.bands && eq.schema.properties.bands.items;
  return items ? items.properties : { type: { enum: ["peak"] } };
}

function addBands(card, n) {
  const schema = bandSchema();
  const box = html("fieldset", { class: "bands", "data-testid": `bands-${n.id}` }, card);
  html("legend", {}, box, "EQ bands");
  const msg = messageSlot(null, `bands-error-${n.id}`);
  const bands = n.config.bands.map((b) => ({ ...b }));
  const apply = async () => {
    const config = await request("GET", "/api/config");
    const entry = (config.ok && config.body.nodes[n.id]) || { type: n.type, params: n.config };
    report(msg, await edit({ op: "replace_node", id: n.id, ...entry,
      params: { ...(entry.params || {}), bands } }));
  };
  const fields = [["freq", "Hz"], ["gain_db", "dB"], ["q", ""]];
  const head = html("div", { class: "band head", "aria-hidden": "true" }, box);
  for (const label of ["type", "freq Hz", "gain dB", "Q", ""]) html("span", {}, head, label);
  bands.forEach((band, i) => {
    const row = html("div", { class: "band", "data-testid": `band-${n.id}-${i}` }, box);
    const type = html("select", { "aria-label": `band ${i + 1} type`, "data-testid": `band-type-${n.id}-${i}` }, row);
    for (const t of (schema.type && schema.type.enum) || [band.type]) {
      html("option", { value: t, selected: t === band.type }, type, t);
    }
    type.onchange = () => { band.type = type.value; apply(); };
    for (const [key, unit] of fields) {
      const spec = schema[key] || {};
      const input = html("input", { type: "number", step: "any", min: spec.minimum, max: spec.maximum,
        value: band[key] ?? "", placeholder: key === "gain_db" ? "0" : "", title: `${key} ${unit}`.trim(),
        "aria-label": `band ${i + 1} ${key}`, "data-testid": `band-${key}-${n.id}-${i}` }, row);
      input.onchange = () => {
        if (input.value === "") delete band[key]; else band[key] = Number(input.value);
        apply();
      };
    }
    const drop = html("button", { "aria-label": `remove band ${i + 1}`, "data-testid": `band-remove-${n.id}-${i}` }, row, "✕");
    drop.onclick = () => { bands.splice(i, 1); apply(); };
  });
  const add = html("button", { class: "add", "data-testid": `band-add-${n.id}` }, box, "+ band");
  add.onclick = () => { bands.push({ type: "peak", freq: 1000, gain_db: 0, q: 1 }); apply(); };
  box.appendChild(msg);
}

// ------------------------------------------------------------------ keyboard patching

function addConnect(card, n, msg) {
  const row = html("div", { class: "connect" }, card);
  const sel = html("select", { "aria-label": `connect ${n.id} to`, "data-testid": `connect-to-${n.id}` }, row);
  html("option", { value: "" }, sel, "connect to…");
  for (const t of state.graph.nodes) {
    if (t.id === n.id || t.role === "source") continue;
    html("option", { value: `${t.id}|main` }, sel, t.id);
    if (t.sidechain) html("option", { value: `${t.id}|sidechain` }, sel, `${t.id} (side-chain)`);
  }
  const go = html("button", { "data-testid": `connect-${n.id}` }, row, "Connect");
  go.onclick = async () => {
    if (!sel.value) return;
    const [to, port] = sel.value.split("|");
    report(msg, await edit({ op: "connect", from: n.id, to, ...(port === "sidechain" ? { port } : {}) }));
  };
}

/** An `error` answering a control: show it beside that control (and in the header). */
export function showControlError(msg) {
  const el = state.pending.get(msg.req);
  state.pending.delete(msg.req);
  if (el) report(el, { ok: false, body: msg });
}

/** An `ack`: the control took effect, clear the message beside it. */
export function clearControlError(msg) {
  const el = state.pending.get(msg.req);
  state.pending.delete(msg.req);
  if (el) report(el, { ok: true });
}

