// Health at a glance: nodes whose xruns, fallback blocks, restarts, NaN/Inf blocks or failure rise are
// flagged (colour + badge with the count and the reason), and a pw-top-like load table
// (µs per block and % of the block period) sortable by any column.

import { state, nodeById } from "./state.js";
import { html, $ } from "./dom.js";
import { select } from "./controls.js";

const RECENT_MS = 3000;  // a counter that rose within this long keeps its node flagged
const COUNTERS = [
  ["node_xruns", "late blocks (xruns)"],
  ["late_blocks", "remote blocks arrived late"],
  ["fallback_blocks", "blocks replaced by the fallback"],
  ["restarts", "worker restarts"],
  ["nonfinite_blocks", "blocks of NaN/Inf output replaced"],
];
const COLUMNS = [
  ["id", "node"], ["type", "type"], ["time_us", "µs"], ["time_us_max", "max"],
  ["load", "%"], ["problems", "xruns"],
];
let sortKey = "time_us", sortDown = true;

/** The node's alarm from this frame's counters, or null when it is healthy. */
export function assess(id, f, now) {
  const h = (state.health[id] ||= { seen: {}, risenAt: 0, count: 0 });
  const rising = [];
  for (const [key, what] of COUNTERS) {
    const value = f[key];
    if (value === undefined) continue;
    const before = h.seen[key];
    if (before !== undefined && value > before) rising.push(`${value - before} new ${what}`);
    h.seen[key] = value;
  }
  if (rising.length) { h.risenAt = now; h.last = rising.join(", "); }
  h.count = f.node_xruns ?? f.fallback_blocks ?? f.nonfinite_blocks ?? 0;
  if (f.failed) {
    return { count: "failed", level: "alarm", reason: `failed: ${f.reason || "no reason given"} (output is its fallback)` };
  }
  if (!h.risenAt) return null;
  if (now - h.risenAt > RECENT_MS) {  // calm again: an amber badge keeps the history visible
    return { count: h.count, level: "warn", reason: `no new problems for ${((now - h.risenAt) / 1000).toFixed(0)} s; last: ${h.last}` };
  }
  const totals = COUNTERS.filter(([k]) => f[k]).map(([k, what]) => `${f[k]} ${what}`).join(", ");
  const reason = `${h.last}${f.reason ? ` — last problem: ${f.reason}` : ""} (since start: ${totals})`;
  return { count: h.count, level: "alarm", reason };
}

export function buildLoadTable() {
  const table = $("load-table");
  table.replaceChildren();
  const head = html("tr", {}, html("thead", {}, table));
  for (const [key, label] of COLUMNS) {
    const th = html("th", { scope: "col", "aria-sort": key === sortKey ? (sortDown ? "descending" : "ascending") : "none" }, head);
    const b = html("button", { "data-testid": `sort-${key}` }, th, label);
    b.onclick = () => {
      sortDown = key === sortKey ? !sortDown : key !== "id" && key !== "type";
      sortKey = key;
      buildLoadTable();
      if (state.frame) updateLoadTable(state.frame);
    };
  }
  html("tbody", {}, table);
}

/** Rows from the latest frame, in the chosen order. */
export function updateLoadTable(frame) {
  const body = $("load-table").tBodies[0];
  if (!body) return;
  const rows = Object.entries(frame.nodes).filter(([id]) => nodeById(id)).map(([id, f]) => ({
    id, type: nodeById(id).type, time_us: f.time_us, time_us_max: f.time_us_max, load: f.load,
    problems: (f.node_xruns || 0) + (f.late_blocks || 0), f,
  }));
  rows.sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return sortDown ? -order : order;
  });
  const existing = new Map([...body.rows].map((r) => [r.dataset.node, r]));
  rows.forEach((r, i) => {
    let tr = existing.get(r.id);
    if (!tr) {
      tr = html("tr", { "data-node": r.id, "data-testid": `load-row-${r.id}`, tabindex: 0 });
      for (let k = 0; k < COLUMNS.length; k++) html("td", {}, tr);
      tr.onclick = () => select(r.id);
      tr.onkeydown = (ev) => { if (ev.key === "Enter") select(r.id); };
    }
    const cells = tr.cells;
    cells[0].textContent = r.id;
    cells[1].textContent = r.type;
    cells[2].textContent = r.time_us.toFixed(1);
    cells[3].textContent = r.time_us_max.toFixed(1);
    cells[4].textContent = r.load.toFixed(2);
    cells[5].textContent = r.f.failed ? "failed" : String(r.problems || "");
    const alarm = state.alarms && state.alarms[r.id];
    tr.classList.toggle("alarm", Boolean(alarm && alarm.level === "alarm"));
    tr.classList.toggle("warn", Boolean(alarm && alarm.level === "warn"));
    tr.style.setProperty("--load", `${Math.min(100, r.load)}%`);
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
  });
  for (const [id, tr] of existing) if (!frame.nodes[id] || !nodeById(id)) tr.remove();
}
