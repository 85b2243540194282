"""One place for heavy, optional imports: import lazily, fail with the pip command that fixes it."""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingExtra naming the extra that provides it.

    Args:
        module: dotted module name, e.g. ``"av"``.
        extra: the omnidex extra that installs it, e.g. ``"video"``.
    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtra(
            f"'{module}' is needed for this (extra '{extra}'): pip install 'omnidex[{extra}]' ({exc})"
        ) from exc
