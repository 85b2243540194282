"""Text searches in worker processes (omnidex.serve.pool, issue 17 item 4): the same answers as a
search in the server process, at exactly the server's snapshot, errors raised for the request, and
a worker that dies replaced while its request is answered in the server. Speed figures live in
bench/serve (the `levers` and `inproc` variants side by side)."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")

from omnidex import Index, IndexConfig  # noqa: E402
from omnidex.errors import OmnidexError  # noqa: E402
from omnidex.serve.library import Library  # noqa: E402
from omnidex.serve.pool import SearchPool, _portable, attach  # noqa: E402

CONFIG = IndexConfig(clip_model="lit:bundled", speech=False, ocr=False)
NOTES = {"harbour.txt": "The ferry to the islands leaves the harbour at nine every morning.",
         "garden.txt": "Water the tomato plants and pick the ripe peppers before the frost.",
         "violin.txt": "The violin repair shop replaced the bridge and the strings.",
         "bakery.txt": "Sourdough bread needs a starter, flour, water and a long slow rise."}
QUERIES = ["ferry to the islands", "tomato plants", "violin strings", "red stop sign", "sourdough starter",
           "a blue circle"]


@pytest.fixture(scope="module")
def served(notes_index):
    """A small index, a Library over it and a pool of two search workers."""
    corpus = notes_index("serve-pool", NOTES, CONFIG)
    lib = Library(corpus["db"], roots=[corpus["base"]], config=CONFIG, refresh_s=0.0)
    lib.warm()
    pool = attach(lib, 2)
    assert pool.wait_ready(180), pool.state()
    yield {"lib": lib, "pool": pool, **corpus}
    lib.close_pool()


def test_workers_answer_with_the_same_hits(served):
    lib, pool = served["lib"], served["pool"]
    before = pool.state()["answered"]
    for q in QUERIES:
        assert lib.search(q, top_k=8) == _in_process(lib, q, top_k=8), q
    state = pool.state()
    assert state["answered"] - before == len(QUERIES)  # the workers answered, not the server process
    assert state["ready"] == 2 and len(state["pids"]) == 2 and state["threads_each"] == 1
    assert lib.health()["search_processes"]["processes"] == 2


def test_filters_and_errors_reach_the_caller(served):
    lib = served["lib"]
    notes = lib.search("water", top_k=5, modality="text", path_glob="*garden*")
    assert notes and {h["name"] for h in notes} == {"garden.txt"}
    fid = notes[0]["id"]
    inside = lib.search("ripe peppers", in_id=fid)
    assert inside and {h["id"] for h in inside} == {fid}
    with pytest.raises(KeyError):
        lib.search("water", in_id="0" * 16)
    with pytest.raises(OmnidexError):
        lib.search("water", modality="smell")
    # an error raised inside a worker comes back as itself for the request
    with pytest.raises(OmnidexError):
        served["pool"].search(lib.snapshot().versions, text="water", modality="smell")


def test_unpicklable_errors_become_runtime_errors():
    class Local(Exception):
        pass

    assert isinstance(_portable(KeyError("x")), KeyError)
    err = _portable(Local("boom"))
    assert isinstance(err, RuntimeError) and "boom" in str(err)


def _in_process(lib, q: str, **kw) -> list[dict]:
    pool, lib.pool = lib.pool, None
    try:
        return lib.search(q, **kw)
    finally:
        lib.pool = pool


def test_a_worker_searches_the_servers_snapshot_not_the_disks(served):
    lib, base, pool = served["lib"], served["base"], served["pool"]
    lib.refresh_s = float("inf")  # the server keeps its snapshot until told to refresh
    try:
        extra = base / "extra"
        extra.mkdir()
        (extra / "kayak.txt").write_text("Rent a kayak and a paddle at the lake shore every summer weekend.")
        Index(base / "db", CONFIG).add([extra])  # committed on disk by another writer
        before = pool.state()["answered"]
        assert not any(h["name"] == "kayak.txt" for h in lib.search("kayak paddle lake", top_k=10))
        lib.refresh()
        hits = lib.search("kayak paddle lake", top_k=10)
        assert pool.state()["answered"] == before + 2
        assert hits and hits[0]["name"] == "kayak.txt"
        assert hits == _in_process(lib, "kayak paddle lake", top_k=10)
    finally:
        lib.refresh_s = 0.0


def test_a_dead_worker_is_replaced_and_its_request_answered(served):
    lib, pool = served["lib"], served["pool"]
    victim = pool._idle.get()
    victim.proc.kill()
    victim.proc.join(10)
    pool._idle.put(victim)
    # the dead worker is met by one of these; every request is still answered, with the same hits
    for q in QUERIES:
        assert lib.search(q, top_k=8) == _in_process(lib, q, top_k=8), q
    deadline = time.monotonic() + 120
    while pool.ready < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    state = pool.state()
    assert state["ready"] == 2, state
    assert any("stopped" in f for f in state["failures"])
    assert victim.proc.pid not in state["pids"]


def test_no_workers_means_searches_stay_in_process(tmp_path):
    pool = SearchPool(tmp_path, workers=0)
    assert pool.start().ready == 0
    assert pool.search({}, text="anything") is None
