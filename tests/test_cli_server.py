"""A CLI text search asks a running ``omnidex serve`` of the same index (issue 17, cold CLI search):
the same hits as searching locally, said on stderr, and never a server of another index."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from omnidex.serve import discovery


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omnidex", *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small text index and a real ``omnidex serve`` of it (a subprocess), models loaded."""
    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.demo import write_docs

    root = tmp_path_factory.mktemp("lib")
    write_docs(root)
    Index(root / "db", IndexConfig(speech=False, ocr=False)).add([root])
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "omnidex", "serve", "--db", str(root / "db"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    if not discovery.wait_ready(url, proc, timeout=240):
        proc.kill()
        pytest.fail(f"the server did not get ready: {proc.stdout.read()[-2000:]}")
    yield root, url, proc
    proc.terminate()
    proc.wait(30)


def test_a_text_search_is_answered_by_the_server_of_this_index(served):
    root, url, _ = served
    db = str(root / "db")
    assert discovery.find(db) == url
    for q in ("how much did sales increase", "what do I need for hiking"):
        remote = _cli("search", q, "--db", db, "--json", "--top-k", "5")
        local = _cli("search", q, "--db", db, "--json", "--top-k", "5", "--local")
        assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
        assert f"answered by `omnidex serve` of this index at {url}" in remote.stderr
        assert "answered by" not in local.stderr
        a, b = json.loads(remote.stdout), json.loads(local.stdout)
        assert a and [(h["path"], h["start"], h["end"]) for h in a] == [(h["path"], h["start"], h["end"]) for h in b]
        for x, y in zip(a, b):
            assert abs(x["score"] - y["score"]) < 1e-6 and x["evidence"] == y["evidence"]
    table = _cli("search", "solar roof", "--db", db)
    assert table.returncode == 0 and "answered by" in table.stderr and table.stdout.strip()


def test_omnidex_serve_answers_text_searches_in_its_worker_processes(served):
    """`omnidex serve` starts one search worker per core (two in CI); once they are up, a search the
    CLI hands to the server is answered by one of them, with the hits of a local search."""
    import httpx

    root, url, _ = served
    deadline, pool = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        pool = httpx.get(url + "/api/health", timeout=10).json()["search_processes"] or {}
        if pool.get("processes") and pool.get("ready") == pool["processes"]:
            break
        time.sleep(0.3)
    assert pool.get("processes", 0) >= 1 and pool["ready"] == pool["processes"], pool
    assert len(pool["pids"]) == pool["processes"] and pool["threads_each"] == 1
    before = pool["answered"]
    db = str(root / "db")
    remote = _cli("search", "what do I need for hiking", "--db", db, "--json", "--top-k", "5")
    local = _cli("search", "what do I need for hiking", "--db", db, "--json", "--top-k", "5", "--local")
    assert "answered by" in remote.stderr
    assert httpx.get(url + "/api/health", timeout=10).json()["search_processes"]["answered"] == before + 1
    a, b = json.loads(remote.stdout), json.loads(local.stdout)
    assert a and [(h["path"], h["start"], h["evidence"]) for h in a] == [(h["path"], h["start"], h["evidence"]) for h in b]


def test_queries_a_server_cannot_answer_the_same_way_are_searched_here(served):
    root, _, _ = served
    db = str(root / "db")
    for extra in (["--in", str(root / "notes" / "x.txt")], ["--local"]):
        out = _cli("search", "sales", "--db", db, "--json", *extra)
        assert "answered by" not in out.stderr, extra
    out = _cli("search", "'sales' - 'hiking'", "--db", db, "--json")  # arithmetic: may name local files
    assert out.returncode == 0 and "answered by" not in out.stderr
    out = _cli("search", "sales", "--db", db, "--json", env={"OMNIDEX_NO_SERVER": "1"})
    assert out.returncode == 0 and "answered by" not in out.stderr


def test_a_server_of_another_index_is_never_used(served, tmp_path):
    root, url, proc = served
    other = tmp_path / "other-db"
    other.mkdir()
    # a record that claims this live server serves another index: its health names the real one
    rec = discovery.record_path(other)
    rec.parent.mkdir(parents=True, exist_ok=True)
    rec.write_text(json.dumps({"pid": proc.pid, "url": url, "db": str(other.resolve())}))
    try:
        assert discovery.find(other) is None
        out = _cli("search", "sales", "--db", str(other), "--json")
        assert "answered by" not in out.stderr and out.returncode == 2  # searched here: no index at ...
        # a record of a process that is gone
        rec.write_text(json.dumps({"pid": 2 ** 22 + 7, "url": url, "db": str(other.resolve())}))
        assert discovery.find(other) is None
    finally:
        rec.unlink()


def test_the_record_goes_when_the_server_stops(tmp_path):
    from omnidex import Index
    from omnidex.config import IndexConfig

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.txt").write_text("a note about tide tables and ferries")
    Index(tmp_path / "db", IndexConfig(speech=False, ocr=False)).add([tmp_path / "lib"])
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "omnidex", "serve", "--db", str(tmp_path / "db"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec = discovery.record_path(tmp_path / "db")
    try:
        deadline = time.time() + 120
        while not rec.exists():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.2)
        assert json.loads(rec.read_text())["pid"] == proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
    assert not rec.exists()
