"""Encoders are data: a name maps to a factory that returns a matched, ready bundle.

Built encoders are cached per (name, kwargs) in-process, so asking again is free.
"""
from __future__ import annotations

import threading
from typing import Callable

from ..errors import OmnidexError
from .base import Encoder

_FACTORIES: dict[str, Callable[..., Encoder]] = {}
_BUILT: dict[tuple, Encoder] = {}
_LOCK = threading.RLock()


def register(name: str):
    """Decorator registering a factory (class or function returning an Encoder) under ``name``.

    Args:
        name: registry name, e.g. ``"clip"``.
    Returns:
        The decorator; it returns the factory unchanged.
    """
    def deco(factory: Callable[..., Encoder]):
        _FACTORIES[name] = factory
        return factory
    return deco


def _ensure_builtin() -> None:
    """Import the built-in encoder modules so their @register lines run (they import nothing heavy)."""
    from . import clap, clip, lit, minilm, phash, videomae, xclip  # noqa: F401
    from ..audio import encoder as _audio  # noqa: F401  (audio-lit, the bundled sound model)
    from ..series import encoders as _series  # noqa: F401  (series-shape, series-lit)


def available() -> list[str]:
    """Names that ``build`` accepts.

    Returns:
        Sorted registry names.
    """
    _ensure_builtin()
    return sorted(_FACTORIES)


def build(name: str, **kwargs) -> Encoder:
    """Build (or fetch from the in-process cache) the encoder registered as ``name``.

    Args:
        name: registry name ("minilm", "clip", "phash", ...).
        **kwargs: factory options, e.g. ``model="openai/clip-vit-base-patch32"`` for clip.
    Returns:
        The encoder; the same object for the same (name, kwargs).
    Raises:
        OmnidexError: unknown name. EncoderUnavailable / MissingExtra from the factory.
    """
    _ensure_builtin()
    if name not in _FACTORIES:
        raise OmnidexError(f"unknown encoder '{name}'; available: {', '.join(sorted(_FACTORIES))}")
    key = (name, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    with _LOCK:
        if key not in _BUILT:
            _BUILT[key] = _FACTORIES[name](**kwargs)
        return _BUILT[key]


def clear_cache() -> None:
    """Forget built encoders (tests; freeing memory)."""
    with _LOCK:
        _BUILT.clear()
