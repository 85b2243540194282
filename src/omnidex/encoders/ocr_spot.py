"""Word spotting: whether a faint picture shows a query word, asked of the recogniser's own
per-frame probabilities when the word is searched for (query-time keyword spotting).

Over a busy photograph the recogniser's best reading of a faint word is often a letter or two
off (``HASHON`` for FASHION, ``SGQNSIN`` for WISCONSIN), too far for a string repair or for the
index-time lexicon (:mod:`.ocr_lexicon`), which must guess among every common word. At search time
the question is narrower: does this picture show *this* word? Each box the faint path read keeps its
per-frame probabilities (case folded to 26 letters, a blank and one column for everything else,
quantised to a byte: :func:`pack`); a query word is scored against every stored box by a
filler-model forward pass (:func:`spot_scores`): the log-likelihood of the frames with the word
somewhere in them (any frames before and after it read as whatever the recogniser likes best),
minus that of the recogniser's best reading of all frames. A word the picture shows scores near 0
or above (the forward pass sums over alignments); a word it does not, far below.

A box of clutter, where no reading is likely, lets any word come near its best reading, so a word
must also be likely in absolute terms (:data:`ABSOLUTE_PER_LETTER`). On the development pictures
(``python -m bench.ocr.spots``, faint path forced) spots of words the readings did not name were
right 27 times in 29 where the absolute score per letter was at least -0.5, 6 in 17 between -1 and
-0.5, 2 in 17 between -1.25 and -1, and 3 in 564 below (left out). A spotted word is weak
evidence: search treats it as a guess (``Hit.guessed``), never as a word read.

Besides the boxes, the faint path keeps the frames of its band views read across their full width
at the rows where it found boxes (:func:`.ocr_faint.line_strips`): a box that caught a fragment of
a faint word over clutter, read across the line, often holds the whole word. It also keeps those
of the regions the faint-text trigger marks (:meth:`.ocr_trigger.FaintTrigger.regions`), where
the detector may have boxed nothing.
"""
from __future__ import annotations

import base64
import json
import zlib

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz"
COLUMNS = len(LETTERS) + 2  # blank, a-z, anything else
FLOOR_PER_LETTER = -0.5  # nats per letter of the word: least spot score (relative to the best reading) kept
ABSOLUTE_PER_LETTER = -1.25  # nats per letter: least absolute spot score (a box of clutter takes any word)
MIN_LETTERS = 4  # shorter query words are spotted in too many boxes of clutter
# a box is scored only when the likeliest frames of the word's letters average at least this
# (log-probability per letter): on the development pictures the box-word pairs that cleared both
# floors averaged -1.74 at worst (1013 pairs; bench/ocr/spots.py checks it)
PREFILTER_PER_LETTER = -2.5
MAX_BOXES = 320  # boxes and strips stored per picture at most (a dense page: the first ones)
STEP = 8.0  # quantisation: byte = round(-log p * STEP), so 1/8 nat, down to -31.9 nats
_TAG = "spot"
_NEG = -1e30


def fold(logp: np.ndarray, columns: dict[str, int]) -> np.ndarray:
    """(T, C) log-probabilities over ``columns`` (blank in column 0) -> (T, :data:`COLUMNS`):
    blank, each letter with its capital, and everything else, summed as probabilities."""
    out = np.full((logp.shape[0], COLUMNS), -255.0 / STEP, np.float32)
    out[:, 0] = logp[:, 0]
    used = {0}
    for j, c in enumerate(LETTERS):
        idx = [columns[x] for x in (c, c.upper()) if x in columns]
        used.update(idx)
        if idx:
            out[:, j + 1] = np.logaddexp.reduce(logp[:, idx], axis=1)
    rest = [i for i in range(logp.shape[1]) if i not in used]
    if rest:
        out[:, -1] = np.logaddexp.reduce(logp[:, rest], axis=1)
    return out


def trim(frames: np.ndarray) -> np.ndarray:
    """Frames without the trailing ones that are surely blank (a batch is padded to its widest box)."""
    live = np.nonzero(frames[:, 0] < np.log(0.99))[0]
    return frames[: min(len(frames), live[-1] + 2)] if len(live) else frames[:1]


def pack(boxes: list[np.ndarray]) -> str:
    """Folded frames of a picture's boxes -> a compact string for the index (the OCR row's
    ``words`` column): ``{"spot": 1, "t": [frames per box], "z": base64 of the zlib-compressed
    bytes}`` ("" for none)."""
    boxes = [trim(b) for b in boxes[:MAX_BOXES] if len(b)]
    if not boxes:
        return ""
    q = np.clip(np.rint(-np.concatenate(boxes) * STEP), 0, 255).astype(np.uint8)
    z = zlib.compress(q.tobytes(), 6)  # mostly sure blanks and near-zero letters: about 3x smaller
    return json.dumps({_TAG: 1, "t": [len(b) for b in boxes], "z": base64.b64encode(z).decode()},
                      separators=(",", ":"))


