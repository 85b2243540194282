"""Merge per-signal candidates of one file into moments with evidence."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from ..config import SearchConfig
from ..types import Hit
from .calibrate import fuse, term_coverage


@dataclass
class Candidate:
    """One row returned by one signal, with its calibrated probability."""

    signal: str
    p: float
    row: dict


@dataclass
class _Group:
    path: str
    unit: str
    start: float
    end: float
    members: list[Candidate] = field(default_factory=list)


def merge_moments(cands: list[Candidate], cfg: SearchConfig, query_text: str = "") -> list[Hit]:
    """Cluster candidates by file and time, score clusters by fused evidence, rank them."""
    groups: list[_Group] = []
    for c in sorted(cands, key=lambda c: (c.row["path"], c.row["unit"], c.row["start"])):
        r, g = c.row, (groups[-1] if groups else None)
        if g and g.path == r["path"] and g.unit == r["unit"] and _joins(g, r, cfg):
            g.end = max(g.end, r["end"])
            g.members.append(c)
        else:
            groups.append(_Group(r["path"], r["unit"], r["start"], r["end"], [c]))
    hits = [_to_hit(g, query_text) for g in groups]
    hits = [h for h in hits if h.score >= cfg.min_score]
    return sorted(hits, key=lambda h: -h.score)[: cfg.top_k]


def _joins(g: _Group, r: dict, cfg: SearchConfig) -> bool:
    if g.unit == "none":
        return True
    gap = cfg.merge_gap_s if g.unit == "s" else 0.0
    return r["start"] <= g.end + gap and max(g.end, r["end"]) - g.start <= cfg.max_moment_s


def _to_hit(g: _Group, query_text: str) -> Hit:
    """Score a group by fused evidence; its span is where the strongest kind of evidence is."""
    best: dict[str, Candidate] = {}
    for c in g.members:
        if c.signal not in best or c.p > best[c.signal].p:
            best[c.signal] = c
    signals = {s: round(c.p, 4) for s, c in best.items()}
    top = max(g.members, key=lambda c: c.p)
    # the moment's boundaries come from the best evidence and its strong neighbours of the same source;
    # weaker or other-source evidence raises the score but does not stretch the moment
    span = [c for c in g.members if c.row["source"] == top.row["source"] and c.p >= 0.5 * top.p]
    start = min(_row_span(c.row)[0] for c in span)
    end = max(_row_span(c.row)[1] for c in span)
    text_c = max((c for c in g.members if c.row.get("text")), key=lambda c: c.p, default=None)
    vis_c = max((c for c in g.members if c.row["source"] in ("frame", "image")), key=lambda c: c.p, default=None)
    evidence, matched = "", ()
    if text_c is not None:
        evidence = text_c.row["text"]
        matched = tuple(term_coverage(query_text, evidence)[1]) if query_text else ()
    kind = g.members[0].row["kind"]
    frame_time = None
    if vis_c is not None and g.unit == "s":
        frame_time = float(vis_c.row.get("at") if vis_c.row.get("at") is not None else vis_c.row["start"])
    return Hit(path=g.path, start=float(start), end=float(end), unit=g.unit, score=round(fuse(signals), 4),
               modality=kind, signals=signals, evidence=evidence[:400], matched_words=matched,
               frame_time=frame_time, source=top.row["source"])


def _row_span(row: dict) -> tuple[float, float]:
    """A row's time span; spoken windows use their first and last word (word boundaries)."""
    if row["source"] == "speech" and row.get("words"):
        words = json.loads(row["words"])
        if words:
            return float(words[0][0]), float(words[-1][1])
    return float(row["start"]), float(row["end"])


SNAP_S = 0.5  # a spoken moment's edge moves to a shot boundary this close outside it


def snap_to_shots(hit: Hit, shots: list, max_moment_s: float) -> Hit:
    """Align a moment with the shots of its video.

    Visual evidence (frames, on-screen text) stands for whole shots, so its moment becomes the
    shots it touches. A spoken moment keeps its word boundaries, widened to a shot boundary that
    lies within ``SNAP_S`` seconds outside it (an editor's cut point, never cutting a word).

    Args:
        hit: a moment in seconds.
        shots: [[start, end, transition], ...] of the hit's file (may be empty).
        max_moment_s: a snapped moment is never longer than this.
    Returns:
        The hit with new start/end (and ``shot`` set to the span of the shots it covers).
    """
    if hit.unit != "s" or not shots:
        return hit
    touched = [s for s in shots if s[0] < hit.end and s[1] > hit.start] or \
        [min(shots, key=lambda s: abs(s[0] - hit.start))]
    shot_span = (float(touched[0][0]), float(touched[-1][1]))
    start, end = hit.start, hit.end
    if hit.source in ("frame", "ocr") and shot_span[1] - shot_span[0] <= max_moment_s:
        start, end = shot_span
    else:
        bounds = [b for s in shots for b in (s[0], s[1])]
        before = [b for b in bounds if start - SNAP_S <= b <= start]
        after = [b for b in bounds if end <= b <= end + SNAP_S]
        start = max(before) if before else start
        end = min(after) if after else end
    return replace(hit, start=float(start), end=float(end), shot=shot_span)
