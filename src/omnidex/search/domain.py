"""What an encoder knows: a query outside a closed-vocabulary model's domain gets no say from it.

The bundled offline models were trained on generated captions (shapes and colours; tones, sirens,
barks). Their text towers still turn *any* words into a vector, and a vector search always returns
a nearest item, so "parking permit" used to find a photo of something with a high score. Each
such encoder's domain is the bank of captions it was trained on: the nearer a query lies to that
bank (cosine in the encoder's own text space), the more the encoder's score is trusted; far from
it, the signal steps back to zero. Open-vocabulary encoders (CLIP, SigLIP, CLAP from the hub) have
no bank and keep full weight.
"""
from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOW, HIGH = 0.45, 0.75  # bank cosine at which an encoder's weight starts to rise / is full
VISUAL_BANK = 600  # captions sampled from the bundled visual model's generator


@dataclass(frozen=True)
class DomainGate:
    """The caption bank of one encoder, embedded in its own text space."""

    identity: str  # the encoder it belongs to
    bank: np.ndarray  # (n, dim) unit rows
    source: str  # where the bank comes from, for people

    def nearness(self, query: np.ndarray) -> float:
        """Cosine of a (unit) text query vector to its nearest bank caption."""
        return float(np.max(self.bank @ np.asarray(query, np.float32)))

    def weight(self, query: np.ndarray) -> float:
        """How much the encoder's score counts for this query: 0 far from its domain, 1 inside it."""
        x = min(max((self.nearness(query) - LOW) / (HIGH - LOW), 0.0), 1.0)
        return round(x * x * (3.0 - 2.0 * x), 4)  # smoothstep: no jump at either edge

    def describe(self) -> dict:
        """JSON-ready summary for ``omnidex stats``."""
        return {"domain": "closed", "captions": int(len(self.bank)), "from": self.source,
                "full_weight_at": HIGH, "zero_weight_below": LOW}


def _visual_captions() -> list[str]:
    """Captions of the bundled visual model's generator (a fixed, seeded sample)."""
    from ..testing.scenes import COLOURS, SHAPES, make_scene

    rng = random.Random(0)
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    caps = sorted({make_scene(rng, pairs, pairs)["caption"] for _ in range(4 * VISUAL_BANK)})
    short = [f"a {c} {s}" for c, s in pairs]
    return short + random.Random(1).sample(caps, min(VISUAL_BANK, len(caps)))


def _sound_captions() -> list[str]:
    """Every caption the bundled sound model was trained with."""
    from ..audio.synth import foregrounds, mixtures

    fg = foregrounds()
    return sorted({c for cls in fg + mixtures(fg) for c in cls.captions})


def _bundled(kind: str) -> Path:
    root = Path(__file__).resolve().parent.parent / "models"
    return root / ("lit-synth" if kind == "visual" else "audio-lit")


def _bank_texts(encoder) -> tuple[list[str], str] | None:
    """(captions, where from) for an encoder with a known closed domain, else None."""
    model_dir = Path(str(getattr(encoder, "model_dir", "") or getattr(encoder, "path", "") or ""))
    own = model_dir / "captions.txt" if str(model_dir) else None
    if own is not None and own.is_file():  # a model trained by `omnidex train` keeps its captions
        lines = [ln.strip() for ln in own.read_text().splitlines() if ln.strip()]
        return lines, f"{own.name} of the model"
    for kind, make in (("visual", _visual_captions), ("sound", _sound_captions)):
        if _same_dir(model_dir, _bundled(kind)) or getattr(encoder, "bundled_kind", None) == kind:
            return make(), f"the bundled {kind} model's training generator"
    return None


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return str(a) != "" and a.resolve() == b.resolve()
    except OSError:
        return False


def domain_summary(spec) -> dict:
    """What ``omnidex stats`` says of a space's encoder domain, read from its stored spec (no model load).

    Args:
        spec: the space's :class:`~omnidex.store.EncoderSpec`.
    Returns:
        ``{"domain": "closed", ...}`` for the bundled generator-trained models and LiT models that
        keep their captions, else ``{"domain": "open"}``.
    """
    model = str(dict(spec.kwargs).get("model") or "")
    bundled = {"lit": ("lit:bundled", "visual"), "audio-lit": ("audio-lit:bundled", "sound")}.get(spec.name)
    if bundled and (model == bundled[0] or _same_dir(Path(model), _bundled(bundled[1]))):
        return {"domain": "closed", "from": f"the bundled {bundled[1]} model's training generator",
                "zero_weight_below": LOW, "full_weight_at": HIGH,
                "note": "text queries far from its captions get no weight from this space"}
    if spec.name in ("lit", "audio-lit") and (Path(model) / "captions.txt").is_file():
        return {"domain": "closed", "from": "captions.txt of the model", "zero_weight_below": LOW,
                "full_weight_at": HIGH}
    return {"domain": "open"}


_GATES: dict[str, DomainGate | None] = {}
_LOCK = threading.Lock()


def gate_for(encoder) -> DomainGate | None:
    """The domain gate of an encoder (None for open-vocabulary ones); embedded once, then cached.

    The bank's vectors are kept in memory per process and on disk in the cache folder (keyed by
    the encoder's identity and the captions), so a cold CLI search pays for them only once.
    """
    if encoder is None or not hasattr(encoder, "encode_text"):
        return None
    from .._env import cache_dir

    # per cache folder: a warm-up must leave the bank's file where later (cold) processes look for it
    key = f"{getattr(encoder, 'identity', '')}|{cache_dir()}"
    with _LOCK:
        if key not in _GATES:
            _GATES[key] = _build(encoder)
        return _GATES[key]


def _build(encoder) -> DomainGate | None:
    from .vector_cache import cached_vectors

    found = _bank_texts(encoder)
    if not found:
        return None
    texts, source = found
    digest = hashlib.sha256(("\n".join(texts) + "|" + str(encoder.identity)).encode()).hexdigest()[:16]
    bank = cached_vectors(digest, lambda: encoder.encode_text(texts))
    return DomainGate(str(encoder.identity), bank, source)


__all__ = ["DomainGate", "gate_for", "domain_summary", "LOW", "HIGH"]
