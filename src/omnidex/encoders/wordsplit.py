"""Split words that OCR glued together ("PARKINGPERMIT" -> "parking permit"), and rejoin words it
broke in two ("MES SENGER" -> "messenger").

PP-OCR often drops the space between words on signs and slides, so a one-word full-text search
misses a picture that shows the word in large letters. The split words are kept as a second
token stream after the recognised text (which stays as it was read), behind ``SEPARATOR``, so
full-text search sees both and the original is never lost. Word boundaries come from
``wordsegment`` (unigram/bigram frequencies of English). The stream also holds words read with
digits for look-alike letters ("F00TWEAR" -> "footwear"), and whatever :mod:`.ocr` put there
itself: other readings of faint text, and words guessed from faint tokens, each marked with
``GUESS`` (``~vendors``), which full-text search counts for less than a word read.
"""
from __future__ import annotations

import re
import threading

from .._require import require

SEPARATOR = " \u2016 "  # between the recognised text and the split words (not a word character)
# before a word of the stream that was guessed, not read: a repair of a faint token, or the word
# the recogniser's probabilities support best (full-text search weighs it by GUESS_WEIGHT)
GUESS = "~"
MIN_LEN = 6  # shorter tokens are left alone
_TOKEN = re.compile(r"[A-Za-z]+")
_MIXED = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*")
_LOOKALIKE = str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b", "6": "g", "2": "z"})
_lock = threading.Lock()
_loaded = False


def _segmenter():
    """wordsegment, with its frequency tables loaded once (about a second)."""
    global _loaded
    ws = require("wordsegment", "ocr")
    with _lock:
        if not _loaded:
            ws.load()
            _loaded = True
    return ws


def word_counts() -> dict[str, float]:
    """English word -> count (wordsegment's unigram table, loaded once)."""
    return _segmenter().UNIGRAMS


def split_token(token: str) -> list[str]:
    """The words inside one glued token, or [] when it is a word of its own (or no split is sure).

    Args:
        token: letters only, any case.
    Returns:
        Lower-case words (at least two), or [].
    """
    if len(token) < MIN_LEN or not token.isalpha():
        return []
    ws = _segmenter()
    low = token.lower()
    if low in ws.UNIGRAMS:
        return []
    parts = ws.segment(low)
    if len(parts) < 2 or any(p not in ws.UNIGRAMS or (len(p) <= 2 and p not in SHORT_WORDS) for p in parts):
        return []
    return parts


# the words of one or two letters a glued token may hold ("NOENTRY"); other short parts are pieces
# of a misread word ("EMONIONAL" is not "em onion al")
SHORT_WORDS = frozenset("a i am an as at be by do go he if in is it me my no of on or so to up us we".split())


def joined_pairs(tokens: list[str]) -> list[str]:
    """Words that OCR broke in two ("MES SENGER" -> "messenger"): neighbours whose concatenation
    is a commoner word than either half.

    Args:
        tokens: letter-only tokens in reading order.
    Returns:
        Lower-case joined words.
    """
    ws = _segmenter()
    out = []
    for a, b in zip(tokens, tokens[1:]):
        joined = (a + b).lower()
        if len(joined) >= MIN_LEN - 1 and min(len(a), len(b)) <= 5:
            freq = ws.UNIGRAMS.get(joined, 0.0)
            fa, fb = ws.UNIGRAMS.get(a.lower(), 0.0), ws.UNIGRAMS.get(b.lower(), 0.0)
            # a commoner word than either half, or (long enough) a word commoner than its rarer half
            # when that half is a fragment, not a word of its own ("TANZANI A", "INC IDENCE"; never
            # "the rapist" -> therapist, "at tend" -> attend)
            if freq > max(fa, fb) or (len(joined) >= MIN_LEN and min(fa, fb) < FRAGMENT_MAX and freq > min(fa, fb)):
                out.append(joined)
    return out


def lookalike_words(text: str) -> list[str]:
    """Words OCR read with digits for look-alike letters ("F00TWEAR", "B00ST", "5ALE"): the
    letters put back where the result is a known word.

    Args:
        text: recognised text.
    Returns:
        Lower-case words.
    """
    ws = _segmenter()
    out = []
    for token in _MIXED.findall(text):
        if token.isalpha() or len(token) < 4 or sum(c.isdigit() for c in token) > len(token) // 2:
            continue
        word = token.lower().translate(_LOOKALIKE)
        if word.isalpha() and word in ws.UNIGRAMS:
            out.append(word)
        elif "l" in word and word.replace("l", "i").isalpha() and word.replace("l", "i") in ws.UNIGRAMS:
            out.append(word.replace("l", "i"))
    return out


FRAGMENT_MAX = 1e5  # a half this rare (count in wordsegment's table) is a piece of a word, not a word
REPAIR_MIN_COUNT = 1e6  # faint-text repairs only propose common words (count in wordsegment's table)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def repairs(token: str, limit: int = 3) -> list[str]:
    """Common words a faintly printed token may have been before OCR lost letters: a letter or
    two missing at either end ("UKON" -> "yukon", "EUTSCHE" -> "deutsche"; faint first and last
    letters are what the detector trims), or one letter missing, extra or wrong inside a token of
    six letters or more ("DEFNED" -> "defined"), or up to three capitals read as look-alikes
    ("VISGQNSIN" -> "wisconsin"; one in a token of five letters: "LOGIG" -> "logic").

    Args:
        token: letters as read.
        limit: at most this many words, commonest first.
    Returns:
        Lower-case words of 5 letters or more ([] when the token is a common word already).
    """
    low = token.lower()
    if not low.isalpha() or len(low) < 4:
        return []
    counts = _segmenter().UNIGRAMS
    if counts.get(low, 0.0) >= REPAIR_MIN_COUNT:
        return []
    cands = {c + low for c in _LETTERS} | {low + c for c in _LETTERS}
    cands |= {c + low + d for c in _LETTERS for d in _LETTERS}
    if len(low) >= 6:  # (a 5-letter fragment is within one letter of too many words: OCCAR -> oscar)
        for i in range(len(low) + 1):
            cands |= {low[:i] + c + low[i:] for c in _LETTERS}
            if i < len(low):
                cands.add(low[:i] + low[i + 1:])
                cands |= {low[:i] + c + low[i + 1:] for c in _LETTERS}
        cands |= _lookalike_variants(low)
    elif len(low) == 5:  # one capital read as its look-alike ("LOGIG" -> logic, "TWIGE" -> twice)
        cands |= _lookalike_variants(low, most=1)
    found = [(counts.get(w, 0.0), w) for w in cands if len(w) >= 5]
    return [w for n, w in sorted(found, reverse=True) if n >= REPAIR_MIN_COUNT][:limit]


