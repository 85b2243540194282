"""Importing LanceDB without paying for its REST-catalog client.

``import lancedb`` takes about 1.4 s on a small machine, and 0.45 s of that is
``lance_namespace_urllib3_client``: a generated HTTP client for LanceDB's namespace/catalog
service whose package ``__init__`` imports every API class (pydantic-validated methods, built at
import). A local index never calls it, but ``lancedb.db`` imports ``lance_namespace``, whose
models come from that package, so the whole client loads on every ``omnidex search``.

:func:`load` imports LanceDB with that one package's ``__init__`` deferred: the package object
exists (its submodules import normally, as ``lance_namespace`` needs its models), and the real
``__init__`` runs the first time anything reads a name from the package itself. A remote or
namespace connection therefore gets the complete client; a local search never runs its
``__init__``. Set ``OMNIDEX_EAGER_IMPORTS=1`` to import everything the ordinary way.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

DEFERRED = ("lance_namespace_urllib3_client",)
_lock = threading.RLock()


def defer_package_init(name: str) -> bool:
    """Register package ``name`` with its ``__init__`` not yet run (it runs on the first attribute
    read from the package). Returns False (and changes nothing) when the package is already
    imported, is missing, or is not a plain source package."""
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations or not spec.origin or not spec.origin.endswith(".py"):
        return False
    module = types.ModuleType(name)
    module.__spec__ = spec
    module.__file__ = spec.origin
    module.__path__ = list(spec.submodule_search_locations)
    module.__package__ = name
    module.__loader__ = spec.loader
    ran = []

    def __getattr__(attr: str):
        if attr.startswith("__") and attr.endswith("__") and attr not in ("__all__", "__version__"):
            raise AttributeError(attr)  # dunder probes (copy, pickle, inspect) do not load the package
        with _lock:
            if not ran:
                ran.append(True)
                try:
                    with open(spec.origin, encoding="utf-8") as f:
                        code = compile(f.read(), spec.origin, "exec")
                    exec(code, module.__dict__)  # noqa: S102 - the package's own __init__, as import would run it
                except BaseException:
                    ran.clear()  # the next read tries again and raises what went wrong, as an import would
                    raise
        if attr in module.__dict__:
            return module.__dict__[attr]
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__
    sys.modules[name] = module
    return True


def load():
    """``import lancedb``, with the catalog client's package ``__init__`` deferred (see module doc).

    Returns:
        The ``lancedb`` module.
    """
    if "lancedb" in sys.modules:
        return sys.modules["lancedb"]
    with _lock:
        if os.environ.get("OMNIDEX_EAGER_IMPORTS", "") not in ("1", "true", "yes"):
            for name in DEFERRED:
                defer_package_init(name)
        return importlib.import_module("lancedb")
