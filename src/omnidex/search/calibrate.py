"""Make scores from different signals comparable.

A raw cosine means different things in different spaces (CLIP text-image cosines sit near 0.2-0.3,
MiniLM's spread over [-0.1, 0.9]). Each vector score is turned into a z-score against the
similarities of the same query to a background sample of that space, then squashed into a
probability-like value. Small spaces borrow strength from a weak prior so three rows do not make
a wild estimate.
"""
from __future__ import annotations

import functools
import math
import re

import numpy as np

PRIOR_MEAN, PRIOR_SD, PRIOR_WEIGHT = 0.0, 0.15, 16.0
Z_MID, Z_SLOPE = 3.0, 1.2  # z == Z_MID maps to 0.5
FTS_CEILING = 0.85  # full-text evidence alone never claims certainty
# a word of OCR's hidden stream that was guessed from a faint token (wordsplit.GUESS), not read,
# counts for this share of a read word: 14 of 48 such guesses were right on the development
# pictures (python -m bench.ocr.guesses; bench/ocr README)
GUESS_WEIGHT = 0.3

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


@functools.lru_cache(maxsize=1 << 16)
def _term(w: str) -> str | None:
    """One lower-case word's content term (light plural/verb stemming), None for a stop word."""
    if w in STOPWORDS or len(w) < 2:
        return None
    for suf in ("ing", "es", "s", "ed"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[: -len(suf)]
    return w


def terms(text: str) -> list[str]:
    """Lower-case content words with a light plural/verb stemming."""
    return [t for w in _WORD.findall(text.lower()) if (t := _term(w)) is not None]


@functools.lru_cache(maxsize=1 << 16)
def _first_term(word: str) -> str | None:
    """``terms(word)[0]`` (None when empty), kept per word: every candidate's text is read word by word."""
    found = terms(word)
    return found[0] if found else None


def term_coverage(query: str, text: str) -> tuple[float, list[str]]:
    """Share of the query's content terms present in ``text``, and the matched surface words."""
    q = set(terms(query))
    if not q:
        return 0.0, []
    words = _WORD.findall(text)
    matched = [w for w in words if (t := _first_term(w)) is not None and t in q]
    found = {_first_term(w) for w in matched}
    return len(found) / len(q), list(dict.fromkeys(matched))


_WORD = re.compile(r"[\w']+")


def fts_probability(query: str, text: str) -> float:
    """Full-text evidence as a probability: the covered share of the query's information, capped.

    Each query term counts by how rare it is in English (:func:`term_weight`), so the one exact
    rare word ("sandbags") outweighs common ones ("the flood near the river") and the score does
    not depend on what else the library holds. A term found only among the words OCR guessed from
    faint tokens (marked ``~``) counts for :data:`GUESS_WEIGHT` of one read.
    """
    q = query_weights(query)
    if not q:
        return 0.0
    read, guessed = _read_and_guessed(text or "")
    found = stems(read) & set(q)
    maybe = (stems(guessed) & set(q)) - found if guessed else set()
    return FTS_CEILING * (sum(q[t] for t in found) + GUESS_WEIGHT * sum(q[t] for t in maybe)) / sum(q.values())


@functools.lru_cache(maxsize=512)
def _read_and_guessed(text: str) -> tuple[str, str]:
    """(the words of ``text`` that were read, the words OCR guessed from faint tokens: ``~vendors``)."""
    from ..encoders.wordsplit import read_and_guessed

    return read_and_guessed(text)


@functools.lru_cache(maxsize=512)
def stems(text: str) -> frozenset[str]:
    """The content terms (stems, as :func:`terms` makes them) of each word of ``text``.

    Cached: a file's words are read for every moment of that file.
    """
    return frozenset(t[0] for w in re.findall(r"[\w']+", text or "") if (t := terms(w)))


def query_weights(query: str) -> dict[str, float]:
    """Each content term (stem) of a query -> the weight of its rarest surface word (:func:`term_weight`)."""
    q: dict[str, float] = {}
    for w in re.findall(r"[\w']+", query.lower()):
        t = terms(w)
        if t:
            q[t[0]] = max(q.get(t[0], 0.0), term_weight(w))
    return q


RARE_BITS = 22.0  # information of a word the frequency list does not know (names, codes, typos)
COMMON_BITS = 4.0  # floor: even the commonest content word carries some information


@functools.lru_cache(maxsize=1 << 16)
def term_weight(word: str) -> float:
    """Weight of a query word by its rarity in English: (bits of information)^2.

    Bits are -log2 of the word's share of a large web corpus, from the unigram counts that ship
    with ``wordsegment`` (an [ocr] dependency); squaring lets one rare exact word ("sandbags")
    outweigh two common ones. Without the list every word weighs the same. Kept per word: a lookup
    scans the list's text, and every candidate of a search asks for the query's words again.
    """
    text = _unigram_text()
    if text is None:
        return 1.0
    w = word.lower().strip("'")
    i = text.find("\n" + w + "\t") if w else -1
    if i < 0:
        return RARE_BITS ** 2
    j = text.find("\n", i + 1)
    n = int(text[i + len(w) + 2: j if j > 0 else None])
    return max(COMMON_BITS, min(RARE_BITS, math.log2(_TOTAL / max(n, 1)))) ** 2


_TOTAL = 1.0e12  # roughly the number of tokens the counts were taken from
_TEXT: str | None = None
_LOADED = False


def _unigram_text() -> str | None:
    """wordsegment's "word<TAB>count" lines as one string (a lookup is one ``find``), or None."""
    global _TEXT, _LOADED
    if not _LOADED:
        _LOADED = True
        try:
            import importlib.util
            from pathlib import Path

            spec = importlib.util.find_spec("wordsegment")
            path = Path(spec.origin).parent / "unigrams.txt" if spec and spec.origin else None
            if path is not None and path.is_file():
                _TEXT = "\n" + path.read_text(encoding="utf-8")
        except (OSError, ValueError, ImportError):
            _TEXT = None
    return _TEXT


def fuse(probabilities: dict[str, float]) -> float:
    """Noisy-OR: independent signals each give a chance the moment is relevant."""
    miss = 1.0
    for p in probabilities.values():
        miss *= 1.0 - min(max(p, 0.0), 0.999)
    return 1.0 - miss