def is_packed(words: str | None) -> bool:
    """Whether a ``words`` column value holds spotting frames (:func:`pack`)."""
    return bool(words) and words.startswith('{"' + _TAG + '"')


def unpack(words: str) -> list[np.ndarray]:
    """:func:`pack`'s string -> the boxes' (T, :data:`COLUMNS`) log-probabilities ([] when it
    holds none, or is damaged)."""
    q, lengths = _decode(words)
    flat = q.astype(np.float32) / -STEP
    ends = np.cumsum(lengths)
    return [flat[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]).astype(int), ends)]


def _decode(words: str | None) -> tuple[np.ndarray, list[int]]:
    """:func:`pack`'s string -> (its bytes, ΣT x :data:`COLUMNS`; frames per box); nothing for any
    other value or a damaged one (a row is never worth failing a search over)."""
    if not is_packed(words):
        return np.zeros((0, COLUMNS), np.uint8), []
    try:
        d = json.loads(words)
        q = np.frombuffer(zlib.decompress(base64.b64decode(d["z"], validate=True)), np.uint8).reshape(-1, COLUMNS)
        lengths = [int(t) for t in d["t"]]
    except (ValueError, KeyError, TypeError, zlib.error):  # binascii.Error is a ValueError
        return np.zeros((0, COLUMNS), np.uint8), []
    if sum(lengths) != len(q) or min(lengths, default=1) < 1:
        return np.zeros((0, COLUMNS), np.uint8), []
    return q, lengths


def spottable(word: str) -> bool:
    """Whether a query word is spotted at all: letters only, at least :data:`MIN_LETTERS`."""
    return len(word) >= MIN_LETTERS and all(c in LETTERS for c in word)


def spot_scores(boxes: list[np.ndarray], word: str) -> tuple[np.ndarray, np.ndarray]:
    """Each box's spot scores for ``word`` (lower case letters), in nats:

    * relative: log P(frames, the word somewhere in them) - log P(frames, best reading). The
      frames before and after the word are read as their likeliest column, the word's letters are
      aligned to the frames between as CTC aligns them (blanks between, repeats collapsed), summed
      over every alignment. Near 0 or above where the word is what the recogniser read.
    * absolute: log of the summed probability of the word on any stretch of the frames. A box of
      clutter, where no reading is likely, lets any word come near its best reading (relative);
      the absolute score stays low there.

    Args:
        boxes: (T, :data:`COLUMNS`) log-probabilities per box.
    """
    if not boxes:
        return np.zeros(0), np.zeros(0)
    t_max = max(len(b) for b in boxes)
    probs = np.zeros((t_max, len(boxes), COLUMNS))
    live = np.zeros((t_max, len(boxes)), bool)
    for i, b in enumerate(boxes):
        probs[:len(b), i] = np.exp(b.astype(np.float64))
        live[:len(b), i] = True
    ext = _states(word)
    return _scores(probs[:, :, ext], np.where(live, probs.max(2), 1.0), live, ext)


