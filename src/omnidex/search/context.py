"""What the rest of a file says: words of the query found elsewhere in the same file count for a moment.

A slide that reads "MEET AT THE EAGLE STATUE" is the answer to "flower show meeting point at the
eagle statue" only in the flower show's video; the name is said or shown elsewhere in that file.
Each moment gets a ``context`` signal: the rarity-weighted share of the query's words that its own
evidence lacks but its file holds, at half the weight of words inside the moment. It supports the
moment's own evidence in proportion to it (a weak moment is not made an answer by its file), and
it depends only on the file's own words, so it does not move when other files are added.
"""
from __future__ import annotations

from dataclasses import replace

from ..types import Hit
from .calibrate import FTS_CEILING, fuse, query_weights, stems

CONTEXT_SHARE = 0.5  # a query word found only elsewhere in the file counts this much of one in the moment


def context_probability(query: str, evidence: str, file_text: str) -> float:
    """Evidence from the rest of the file, as a probability (0 when it adds no query word).

    Args:
        query: the query text.
        evidence: the moment's own words.
        file_text: all words of the moment's file.
    """
    q = query_weights(query)
    if not q or not file_text:
        return 0.0
    extra = (stems(file_text) - stems(evidence)) & set(q)
    return FTS_CEILING * CONTEXT_SHARE * sum(q[t] for t in extra) / sum(q.values())


def with_file_context(hits: list[Hit], query: str, files: dict[str, str]) -> list[Hit]:
    """Add the ``context`` signal to every hit whose file says more of the query, rescore, re-sort."""
    out = []
    for h in hits:
        p = context_probability(query, h.evidence, files.get(h.path, "")) if h.unit != "none" else 0.0
        if p > 0.0:  # context supports a moment's own evidence; it never makes an answer alone
            base = fuse(h.signals)
            score = 1.0 - (1.0 - base) * (1.0 - p * base)
            h = replace(h, signals={**h.signals, "context": round(p, 4)}, score=round(score, 4),
                        reliability={**h.reliability, "context": 1.0})
        out.append(h)
    return sorted(out, key=lambda h: (-h.score, h.path, h.start))


__all__ = ["CONTEXT_SHARE", "context_probability", "with_file_context"]
