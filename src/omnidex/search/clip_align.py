"""Frame-accurate clip placement: the last stage of :func:`omnidex.search.video_query.find_clip`.

The coarse stages place a clip to within a second or so from tiny thumbnails. On slow motion
(a pan moving a fraction of a pixel per frame, a slow zoom, a near-static shot whose light
changes) neighbouring starts look alike at that size. Here the clip and the video around the
coarse start are decoded at every frame into larger grey pictures (``FINE_WIDTH`` pixels wide), and
every start a frame apart is scored by the mean squared luma difference over many clip frames,
less one constant level difference (re-encoding shifts levels a little). The products needed
for every start come from one matrix product (clip frames x video frames), so hundreds of starts
cost little. The best start is refined below a frame by a parabola through its neighbours.

How sure the start is comes from the same numbers: the clip frames are split into consecutive
blocks, and a start is "about as good" as the best while its mean excess difference over the
best is within ``RANGE_Z`` standard errors of the block means (plus ``RANGE_REL`` of the best
fit: re-encoding bias the noise does not show). The span of those starts is the start range: a
frame or two when the pictures decide, wide when they do not (a still shot under constant light).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import MediaError

FINE_WIDTH = 128  # width of the grey pictures compared (height from the clip's aspect)
FINE_FRAMES = 160  # clip frames compared per start at most
FINE_CLIP_S = 10.0  # ... taken from the clip's first this many seconds
FINE_PAD_S = 1.0  # starts searched: the coarse range plus this either side ...
FINE_MIN_HALF_S = 1.5  # ... and at least this either side of the coarse start
FINE_MAX_HALF_S = 6.0  # ... and at most this either side
RANGE_BLOCKS = 8  # clip frames are split into this many consecutive blocks for the standard error
RANGE_Z = 3.0  # a start within this many standard errors of the best one fits about equally well
RANGE_REL = 0.002  # ... or within this share of the best fit's mean squared difference


class Frames:
    """Grey frames (float32, 0..255) of a stretch of video with their times."""

    def __init__(self, times: np.ndarray, pixels: np.ndarray, key: np.ndarray | None = None):
        self.times, self.pixels = times, pixels
        self.key = np.zeros(len(times), bool) if key is None else key  # coded without reference to others

    @classmethod
    def decode(cls, path: str | Path, t0: float, t1: float, size: tuple[int, int], samples: int = 0) -> "Frames":
        """Frames with time in [t0, t1] at ``size`` (width, height); ``samples`` > 0 keeps at most that
        many, evenly spread, and every key frame. Raises MediaError when none decodes."""
        from .._require import require
        from ..media import pyav

        av = require("av", "video")
        times, pixels, keys, errors = [], [], [], []
        for t, frame in pyav.frames_between(av, path, t0, t1, errors, samples, keep_keys=True):
            keys.append(bool(frame.key_frame))
            pixels.append(frame.to_ndarray(width=size[0], height=size[1], format="gray").astype(np.float32).ravel())
            times.append(t)
        if not pixels:
            raise MediaError(path, f"no frame decoded between {t0:.2f}s and {t1:.2f}s")
        return cls(np.array(times), np.stack(pixels), np.array(keys, bool))


def fine_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the compared pictures for a clip of this display size (even height)."""
    h = max(2, int(round(FINE_WIDTH * height / max(1, width) / 2.0)) * 2)
    return FINE_WIDTH, h


def search_window(coarse: float, lo: float, hi: float) -> tuple[float, float]:
    """Starts to search: the coarse range plus ``FINE_PAD_S``, at least ``FINE_MIN_HALF_S`` and at most
    ``FINE_MAX_HALF_S`` either side of the coarse start."""
    a = min(coarse - FINE_MIN_HALF_S, lo - FINE_PAD_S)
    b = max(coarse + FINE_MIN_HALF_S, hi + FINE_PAD_S)
    return max(0.0, coarse - FINE_MAX_HALF_S, a), min(coarse + FINE_MAX_HALF_S, b)


def align(query: Frames, path: str | Path, coarse: float, lo: float, hi: float, size: tuple[int, int],
          video_s: float = 0.0) -> dict | None:
    """The start of ``query`` (its frames' times relative to its first) inside the video at ``path``.

    Args:
        query: the clip's frames (:meth:`Frames.decode` at ``size``), times from the clip's start.
        path: the indexed video.
        coarse, lo, hi: the coarse start and the range of starts the coarse stage found about equal.
        size: the compared pictures' (width, height).
        video_s: the video's length (0 when unknown).
    Returns:
        {"start", "range": (lo, hi), "frames": clip frames compared, "starts": starts scored}, or None
        when the video cannot be read there or too few frames overlap.
    """
    a, b = search_window(coarse, lo, hi)
    q_rel = query.times - query.times[0]
    span = float(q_rel[-1])
    for _ in range(3):  # the best start on the window's edge (not the video's): search beyond it
        try:
            target = Frames.decode(path, a, b + span + 0.1, size)
        except MediaError:
            return None
        res = _scan(query, q_rel, target, a, b, size[0])
        if res is None:
            return None
        fps = res["fps"]
        edge_lo = res["start"] <= a + 2.0 / fps and a > 1.0 / fps
        edge_hi = res["start"] >= b - 2.0 / fps and (video_s <= 0 or b + span < video_s - 2.0 / fps)
        if not (edge_lo or edge_hi):
            break
        a, b = (max(0.0, a - 2 * FINE_PAD_S), a + 4.0 / fps) if edge_lo else (b - 4.0 / fps, b + 2 * FINE_PAD_S)
    return res


