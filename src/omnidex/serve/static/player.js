// The player panel: the media opened at the moment, a timeline with the moment and the shots,
// the transcript that follows playback, OCR text of images, and documents with the matched lines.

import { $, alsoRead, api, fmtMoment, fmtTime, h, highlight, token, withToken, wordSet } from "./util.js";
import { kindOf } from "./results.js";
import { drawGop, loadGop } from "./gop.js";

const MAX_DOC_BYTES = 2_000_000;   // larger documents are shown as their indexed chunks
const MAX_SHOT_THUMBS = 48;        // above this, shots are drawn without thumbnails
const FOLLOW_PAUSE_MS = 4000;      // after the reader scrolls the transcript, stop following for a while

export class Player {
  /** ``onSearchIn(hit)``: search within the open file; ``onError(err)``: show a failure. */
  constructor({ onSearchIn, onError, onClose }) {
    Object.assign(this, { onSearchIn, onError, onClose });
    this.hit = null;
    this.media = null;
    this.item = null;
    this.seq = 0;
    this.stopAt = null;
    this.lines = [];
    this.userScrolledAt = 0;
    this.wire();
  }

  get isOpen() { return !$("player").hidden; }

  wire() {
    $("player-close").addEventListener("click", () => this.close());
    $("play-moment").addEventListener("click", () => this.playMoment());
    $("more-here").addEventListener("click", () => this.hit && this.onSearchIn(this.hit));
    const tl = $("timeline");
    tl.addEventListener("pointerdown", (e) => this.seekToPointer(e));
    tl.addEventListener("keydown", (e) => this.timelineKey(e));
    for (const ev of ["wheel", "touchmove"]) {
      $("transcript").addEventListener(ev, () => { this.userScrolledAt = Date.now(); }, { passive: true });
    }
  }

  /** Show ``hit``: its media at the moment, then the item's shots and transcript when they arrive. */
  async open(hit, opener) {
    const seq = ++this.seq;
    this.teardown();
    Object.assign(this, { hit, opener, item: null, stopAt: null });
    const kind = kindOf(hit);
    $("player-title").textContent = hit.name || hit.path;
    $("player-path").textContent = hit.path;
    const also = kind !== "text" ? alsoRead(hit) : null;
    $("evidence").replaceChildren(hit.evidence && kind !== "text" ? highlight(hit.evidence, hit.matched_words) : "",
      ...(also ? [" ", also] : []));
    for (const id of ["transcript-box", "doc-box", "ocr-box", "tl-shots", "gop-box"]) $(id).hidden = true;
    $("gop").replaceChildren();
    $("transcript").replaceChildren();
    this.buildStage(hit, kind);
    $("timeline-box").hidden = !this.media;
    $("moment-label").textContent = fmtMoment(hit) && `moment ${fmtMoment(hit)}`;
    $("play-moment").hidden = !(this.media && hit.unit === "s");
    $("player").hidden = false;
    $("main").classList.add("with-player");
    document.body.classList.add("player-open");
    this.drawTimeline();
    (this.media || $("player")).focus({ preventScroll: matchMedia("(max-width: 700px)").matches });
    if (!hit.id) return;
    try {
      const item = await api(`/api/items/${encodeURIComponent(hit.id)}`);
      if (seq !== this.seq) return;
      this.item = item;
      this.showItem(item, hit, kind, seq);
    } catch (err) {
      if (seq === this.seq) this.onError(err);
    }
  }

  buildStage(hit, kind) {
    const stage = $("stage");
    stage.className = `stage ${kind}`;
    const src = withToken(hit.media_url);
    if (kind === "video" || kind === "audio") {
      const m = h(kind, { controls: true, preload: "auto", src, "aria-label": `${kind} player: ${hit.name}` });
      if (kind === "video") m.playsInline = true;
      m.addEventListener("loadedmetadata", () => this.onMetadata(m, hit), { once: true });
      m.addEventListener("timeupdate", () => this.onTime());
      m.addEventListener("play", () => this.tick());
      m.addEventListener("seeking", () => this.onTime());
      m.addEventListener("error", () => {
        if (m === this.media && m.error) this.onError(new Error(`Cannot play ${hit.name}: ${mediaError(m.error)}`));
      });
      this.media = m;
      const wave = kind === "audio" && hit.thumb_url
        ? h("img", { src: withToken(sized(hit.thumb_url, 640)), alt: "", onerror: (e) => { e.target.hidden = true; } })
        : null;
      stage.replaceChildren(...[wave, m].filter(Boolean));
    } else if (kind === "image") {
      this.media = null;
      stage.replaceChildren(h("img", { src, alt: hit.name || "image" }));
    } else {
      this.media = null;
      stage.replaceChildren();
    }
  }

  onMetadata(m, hit) {
    if (hit.unit === "s" && hit.start > 0 && m.currentTime === 0) m.currentTime = hit.start;
    this.drawTimeline();
    this.onTime();
  }

