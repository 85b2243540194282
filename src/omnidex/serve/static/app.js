// omnidex web page: instant search (text, or a dropped / pasted image or audio clip), results,
// the player, filters, index stats, the "index a folder" dialog and the colour theme.

import { $, api, debounce, h, token, withToken } from "./util.js";
import { focusCard, moveFocus, renderHeat, renderResults } from "./results.js";
import { Player } from "./player.js";

const MAX_UPLOAD = 20 * 1024 * 1024;  // the API refuses larger uploads (413)
const TYPE_DELAY_MS = 180;            // debounce while typing
const BANNER_MS = 10000;              // errors stay this long unless hovered or focused
const AUDIO_EXT = /\.(wav|mp3|flac|ogg|oga|opus|m4a|aac|webm)$/i;
const IMAGE_EXT = /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i;

const state = {
  file: null,         // the query image or audio clip (a File)
  fileKind: null,     // "image" | "audio"
  fileUrl: null,      // object URL of the chip preview
  within: null,       // {id, name}: search inside one file only
  hits: [],
  cards: [],
  controller: null,   // aborts the request in flight when a newer one starts
  seq: 0,
  lastKey: "",
};

const player = new Player({
  onSearchIn: (hit) => { state.within = { id: hit.id, name: hit.name || hit.path }; showWithin(); search(true); },
  onError: showError,
  onClose: () => markCurrent(-1),
});

// ---------------------------------------------------------------- search

function params() {
  const modality = [...document.querySelectorAll('input[name="modality"]:checked')].map((c) => c.value);
  return {
    q: $("q").value.trim(), top_k: $("top_k").value, modality: modality.join(","),
    path: $("path").value.trim(), in: state.within?.id || "",
  };
}

/** Run the query now (``force``: even when nothing changed); a newer call cancels an older one. */
async function search(force = false) {
  const p = params();
  const fileKey = state.file ? `${state.file.name}:${state.file.size}:${state.file.lastModified}` : "";
  const key = JSON.stringify([p, fileKey]);
  if (key === state.lastKey && !force) return;
  state.lastKey = key;
  saveToAddress(p);
  updateFilterCount(p);
  state.controller?.abort();
  if (!p.q && !state.file) {
    state.controller = null;
    showHits([], null);
    return;
  }
  const controller = (state.controller = new AbortController());
  const seq = ++state.seq;
  $("status").textContent = "Searching…";
  $("results").setAttribute("aria-busy", "true");
  try {
    const data = await request(p, controller.signal);
    if (seq !== state.seq) return;
    showHits(data.hits || [], p, data.took_ms);
  } catch (err) {
    if (err.name === "AbortError" || seq !== state.seq) return;
    $("status").textContent = "";
    if (state.file && [400, 413, 415, 422].includes(err.status)) {
      clearQueryFile(false);  // the server refused the file: it is no longer the query
      state.lastKey = "";
    }
    showError(err);
  } finally {
    if (seq === state.seq) $("results").removeAttribute("aria-busy");
  }
}

function request(p, signal) {
  const fields = Object.entries(p).filter(([, v]) => v !== "");
  if (!state.file) return api(`/api/search?${new URLSearchParams(fields)}`, { signal });
  const form = new FormData();
  for (const [k, v] of fields) form.append(k, v);
  form.append(state.fileKind, state.file, state.file.name || `query.${state.fileKind === "image" ? "png" : "wav"}`);
  return api("/api/search", { method: "POST", body: form, signal });
}

function showHits(hits, p, tookMs) {
  state.hits = hits;
  state.cards = renderResults(hits, openHit);
  renderHeat(hits, openHit);
  const what = state.file ? `“${state.file.name}”${p?.q ? ` + “${p.q}”` : ""}` : `“${p?.q ?? ""}”`;
  const sure = hits.filter((hit) => hit.confident).length;
  const took = tookMs != null ? ` in ${Math.round(tookMs)} ms` : "";
  $("status").textContent = !p ? ""
    : hits.length && !sure ? `No confident match for ${what}: ${hits.length} weak ${hits.length === 1 ? "moment" : "moments"}${took}`
      : `${sure} confident ${sure === 1 ? "moment" : "moments"}${hits.length > sure ? ` (+${hits.length - sure} weak)` : ""} for ${what}${took}`;
  const empty = $("empty");
  empty.hidden = hits.length > 0;
  $("empty-title").textContent = p ? "Nothing matched" : "Find the moment";
  $("empty-text").textContent = p
    ? "Try other words, fewer filters, or search the whole index."
    : "Search what was said, what is written on screen, what a picture shows, or drop a photo to find its near-duplicates.";
  if (player.isOpen && player.hit) markCurrent(hits.findIndex((x) => x.id === player.hit.id && x.start === player.hit.start));
}

