"""A deterministic, weight-free near-duplicate descriptor for images and video frames.

Low-frequency 2-D DCT of a 32x32 grayscale thumbnail (the perceptual-hash signal, kept as
signed floats instead of bits) plus a coarse 4x4 colour layout, each part mean-centred and
normalised, so a resized, re-encoded, slightly cropped or brightened copy stays close while a
different picture does not. Used for image->image search when CLIP weights are absent.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._require import require
from .base import EncoderBase, empty, l2_normalise, unsupported
from .registry import register

THUMB = 32  # grayscale thumbnail side for the DCT
KEEP = 12  # low-frequency block kept (KEEP x KEEP minus the DC term)
GRID = 4  # colour layout cells per side
VERSION = "v1"  # bump whenever the descriptor changes: stored vectors are then incompatible
WEIGHTS = {"dct": 0.8, "layout": 0.5, "mean": 0.3, "bias": 0.1}


@lru_cache(maxsize=1)
def _dct_matrix(n: int = THUMB) -> np.ndarray:
    """Orthonormal DCT-II matrix (n, n)."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.zeros_like(v)


def _dct_part(rgb: np.ndarray) -> np.ndarray:
    """Signed-sqrt low-frequency DCT coefficients of the luma thumbnail, DC dropped."""
    pil = require("PIL.Image", "image")
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    small = np.asarray(pil.fromarray(luma.astype(np.float32)).resize((THUMB, THUMB), pil.Resampling.BOX))
    d = _dct_matrix() @ (small - small.mean()) @ _dct_matrix().T
    coeffs = d[:KEEP, :KEEP].ravel()[1:]
    return _unit(np.sign(coeffs) * np.sqrt(np.abs(coeffs)))


def _layout_part(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(4x4 per-channel colour layout minus its mean, the mean colour centred on mid-grey)."""
    pil = require("PIL.Image", "image")
    img = pil.fromarray((rgb * 255).clip(0, 255).astype(np.uint8))
    cells = np.asarray(img.resize((GRID, GRID), pil.Resampling.BOX), dtype=np.float32) / 255.0
    mean = cells.reshape(-1, 3).mean(axis=0)
    return _unit((cells - mean).ravel()), mean - 0.5


def describe(image) -> np.ndarray:
    """Descriptor of one PIL image (unnormalised float32 vector of length ``PHash.dim``)."""
    pil = require("PIL.Image", "image")
    img = image.convert("RGB")
    if max(img.size) > 256:  # the descriptor only looks at coarse structure
        img = img.resize((min(256, img.width), min(256, img.height)), pil.Resampling.BOX)
    rgb = np.asarray(img, dtype=np.float32) / 255.0
    layout, mean = _layout_part(rgb)
    parts = [WEIGHTS["dct"] * _dct_part(rgb), WEIGHTS["layout"] * layout,
             WEIGHTS["mean"] * mean, np.array([WEIGHTS["bias"]], dtype=np.float32)]
    return np.concatenate(parts).astype(np.float32)


@register("phash")
class PHash(EncoderBase):
    """Near-duplicate image encoder (no weights, no randomness: identical on every machine).

    Args:
        batch_size: images per batch (kept for the Encoder protocol; work is per image).
    """

    name = "phash"
    modalities = frozenset({"image"})
    dim = KEEP * KEEP - 1 + GRID * GRID * 3 + 3 + 1
    identity = f"phash:dct{THUMB}x{KEEP}+grid{GRID}rgb@{VERSION}"

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size

    def encode_image(self, images: list) -> np.ndarray:
        """Describe images.

        Args:
            images: PIL images of any mode and size.
        Returns:
            float32 (n, dim), unit rows.
        """
        if not images:
            return empty(self.dim)
        return l2_normalise(np.stack([describe(im) for im in images]))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """A near-duplicate descriptor has no text side."""
        raise unsupported(self.name, "text")