# capitals PP-OCR mistakes for one another on faint strokes ("VISGQNSIN" for WISCONSIN)
_LOOKS = {a: b for group in ("ocdgq", "ilj", "vwuy", "efb", "pr", "nmh") for a in group
          for b in [group.replace(a, "")]}


def _lookalike_variants(low: str, most: int = 3) -> set[str]:
    """``low`` with one to ``most`` letters swapped for letters that look like them."""
    from itertools import combinations, product

    spots = [i for i, ch in enumerate(low) if ch in _LOOKS]
    out = set()
    for k in range(1, min(most, len(spots)) + 1):
        for where in combinations(spots, k):
            for letters in product(*(_LOOKS[low[i]] for i in where)):
                w = list(low)
                for i, c in zip(where, letters):
                    w[i] = c
                out.add("".join(w))
    return out


GARBLED_MIN_LEN = 4  # shorter tokens say little (initials, units, fragments of a real line)


def garbled(text: str) -> bool:
    """Whether recognised text holds a token that is no word: letters only, at least
    ``GARBLED_MIN_LEN`` long, rare in wordsegment's table (under ``FRAGMENT_MAX``) and not glued
    words that are not rare ("YARSUMEI", "VACCII", "EMONIONAL": what PP-OCR reads where part of
    a faint word is lost).

    Args:
        text: recognised text.
    Returns:
        True when such a token is there.
    """
    tokens = [t for t in re.findall(r"[^\W\d_]+", text) if len(t) >= GARBLED_MIN_LEN]
    if not tokens:
        return False
    counts = _segmenter().UNIGRAMS

    def word_or_words(low: str) -> bool:
        if counts.get(low, 0.0) >= FRAGMENT_MAX:
            return True
        parts = split_token(low)  # glued words (short ones only when they are SHORT_WORDS)
        return bool(parts) and all(counts.get(x, 0.0) >= FRAGMENT_MAX for x in parts)

    return any(t.isascii() and not word_or_words(t.lower()) for t in tokens)


def split_stream(text: str) -> str:
    """The words of every glued token in ``text``, and words broken in two rejoined, space
    separated ("" when there are none).

    Args:
        text: recognised text.
    Returns:
        The second token stream.
    """
    words: list[str] = []
    for line in text.splitlines():
        tokens = _TOKEN.findall(line)
        for token in tokens:
            words += split_token(token)
        words += joined_pairs(tokens)
        words += lookalike_words(line)
    return " ".join(dict.fromkeys(words))


def with_split_words(text: str) -> str:
    """``text`` followed by its split words after ``SEPARATOR`` (unchanged when none are glued,
    or when ``wordsegment`` is not installed).

    Args:
        text: recognised text.
    Returns:
        The text to index.
    """
    if not text:
        return text
    original, mark, stream = text.partition(SEPARATOR.strip())
    if mark:  # a stream is there already (other readings from OCR): extend it
        original, stream = original.strip(), stream.strip()
    try:
        # (words split from guesses would be guesses marked as read: guesses are left out)
        extra = split_stream(original + "\n" + _GUESSED.sub(" ", stream) if stream else original)
    except Exception:  # noqa: BLE001 - a missing or broken segmenter must not stop an ingest
        return text
    have = set(stream.split())
    extra = " ".join(w for w in extra.split() if w not in have)
    stream = " ".join(x for x in (stream, extra) if x)
    return f"{original}{SEPARATOR}{stream}" if stream else original


def original_text(text: str) -> str:
    """The recognised text without the split-word stream."""
    return text.split(SEPARATOR, 1)[0]


_GUESSED = re.compile(r"(?<![\w'])" + re.escape(GUESS) + r"([\w']+)")


def read_and_guessed(text: str) -> tuple[str, str]:
    """(``text`` without the words of its hidden stream that were guessed, those words space
    separated). Only the hidden stream (after ``SEPARATOR``) holds guesses: a ``~`` elsewhere (a
    document's "~50 people") is left alone."""
    shown, mark, stream = text.partition(SEPARATOR)
    if not mark or GUESS not in stream:
        return text, ""
    read = " ".join(_GUESSED.sub(" ", stream).split())
    return (f"{shown}{mark}{read}" if read else shown), " ".join(_GUESSED.findall(stream))


def without_guesses(text: str) -> str:
    """``text`` without the guessed words of its hidden stream (what is embedded and reranked:
    a guess is right about one time in three; full-text search weighs it instead)."""
    return read_and_guessed(text)[0]


__all__ = ["GUESS", "REPAIR_MIN_COUNT", "SEPARATOR", "garbled", "joined_pairs", "lookalike_words", "original_text", "read_and_guessed", "repairs", "split_stream", "split_token", "with_split_words", "without_guesses", "word_counts"]