function openHit(i) {
  const hit = state.hits[i];
  if (!hit) return;
  markCurrent(i);
  player.open(hit, state.cards[i]);
}

function markCurrent(i) {
  state.cards.forEach((c, j) => c.setAttribute("aria-current", String(j === i)));
}

const searchSoon = debounce(() => search(), TYPE_DELAY_MS);

// ---------------------------------------------------------------- query file (drop, paste, pick)

function fileKindOf(file) {
  if (file.type.startsWith("image/") || (!file.type && IMAGE_EXT.test(file.name))) return "image";
  if (file.type.startsWith("audio/") || (!file.type && AUDIO_EXT.test(file.name))) return "audio";
  return null;
}

function setQueryFile(file) {
  const kind = fileKindOf(file);
  if (!kind) return showError(new Error(`${file.name || "That file"} is not an image or audio clip`));
  if (file.size > MAX_UPLOAD) return showError(new Error(`${file.name} is too large (20 MB at most)`));
  clearQueryFile(false);
  Object.assign(state, { file, fileKind: kind });
  const img = $("chip-img");
  img.hidden = kind !== "image";
  img.onerror = () => { img.hidden = true; $("chip-icon").hidden = false; };
  $("chip-icon").hidden = kind !== "audio";
  if (kind === "image") img.src = state.fileUrl = URL.createObjectURL(file);
  $("chip-name").textContent = file.name || `pasted ${kind}`;
  $("chip-remove").setAttribute("aria-label", `Remove the query ${kind} ${file.name || ""}`.trim());
  $("chip").hidden = false;
  search(true);
}

function clearQueryFile(rerun = true) {
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  Object.assign(state, { file: null, fileKind: null, fileUrl: null });
  $("chip").hidden = true;
  $("chip-img").removeAttribute("src");
  $("file").value = "";
  if (rerun) search(true);
}

function wireDrop() {
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
  const toggle = (on) => { $("drop-overlay").hidden = !on; $("dropzone").classList.toggle("dragging", on); };
  addEventListener("dragenter", (e) => { if (hasFiles(e)) { depth++; toggle(true); } });
  addEventListener("dragleave", (e) => { if (hasFiles(e) && --depth <= 0) { depth = 0; toggle(false); } });
  addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  addEventListener("drop", (e) => {
    depth = 0;
    toggle(false);
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    setQueryFile(file);
  });
  $("file").addEventListener("change", (e) => e.target.files[0] && setQueryFile(e.target.files[0]));
  $("chip-remove").addEventListener("click", () => { clearQueryFile(); $("q").focus(); });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => fileKindOf(f));
    if (!file) return;
    e.preventDefault();
    setQueryFile(file);
  });
}

// ---------------------------------------------------------------- keyboard

function isEditable(el) {
  return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

function wireKeys() {
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "/" && !isEditable(document.activeElement)) {
      e.preventDefault();
      $("q").focus();
      $("q").select();
    } else if (e.key === "Escape" && player.isOpen && !$("index-dialog").open) {
      e.preventDefault();
      player.close();
    }
  });
  $("q").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && state.cards.length) {
      e.preventDefault();
      const current = state.cards.findIndex((c) => c.tabIndex === 0);
      focusCard(state.cards, Math.max(0, current));
    }
  });
  $("results").addEventListener("keydown", (e) => {
    const i = state.cards.indexOf(document.activeElement);
    if (i < 0) return;
    const moved = moveFocus(state.cards, i, e.key);
    if (moved) e.preventDefault();
    if (moved === "top") $("q").focus();
  });
}

// ---------------------------------------------------------------- filters, address, within

function wireFilters() {
  $("search").addEventListener("submit", (e) => { e.preventDefault(); searchSoon.cancel(); search(true); });
  $("q").addEventListener("input", searchSoon);
  $("path").addEventListener("input", searchSoon);
  for (const el of document.querySelectorAll('input[name="modality"], #top_k')) {
    el.addEventListener("change", () => search());
  }
  $("within-x").addEventListener("click", () => { state.within = null; showWithin(); search(true); });
}

