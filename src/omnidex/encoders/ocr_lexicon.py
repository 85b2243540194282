"""Words a faint reading may have been, weighed by the recogniser itself (lexicon rescoring).

Over a busy photograph PP-OCR's greedy reading of a faint word loses or swaps letters
("HASHON" for FASHION, "CROUNDS" for GROUNDS). The recogniser's per-frame character
probabilities still hold more than the one best path: the CTC likelihood of a candidate word,
summed over every alignment of its letters to the frames, says how well the picture supports it.

For a token that is no common word, the candidates are the common English words (wordsegment's
counts, at least :data:`~.wordsplit.REPAIR_MIN_COUNT`) of five letters or more within
:data:`MAX_EDITS` letter edits (rapidfuzz). Each is put in place of the token in the line as read
and scored against that line's probabilities; the best candidate of a token is kept when its
log-likelihood is no lower than :data:`FLOOR` below the reading's own. The kept words go to the
hidden word stream (:mod:`.wordsplit`), like the string repairs: search finds them, people see the
text as read (and a hit found through one names it: ``Hit.also_read``).

On the development pictures (bench/ocr README) this adds words the string repairs miss
(``VENDOPIS`` -> vendors, ``CZESH`` -> czech, ``INCURHYD`` -> incurred) and, at this floor, as
many wrong ones (``thier``, ``dudes``, ``musica``); at -4 it added three times as many wrong ones.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from .._require import require

MAX_EDITS = 2  # letters inserted, deleted or swapped between the token and a candidate
MIN_WORD = 5  # candidates are at least this long (a 4-letter word is within two edits of too many fragments)
FLOOR = -2.0  # least log-likelihood of the line with the best candidate, relative to the line as read
MAX_TOKENS = 200  # tokens weighed per picture at most (a dense page read in the faint path: the first ones)
_TOKEN = re.compile(r"[A-Za-z]{4,}")


def ctc_log_likelihood(logp: np.ndarray, labels: list[int], blank: int = 0) -> float:
    """log P(labels | frames) under CTC: the sum over every alignment of the labels to the frames.

    Args:
        logp: (T, C) per-frame log-probabilities.
        labels: column indices of the characters, in order (no blanks).
        blank: column of the blank.
    Returns:
        The log-likelihood (``-inf``-like, about -1e30, when the frames cannot hold the labels).
    """
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    s = len(ext)
    neg = -1e30
    # a label may follow the label two back directly when it differs from it (no blank needed)
    skip = np.zeros(s, bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    alpha = np.full(s, neg)
    alpha[0] = logp[0, ext[0]]
    if s > 1:
        alpha[1] = logp[0, ext[1]]
    for t in range(1, logp.shape[0]):
        nxt = alpha.copy()
        nxt[1:] = np.logaddexp(nxt[1:], alpha[:-1])
        nxt[2:] = np.where(skip[2:], np.logaddexp(nxt[2:], alpha[:-2]), nxt[2:])
        alpha = nxt + logp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if s > 1 else alpha[-1])


@functools.cache
def _vocabulary() -> list[str]:
    """Common words of :data:`MIN_WORD` letters or more (built once)."""
    from .wordsplit import REPAIR_MIN_COUNT, word_counts

    return sorted(w for w, n in word_counts().items() if n >= REPAIR_MIN_COUNT and len(w) >= MIN_WORD and w.isalpha())


def near_words(token: str, edits: int = MAX_EDITS) -> list[str]:
    """Common words within ``edits`` letter edits of ``token`` (lower case; [] for a common word)."""
    return list(_near(token.lower(), edits))


@functools.lru_cache(maxsize=4096)  # a faint word is read many times, in every view
def _near(low: str, edits: int) -> tuple[str, ...]:
    from .wordsplit import REPAIR_MIN_COUNT, word_counts

    if word_counts().get(low, 0.0) >= REPAIR_MIN_COUNT:
        return ()
    process = require("rapidfuzz.process", "ocr")
    distance = require("rapidfuzz.distance", "ocr")
    found = process.extract(low, _vocabulary(), scorer=distance.Levenshtein.distance, score_cutoff=edits, limit=None)
    return tuple(w for w, _, _ in found)


def rescored(readings: list[tuple[str, np.ndarray]], columns: dict[str, int]) -> list[str]:
    """Words the faint tokens of some readings may have been, as the recogniser weighs them.

    Args:
        readings: (line text as read, its (T, C') per-frame log-probabilities over ``columns``).
        columns: character -> column of the probabilities (the blank in column 0).
    Returns:
        Lower-case words: per token the best candidate when it clears :data:`FLOOR`, best first, each once.
    """
    best: dict[tuple[str, str], float] = {}
    weighed: set[str] = set()
    for text, logp in readings:
        tokens = list(dict.fromkeys(_TOKEN.findall(text)))
        if not tokens or any(ch not in columns for ch in text):
            continue
        weighed.update(t.lower() for t in tokens)
        if len(weighed) > MAX_TOKENS:
            break
        base = None
        for tok in tokens:
            for cand in near_words(tok):
                form = cand.upper() if tok.isupper() else cand.capitalize() if tok[0].isupper() else cand
                line = text.replace(tok, form, 1)
                if base is None:
                    base = ctc_log_likelihood(logp, [columns[c] for c in text])
                d = ctc_log_likelihood(logp, [columns[c] for c in line]) - base
                key = (tok.lower(), cand)
                best[key] = max(best.get(key, -1e30), d)
    by_token: dict[str, tuple[float, str]] = {}
    for (tok, cand), d in best.items():
        by_token[tok] = max(by_token.get(tok, (-1e30, "")), (d, cand))
    kept = sorted(((d, cand) for d, cand in by_token.values() if d >= FLOOR), reverse=True)
    return list(dict.fromkeys(cand for _, cand in kept))


__all__ = ["FLOOR", "MAX_EDITS", "MAX_TOKENS", "ctc_log_likelihood", "near_words", "rescored"]
