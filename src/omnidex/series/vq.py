"""A learned VQ codebook for series windows: k-means over short patches of the z-normalised PAA.

A window is z-normalised, resampled and reduced by PAA to ``segments`` values; overlapping
patches of ``patch`` values (every ``hop``) are the vectors the codebook quantises. The token
sequence of a window is a "sentence" of shape words; its normalised histogram is a vector.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sax import paa, znorm


def resample(x, n: int) -> np.ndarray:
    """Linear resampling of each row of ``x`` (..., m) to ``n`` samples (identity when m == n)."""
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[-1]
    if m == n:
        return x
    src = np.linspace(0.0, 1.0, m) if m > 1 else np.zeros(1)
    dst = np.linspace(0.0, 1.0, n)
    flat = x.reshape(-1, m)
    out = np.stack([np.interp(dst, src, row) for row in flat]) if m > 1 else np.repeat(flat, n, axis=-1)
    return out.reshape(*x.shape[:-1], n)


def shapes(windows, length: int) -> np.ndarray:
    """Raw windows (list of 1-D arrays of any lengths) -> z-normalised (n, length) float64 shapes."""
    if len(windows) == 0:
        return np.zeros((0, length))
    return np.stack([znorm(resample(np.asarray(w, dtype=np.float64), length)) for w in windows])


@dataclass
class Codebook:
    """k codewords over patches of a window's z-normalised PAA.

    Attributes:
        centroids: (k, patch) float64.
        segments: PAA values per window before patching.
        patch: values per patch.
        hop: PAA values between patch starts.
    """

    centroids: np.ndarray
    segments: int = 64
    patch: int = 8
    hop: int = 4

    @property
    def k(self) -> int:
        """Number of codewords."""
        return int(self.centroids.shape[0])

    @property
    def fingerprint(self) -> str:
        """Short hash of the codewords and the patching, for the encoder identity."""
        h = hashlib.sha256(np.ascontiguousarray(self.centroids, dtype=np.float64).tobytes())
        h.update(f"{self.segments}:{self.patch}:{self.hop}".encode())
        return h.hexdigest()[:12]

    def patches(self, z: np.ndarray) -> np.ndarray:
        """(n, length) z-normalised shapes -> (n, p, patch) patches of their PAA."""
        return patches(z, self.segments, self.patch, self.hop)

    def encode(self, z: np.ndarray) -> np.ndarray:
        """Token ids (n, p): the nearest codeword of each patch of each z-normalised shape."""
        p = self.patches(np.asarray(z, dtype=np.float64))
        flat = p.reshape(-1, self.patch)
        d = (flat**2).sum(1)[:, None] - 2 * flat @ self.centroids.T + (self.centroids**2).sum(1)[None, :]
        return d.argmin(axis=1).reshape(p.shape[0], p.shape[1]).astype(np.int32)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Token ids (n, p) -> the PAA (n, segments) rebuilt by overlap-averaging the codewords."""
        tokens = np.asarray(tokens)
        n, p = tokens.shape
        out = np.zeros((n, self.segments))
        cnt = np.zeros(self.segments)
        for j in range(p):
            s = j * self.hop
            out[:, s:s + self.patch] += self.centroids[tokens[:, j]]
            cnt[s:s + self.patch] += 1
        return out / np.maximum(cnt, 1)

    def histogram(self, tokens: np.ndarray) -> np.ndarray:
        """(n, p) tokens -> (n, k) L2-normalised token counts."""
        tokens = np.asarray(tokens)
        h = np.zeros((tokens.shape[0], self.k))
        np.add.at(h, (np.repeat(np.arange(tokens.shape[0]), tokens.shape[1]), tokens.ravel()), 1.0)
        return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)

    def save(self, path: str | Path) -> Path:
        """Write the codebook as ``.npz``."""
        path = Path(path)
        np.savez(path, centroids=self.centroids, segments=self.segments, patch=self.patch, hop=self.hop)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Codebook":
        """Read a codebook written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            return cls(np.asarray(f["centroids"], dtype=np.float64), int(f["segments"]), int(f["patch"]), int(f["hop"]))


def patches(z: np.ndarray, segments: int, patch: int, hop: int) -> np.ndarray:
    """Overlapping patches of the PAA of shapes ``z`` (n, length): (n, p, patch)."""
    a = paa(z, segments)
    starts = range(0, segments - patch + 1, hop)
    return np.stack([a[:, s:s + patch] for s in starts], axis=1)


def kmeans(x: np.ndarray, k: int, iters: int = 30, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding (deterministic for a seed); returns (k, d) centroids."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    if len(x) < k:
        raise ValueError(f"k-means needs at least k={k} points, got {len(x)}")
    cent = [x[rng.integers(len(x))]]
    d2 = ((x - cent[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
        cent.append(x[rng.choice(len(x), p=probs)])
        d2 = np.minimum(d2, ((x - cent[-1]) ** 2).sum(1))
    c = np.stack(cent)
    for _ in range(iters):
        d = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
        lab = d.argmin(1)
        new = np.stack([x[lab == j].mean(0) if np.any(lab == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def train_codebook(z: np.ndarray, k: int = 32, segments: int = 64, patch: int = 8, hop: int = 4,
                   seed: int = 0, max_patches: int = 50_000) -> Codebook:
    """Fit a codebook on z-normalised shapes (n, length), e.g. the indexed windows or a generated corpus.

    Args:
        z: z-normalised shapes.
        k: codewords.
        segments / patch / hop: the patching (see :class:`Codebook`).
        seed: k-means seed (subsampling and seeding).
        max_patches: at most this many patches are clustered (a seeded subsample).
    Returns:
        The codebook.
    """
    p = patches(np.asarray(z, dtype=np.float64), segments, patch, hop).reshape(-1, patch)
    if len(p) > max_patches:
        p = p[np.random.default_rng(seed).choice(len(p), max_patches, replace=False)]
    return Codebook(kmeans(p, k, seed=seed), segments, patch, hop)