function showWithin() {
  $("within").hidden = !state.within;
  $("within-name").textContent = state.within?.name || "";
}

function updateFilterCount(p) {
  const n = (p.modality ? p.modality.split(",").length : 0) + (p.path ? 1 : 0) + (p.in ? 1 : 0);
  $("filter-count").textContent = n ? `(${n})` : "";
}

/** Keep the query in the address (not the token), so a reload or a shared link shows the same results. */
function saveToAddress(p) {
  const u = new URL(location.href);
  for (const k of ["q", "modality", "path", "top_k", "in"]) u.searchParams.delete(k);
  for (const [k, v] of Object.entries(p)) if (v !== "" && !(k === "top_k" && v === "10")) u.searchParams.set(k, v);
  if (u.href !== location.href) history.replaceState(null, "", u);
}

function loadFromAddress() {
  const u = new URL(location.href).searchParams;
  $("q").value = u.get("q") || "";
  $("path").value = u.get("path") || "";
  const top = u.get("top_k");
  if (top) {
    if (![...$("top_k").options].some((o) => o.value === top)) $("top_k").append(h("option", {}, top));
    $("top_k").value = top;
  }
  const mods = new Set((u.get("modality") || "").split(","));
  for (const c of document.querySelectorAll('input[name="modality"]')) c.checked = mods.has(c.value);
  if (u.get("in")) state.within = { id: u.get("in"), name: u.get("in") };
  showWithin();
}

// ---------------------------------------------------------------- health, errors, theme

async function loadHealth() {
  const el = $("stats");
  try {
    const hl = await api("/api/health");
    const spaces = Object.entries(hl.spaces || {});
    el.classList.remove("down");
    el.replaceChildren(h("span.dot", { "aria-hidden": "true" }),
      h("strong", {}, `${hl.files ?? 0} ${hl.files === 1 ? "file" : "files"}`), " indexed",
      ...spaces.map(([name, s]) => h("span.space", { title: `${s.encoder} (${s.dim}-d)` }, `${name} ${s.rows}`)),
      ...[hl.version ? h("span.space", {}, `v${hl.version}`) : null, loadingNote(hl)].filter(Boolean));  // (a null would print "null")
    el.title = hl.db ? `index: ${hl.db}` : "";
    if (hl.ready === false) setTimeout(loadHealth, 1000);  // models still loading: ask again
  } catch (err) {
    el.classList.add("down");
    el.replaceChildren(h("span.dot", { "aria-hidden": "true" }), "index unavailable");
    showError(err);
  }
}

function loadingNote(hl) {
  // the server loads its query models at start; searches wait for them until it is ready
  if (hl.ready !== false) return null;
  const busy = Object.entries(hl.models || {}).filter(([, st]) => st === "loading" || st === "waiting").map(([m]) => m);
  return h("span.space.loading", { title: "the first searches wait for these models" },
    `loading models${busy.length ? ": " + busy.join(", ") : ""}…`);
}

let bannerTimer = 0;
function showError(err) {
  if (err?.status === 401) return askToken(err.message);
  const banner = $("banner");
  const text = err?.message || String(err);
  if (!banner.hidden && $("banner-text").textContent === text) return;  // already on screen
  $("banner-text").textContent = text;
  banner.hidden = false;
  clearTimeout(bannerTimer);
  const hide = () => { if (!banner.matches(":hover, :focus-within")) banner.hidden = true; else later(); };
  const later = () => { bannerTimer = setTimeout(hide, BANNER_MS); };
  later();
}

const THEMES = ["auto", "light", "dark"];
const THEME_ICONS = {  // half-filled circle, sun, moon
  auto: '<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/><path fill="currentColor" d="M12 3a9 9 0 0 0 0 18Z"/>',
  light: '<circle cx="12" cy="12" r="4.5" fill="currentColor"/><path stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M12 2v2.5M12 19.5V22M2 12h2.5M19.5 12H22M4.9 4.9l1.8 1.8M17.3 17.3l1.8 1.8M4.9 19.1l1.8-1.8M17.3 6.7l1.8-1.8"/>',
  dark: '<path fill="currentColor" d="M20 14.5A8.5 8.5 0 0 1 9.5 4a8.5 8.5 0 1 0 10.5 10.5Z"/>',
};
function wireTheme() {
  const btn = $("theme");
  const show = (t) => {
    document.documentElement.dataset.theme = t;
    btn.setAttribute("aria-label", `Colour theme: ${t === "auto" ? "automatic" : t} (change)`);
    btn.title = `Theme: ${t}`;
    btn.querySelector("svg").innerHTML = THEME_ICONS[t] || THEME_ICONS.auto;
  };
  show(document.documentElement.dataset.theme || "auto");
  btn.addEventListener("click", () => {
    const next = THEMES[(THEMES.indexOf(document.documentElement.dataset.theme) + 1) % THEMES.length];
    try { localStorage.setItem("omnidex-theme", next); } catch { /* storage off */ }
    show(next);
  });
}

