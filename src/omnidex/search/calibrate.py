"""Make scores from different signals comparable.

A raw cosine means different things in different spaces (CLIP text-image cosines sit near 0.2-0.3,
MiniLM's spread over [-0.1, 0.9]). Each vector score is turned into a z-score against the
similarities of the same query to a background sample of that space, then squashed into a
probability-like value. Small spaces borrow strength from a weak prior so three rows do not make
a wild estimate.
"""
from __future__ import annotations

import math
import re

import numpy as np

PRIOR_MEAN, PRIOR_SD, PRIOR_WEIGHT = 0.0, 0.15, 16.0
Z_MID, Z_SLOPE = 3.0, 1.2  # z == Z_MID maps to 0.5
FTS_CEILING = 0.85  # full-text evidence alone never claims certainty

STOPWORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its of on or she that the "
    "their them they this to was were what when where which who will with you your".split())


def background_stats(query: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    """Robust mean/sd of the query's similarity to a space, shrunk towards a prior."""
    if background.size == 0 or background.shape[1] != query.shape[0]:
        return PRIOR_MEAN, PRIOR_SD
    sims = background @ query
    n = float(sims.size)
    med = float(np.median(sims))
    mad = float(np.median(np.abs(sims - med))) * 1.4826
    sd_hat = max(mad, float(sims.std()) * 0.5, 1e-3)
    mean = (n * med + PRIOR_WEIGHT * PRIOR_MEAN) / (n + PRIOR_WEIGHT)
    var = (n * sd_hat**2 + PRIOR_WEIGHT * PRIOR_SD**2) / (n + PRIOR_WEIGHT)
    return mean, math.sqrt(var)


def calibrate(sim: float, mean: float, sd: float) -> float:
    """Cosine -> (0, 1): logistic of the z-score against the background."""
    z = (sim - mean) / max(sd, 1e-6)
    return 1.0 / (1.0 + math.exp(-Z_SLOPE * (z - Z_MID)))


def terms(text: str) -> list[str]:
    """Lower-case content words with a light plural/verb stemming."""
    out = []
    for w in re.findall(r"[\w']+", text.lower()):
        if w in STOPWORDS or len(w) < 2:
            continue
        for suf in ("ing", "es", "s", "ed"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.append(w)
    return out


def term_coverage(query: str, text: str) -> tuple[float, list[str]]:
    """Share of the query's content terms present in ``text``, and the matched surface words."""
    q = set(terms(query))
    if not q:
        return 0.0, []
    words = re.findall(r"[\w']+", text)
    matched = [w for w in words if (t := terms(w)) and t[0] in q]
    found = {terms(w)[0] for w in matched}
    return len(found) / len(q), list(dict.fromkeys(matched))


def fts_probability(query: str, text: str) -> float:
    """Full-text evidence as a probability: the covered share of query terms, capped."""
    return FTS_CEILING * term_coverage(query, text)[0]


def fuse(probabilities: dict[str, float]) -> float:
    """Noisy-OR: independent signals each give a chance the moment is relevant."""
    miss = 1.0
    for p in probabilities.values():
        miss *= 1.0 - min(max(p, 0.0), 0.999)
    return 1.0 - miss
