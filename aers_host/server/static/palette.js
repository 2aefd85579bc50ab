// The palette: every node type of the registry (built-ins and installed plugins) with a
// parameter form. Add a node from the form (with its input and output), or drag a type
// onto a cable to insert it there, or onto a node to feed it from that node's output.

import { state, nodeById } from "./state.js";
import { html, $ } from "./dom.js";
import { edit, report, messageSlot, types as fetchTypes } from "./api.js";
import { select } from "./controls.js";

let chosen = null;  // the type whose form is shown

export async function loadTypes() {
  const result = await fetchTypes();
  if (result.ok) state.types = result.body.types;
  buildPalette();
}

function uniqueId(type) {
  const base = type.replace(/[^A-Za-z0-9_]/g, "_");
  for (let i = 1; ; i++) if (!nodeById(`${base}${i}`)) return `${base}${i}`;
}

export function buildPalette() {
  const root = $("palette-list");
  if (!root || !state.types) return;
  root.replaceChildren();
  const filter = ($("palette-search").value || "").toLowerCase();
  const groups = [["source", "Sources"], ["processor", "Processors"], ["sink", "Outputs"]];
  for (const [role, title] of groups) {
    const items = state.types.filter((t) => t.role === role && (t.name + t.summary).toLowerCase().includes(filter));
    if (!items.length) continue;
    html("h4", {}, root, title);
    const list = html("ul", {}, root);
    for (const t of items) {
      const li = html("li", {}, list);
      const b = html("button", { class: `type ${t.origin === "builtin" ? "" : "plugin"}`,
        "data-testid": `palette-type-${t.name}`, "data-type": t.name, title: t.summary,
        "aria-label": `${t.name}: ${t.summary}. Enter shows its form; drag it onto a cable to insert it` }, li);
      html("b", {}, b, t.name);
      if (t.origin !== "builtin") html("span", { class: "origin" }, b, t.origin === "store" ? "plugin" : t.origin);
      b.onclick = () => showForm(t);
      attachTypeDrag(b, t);
    }
  }
  if (chosen) showForm(chosen);
}

function paramInputs(form, t) {
  const fields = [];
  for (const p of t.params) {
    const row = html("label", { class: "row" }, form, p.name);
    let input;
    if (p.choices) {
      input = html("select", { "data-testid": `palette-param-${p.name}` }, row);
      for (const c of p.choices) html("option", { value: c.value, selected: c.value === p.default }, input, c.label);
    } else {
      input = html("input", { type: "number", step: "any", min: p.min, max: p.max, value: p.default,
        "data-testid": `palette-param-${p.name}`, title: `${p.doc} [${p.min}, ${p.max}] ${p.unit}` }, row);
      html("span", { class: "unit" }, row, p.unit);
    }
    fields.push([p.name, () => Number(input.value), () => input.value !== String(p.default)]);
  }
  const numeric = new Set(t.params.map((p) => p.name));
  const props = (t.schema && t.schema.properties) || {};
  const required = new Set((t.schema && t.schema.required) || []);
  for (const [name, spec] of Object.entries(props)) {
    if (numeric.has(name)) continue;
    const row = html("label", { class: "row" }, form, name + (required.has(name) ? " *" : ""));
    let input;
    if (spec.enum) {
      input = html("select", { "data-testid": `palette-param-${name}` }, row);
      if (!required.has(name)) html("option", { value: "" }, input, "(default)");
      for (const v of spec.enum) html("option", { value: JSON.stringify(v) }, input, String(v));
    } else {
      const example = spec.type === "array" ? "[…] JSON" : spec.type === "object" ? "{…} JSON" : spec.type || "";
      input = html("input", { type: "text", placeholder: spec.description || example,
        "data-testid": `palette-param-${name}`, title: spec.description || name }, row);
    }
    const parse = () => {
      const text = input.value.trim();
      if (spec.enum) return JSON.parse(text);
      if (spec.type === "string") return text;
      try { return JSON.parse(text); } catch { return text; }
    };
    fields.push([name, parse, () => input.value.trim() !== ""]);
  }
  return () => Object.fromEntries(fields.filter(([, , set]) => set()).map(([k, get]) => [k, get()]));
}

function nodeChoices(sel, roleOk, blank) {
  html("option", { value: "" }, sel, blank);
  for (const n of state.graph.nodes) if (roleOk(n)) html("option", { value: n.id }, sel, n.id);
}

