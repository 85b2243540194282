"""Second-stage rescoring of the fused moments (issue 14, item 5).

A reranker sees the query and up to ``POOL`` fused moments (their evidence words, per-signal
scores and reliabilities) and returns a new score per moment: the probability that it answers
the query. The search engine applies the default reranker, when one is installed and enabled,
after fusion and before the confidence threshold; without one, the fused score stands.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from ..types import Hit

POOL = 50  # moments rescored per query


class Reranker(Protocol):
    """Anything that rescores fused moments for a query."""

    name: str  # shown in explanations and benchmark tables

    def rescore(self, query: str, hits: list[Hit], context: dict[str, str] | None = None) -> list[float]:
        """One probability per hit, in the order given.

        Args:
            query: the query text.
            hits: fused moments (at most ``POOL``), best first by fused score.
            context: path -> other text of that file (transcript, on-screen and document words),
                for rerankers that read beyond the moment.
        """
        ...


BUNDLED = Path(__file__).resolve().parent.parent / "models" / "rerank"  # written by omnidex train --task rerank


def default_reranker() -> Reranker | None:
    """The reranker used when none is given: the bundled model when its config says it beat fusion
    on the held-out libraries (``"default": true``), else None (the fused score stands).

    ``$OMNIDEX_RERANKER`` overrides: ``none`` turns reranking off, a folder loads that model.
    """
    choice = os.environ.get("OMNIDEX_RERANKER", "").strip()
    if choice.lower() in ("none", "off", "0"):
        return None
    folder = Path(choice) if choice else BUNDLED
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not choice and not cfg.get("default"):
        return None
    from .rerank_model import LearnedReranker

    return LearnedReranker(folder)


def apply(reranker: Reranker | None, query: str, hits: list[Hit], context: dict[str, str] | None = None) -> list[Hit]:
    """Rescore and re-sort ``hits`` (unchanged when there is no reranker or no query text)."""
    from dataclasses import replace

    if reranker is None or not query or not hits:
        return hits
    scores = reranker.rescore(query, hits, context)
    out = [replace(h, score=round(float(s), 4)) for h, s in zip(hits, scores)]
    return sorted(out, key=lambda h: (-h.score, h.path, h.start))


__all__ = ["POOL", "Reranker", "apply", "default_reranker"]