def _cells(size_px: int, width: int, grid: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Cell number (row-major over ``grid``) of each pixel of a raveled picture ``width`` wide."""
    height = size_px // width
    rows = np.minimum(np.arange(height) * grid[0] // max(1, height), grid[0] - 1)
    cols = np.minimum(np.arange(width) * grid[1] // max(1, width), grid[1] - 1)
    return (rows[:, None] * grid[1] + cols[None, :]).ravel()


def _scan(query: Frames, q_rel: np.ndarray, target: Frames, a: float, b: float, width: int) -> dict | None:
    """Score every start (a video frame's time in [a, b]) by the clip's mean squared difference.

    Only the clip's key frames are compared when it has some besides other frames: a re-encoded
    clip's predicted frames lag behind on slow change (at a low bitrate the encoder keeps blocks of
    the frame before while the difference is small, so a slow zoom or a brightening reads as up to
    several frames earlier), while a key frame is coded afresh. A clip whose frames are all key
    frames, or none, is compared at every kept frame.
    """
    tt = target.times
    gaps = np.diff(tt)
    gaps = gaps[gaps > 1e-4]
    fps = float(1.0 / np.median(gaps)) if len(gaps) else 25.0
    starts = tt[(tt >= a - 1e-4) & (tt <= b + 1e-4)]
    if len(starts) < 3:
        return None
    use = query.key if 0 < int(query.key.sum()) < len(query.key) else np.ones(len(q_rel), bool)
    Q, rel = query.pixels[use], q_rel[use]
    T = target.pixels
    cell = _cells(Q.shape[1], width)
    n_cells = int(cell.max()) + 1
    P = np.bincount(cell, minlength=n_cells).astype(np.float64)  # pixels per cell
    # per cell: sums of products, squares and values of clip and video frames
    gram = np.stack([Q[:, cell == c] @ T[:, cell == c].T for c in range(n_cells)], axis=-1)  # (clip, video, cell)
    qq = np.stack([(Q[:, cell == c] ** 2).sum(1) for c in range(n_cells)], axis=-1)
    tq = np.stack([(T[:, cell == c] ** 2).sum(1) for c in range(n_cells)], axis=-1)
    qs = np.stack([Q[:, cell == c].sum(1) for c in range(n_cells)], axis=-1)
    ts = np.stack([T[:, cell == c].sum(1) for c in range(n_cells)], axis=-1)
    # the video frame shown at each compared clip frame's time, for each start: nearest by time
    at = rel[None, :] + starts[:, None]
    j = np.clip(np.searchsorted(tt, at), 1, len(tt) - 1)
    j = np.where(np.abs(tt[j - 1] - at) <= np.abs(tt[j] - at), j - 1, j)
    inside = np.abs(tt[j] - at) <= 0.75 / fps  # (start, clip frame)
    rows = np.arange(len(rel))[None, :]
    diff = qs[None, :, :] - ts[j]  # (start, clip frame, cell): sum of q - t
    sq = qq[None, :, :] + tq[j] - 2.0 * gram[rows, j]  # sum of (q - t)^2
    bias = diff.sum(-1) / P.sum()  # one level difference per compared frame pair (re-encoding shifts levels)
    per_cell = sq / P - 2.0 * bias[..., None] * diff / P + bias[..., None] ** 2  # mean squared residual
    n_in = inside.sum(1)
    ok = n_in >= max(1, 0.9 * len(rel))
    if not ok.any():
        return None
    w = inside[..., None].astype(np.float64)
    by_cell = (per_cell * w).sum(1) / np.maximum(1, n_in)[:, None]  # (start, cell)
    cost = np.where(ok, by_cell.mean(1), np.inf)
    k = int(np.argmin(cost))
    start = float(starts[k])
    if 0 < k < len(starts) - 1 and np.isfinite(cost[k - 1]) and np.isfinite(cost[k + 1]):
        c0, c1, c2 = cost[k - 1], cost[k], cost[k + 1]
        den = c0 - 2 * c1 + c2
        if den > 0:
            frac = float(np.clip(0.5 * (c0 - c2) / den, -0.5, 0.5))
            start += frac * float(starts[k + 1] - starts[k] if frac > 0 else starts[k] - starts[k - 1])
    # which starts fit about equally well: the excess over the best, cell by cell
    excess = by_cell - by_cell[k][None, :]
    mean = excess.mean(1)
    se = excess.std(1, ddof=1) / math.sqrt(n_cells)
    equal = ok & (mean <= RANGE_Z * se + RANGE_REL * cost[k])
    equal[k] = True
    near = starts[equal]
    half = 0.5 / fps
    return {"start": start, "range": (float(min(near.min(), start) - half), float(max(near.max(), start) + half)),
            "frames": int(len(rel)), "key": bool(use.sum() < len(use)), "starts": int(ok.sum()), "fps": fps}


__all__ = ["Frames", "align", "fine_size", "search_window"]
