"""Encoders are data: a name maps to a factory that returns a matched, ready bundle.

Names resolve lazily through one table, name -> ``"module:attr"`` plus what the encoder embeds (its
modalities), its dimension and what it needs installed, so listing encoders imports nothing heavy and
the registry imports none of the modules it names (no upward imports from ``omnidex.encoders``).
Third-party packages add encoders through the ``omnidex.encoders`` entry-point group
(``name = "package.module:Factory"``); ``register`` adds one at run time. Built encoders are cached per
(name, kwargs) in-process, so asking again is free.
"""
from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass
from typing import Callable

from ..errors import OmnidexError
from .base import Encoder

ENTRY_POINT_GROUP = "omnidex.encoders"


@dataclass(frozen=True)
class EncoderEntry:
    """One encoder of the table: where its factory lives and what can be told without loading it.

    Attributes:
        target: ``"module:attr"`` of the factory (a class or a function returning an Encoder).
        modalities: inputs it embeds into its space ("text", "image", "audio", "video", "series"); empty when
            only the loaded encoder can tell (third-party entry points).
        dim: vector width, or None when it depends on the model loaded.
        needs: importable modules it needs (checked with ``importlib.util.find_spec``, nothing imported).
        extra: the omnidex extra that installs them.
        files: bundled files its default model needs (relative to the omnidex package), checked for existence.
        origin: "builtin", "entry point" or "registered".
    """

    target: str
    modalities: tuple[str, ...] = ()
    dim: int | None = None
    needs: tuple[str, ...] = ()
    extra: str = ""
    files: tuple[str, ...] = ()
    origin: str = "builtin"


_T = ("torch",)
BUILTIN: dict[str, EncoderEntry] = {
    "minilm": EncoderEntry("omnidex.encoders.minilm:MiniLM", ("text",), 384, ("sentence_transformers",), "text"),
    "clip": EncoderEntry("omnidex.encoders.clip:CLIP", ("text", "image"), None, ("transformers", *_T), "clip"),
    "lit": EncoderEntry("omnidex.encoders.lit:LitEncoder", ("text", "image"), 384, ("sentence_transformers", *_T), "text",
                        ("models/lit-synth/config.json",)),
    "phash": EncoderEntry("omnidex.encoders.phash:PHash", ("image",), 195, ("PIL",), "image"),
    "clap": EncoderEntry("omnidex.encoders.clap:CLAP", ("text", "audio"), None, ("transformers", *_T), "clip"),
    "xclip": EncoderEntry("omnidex.encoders.xclip:XCLIP", ("text", "video"), None, ("transformers", *_T, "av"), "clip"),
    "videomae": EncoderEntry("omnidex.encoders.videomae:VideoMAE", ("video",), None, ("transformers", *_T, "av"), "clip"),
    "audio-lit": EncoderEntry("omnidex.audio.encoder:AudioLitEncoder", ("text", "audio"), 384,
                              ("sentence_transformers", *_T), "text", ("models/audio-lit/config.json",)),
    "series-shape": EncoderEntry("omnidex.series.encoders:SeriesShapeEncoder", ("series",), None, (), ""),
    "series-lit": EncoderEntry("omnidex.series.encoders:SeriesLitEncoder", ("text", "series"), 384,
                               ("sentence_transformers", *_T), "text", ("models/series-lit/config.json",)),
}

_REGISTERED: dict[str, Callable[..., Encoder]] = {}
_BUILT: dict[tuple, Encoder] = {}
_LOCK = threading.RLock()


def register(name: str):
    """Decorator registering a factory (class or function returning an Encoder) under ``name`` at run time.

    A built-in module's own ``@register`` line names the class the table already points at; a registered
    factory under a new name (tests, plug-ins loaded by hand) is found by ``build`` like any other.

    Args:
        name: registry name, e.g. ``"clip"``.
    Returns:
        The decorator; it returns the factory unchanged.
    """
    def deco(factory: Callable[..., Encoder]):
        if name not in BUILTIN:
            _REGISTERED[name] = factory
        return factory
    return deco


def _entry_points() -> dict[str, EncoderEntry]:
    from importlib.metadata import entry_points

    return {ep.name: EncoderEntry(ep.value, origin="entry point") for ep in entry_points(group=ENTRY_POINT_GROUP)}


def table() -> dict[str, EncoderEntry]:
    """Every known encoder: run-time registrations, then entry points, then the built-ins (which win)."""
    out = {n: EncoderEntry(f"{f.__module__}:{f.__qualname__}", origin="registered") for n, f in _REGISTERED.items()}
    out.update(_entry_points())
    out.update(BUILTIN)
    return out


def available() -> list[str]:
    """Names that ``build`` accepts.

    Returns:
        Sorted registry names.
    """
    return sorted(table())


def factory(name: str) -> Callable[..., Encoder]:
    """The factory behind ``name`` (its module is imported now, its weights are not loaded).

    Raises:
        OmnidexError: unknown name, or a target that does not resolve.
    """
    if name in _REGISTERED and name not in BUILTIN:
        return _REGISTERED[name]
    entry = table().get(name)
    if entry is None:
        raise OmnidexError(f"unknown encoder '{name}'; available: {', '.join(available())}")
    module, _, attr = entry.target.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise OmnidexError(f"encoder '{name}': cannot import {entry.target} ({exc})") from exc
    return obj


def missing(name: str) -> list[str]:
    """Modules ``name`` needs that are not installed here, and bundled files its default model lacks
    (nothing is imported to tell)."""
    from pathlib import Path

    entry = table().get(name)
    if entry is None:
        return []
    package = Path(__file__).resolve().parent.parent
    return ([m for m in entry.needs if importlib.util.find_spec(m) is None]
            + [f for f in entry.files if not (package / f).is_file()])


def describe() -> list[dict]:
    """What each encoder embeds, its dimension and whether it can load here, without loading weights.

    Returns:
        One JSON-ready dict per encoder: name, modalities, dim (None: depends on the model), target,
        origin, loadable, missing (modules), extra (what to install).
    """
    rows = []
    for name, e in sorted(table().items()):
        gone = missing(name)
        rows.append({"name": name, "modalities": list(e.modalities), "dim": e.dim, "target": e.target,
                     "origin": e.origin, "loadable": not gone, "missing": gone, "extra": e.extra})
    return rows


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
    from .._env import cache_dir

    make = factory(name)
    # the cache folder is part of the key: an encoder keeps its exports (ONNX text towers) in the folder it
    # was built under, so another folder (another OMNIDEX_CACHE) gets its own, exported there
    key = (name, str(cache_dir()), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    with _LOCK:
        if key not in _BUILT:
            _BUILT[key] = make(**kwargs)
        return _BUILT[key]


def clear_cache() -> None:
    """Forget built encoders (tests; freeing memory)."""
    with _LOCK:
        _BUILT.clear()
