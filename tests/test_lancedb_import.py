"""LanceDB imported with its REST-catalog client's package ``__init__`` deferred (issue 17, cold CLI
search): a local search never runs it, anything that reads from the package gets all of it, and the
hits are identical to an eager import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from omnidex.store.lancedb_import import defer_package_init


def _package(tmp_path, name: str) -> None:
    pkg = tmp_path / name
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(f"""
        import builtins
        builtins.{name}_inits = getattr(builtins, "{name}_inits", 0) + 1
        from {name}.sub.leaf import VALUE
        EXTRA = VALUE + 1
    """))
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("VALUE = 41\n")


def test_a_deferred_package_runs_its_init_once_and_only_when_read(tmp_path, monkeypatch):
    import builtins

    name = "omnidex_deferred_probe"
    _package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert defer_package_init(name) is True
        assert defer_package_init(name) is False  # already registered: left alone
        import importlib

        leaf = importlib.import_module(f"{name}.sub.leaf")  # submodules import without the __init__
        assert leaf.VALUE == 41
        assert getattr(builtins, f"{name}_inits", 0) == 0
        mod = sys.modules[name]
        assert not hasattr(mod, "__wrapped__")  # dunder probes (inspect, copy) do not load it
        assert getattr(builtins, f"{name}_inits", 0) == 0
        from omnidex_deferred_probe import EXTRA  # noqa: I001 - the first read runs the real __init__

        assert EXTRA == 42 and mod.VALUE == 41
        assert getattr(builtins, f"{name}_inits") == 1
        with pytest.raises(AttributeError):
            mod.missing_name  # noqa: B018
        assert getattr(builtins, f"{name}_inits") == 1  # never twice
    finally:
        for key in [k for k in sys.modules if k.startswith(name)]:
            del sys.modules[key]
        if hasattr(builtins, f"{name}_inits"):
            delattr(builtins, f"{name}_inits")


def test_a_failing_init_raises_on_every_read(tmp_path, monkeypatch):
    name = "omnidex_deferred_broken"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("import omnidex_no_such_dependency\nVALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert defer_package_init(name)
        mod = sys.modules[name]
        for _ in range(2):  # not a silent AttributeError the second time
            with pytest.raises(ModuleNotFoundError, match="omnidex_no_such_dependency"):
                mod.VALUE  # noqa: B018
    finally:
        sys.modules.pop(name, None)


def test_missing_or_imported_packages_are_left_alone():
    assert defer_package_init("omnidex_no_such_package_here") is False
    assert defer_package_init("json") is False  # imported already (and a plain module)


def _cold_search(db, env: dict) -> tuple[list, bool]:
    code = textwrap.dedent(f"""
        import json, sys
        from omnidex.cli import main
        status = main(["search", "how much did sales increase", "--db", {str(db)!r}, "--json", "--top-k", "10"])
        client = sys.modules.get("lance_namespace_urllib3_client")
        ran = client is not None and "ApiClient" in vars(client)
        print("CLIENT_INIT=" + json.dumps(ran), file=sys.stderr)
        sys.exit(status)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    ran = json.loads(next(ln for ln in out.stderr.splitlines() if ln.startswith("CLIENT_INIT="))[12:])
    return json.loads(out.stdout), ran


def test_a_cold_search_skips_the_catalog_client_and_finds_the_same(tmp_path):
    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.demo import write_docs

    write_docs(tmp_path / "lib")
    Index(tmp_path / "db", IndexConfig(speech=False, ocr=False)).add([tmp_path / "lib"])
    fast, ran = _cold_search(tmp_path / "db", {"OMNIDEX_EAGER_IMPORTS": "0"})
    eager, ran_eager = _cold_search(tmp_path / "db", {"OMNIDEX_EAGER_IMPORTS": "1"})
    assert ran is False and ran_eager is True
    assert fast and fast == eager


def test_the_catalog_client_is_whole_when_something_reads_it():
    code = textwrap.dedent("""
        import sys
        from omnidex.store.lancedb_import import load
        load()
        import lance_namespace_urllib3_client as c
        assert "ApiClient" not in vars(c)
        from lance_namespace_urllib3_client import ApiClient, TableApi
        assert isinstance(ApiClient, type) and isinstance(TableApi, type)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMNIDEX_EAGER_IMPORTS": "0"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
