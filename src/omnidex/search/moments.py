"""Build moments from evidence: each moment grows around its best piece of evidence.

A moment starts at its strongest candidate (the anchor). Other candidates of the same file that
touch it support it (they add their signal to the score) but only evidence of the same kind that
says the same thing widens it, so overlapping windows never chain a file into one long group.
Everything a hit shows (frame, words) is taken from inside its span.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from ..config import SearchConfig
from ..types import Hit
from .calibrate import fuse, term_coverage

TEXT_SOURCES = frozenset({"speech", "ocr", "chunk", "caption", "label"})
PICTURE_SOURCES = ("frame", "image", "shot", "ocr", "label")  # rows that stand for a picture at ``at``
EXTEND_SHARE = 0.7  # same-kind evidence at least this share of the anchor's score may widen a moment


@dataclass
class Candidate:
    """One row returned by one signal, with its calibrated probability."""

    signal: str
    p: float
    row: dict
    weight: float = 1.0  # how much the signal's encoder is trusted for this query (already applied to p)


@dataclass
class _Moment:
    path: str
    unit: str
    start: float
    end: float
    anchor: Candidate
    members: list[Candidate] = field(default_factory=list)


def merge_moments(cands: list[Candidate], cfg: SearchConfig, query_text: str = "") -> list[Hit]:
    """Group candidates into moments around their strongest evidence, score them, rank them.

    Args:
        cands: rows from every signal, each with a calibrated probability.
        cfg: ``merge_gap_s`` (how near supporting evidence may lie), ``max_moment_s``, ``min_score``, ``top_k``.
        query_text: the query's words (matched words are highlighted from the evidence).
    Returns:
        At most ``cfg.top_k`` hits, best first.
    """
    files: dict[tuple[str, str], list[Candidate]] = {}
    for c in cands:
        files.setdefault((c.row["path"], c.row["unit"]), []).append(c)
    hits = [_to_hit(m, query_text) for group in files.values() for m in _moments(group, cfg)]
    hits = [h for h in hits if h.score >= cfg.min_score]
    return sorted(hits, key=lambda h: (-h.score, h.path, h.start))[: cfg.top_k]


def _moments(cands: list[Candidate], cfg: SearchConfig) -> list[_Moment]:
    """Strongest first: a candidate joins the first moment it touches, or anchors a new one."""
    moments: list[_Moment] = []
    for c in sorted(cands, key=lambda c: (-c.p, c.row["start"])):
        s, e = _row_span(c.row)
        home = next((m for m in moments if _touches(m, s, e, cfg)), None)
        if home is None:
            moments.append(_Moment(c.row["path"], c.row["unit"], s, e, c, [c]))
            continue
        home.members.append(c)
        if _widens(home, c, s, e, cfg):
            home.start, home.end = min(home.start, s), max(home.end, e)
    return moments


def _touches(m: _Moment, s: float, e: float, cfg: SearchConfig) -> bool:
    """Whether a row lies on (or, for timed media, within ``merge_gap_s`` of) a moment."""
    if m.unit == "none":
        return True
    gap = cfg.merge_gap_s if m.unit == "s" else 0.0
    return s <= m.end + gap and e >= m.start - gap


def _widens(m: _Moment, c: Candidate, s: float, e: float, cfg: SearchConfig) -> bool:
    """Same-kind evidence that overlaps and says the same thing widens a moment (up to the cap)."""
    a = m.anchor
    if m.unit == "none" or c.row["source"] != a.row["source"] or c.p < EXTEND_SHARE * a.p:
        return False
    a0, a1 = _row_span(a.row)
    if not (s < a1 and e > a0):  # overlapping the anchor itself: windows never chain along a file
        return False
    if a.row["source"] in TEXT_SOURCES and _norm(c.row.get("text")) != _norm(a.row.get("text")):
        return False  # another slide, sentence or chunk is other evidence: its own moment
    return max(m.end, e) - min(m.start, s) <= cfg.max_moment_s


def _norm(text) -> str:
    return " ".join(str(text or "").lower().split())


def _to_hit(m: _Moment, query_text: str) -> Hit:
    """Score a moment by fused evidence; show only evidence from inside its span."""
    best: dict[str, Candidate] = {}
    for c in m.members:
        if c.signal not in best or c.p > best[c.signal].p:
            best[c.signal] = c
    signals = {s: round(c.p, 4) for s, c in best.items()}
    reliability = {s: c.weight for s, c in best.items()}
    inside = [c for c in m.members if _inside(m, c.row)]
    evidence, matched = _evidence(m, inside, query_text)
    kind = m.anchor.row["kind"]
    frame_time = pick_frame_time(m.start, m.end, inside) if m.unit == "s" and kind == "video" else None
    return Hit(path=m.path, start=float(m.start), end=float(m.end), unit=m.unit, score=round(fuse(signals), 4),
               modality=kind, signals=signals, evidence=evidence[:400], matched_words=matched,
               frame_time=frame_time, source=m.anchor.row["source"], reliability=reliability)


def _inside(m: _Moment, row: dict) -> bool:
    """A row shares more than an instant with the moment (instants must lie within it)."""
    if m.unit == "none":
        return True
    s, e = _row_span(row)
    if e <= s:
        return m.start <= s <= m.end
    return s < m.end and e > m.start


def _evidence(m: _Moment, inside: list[Candidate], query_text: str) -> tuple[str, tuple[str, ...]]:
    """The words of the strongest text evidence inside the moment (the anchor's when it has text)."""
    texts = [c for c in inside if c.row.get("text")]
    if not texts:
        return "", ()
    c = m.anchor if m.anchor.row.get("text") else max(texts, key=lambda c: c.p)
    text = _text_within(c.row, m.start, m.end) if m.unit == "s" else str(c.row["text"])
    matched = tuple(term_coverage(query_text, text)[1]) if query_text else ()
    return text, matched


def _text_within(row: dict, start: float, end: float) -> str:
    """A spoken window's words that lie inside [start, end]; other rows' whole text."""
    if row["source"] == "speech" and row.get("words"):
        words = json.loads(row["words"])
        kept = [w[2] for w in words if w[0] >= start - 0.05 and w[1] <= end + 0.05]
        if kept:
            return " ".join(kept)
    return str(row["text"])


def pick_frame_time(start: float, end: float, inside: list[Candidate]) -> float:
    """The picture a timed hit shows: the best-scoring picture row inside it, else its middle.

    Visual-signal rows win over text rows that carry a picture time (OCR), higher scores first;
    the result always lies within ``[start, end]``.
    """
    pics = [c for c in inside if c.row["source"] in PICTURE_SOURCES and c.row.get("at") is not None
            and start <= float(c.row["at"]) <= end]
    if pics:
        best = max(pics, key=lambda c: (c.row["source"] != "ocr", c.p))
        return float(best.row["at"])
    return round((start + end) / 2, 3)


def _row_span(row: dict) -> tuple[float, float]:
    """A row's time span; spoken windows use their first and last word (word boundaries)."""
    if row["source"] == "speech" and row.get("words"):
        words = json.loads(row["words"])
        if words:
            return float(words[0][0]), float(words[-1][1])
    return float(row["start"]), float(row["end"])


SNAP_S = 0.5  # a spoken moment's edge moves to a shot boundary this close outside it
SHOT_OVERLAP_S = 0.1  # least overlap with a shot for a visual moment to cover it


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
    # a shot counts when it shares more than a frame or two with the moment (shot times are rounded
    # to the millisecond, frame times are not: a shared edge is no overlap)
    touched = [s for s in shots if min(s[1], hit.end) - max(s[0], hit.start) > SHOT_OVERLAP_S] or \
        [min(shots, key=lambda s: abs(s[0] - hit.start))]
    if hit.source in ("frame", "ocr") and hit.frame_time is not None:
        # the shot the shown picture comes from always belongs to the moment (a frame row may reach
        # mostly into the next shot while its picture is the last of the previous one)
        own = [s for s in shots if s[0] <= hit.frame_time < s[1]]
        touched = sorted({tuple(s) for s in touched} | {tuple(s) for s in own[:1]}, key=lambda s: s[0])
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
