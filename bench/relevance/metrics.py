"""Relevance metrics over graded judgments (pure functions, tested by tests/test_bench_relevance.py).

A ranking is a list of hit records ``{"path", "start", "end", "unit", "score", "frame_time",
"confident"}`` (absolute paths); a query is a manifest query of :mod:`omnidex.testing.library`.
"""
from __future__ import annotations

import math
import statistics

from omnidex.testing.library import grade

from bench.moments.run import temporal_iou


def grades(query: dict, hits: list[dict], root: str) -> list[int]:
    """Grade (0/1/2) of every hit of a ranking."""
    return [grade(query, h["path"], h["start"], h["end"], root) for h in hits]


def r_at_1(gs: list[int]) -> float:
    """1 when the top hit is the exact moment (grade 2), else 0."""
    return 1.0 if gs and gs[0] == 2 else 0.0


def reciprocal_rank(gs: list[int]) -> float:
    """1 / rank of the first exact-moment hit (0 when none is ranked)."""
    return next((1.0 / (k + 1) for k, g in enumerate(gs) if g == 2), 0.0)


def ndcg(gs: list[int], k: int = 10) -> float:
    """nDCG@k with gain 2^g - 1 and one relevant unit per query (the exact moment).

    The ideal ranking is the exact moment at rank 1 (DCG 3). The right file at another moment
    earns grade 1 once, only when it is ranked above the exact moment (credit for finding the
    file); hits of the relevant file after its exact moment are duplicates and earn nothing.
    So the value lies in [0, 1] and is 1 only when the top hit is the exact moment.
    """
    dcg, partial = 0.0, False
    for rank, g in enumerate(gs[:k]):
        if g == 2:
            dcg += 3.0 / math.log2(rank + 2)
            break
        if g == 1 and not partial:
            dcg += 1.0 / math.log2(rank + 2)
            partial = True
    return dcg / 3.0


def top_iou(query: dict, hits: list[dict], gs: list[int]) -> float | None:
    """Temporal IoU of the top hit with the answer span (0 in a wrong file); None if untimed."""
    ans = query.get("answer")
    if not ans or ans["unit"] != "s":
        return None
    if not hits or gs[0] == 0:
        return 0.0
    return temporal_iou(hits[0]["start"], hits[0]["end"], ans["start"], ans["end"])


def auroc(positive: list[float], negative: list[float]) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half."""
    if not positive or not negative:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def roc_points(positive: list[float], negative: list[float]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every threshold, from (0, 0) to (1, 1)."""
    pts = [(0.0, 0.0)]
    for t in sorted(set(positive) | set(negative), reverse=True):
        pts.append((sum(n >= t for n in negative) / max(1, len(negative)),
                    sum(p >= t for p in positive) / max(1, len(positive))))
    return pts + [(1.0, 1.0)]


def abstention_correct(answerable: bool, hits: list[dict]) -> bool | None:
    """Whether the confidence flag decided right: a confident top hit iff the query has an answer.

    None when the hits carry no ``confident`` flag (the search cannot abstain yet).
    """
    if hits and hits[0].get("confident") is None:
        return None
    answered = bool(hits) and bool(hits[0]["confident"])
    return answered == answerable


def frame_violations(hits: list[dict]) -> int:
    """Timed hits whose evidence frame lies outside their own [start, end]."""
    return sum(1 for h in hits if h["unit"] == "s" and h.get("frame_time") is not None
               and not (h["start"] - 1e-6 <= h["frame_time"] <= h["end"] + 1e-6))


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def same_moment(a: dict, b: dict) -> bool:
    """Whether two hit records are the same file at overlapping spans (images: same file)."""
    if a["path"] != b["path"]:
        return False
    return a["unit"] == "none" or (a["start"] <= b["end"] and b["start"] <= a["end"])


def stability(before: list[dict | None], after: list[dict | None], new_top: list[dict | None]) -> dict:
    """Score drift of each query's previous top hit once the library grew.

    Args:
        before: per query, the top hit before (None: no hit).
        after: per query, the same moment found after (None: lost).
        new_top: per query, the top hit after.
    Returns:
        {"queries", "found", "lost", "median_abs_change", "max_abs_change", "keeps_rank1"}; a lost
        moment counts as a change of its whole previous score.
    """
    deltas, keeps, n = [], 0, 0
    for b, a, t in zip(before, after, new_top):
        if b is None:
            continue
        n += 1
        deltas.append(abs((a["score"] if a else 0.0) - b["score"]))
        keeps += bool(t is not None and same_moment(b, t))
    lost = sum(1 for b, a in zip(before, after) if b is not None and a is None)
    return {"queries": n, "found": n - lost, "lost": lost,
            "median_abs_change": round(statistics.median(deltas), 4) if deltas else None,
            "max_abs_change": round(max(deltas), 4) if deltas else None,
            "keeps_rank1": round(keeps / n, 4) if n else None}
