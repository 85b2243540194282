"""Finding a running ``omnidex serve`` for an index, so a CLI text search can ask it.

A server that binds a loopback address without a token records itself in
``<cache>/servers/<hash of the index path>.json`` (pid, URL, index path) while it runs. A CLI
search for the *same* index (the resolved paths must be equal, and the server's ``/api/health``
must say so too) sends its text query there instead of loading LanceDB and the query models:
the models are already warm in the server. Anything else (no record, a dead pid, another index, a
server still loading its models, a token, a slow or failing answer) means the CLI searches
locally, as it always did. Nothing here imports more than the standard library.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from .._env import cache_dir

TIMEOUT_S = 2.0  # a live local server answers health in milliseconds; beyond this, search here


def _key(db: str | Path) -> str:
    return hashlib.sha256(str(Path(db).resolve()).encode()).hexdigest()[:24]


def record_path(db: str | Path) -> Path:
    """Where a server for index ``db`` is recorded."""
    return cache_dir() / "servers" / f"{_key(db)}.json"


def register(db: str | Path, url: str) -> Path:
    """Record this process as the server of index ``db`` at ``url`` (written atomically).

    Returns:
        The record's path (pass it to :func:`unregister`).
    """
    path = record_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url, "db": str(Path(db).resolve()), "since": time.time()}))
    os.replace(tmp, path)
    return path


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit (so ``finally`` blocks run) where it would kill the process outright."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def unregister(path: Path) -> None:
    """Remove a record this process wrote (one another server wrote since is left alone)."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _get(url: str, timeout: float) -> dict:
    from urllib.request import Request, urlopen

    req = Request(url, headers={"Accept": "application/json"})
    with urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a loopback URL this user's server recorded
        return json.loads(resp.read().decode())


def find(db: str | Path, timeout: float = TIMEOUT_S) -> str | None:
    """The base URL of a running, ready server for exactly index ``db``, or None."""
    try:
        rec = json.loads(record_path(db).read_text())
        want = str(Path(db).resolve())
        if rec.get("db") != want or not _alive(int(rec["pid"])):
            return None
        url = str(rec["url"]).rstrip("/")
        if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            return None
        health = _get(f"{url}/api/health", timeout)
        if health.get("status") != "ok" or not health.get("ready") or str(Path(health.get("db", "")).resolve()) != want:
            return None
        return url
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wait_ready(url: str, process=None, timeout: float = 240.0) -> bool:
    """Wait until the server at ``url`` answers ``/api/health`` with ``ready``; False when
    ``process`` (a ``subprocess.Popen`` running it) ends first or ``timeout`` seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            if _get(f"{url.rstrip('/')}/api/health", 2.0).get("ready"):
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    return False


def search(url: str, query: str, top_k: int, modality: str = "", path_glob: str | None = None,
           timeout: float = 30.0) -> list[dict]:
    """A text search answered by the server at ``url``: its hit dicts (``Hit.to_dict()`` plus id,
    name, kind and URLs)."""
    from urllib.parse import urlencode

    params = {"q": query, "top_k": top_k}
    if modality:
        params["modality"] = modality
    if path_glob:
        params["path"] = path_glob
    return _get(f"{url}/api/search?{urlencode(params)}", timeout)["hits"]
