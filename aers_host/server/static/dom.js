// Small DOM helpers shared by every module of the dashboard (plain ES modules, no build step).

export const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

/** An SVG element with attributes, appended to `parent` when given. */
export function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

/** An HTML element with attributes and optional text, appended to `parent` when given. */
export function html(tag, attrs, parent, text) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  if (text !== undefined) el.textContent = text;
  if (parent) parent.appendChild(el);
  return el;
}

/** A number for people: 3 significant digits, a sign for dB, the unit after a thin space. */
export function fmt(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const a = Math.abs(value);
  let text = a >= 1000 ? value.toFixed(0) : a >= 100 ? value.toFixed(1) : a >= 10
    ? value.toFixed(1) : value.toFixed(2);
  if (unit === "dB" || unit === "dBFS") text = (value > 0 ? "+" : "") + text;
  if (unit === "Hz" && a >= 1000) text = `${(value / 1000).toFixed(a >= 10000 ? 1 : 2)} k`;
  return unit ? `${text} ${unit}`.replace(" k Hz", " kHz") : text;
}

/** dB text with one decimal and a true minus sign; floor values read "-inf". */
export function dbText(db, floor = -120) {
  if (db === null || db === undefined) return "–";
  if (db <= floor) return "−∞";
  return (db > 0 ? "+" : db < 0 ? "−" : "") + Math.abs(db).toFixed(1);
}

/** CSS.escape for attribute selectors built from node ids. */
export const esc = (s) => CSS.escape(String(s));

/** The element with `data-testid` = id inside `root` (document by default). */
export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${esc(id)}"]`);
