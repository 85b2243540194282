"""Busy seconds per ingest stage, summed over files and threads, for benchmarks and profiling.

Stages overlap (frames are decoded in one thread while CLIP encodes in another and Whisper runs
in a third), so the per-stage seconds add up to more than the wall time. The totals are per
process: the Ray engine's workers keep their own.

Stage names used by ingest: ``probe``, ``decode`` (waiting on the video decoder), ``shots``
(frame features, cut decisions and picked-frame conversion), ``clip`` (visual encoder),
``phash``, ``text`` (text encoder), ``audio_decode``, ``speech`` (Whisper), ``sound``.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

_lock = threading.Lock()
_seconds: dict[str, float] = {}
_counts: dict[str, int] = {}


def add(stage: str, seconds: float, count: int = 0) -> None:
    """Add ``seconds`` (and ``count`` items) to ``stage``."""
    with _lock:
        _seconds[stage] = _seconds.get(stage, 0.0) + float(seconds)
        _counts[stage] = _counts.get(stage, 0) + int(count)


@contextmanager
def stage(name: str, count: int = 0):
    """Time the body as busy seconds of stage ``name`` (``count`` items processed)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - t0, count)


def snapshot() -> dict[str, dict[str, float]]:
    """{stage: {"s": busy seconds, "n": items}} accumulated since the last :func:`reset`."""
    with _lock:
        return {k: {"s": round(v, 3), "n": _counts.get(k, 0)} for k, v in _seconds.items()}


def reset() -> None:
    """Forget all totals."""
    with _lock:
        _seconds.clear()
        _counts.clear()
