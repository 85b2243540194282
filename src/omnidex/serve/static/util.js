// Shared helpers: the API client (with the optional token), DOM building, time formats, highlighting.

const TOKEN_KEY = "omnidex-token";

/** The access token: from ?token=T in the page address (then kept for this tab and taken out of the
 * address bar, so a copied link does not carry it), else from this tab's storage. The server sets
 * the cookie for <img>/<video> itself (HttpOnly, so no script can read it). */
export const token = (() => {
  const url = new URL(location.href);
  let t = url.searchParams.get("token");
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else t = sessionStorage.getItem(TOKEN_KEY);
  } catch { /* storage disabled: the address keeps it */ }
  if (t && url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url);
  }
  return t || null;
})();

/** An API error with the HTTP status and the server's explanation. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** ``url`` with ``token=T`` appended, for addresses the browser loads itself (img, video, EventSource). */
export function withToken(url) {
  if (!url || !token) return url;
  const u = new URL(url, location.origin);
  u.searchParams.set("token", token);
  return u.origin === location.origin ? u.pathname + u.search + u.hash : u.href;
}

/** fetch() that sends the bearer token, parses JSON, and turns HTTP errors into ApiError. */
export async function api(path, { method = "GET", body, signal, headers = {} } = {}) {
  const h = new Headers(headers);
  if (token) h.set("Authorization", `Bearer ${token}`);
  if (body && !(body instanceof FormData) && typeof body !== "string") {
    h.set("Content-Type", "application/json");
    body = JSON.stringify(body);
  }
  const res = await fetch(path, { method, body, signal, headers: h });
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.text();
}

/** The server's message of an error answer ({"error": code, "message": text}), or a plain one. */
async function errorText(res) {
  if (res.status === 401) return token ? "That access token was not accepted" : "This server needs its access token";
  const what = {
    403: "Not allowed", 404: "Not found", 413: "That file is too large (20 MB at most)",
    415: "That kind of file cannot be used as a query", 503: "The server is busy; try again shortly",
  }[res.status];
  let detail = "";
  try {
    const data = await res.clone().json();
    const msg = data.message ?? data.detail ?? data.error;
    detail = typeof msg === "string" ? msg : JSON.stringify(msg ?? data);
  } catch {
    detail = (await res.text()).slice(0, 200);
  }
  return detail || what || `HTTP ${res.status}`;
}

/** Build an element: h("span.badge.video", {title: "x"}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** Seconds -> "1:02:03.4" / "2:03.4" (tenths: moments are cut to the word). */
export function fmtTime(t, tenths = true) {
  if (!Number.isFinite(t)) return "–";
  const s = Math.max(0, t);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = tenths ? (s % 60).toFixed(1).padStart(4, "0") : String(Math.floor(s % 60)).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** A moment as people read it: "0:06.7–0:11.0", "lines 5–7", or "" for still images. */
export function fmtMoment(hit) {
  if (hit.unit === "s") return `${fmtTime(hit.start)}–${fmtTime(hit.end)}`;
  if (hit.unit === "line") return hit.moment || `lines ${hit.start}–${hit.end}`;
  return "";
}

const norm = (w) => w.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");

/** A Set of lower-cased matched words, for quick lookups. */
export function wordSet(words) {
  return new Set((words || []).map(norm).filter(Boolean));
}

/** ``text`` as a fragment with every whole-word occurrence of ``words`` wrapped in <mark>. */
export function highlight(text, words) {
  const frag = document.createDocumentFragment();
  const set = words instanceof Set ? words : wordSet(words);
  if (!set.size || !text) {
    frag.append(text || "");
    return frag;
  }
  for (const part of String(text).split(/([\p{L}\p{N}][\p{L}\p{N}'’-]*)/u)) {
    if (part && set.has(norm(part))) frag.append(h("mark", {}, part));
    else if (part) frag.append(part);
  }
  return frag;
}

/** The query words a hit matched only in another reading of its on-screen words (a glued token
 * split, a faint word read in a contrast-normalised view), and those matched only among words
 * guessed from faint letters: neither is in the evidence as first read. */
export function alsoRead(hit) {
  const read = hit.also_read || [], guessed = hit.guessed || [];
  if (!read.length && !guessed.length) return null;
  const marks = (words) => words.flatMap((w, i) => (i ? [", ", h("mark", {}, w)] : [h("mark", {}, w)]));
  return h("span.also", {},
    read.length ? h("span", { title: "matched in another reading of the words on screen (split, or read in a faint view)" },
      "also read: ", ...marks(read)) : null,
    read.length && guessed.length ? "; " : null,
    guessed.length ? h("span.guessed", { title: "matched only a word guessed from faint letters, not read: a weak match" },
      "guessed: ", ...marks(guessed)) : null);
}

/** Calls ``fn`` once ``ms`` after the last call. */
export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export const $ = (id) => document.getElementById(id);
