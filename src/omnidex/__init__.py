"""omnidex: one local index for every modality.

Heavy modules load lazily so ``import omnidex`` and ``omnidex --help`` stay fast.
"""
from __future__ import annotations

import os

# OpenMP threads that spin while waiting collapse when cores are shared (a query encoded while an
# ingest runs, or another program is busy): a 12-layer text tower went from 90 ms to 760 ms per
# query here. Passive waiting costs little when the machine is idle. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Index", "IndexConfig", "SearchConfig", "Hit", "IngestReport", "__version__"]


def __getattr__(name: str):
    if name == "__version__":  # pyproject.toml is the one place the version is written
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("omnidex")
        except PackageNotFoundError:  # a source tree on sys.path that pip never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
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
