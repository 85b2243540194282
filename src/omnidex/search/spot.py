"""The word-spotting signal: query words spotted in the boxes of faint pictures.

Pictures that went through OCR's faint path keep each box's per-frame probabilities
(:mod:`omnidex.encoders.ocr_spot`). A query word that none of their text names, read or guessed,
is spotted in them: a picture whose boxes support the word (:func:`~omnidex.encoders.ocr_spot.spotted`)
becomes a candidate whose evidence carries the word as a guess (``~word`` after the hidden-stream
separator), so that it is named in ``Hit.guessed`` and never confident on its own. Its probability
is full text's for the spotted words times how often a spotted word is really there
(:func:`shows_word`, measured on the development pictures).
"""
from __future__ import annotations

import math
import re
import threading

from ..encoders.ocr_spot import SpotIndex, clears, is_packed, spottable
from ..store import SEGMENT_FIELDS
from .calibrate import fts_probability, stems, term_weight
from .moments import Candidate

SLOPE, BIAS = 4.3, 3.0  # shows_word's fit on the development pictures (bench/ocr/spots.py; 4.35, 2.99 with the trigger's regions)
MAX_WORDS = 8  # query words spotted at most (the rarest first: the ones a picture is found by)
_CACHE: dict = {}  # (table uri, version, where) -> (rows, SpotIndex): a server answers many queries
_LOCK = threading.Lock()


def spot_candidates(store, text: str, where: str | None) -> list[Candidate]:
    """Candidates of a text query from the word-spotting signal.

    Args:
        store: the open store.
        text: the query.
        where: SQL prefilter of the query (modality, path), or None.
    Returns:
        One candidate per picture row in which some query word is spotted and which names none of
        the spotted words already; its row's text ends with the spotted words marked as guesses.
    """
    from ..encoders.wordsplit import GUESS, SEPARATOR

    words = [w for w in dict.fromkeys(re.findall(r"[a-z]+", text.lower())) if spottable(w)]
    words = sorted(words, key=lambda w: -term_weight(w))[:MAX_WORDS]
    if not words:
        return []
    rows, index = _rows(store, where)
    if not len(index):
        return []
    best: dict[int, dict[str, float]] = {}  # row -> spotted word -> its best absolute score per letter
    for w in words:
        owner, relative, absolute = index.scores(w)
        ok = clears(relative, absolute, w)
        for i, a in zip(owner[ok], absolute[ok] / len(w)):
            found = best.setdefault(int(i), {})
            found[w] = max(found.get(w, -math.inf), float(a))
    out = []
    for i, found in best.items():
        row = rows[i]
        named = stems(row["text"] or "")
        new = {w: s for w, s in found.items() if not (stems(w) & named)}
        if not new:
            continue
        hidden = " ".join(GUESS + w for w in new)
        evidence = f"{row['text']} {hidden}" if SEPARATOR.strip() in (row["text"] or "") \
            else f"{row['text']}{SEPARATOR}{hidden}"
        p = fts_probability(text, " ".join(new)) * shows_word(max(new.values()))
        if p > 0:
            out.append(Candidate("spot", p, dict(row, text=evidence)))
    return out


def shows_word(absolute: float) -> float:
    """How often a picture in which a word is spotted (and not read) shows it, by the best
    absolute spot score per letter: a logistic fit (:data:`SLOPE`, :data:`BIAS`) on the
    development pictures (bench/ocr README: 0.95 at 0, 0.70 at -0.5, 0.44 at -0.75, 0.21 at -1,
    0.09 at -1.25, the floor)."""
    return 1.0 / (1.0 + math.exp(-(SLOPE * absolute + BIAS)))


def with_spotted(cands: list[Candidate], spots: list[Candidate]) -> list[Candidate]:
    """``cands`` and ``spots``, every candidate of a spotted row carrying the row's text with the
    spotted words (whichever candidate anchors the moment, its evidence names them)."""
    from dataclasses import replace

    text = {c.row["id"]: c.row["text"] for c in spots}
    return [replace(c, row=dict(c.row, text=text[c.row["id"]])) if c.row.get("id") in text else c
            for c in cands] + spots


def _rows(store, where: str | None) -> tuple[list[dict], SpotIndex]:
    """The OCR rows that hold spotting frames (without them) and their :class:`SpotIndex`, built
    once per version of the text table."""
    tbl = store.table("text")
    if tbl is None:
        return [], SpotIndex([])
    key = (str(getattr(tbl, "uri", store.root)), tbl.version, where)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    clause = "source = 'ocr' AND words LIKE '{\"spot\"%'" + (f" AND ({where})" if where else "")
    got = [r for r in tbl.search().where(clause).select(list(SEGMENT_FIELDS)).limit(None).to_list()
           if is_packed(r["words"])]
    built = ([{k: v for k, v in r.items() if k != "words"} | {"words": ""} for r in got],
             SpotIndex([r["words"] for r in got]))
    with _LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = built
    return built


__all__ = ["MAX_WORDS", "spot_candidates", "with_spotted"]