  /** The item details: shots on the timeline, transcript, OCR lines or the document text. */
  showItem(item, hit, kind, seq) {
    this.drawTimeline();
    if (item.transcript?.length) this.showTranscript(item.transcript, hit);
    if (kind === "image" && item.ocr?.length) {
      $("ocr").replaceChildren(...item.ocr.map((o) => h("li", {}, highlight(o.text, hit.matched_words))));
      $("ocr-box").hidden = false;
    }
    if (kind === "text") this.showDocument(item, hit, seq);
    if (kind === "video") this.showGop(hit, seq);
  }

  /** The GOP strip (frame types and sizes) under the timeline; a file it cannot read shows none. */
  async showGop(hit, seq) {
    try {
      const strip = await loadGop(hit.id);
      if (seq !== this.seq || !strip.frames?.length) return;
      drawGop($("gop"), $("gop-summary"), strip, (t) => this.seek(t));
      $("gop-box").hidden = false;
    } catch (err) {
      if (seq === this.seq && err?.status !== 422) this.onError(err);
    }
  }

  duration() {
    const d = this.media?.duration;
    return Number.isFinite(d) && d > 0 ? d : (this.item?.duration || Math.max(this.hit?.end || 0, 0));
  }

  drawTimeline() {
    if (!this.media || !this.hit) return;
    const dur = this.duration();
    const pct = (t) => `${(100 * Math.max(0, Math.min(dur, t)) / (dur || 1)).toFixed(3)}%`;
    const { start, end, frame_time: frame } = this.hit;
    const moment = $("tl-moment");
    moment.hidden = !(dur > 0 && this.hit.unit === "s");
    moment.style.left = pct(start);
    moment.style.width = `calc(${pct(end)} - ${pct(start)})`;
    moment.dataset.start = start;
    moment.dataset.end = end;
    $("tl-frame").hidden = !(dur > 0 && Number.isFinite(frame) && frame >= 0);
    if (Number.isFinite(frame)) $("tl-frame").style.left = pct(frame);
    $("tl-dur").textContent = fmtTime(dur);
    $("timeline").setAttribute("aria-valuemax", dur.toFixed(1));
    this.drawShots(dur, pct);
  }

  drawShots(dur, pct) {
    const shots = (this.item?.info?.shots || []).filter((s) => Array.isArray(s) && s.length >= 2);
    $("tl-ticks").replaceChildren(...shots.slice(1).map((s) => h("div.tl-tick", { style: `left:${pct(s[0])}` })));
    const strip = $("tl-shots");
    strip.hidden = !(dur > 0 && shots.length > 1);
    if (strip.hidden) return;
    const thumbs = this.hit.thumb_url && shots.length <= MAX_SHOT_THUMBS && kindOf(this.hit) === "video";
    strip.replaceChildren(...shots.map(([s, e], i) => {
      const url = thumbs ? withToken(`/api/thumb/${encodeURIComponent(this.hit.id)}?t=${((s + e) / 2).toFixed(2)}&w=160`) : null;
      return h("button.shot", {
        type: "button", "aria-label": `Shot ${i + 1}: ${fmtTime(s)} to ${fmtTime(e)}`, title: `${fmtTime(s)}–${fmtTime(e)}`,
        dataset: { start: s, end: e },
        style: `left:${pct(s)};width:calc(${pct(e)} - ${pct(s)} - 2px)${url ? `;background-image:url("${url}")` : ""}`,
        onclick: () => this.seek(s),
      }, h("span", { "aria-hidden": "true" }, fmtTime(s, false)));
    }));
  }

  showTranscript(windows, hit) {
    const words = wordSet(hit.matched_words);
    const inMoment = (w) => hit.unit === "s" && w.end > hit.start - 0.05 && w.start < hit.end + 0.05;
    this.lines = windows.map((w) => {
      const txt = w.words?.length
        ? w.words.flatMap((x, i) => [i && !/^\s/.test(x.w) ? " " : null,
          h("span.word", { dataset: { s: x.s, e: x.e } }, highlight(x.w, words))])
        : [highlight(w.text, words)];
      const btn = h(`button.line${inMoment(w) ? ".in-moment" : ""}`, {
        type: "button", "aria-label": `${fmtTime(w.start)}: ${w.text}`, onclick: () => this.seek(w.start, true),
      }, h("span.t", { "aria-hidden": "true" }, fmtTime(w.start)), h("span.txt", { "aria-hidden": "true" }, txt));
      return { start: w.start, end: w.end, btn, words: [...btn.querySelectorAll(".word")] };
    });
    $("transcript").replaceChildren(...this.lines.map((l) => h("li", {}, l.btn)));
    $("transcript-box").hidden = false;
    const first = this.lines.find((l) => l.btn.classList.contains("in-moment"));
    if (first) scrollWithin($("transcript"), first.btn);
    this.onTime();
  }