class SpotIndex:
    """The packed frames of many pictures, ready to spot query words in (what search builds once
    per version of the index).

    Args:
        packed: :func:`pack` strings, one per picture ("" or other values hold no boxes).
    """

    def __init__(self, packed: list[str]):
        owner, lengths, parts = [], [], []
        for i, words in enumerate(packed):
            q, t = _decode(words)
            if t:
                parts.append(q)
                lengths += t
                owner += [i] * len(t)
        self.q = np.concatenate(parts) if parts else np.zeros((0, COLUMNS), np.uint8)
        self.lengths = np.asarray(lengths, np.int64)
        self.owner = np.asarray(owner, np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64) if lengths else self.lengths
        # each box's likeliest frame for every column (the least byte): the prefilter's bound
        self.least = np.minimum.reduceat(self.q, self.starts, axis=0) if lengths else np.zeros((0, COLUMNS), np.uint8)
        self.best = self.q.min(1)  # each frame's likeliest column

    def __len__(self) -> int:
        return len(self.lengths)

    def scores(self, word: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(picture of each box scored, relative, absolute scores) for ``word``: the boxes whose
        likeliest frame for each of the word's letters averages at least :data:`PREFILTER_PER_LETTER`
        (the others cannot clear the floors; see the constant)."""
        if not len(self) or not spottable(word):
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        lab = [LETTERS.index(c) + 1 for c in word]
        bound = self.least[:, lab].astype(np.float64).sum(1) / (-STEP * len(word))
        keep = np.nonzero(bound >= PREFILTER_PER_LETTER)[0]
        if not len(keep):
            return keep, np.zeros(0), np.zeros(0)
        lengths = self.lengths[keep]
        t = np.arange(lengths.max())[:, None]
        live = t < lengths[None, :]
        rows = self.starts[keep][None, :] + np.minimum(t, lengths[None, :] - 1)
        ext = _states(word)
        em = _PROB[self.q[rows[:, :, None], ext[None, None, :]]]  # only the word's columns, in float32
        best = np.where(live, _PROB[self.best[rows]], np.float32(1.0))
        rel, ab = _scores(em, best, live, ext)
        return self.owner[keep], rel, ab


_PROB = np.exp(-np.arange(256) / STEP).astype(np.float32)  # byte -> probability


def _states(word: str) -> np.ndarray:
    """CTC states of a word: blank, first letter's column, blank, ..., blank."""
    ext = np.zeros(2 * len(word) + 1, np.int64)
    ext[1::2] = [LETTERS.index(c) + 1 for c in word]
    return ext


def _scores(em: np.ndarray, best: np.ndarray, live: np.ndarray, ext: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`spot_scores` from (T, B, states) probabilities of the word's states, (T, B)
    probabilities of each frame's likeliest column (1 where no frame) and (T, B) live frames."""
    n = em.shape[1]
    with np.errstate(divide="ignore"):
        best_sum = np.log(best.astype(np.float64)).sum(0)
    # the boxes twice: the frames around the word read as their best column (relative), or not weighed (absolute)
    both = _forward(np.concatenate([em, em], 1), ext, np.concatenate([best, np.ones_like(best)], 1),
                    np.concatenate([live, live], 1))
    return both[:n] - best_sum, both[n:]


def _forward(em: np.ndarray, ext: np.ndarray, filler: np.ndarray, live: np.ndarray) -> np.ndarray:
    """log-sum over alignments of: filler frames, the word (CTC states ``ext``), filler frames.

    In probabilities, each row rescaled to its largest state at every frame (the logs of the
    scales summed): multiplications and additions only, several times faster than log-space sums.
    """
    skip = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    t_max, n = live.shape
    before = filler[0].copy()  # the word has not begun
    alpha = np.zeros((n, len(ext)), em.dtype)
    alpha[:, 0], alpha[:, 1] = em[0, :, 0], em[0, :, 1]
    after = np.zeros(n, em.dtype)  # the word is over
    scale = np.zeros(n)
    for t in range(1, t_max):
        nxt = alpha.copy()
        nxt[:, 1:] += alpha[:, :-1]
        nxt[:, 2:] += alpha[:, :-2] * skip
        nxt[:, 0] += before
        nxt[:, 1] += before
        done = after + alpha[:, -1] + alpha[:, -2]
        on = live[t]
        alpha = np.where(on[:, None], nxt * em[t], alpha)
        after = np.where(on, done * filler[t], after)
        before = np.where(on, before * filler[t], before)
        top = np.maximum(np.maximum(alpha.max(1), after), before)
        top = np.where(top > 0, top, em.dtype.type(1.0))
        alpha /= top[:, None]
        after /= top
        before /= top
        scale += np.log(top)
    total = (after + alpha[:, -1] + alpha[:, -2]).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.where(total > 0, np.log(np.maximum(total, 1e-300)) + scale, _NEG)


def clears(relative: np.ndarray, absolute: np.ndarray, word: str) -> np.ndarray:
    """Which boxes' spot scores of ``word`` (:func:`spot_scores`) clear both floors per letter,
    :data:`FLOOR_PER_LETTER` and :data:`ABSOLUTE_PER_LETTER`: where the word counts as spotted."""
    return (relative / len(word) >= FLOOR_PER_LETTER) & (absolute / len(word) >= ABSOLUTE_PER_LETTER)


def spotted(boxes: list[np.ndarray], word: str) -> float | None:
    """The best relative spot score per letter of ``word`` over a picture's boxes that
    :func:`clears`; else None."""
    if not boxes or not spottable(word):
        return None
    rel, ab = spot_scores(boxes, word)
    ok = clears(rel, ab, word)
    return float(rel[ok].max()) / len(word) if ok.any() else None


__all__ = ["ABSOLUTE_PER_LETTER", "COLUMNS", "FLOOR_PER_LETTER", "MAX_BOXES", "MIN_LETTERS", "PREFILTER_PER_LETTER",
           "SpotIndex", "clears", "fold", "is_packed", "pack",
           "spot_scores", "spottable", "spotted", "trim", "unpack"]
