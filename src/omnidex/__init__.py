"""omnidex: one local index for every modality.

Heavy modules load lazily so ``import omnidex`` and ``omnidex --help`` stay fast.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Index", "IndexConfig", "SearchConfig", "Hit", "IngestReport", "__version__"]


def __getattr__(name: str):
    if name == "Index":
        from .api import Index

        return Index
    if name in ("IndexConfig", "SearchConfig"):
        from . import config

        return getattr(config, name)
    if name in ("Hit", "IngestReport"):
        from . import types

        return getattr(types, name)
    raise AttributeError(name)
