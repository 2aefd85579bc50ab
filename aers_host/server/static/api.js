// The one place that talks to the server: the WebSocket feed and the REST calls.
// Every state-changing HTTP request goes through `request()` (headers live here only).

import { html } from "./dom.js";

export const PROTOCOL = 1;
const token = new URLSearchParams(location.search).get("token");

/** The WebSocket URL of the feed (the token travels as a query when the page has one). */
export function feedUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}

/** fetch() a JSON API; resolves to {ok, status, body} and never throws for HTTP errors. */
export async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, body: { code: "network", message: `server unreachable (${err})` } };
  }
  let data = null;
  try { data = await response.json(); } catch { data = { message: response.statusText }; }
  return { ok: response.ok, status: response.status, body: data };
}

/** A live edit through POST /api/edits (journalled as "dashboard"). */
export const edit = (ops) => request("POST", "/api/edits?who=dashboard", ops);
export const undo = () => request("POST", "/api/edits/undo");
export const types = () => request("GET", "/api/types");

/** The server's refusal as one line: message, the first problem's path, and its hint. */
export function refusal(body) {
  if (!body) return "refused";
  const first = (body.problems || [])[0];
  const hint = body.hint || (first && first.hint);
  const where = first && first.path && first.path !== "edit" ? ` (${first.path})` : "";
  const more = body.problems && body.problems.length > 1 ? ` (+${body.problems.length - 1} more)` : "";
  return `${body.message || body.code}${where}${hint ? ` — ${hint}` : ""}${more}`;
}

/**
 * Show the outcome of a request next to the control that made it: the server's message
 * (red) on refusal, nothing on success. `el` is the control's message element.
 */
export function report(el, result) {
  if (!el) return;
  el.textContent = result.ok ? "" : refusal(result.body);
  el.classList.toggle("shown", !result.ok);
  el.setAttribute("role", result.ok ? "status" : "alert");
}

/** A message element (initially empty) with a test id, for `report()`. */
export const messageSlot = (parent, testid) => html("p", { class: "msg", "data-testid": testid, "aria-live": "polite" }, parent);