function showForm(t) {
  chosen = t;
  const form = $("palette-form");
  form.replaceChildren();
  form.hidden = false;
  html("h4", {}, form, t.name);
  html("p", { class: "summary" }, form, t.summary);
  const idRow = html("label", { class: "row" }, form, "id");
  const id = html("input", { type: "text", value: uniqueId(t.name), "data-testid": "palette-id" }, idRow);
  const params = paramInputs(form, t);
  let from = null, to = null;
  if (t.role !== "source") {
    const row = html("label", { class: "row" }, form, "input from");
    from = html("select", { "data-testid": "palette-from" }, row);
    nodeChoices(from, (n) => n.role !== "sink", "(none)");
    if (state.selected && nodeById(state.selected)?.role !== "sink") from.value = state.selected;
  }
  if (t.role !== "sink") {
    const row = html("label", { class: "row" }, form, "output to");
    to = html("select", { "data-testid": "palette-to" }, row);
    nodeChoices(to, (n) => n.role !== "source", "(none)");
  }
  const add = html("button", { class: "primary", "data-testid": "palette-add" }, form, `Add ${t.name}`);
  const msg = messageSlot(form, "palette-error");
  add.onclick = async () => {
    const ops = [{ op: "add_node", id: id.value.trim(), type: t.name, params: params() }];
    if (from && from.value) ops.push({ op: "connect", from: from.value, to: id.value.trim() });
    if (to && to.value) ops.push({ op: "connect", from: id.value.trim(), to: to.value });
    const result = await edit(ops);
    report(msg, result);
    if (result.ok) { state.selected = id.value.trim(); closePalette(); }
  };
  form.params = params;
  form.idInput = id;
  form.msg = msg;
  const palette = $("palette");  // bring the form into view inside the palette only
  palette.scrollTo({ top: form.offsetTop - palette.offsetTop - 8 });
}

export function openPalette() {
  $("palette").hidden = false;
  $("add-node").setAttribute("aria-expanded", "true");
  if (!state.types) loadTypes();
  $("palette-search").focus();
}

export function closePalette() {
  $("palette").hidden = true;
  $("add-node").setAttribute("aria-expanded", "false");
}

// ------------------------------------------------------------------ drag onto the graph

function attachTypeDrag(button, t) {
  button.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    const startX = ev.clientX, startY = ev.clientY;
    let ghost = null;
    const move = (m) => {
      if (!ghost && Math.hypot(m.clientX - startX, m.clientY - startY) < 6) return;
      if (!ghost) {
        ghost = html("div", { class: "ghost", "data-testid": "palette-ghost" }, document.body, t.name);
        $("graph").classList.add("dropping");
      }
      ghost.style.left = `${m.clientX + 8}px`;
      ghost.style.top = `${m.clientY + 8}px`;
      highlight(m.clientX, m.clientY);
    };
    const up = async (u) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (!ghost) return;  // a click: the form opens (onclick)
      ghost.remove();
      $("graph").classList.remove("dropping");
      highlight(-1, -1);
      await drop(t, u.clientX, u.clientY);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
}

function targetAt(x, y) {
  const el = document.elementFromPoint(x, y);
  if (!el) return null;
  const cable = el.closest(".edge-hit");
  if (cable) return { cable: cable.dataset.testid.slice("cable-".length), el: cable };
  const node = el.closest("[data-node]");
  if (node) return { node: node.dataset.node, el: node };
  return null;
}

let lit = null;
function highlight(x, y) {
  if (lit) lit.classList.remove("drop-target");
  const target = targetAt(x, y);
  lit = target ? target.el : null;
  if (lit) lit.classList.add("drop-target");
}

async function drop(t, x, y) {
  const target = targetAt(x, y);
  const form = $("palette-form");
  const params = chosen === t && form.params ? form.params() : {};
  const id = chosen === t && form.idInput ? form.idInput.value.trim() : uniqueId(t.name);
  const ops = [{ op: "add_node", id, type: t.name, params }];
  if (target && target.cable) {  // insert into the cable: A → new → B
    const edge = state.graph.edges.find((e) => `${e.from}-${e.to}-${e.port}` === target.cable);
    if (edge) {
      const port = edge.port === "sidechain" ? { port: "sidechain" } : {};
      ops.push({ op: "disconnect", from: edge.from, to: edge.to, ...port },
        { op: "connect", from: edge.from, to: id, gain_db: edge.gain_db },
        { op: "connect", from: id, to: edge.to, ...port });
    }
  } else if (target && target.node && t.role !== "source") {
    ops.push({ op: "connect", from: target.node, to: id });
  } else if (!target) {
    showForm(t);  // dropped on empty space: fill the form instead
    return;
  }
  const result = await edit(ops);
  report($("graph-error"), result);
  if (result.ok) { state.selected = id; select(id); }
}
