"""Vectors computed once per encoder and kept on disk (caption banks, score references).

Files live in ``<cache folder>/domain/<name>.npy`` (``$OMNIDEX_CACHE``, see :func:`omnidex._env.cache_dir`).
A cache that cannot be read or written only costs a recomputation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


def cached_vectors(name: str, make: Callable[[], np.ndarray | None]) -> np.ndarray | None:
    """The float32 array stored under ``name``, else ``make()`` (stored for next time unless None).

    Args:
        name: file stem, a digest of everything the vectors depend on (encoder identity, inputs).
        make: computes the vectors; may return None when there are none to compute.
    """
    path = _path(name)
    if path is not None and path.is_file():
        try:
            return np.load(path).astype(np.float32)
        except (OSError, ValueError):
            pass
    vecs = make()
    if vecs is None:
        return None
    vecs = np.asarray(vecs, np.float32)
    _save(path, vecs)
    return vecs


def _path(name: str) -> Path | None:
    try:
        from .._env import cache_dir

        return cache_dir() / "domain" / f"{name}.npy"
    except Exception:  # noqa: BLE001 - no usable home: keep the vectors in memory only
        return None


def _save(path: Path | None, vecs: np.ndarray) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vecs)
        tmp.replace(path)
    except OSError:  # a read-only cache is fine: the vectors are computed again next time
        pass


__all__ = ["cached_vectors"]