  async showDocument(item, hit, seq) {
    const box = $("doc");
    const lo = hit.unit === "line" ? hit.start : -1;
    const hi = hit.unit === "line" ? hit.end : -1;
    const words = wordSet(hit.matched_words);
    let rows;
    try {
      const text = await fetchText(hit.media_url);
      if (seq !== this.seq) return;
      rows = text.split(/\r?\n/).map((line, i) => docLine(i + 1, line, i + 1 >= lo && i + 1 <= hi, words));
    } catch {
      if (seq !== this.seq) return;
      rows = (item.text || []).map((c) => docLine(`${c.start}–${c.end}`, c.text,
        c.end >= lo && c.start <= hi, words));
    }
    box.replaceChildren(...rows);
    $("doc-box").hidden = false;
    const first = box.querySelector("li.hit");
    if (first) scrollWithin(box, first);
  }

  /** Move the play head, the current shot, and the current transcript line to the media time. */
  onTime() {
    const m = this.media;
    if (!m) return;
    const t = m.currentTime;
    if (this.stopAt !== null && t >= this.stopAt) {
      this.stopAt = null;
      m.pause();
    }
    const dur = this.duration();
    $("tl-head").style.left = `${(100 * t / (dur || 1)).toFixed(3)}%`;
    $("tl-now").textContent = fmtTime(t);
    const tl = $("timeline");
    tl.setAttribute("aria-valuenow", t.toFixed(1));
    tl.setAttribute("aria-valuetext", `${fmtTime(t)} of ${fmtTime(dur)}`);
    for (const b of $("tl-shots").children) {
      b.setAttribute("aria-current", String(t >= +b.dataset.start && t < +b.dataset.end));
    }
    this.markTranscript(t);
  }

  markTranscript(t) {
    let current = null;
    for (const line of this.lines) {
      const on = t >= line.start - 0.05 && t < line.end + 0.25;
      if (on && !current) current = line;
      line.btn.setAttribute("aria-current", String(on && line === current));
      for (const w of line.words) w.classList.toggle("now", on && t >= +w.dataset.s && t < +w.dataset.e);
    }
    const follow = $("follow").checked && !this.media.paused && Date.now() - this.userScrolledAt > FOLLOW_PAUSE_MS;
    if (current && follow && current !== this.followed) scrollWithin($("transcript"), current.btn);
    this.followed = current;
  }

  /** Redraw on every frame while playing (timeupdate alone moves the head in visible jumps). */
  tick() {
    const m = this.media;
    if (!m || m.paused || m.ended) return;
    this.onTime();
    requestAnimationFrame(() => { if (this.media === m) this.tick(); });
  }

  seek(t, play = false) {
    const m = this.media;
    if (!m) return;
    this.stopAt = null;
    m.currentTime = Math.max(0, t);
    if (play) m.play().catch(() => {});
    this.onTime();
  }

  playMoment() {
    const m = this.media;
    if (!m || !this.hit) return;
    m.currentTime = this.hit.start;
    this.stopAt = this.hit.end;
    m.play().catch((err) => this.onError(err));
  }

  seekToPointer(e) {
    const r = $("timeline").getBoundingClientRect();
    this.seek(this.duration() * Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)));
  }

  timelineKey(e) {
    const m = this.media;
    if (!m) return;
    const big = e.shiftKey || e.key === "PageUp" || e.key === "PageDown" ? 10 : 2;
    const to = { ArrowLeft: m.currentTime - big, ArrowRight: m.currentTime + big, PageDown: m.currentTime - big,
      PageUp: m.currentTime + big, Home: 0, End: this.duration() }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    this.seek(to);
  }

  teardown() {
    const m = this.media;
    this.media = null;
    if (m) {
      m.pause();
      m.removeAttribute("src");
      m.load();
    }
    this.lines = [];
    this.followed = null;
  }

  close() {
    if (!this.isOpen) return;
    this.seq++;
    this.teardown();
    $("stage").replaceChildren();
    $("player").hidden = true;
    $("main").classList.remove("with-player");
    document.body.classList.remove("player-open");
    const opener = this.opener;
    this.hit = null;
    this.onClose?.();
    if (opener?.isConnected) opener.focus();
    else $("q").focus();
  }
}

/** A thumbnail address asking for ``w`` pixels wide. */
function sized(url, w) {
  const u = new URL(url, location.origin);
  u.searchParams.set("w", String(w));
  return u.pathname + u.search;
}

function docLine(n, text, hit, words) {
  return h(`li${hit ? ".hit" : ""}`, {}, h("span.ln", { "aria-hidden": "true" }, String(n)),
    h("span.lt", {}, hit ? highlight(text, words) : text));
}

/** Scroll ``el`` into view inside the scrolling ``box`` only (never the page). */
function scrollWithin(box, el) {
  const b = box.getBoundingClientRect();
  const r = el.getBoundingClientRect();
  if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += r.top - b.top - box.clientHeight / 3;
}

async function fetchText(url) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(url, { headers });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  if (+(res.headers.get("content-length") || 0) > MAX_DOC_BYTES) throw new Error("too large");
  return res.text();
}

function mediaError(err) {
  return { 1: "loading was aborted", 2: "a network error", 3: "the file could not be decoded",
    4: "this browser cannot play this format" }[err.code] || "unknown error";
}
