"""A fixed reference sample per encoder, so a score does not depend on what else a library holds.

A similarity is calibrated as a z-score against the same query's similarities to "unrelated"
items. Taking those from the library made every score move when unrelated files were added (a
hit went from 0.69 to 0.89 after 27 files). Here they come from a deterministic, generated sample
of the encoder's input kind: everyday sentences for text towers; drawn scenes, rendered text,
gradients and noise for image towers; tones, noise, sirens and clicks for sound towers. The
sample's vectors are computed once per encoder identity and cached (like the domain banks).
"""
from __future__ import annotations

import hashlib
import random
import threading

import numpy as np

SEED = 20261204
N_TEXT, N_IMAGE, N_SOUND = 600, 160, 96

_SUBJECTS = ("the committee", "my neighbour", "a small bakery", "the city council", "our team", "the old farmer",
             "a young pianist", "the museum", "the hospital", "a local school", "the airline", "the football club",
             "a software company", "the weather service", "the library", "a delivery driver", "the orchestra",
             "the village", "a research group", "the landlord", "the chef", "a tourist", "the mayor", "my sister")
_VERBS = ("announced", "repaired", "painted", "cancelled", "discussed", "ordered", "visited", "described",
          "photographed", "measured", "opened", "closed", "planned", "sold", "borrowed", "cleaned", "delayed",
          "celebrated", "studied", "rebuilt", "recorded", "moved", "tested", "reviewed")
_OBJECTS = ("the new bridge", "a birthday cake", "the annual budget", "an old bicycle", "the garden fence",
            "the evening concert", "a pile of invoices", "the kitchen floor", "the summer festival",
            "a broken window", "the quarterly report", "a pair of boots", "the train timetable", "the roof tiles",
            "a vintage camera", "the swimming pool", "the parking rules", "a box of apples", "the election results",
            "the flu vaccine", "a wooden boat", "the phone bill", "the bus route", "a chess tournament")
_TAILS = ("last Tuesday", "before the storm", "in the morning", "after lunch", "near the station",
          "for the third time", "without telling anyone", "at the weekend", "in the town square", "by the river",
          "despite the rain", "on short notice", "during the holidays", "with great care", "next to the school",
          "for a few hours")
_WORDS = ("EXIT", "OPEN", "SALE 50%", "Room 204", "Welcome", "Agenda", "Menu", "Platform 3", "No parking",
          "Chapter 1", "Total: $42.10", "Meeting notes", "Library", "Fresh bread", "Thank you", "Gate B")


def reference_texts(n: int = N_TEXT) -> list[str]:
    """``n`` everyday sentences on unrelated topics, plus short signs and labels (deterministic)."""
    rng = random.Random(SEED)
    out = [f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}."
           for _ in range(n - len(_WORDS))]
    return out + list(_WORDS)


def reference_images(n: int = N_IMAGE) -> list:
    """``n`` images: drawn shape scenes, rendered signs, gradients and noise (deterministic)."""
    from PIL import Image

    from ..testing.mediagen import text_image
    from ..testing.scenes import COLOURS, SHAPES, make_scene, render

    rng = random.Random(SEED)
    nrng = np.random.default_rng(SEED)
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            sc = make_scene(rng, pairs, pairs)
            out.append(render(sc["objects"], sc["background"], 128))
        elif kind == 1:
            bg = tuple(rng.randrange(256) for _ in range(3))
            fg = tuple(255 - c for c in bg)
            out.append(text_image(rng.choice(_WORDS), None, bg=bg, fg=fg))
        elif kind == 2:
            a, b = nrng.integers(0, 256, 3), nrng.integers(0, 256, 3)
            t = np.linspace(0, 1, 128)[:, None, None]
            out.append(Image.fromarray((a + (b - a) * t + np.zeros((128, 128, 3))).astype(np.uint8), "RGB"))
        else:
            out.append(Image.fromarray(nrng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").resize((128, 128)))
    return out


def reference_sounds(sample_rate: int, n: int = N_SOUND) -> list[np.ndarray]:
    """``n`` three-second clips of non-speech sounds at ``sample_rate`` (deterministic)."""
    from ..audio import synth

    rng = np.random.default_rng(SEED)
    makers = [lambda r: synth.tone("mid", r), lambda r: synth.noise("white", r), lambda r: synth.noise("pink", r),
              lambda r: synth.siren("wail", r), synth.ticking, synth.applause, synth.music,
              lambda r: synth.beeps("high", "fast", r), lambda r: synth.chirp("up", r)]
    clips = []
    for i in range(n):
        x = np.asarray(makers[i % len(makers)](rng), np.float32)
        clips.append(_resample(x, getattr(synth, "SR", sample_rate), sample_rate))
    return clips


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or len(x) == 0:
        return x
    t = np.linspace(0, len(x) - 1, int(round(len(x) * dst / src)))
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


_MAKERS = {"text": "text", "visual": "image", "sound": "sound"}  # space -> kind of reference inputs
_REFS: dict[str, np.ndarray | None] = {}
_LOCK = threading.Lock()


def reference_for(space: str, encoder) -> np.ndarray | None:
    """The fixed reference vectors of ``space``'s encoder, or None when the space has none.

    Computed once per encoder identity, kept in memory and in the cache folder.
    """
    kind = _MAKERS.get(space)
    if kind is None or encoder is None:
        return None
    from .._env import cache_dir

    key = f"{kind}|{getattr(encoder, 'identity', '')}|v1"
    held = f"{key}|{cache_dir()}"  # per cache folder: a warm-up must leave the file where later processes look
    with _LOCK:
        if held not in _REFS:
            _REFS[held] = _build(kind, encoder, key)
        return _REFS[held]


def _build(kind: str, encoder, key: str) -> np.ndarray | None:
    from .vector_cache import cached_vectors

    return cached_vectors("ref-" + hashlib.sha256(key.encode()).hexdigest()[:16], lambda: _encode(kind, encoder))


def _encode(kind: str, encoder):
    """The encoder's vectors of its generated reference inputs (None when it cannot take them)."""
    try:
        if kind == "text":
            return encoder.encode_text(reference_texts())
        if kind == "image":
            return encoder.encode_image(reference_images())
        if hasattr(encoder, "encode_audio"):
            return encoder.encode_audio(reference_sounds(int(getattr(encoder, "sample_rate", 16000))))
    except NotImplementedError:
        pass
    return None


__all__ = ["reference_for", "reference_texts", "reference_images", "reference_sounds", "warm"]


def warm(store, models) -> None:
    """Compute (and cache) the references and domain banks of the spaces a store holds, so the
    first search after an ingest does not pay for them. Failures are left to search time."""
    from .domain import gate_for

    for space in ("text", "visual", "sound"):
        if store.space_spec(space) is None:
            continue
        try:
            enc = models.encoder(space)
            reference_for(space, enc)
            if space != "text":
                gate_for(enc)
            if space == "visual" and "text" in getattr(enc, "modalities", ()):
                enc.encode_text(["a photo"])  # its query text tower exported now, not at the first search
        except Exception:  # noqa: BLE001 - a cache warm-up never fails an ingest
            continue
