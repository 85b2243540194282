// The result grid (cards with thumbnails, badges, moment, score), its keyboard navigation,
// and the similarity heat map (hits x signals).

import { $, alsoRead, fmtMoment, fmtTime, h, highlight, withToken } from "./util.js";

const KIND_LABEL = { video: "video", image: "image", audio: "audio", text: "document" };
const SOURCE_LABEL = { speech: "speech", ocr: "on-screen text", frame: "picture", clip: "clip match" };
const SIGNAL_LABEL = {
  text: ["meaning", "MiniLM similarity of the words (speech, on-screen text, documents)"],
  fts: ["keywords", "full-text keyword match (BM25)"],
  spot: ["spotted", "a query word spotted in the letters of faint text (a guess, never confident alone)"],
  clip: ["visual", "picture similarity (CLIP / the bundled visual model)"],
  phash: ["near-dup", "perceptual near-duplicate descriptor"],
  align: ["alignment", "frame alignment of a video clip"],
};

/** The file kind of a hit (the API's ``kind``, else its modality). */
export const kindOf = (hit) => hit.kind || hit.modality || "text";

/** Render hits into the grid; ``onOpen(index)`` opens one. Returns the card buttons. */
export function renderResults(hits, onOpen) {
  const list = $("results");
  const items = hits.map((hit, i) => h("li", {}, card(hit, i, onOpen)));
  const firstWeak = hits.findIndex((hit) => !hit.confident);
  if (firstWeak >= 0) {  // confident hits come first; weak ones sit below a divider, dimmed
    const text = firstWeak === 0
      ? "No confident match. These are the closest weak hits, probably not answers."
      : "Weak matches below: they do not clear the confidence threshold.";
    items.splice(firstWeak, 0, h("li.divider", { role: "separator", "aria-label": text }, h("span", {}, text)));
  }
  list.replaceChildren(...items);
  list.hidden = hits.length === 0;
  return [...list.querySelectorAll(".card")];
}

function card(hit, i, onOpen) {
  const kind = kindOf(hit);
  const moment = fmtMoment(hit);
  const score = Math.max(0, Math.min(1, hit.score || 0));
  const source = SOURCE_LABEL[hit.source];
  const label = [`${i + 1}. ${hit.name || hit.path}`, KIND_LABEL[kind] || kind, hit.generated && "generated",
    source && `found in ${source}`,
    moment, `score ${score.toFixed(2)}`].filter(Boolean).join(", ");
  return h(hit.confident ? "button.card" : "button.card.weak", {
    type: "button", tabIndex: i === 0 ? 0 : -1, "aria-label": hit.confident ? label : `${label}, weak match`,
    dataset: { index: i, kind },
    onclick: () => onOpen(i),
  },
  h("span.thumb", {},
    h("img", {
      src: withToken(hit.thumb_url), alt: "", loading: i < 12 ? "eager" : "lazy", decoding: "async",
      class: kind === "image" || kind === "text" ? "contain" : null,
      onerror: (e) => { e.target.hidden = true; },
    }),
    h("span.rank", { "aria-hidden": "true" }, String(i + 1)),
    hit.unit === "s" ? h("span.when", { "aria-hidden": "true" }, fmtTime(hit.start, false)) : null),
  h("span.card-body", {},
    h("span.badges", {},
      h(`span.badge.${kind}`, {}, KIND_LABEL[kind] || kind),
      source ? h("span.badge.src", { dataset: { source: hit.source } }, hit.source) : null,
      hit.generated ? h("span.badge.gen", { title: `generated: ${hit.generated.prompt || ""} (${hit.generated.model || hit.generated.generator || ""}, seed ${hit.generated.seed ?? "?"})` }, "generated") : null),
    h("span.name", {}, hit.name || hit.path),
    hit.evidence ? h("span.snippet", {}, highlight(hit.evidence, hit.matched_words)) : null,
    alsoRead(hit),
    h("span.meta", {},
      moment ? h("span.moment", {}, moment) : null,
      h("span.score", { title: "fused score" }, h("span.bar", { "aria-hidden": "true" },
        h("span", { style: `width:${(score * 100).toFixed(0)}%` })), score.toFixed(2)))));
}

/** Move focus between cards with the arrow keys (grid-aware), Home/End; returns true when handled. */
export function moveFocus(cards, from, key) {
  if (!cards.length) return false;
  const cols = columns(cards);
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[key];
  let to;
  if (key === "Home") to = 0;
  else if (key === "End") to = cards.length - 1;
  else if (step === undefined) return false;
  else to = from < 0 ? 0 : from + step;
  if (to < 0) return key === "ArrowUp" ? "top" : false;
  to = Math.min(cards.length - 1, to);
  focusCard(cards, to);
  return true;
}

/** Make card ``i`` the one Tab reaches, and focus it. */
export function focusCard(cards, i) {
  cards.forEach((c, j) => { c.tabIndex = j === i ? 0 : -1; });
  cards[i].focus();
  cards[i].scrollIntoView({ block: "nearest" });
}

function columns(cards) {
  const top = cards[0].getBoundingClientRect().top;
  const n = cards.findIndex((c) => Math.abs(c.getBoundingClientRect().top - top) > 4);
  return n === -1 ? cards.length : n;
}

/** The heat map: rows = the top hits, columns = every signal any of them has; colour = score. */
export function renderHeat(hits, onOpen, maxRows = 10) {
  const box = $("similarity");
  const rows = hits.slice(0, maxRows);
  const signals = signalColumns(rows);
  box.hidden = rows.length === 0 || signals.length === 0;
  if (box.hidden) return;
  const table = $("heat");
  table.tHead.replaceChildren(h("tr", {},
    h("th", { scope: "col" }, "Hit"),
    h("th", { scope: "col", title: "fused score" }, "fused"),
    signals.map((s) => h("th", { scope: "col", title: (SIGNAL_LABEL[s] || [s, s])[1] }, (SIGNAL_LABEL[s] || [s])[0]))));
  table.tBodies[0].replaceChildren(...rows.map((hit, i) => h("tr", {},
    h("th", { scope: "row" }, h("button", { type: "button", title: hit.path, onclick: () => onOpen(i) },
      `${i + 1}. ${hit.name || hit.path}`)),
    cell(hit.score),
    signals.map((s) => cell(hit.signals?.[s])))));
}

function signalColumns(hits) {
  const best = new Map();
  for (const hit of hits) {
    for (const [s, v] of Object.entries(hit.signals || {})) best.set(s, Math.max(best.get(s) ?? 0, v));
  }
  return [...best.entries()].sort((a, b) => b[1] - a[1]).map(([s]) => s);
}

function cell(v) {
  if (v === undefined || v === null) return h("td.none", { "aria-label": "no match" }, "–");
  const x = Math.max(0, Math.min(1, v));
  return h(`td${x >= 0.55 ? ".hot" : ""}`, { style: `--v:${x.toFixed(3)}`, dataset: { v: x.toFixed(3) } }, x.toFixed(2));
}
