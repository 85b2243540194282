"""Merge per-signal candidates of one file into moments with evidence."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

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
    best: dict[str, Candidate] = {}
    for c in g.members:
        if c.signal not in best or c.p > best[c.signal].p:
            best[c.signal] = c
    signals = {s: round(c.p, 4) for s, c in best.items()}
    top = max(c.p for c in g.members)
    strong = [c for c in g.members if c.p >= 0.5 * top]  # the moment is where the evidence is
    start = min(c.row["start"] for c in strong)
    end = max(c.row["end"] for c in strong)
    text_c = max((c for c in g.members if c.row.get("text")), key=lambda c: c.p, default=None)
    vis_c = max((c for c in g.members if c.row["source"] in ("frame", "image")), key=lambda c: c.p, default=None)
    evidence, matched = "", ()
    if text_c is not None:
        evidence = text_c.row["text"]
        matched = tuple(term_coverage(query_text, evidence)[1]) if query_text else ()
        start, end = _snap_words(text_c.row, matched, start, end)
    kind = g.members[0].row["kind"]
    return Hit(path=g.path, start=float(start), end=float(end), unit=g.unit, score=round(fuse(signals), 4),
               modality=kind, signals=signals, evidence=evidence[:400], matched_words=matched,
               frame_time=(float(vis_c.row["start"]) if vis_c is not None and g.unit == "s" else None))


def _snap_words(row: dict, matched: tuple, start: float, end: float) -> tuple[float, float]:
    """Keep the moment inside the spoken window that carries the evidence."""
    if row["source"] != "speech" or not row.get("words"):
        return start, end
    words = json.loads(row["words"])
    return min(start, words[0][0]), max(end, words[-1][1])