/** Show the access-token field (the API said 401); using it reloads the page with the token,
 * which lets the server set its HttpOnly cookie, and the address is cleaned again at once. */
function askToken(message) {
  $("token-text").textContent = `${message}: it was printed by omnidex serve when it started.`;
  if (!$("token-form").hidden) return;
  $("token-form").hidden = false;
  $("token-input").focus();
}

function wireToken() {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    const u = new URL(location.href);
    u.searchParams.set("token", value);
    location.replace(u.href);
  });
}

// ---------------------------------------------------------------- index a folder

function wireIndexDialog() {
  const dialog = $("index-dialog");
  $("index-open").addEventListener("click", () => { dialog.showModal(); $("index-paths").focus(); });
  $("index-cancel").addEventListener("click", () => dialog.close());
  $("index-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const paths = $("index-paths").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (!paths.length) return;
    $("index-start").disabled = true;
    try {
      const { job_id: id } = await api("/api/index", { method: "POST", body: { paths, prune: $("index-prune").checked } });
      followJob(id);
    } catch (err) {
      $("index-start").disabled = false;
      showJob({ state: "failed", error: err.message });
    }
  });
}

function followJob(id) {
  const finish = (job) => {
    showJob(job);
    $("index-start").disabled = false;
    loadHealth();
    search(true);
  };
  const poll = async () => {
    try {
      const job = await api(`/api/jobs/${encodeURIComponent(id)}`);
      if (job.state === "done" || job.state === "failed") finish(job);
      else { showJob(job); setTimeout(poll, 1000); }
    } catch (err) { finish({ state: "failed", error: err.message }); }
  };
  if (!window.EventSource) return poll();
  const es = new EventSource(withToken(`/api/jobs/${encodeURIComponent(id)}/events`));
  es.onmessage = (m) => {
    const job = JSON.parse(m.data);
    if (job.state === "done" || job.state === "failed") { es.close(); finish(job); } else showJob(job);
  };
  es.onerror = () => { es.close(); poll(); };
}

function showJob(job) {
  $("job").hidden = false;
  const bar = $("job-progress");
  const ended = job.state === "done" || job.state === "failed";
  bar.hidden = job.state === "failed" && !job.total;  // a refused job has no progress to show
  if (job.total) { bar.max = job.total; bar.value = job.done || 0; } else if (ended) { bar.max = 1; bar.value = 0; }
  else bar.removeAttribute("value");
  if (job.state === "done") { bar.max = 1; bar.value = 1; }
  const count = job.total ? ` ${job.done ?? 0} of ${job.total} files` : "";
  $("job-text").textContent = {
    queued: "Waiting for the previous job…", running: `Indexing${count}${job.current ? ` — ${job.current}` : ""}`,
    done: `Done:${count || " nothing to do"}.`, failed: `Failed: ${job.error || "unknown error"}`,
  }[job.state] || job.state;
  const files = (job.files || []).filter((f) => f.status === "failed" || f.status === "skipped" || f.status === "indexed");
  $("job-files").replaceChildren(...files.slice(-200).map((f) => h(`li.${f.status}`, {},
    `${f.status}: ${f.path}${f.reason ? ` — ${f.reason}` : ""}`)));
}

// ---------------------------------------------------------------- start

function start() {
  if (matchMedia("(max-width: 700px)").matches) $("filters").open = false;
  $("banner-close").addEventListener("click", () => { $("banner").hidden = true; });
  $("examples").replaceChildren(
    h("button.btn", { type: "button", onclick: () => $("file").click() }, "Search by an image or audio clip"),
    h("button.btn", { type: "button", onclick: () => $("index-open").click() }, "Index a folder"));
  wireTheme();
  wireDrop();
  wireKeys();
  wireFilters();
  wireIndexDialog();
  wireToken();
  loadFromAddress();
  loadHealth();
  search(true);
  document.body.dataset.ready = token ? "token" : "yes";
}

start();
