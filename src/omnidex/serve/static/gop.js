// The GOP strip of a video in the player: its frames in display order as bars whose height is the
// frame's size in bytes, coloured by picture type (I/P/B; "?" where the codec's slices are not read),
// keyframes marked. Clicking a frame seeks there. Data: GET /api/items/{id}/gop.

import { api, fmtTime, h } from "./util.js";

export const MAX_GOP_FRAMES = 600;

/** The strip of the item ``id`` (first MAX_GOP_FRAMES frames). */
export function loadGop(id) {
  return api(`/api/items/${encodeURIComponent(id)}/gop?max=${MAX_GOP_FRAMES}`);
}

/** Draw ``strip`` into ``box`` (bars) and ``summary`` (a line of counts); ``onSeek(t)`` on a click. */
export function drawGop(box, summary, strip, onSeek) {
  const frames = strip.frames || [];
  const biggest = Math.max(1, ...frames.map((f) => f.size));
  const c = strip.counts || {};
  const keys = frames.filter((f) => f.key).length;
  const text = `${frames.length}${strip.capped ? " (first)" : ""} frames: ${c.I || 0} I, ${c.P || 0} P, `
    + `${c.B || 0} B${c["?"] ? `, ${c["?"]} untyped` : ""}; ${keys} keyframe${keys === 1 ? "" : "s"}; `
    + `${(strip.total_bytes || 0).toLocaleString()} bytes`;
  summary.textContent = text;
  box.setAttribute("aria-label", `Frames by size and type: ${text}`);
  box.replaceChildren(...frames.map((f) => {
    const type = ["I", "P", "B"].includes(f.type) ? f.type : "U";
    return h(`div.gop-frame.t-${type}${f.key ? ".key" : ""}`, {
      title: `${f.type} frame at ${fmtTime(f.pts_time)}: ${f.size.toLocaleString()} bytes${f.key ? ", keyframe" : ""}`,
      dataset: { t: f.pts_time ?? "", type: f.type, size: f.size },
      style: `height:max(3px, ${((100 * f.size) / biggest).toFixed(2)}%)`,
    });
  }));
  box.onclick = (e) => {
    const t = Number.parseFloat(e.target?.dataset?.t);
    if (Number.isFinite(t)) onSeek(t);
  };
}
