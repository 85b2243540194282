"""A server that shares its cores: concurrent searches, bounded heavy requests, readiness, ingest apart.

Speed figures live in bench/serve (``make bench-serve``); these tests check behaviour only.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from omnidex import Index, IndexConfig  # noqa: E402
from omnidex.serve import library as library_mod  # noqa: E402
from omnidex.serve.app import create_app  # noqa: E402
from omnidex.serve.jobs import INGEST_NICE, Jobs  # noqa: E402
from omnidex.serve.library import Library  # noqa: E402

CONFIG = IndexConfig(clip_model="lit:bundled", speech=False, ocr=False)
NOTES = {"harbour.txt": "The ferry to the islands leaves the harbour at nine every morning.",
         "garden.txt": "Water the tomato plants and pick the ripe peppers before the frost.",
         "budget.md": "# Budget meeting\n\nMarketing moves to next year; we hire two engineers.",
         "violin.txt": "The violin repair shop replaced the bridge and the strings."}
QUERIES = ["ferry to the islands", "tomato plants", "budget meeting", "violin strings", "red stop sign",
           "yellow poster", "engineers", "harbour at nine"]


@pytest.fixture(scope="module")
def corpus(notes_index):
    """Four notes and two text pictures, indexed with the bundled image-text model."""
    return notes_index("serve-concurrency", NOTES, CONFIG)


@pytest.fixture(scope="module")
def lib(corpus):
    library = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    library.warm()
    return library


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(lib):
    """The app under a real uvicorn on 127.0.0.1 (in a thread)."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(lib.db, library=lib), host="127.0.0.1", port=port,
                                        log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(10)


def _ranked(hits: list[dict]) -> list[tuple]:
    return [(h["name"], h["start"], h["end"], h["score"]) for h in hits]


def test_concurrent_searches_match_sequential_ones(server, corpus):
    """16 clients at once over HTTP (text and picture queries): every answer is 200 and the same
    ranking, with the same scores, as the same query asked alone (pictures stay within the heavy
    slots and their queue, so none is refused)."""
    import httpx

    picture = (corpus["media"] / "sign.jpg").read_bytes()

    def ask(http, i: int):
        if i % 8 == 7:  # a picture query (torch image tower under its lock); 5 in all: never over 2 slots + 4 waiting
            r = http.post("/api/search", files={"image": ("sign.jpg", picture, "image/jpeg")}, data={"top_k": "5"})
        else:
            r = http.get("/api/search", params={"q": QUERIES[i % len(QUERIES)], "top_k": 5})
        return r.status_code, _ranked(r.json().get("hits", []))

    n = 40
    with httpx.Client(base_url=server, timeout=120) as http:
        alone = {i: ask(http, i) for i in range(8)}  # one of each kind, one at a time
        assert all(status == 200 and hits for status, hits in alone.values()), alone
        with ThreadPoolExecutor(16) as pool:
            together = list(pool.map(lambda i: ask(http, i), range(n)))
    assert [status for status, _ in together] == [200] * n
    for i, (_, hits) in enumerate(together):
        assert hits == alone[i % 8][1], (i, QUERIES[i % len(QUERIES)])


def test_torch_encoders_are_called_one_at_a_time(lib):
    """The shared encoders: a torch tower's calls never overlap; an ONNX text tower's may."""
    enc = lib.snapshot().searcher.models.encoder("visual")
    assert isinstance(enc, library_mod._Guarded)
    inside, peak, guard = [0], [0], threading.Lock()
    real = enc.wrapped.encode_image

    def counting(images):
        with guard:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.02)
        try:
            return real(images)
        finally:
            with guard:
                inside[0] -= 1

    from PIL import Image

    enc.wrapped.encode_image = counting
    try:
        img = Image.new("RGB", (64, 64), (200, 20, 20))
        with ThreadPoolExecutor(8) as pool:
            vecs = list(pool.map(lambda _: enc.encode_image([img]), range(16)))
    finally:
        del enc.wrapped.encode_image
    assert peak[0] == 1 and len(vecs) == 16 and all(v.shape == vecs[0].shape for v in vecs)
    text = lib.snapshot().searcher.models.encoder("text")
    if str(getattr(text.wrapped, "runtime", "")).startswith("onnx"):
        assert text.encode_text == text.wrapped.encode_text  # called directly: sessions are thread-safe


def test_full_heavy_queue_answers_503_with_retry_after(corpus):
    """Every heavy slot taken and the queue full: classify and picture searches get 503 + Retry-After
    at once (not after a wait); when the slots free up, the same request succeeds."""
    from omnidex.serve.limits import HeavySlots

    library = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    library.heavy = HeavySlots(slots=1, queue=1, wait_s=30)
    release, holding = threading.Event(), threading.Barrier(3)

    def hold():
        with library.heavy.slot():
            holding.wait()
            release.wait(30)

    def queued():
        holding.wait()
        with library.heavy.slot():
            pass

    picture = (corpus["media"] / "sign.jpg").read_bytes()
    with TestClient(create_app(corpus["db"], library=library)) as client:
        threads = [threading.Thread(target=hold), threading.Thread(target=queued)]
        for t in threads:
            t.start()
        holding.wait()
        deadline = time.time() + 10
        while library.heavy.state()["waiting"] < 1:
            assert time.time() < deadline
            time.sleep(0.01)
        t0 = time.perf_counter()
        r = client.post("/api/classify", data={"labels": "stop sign,beach"},
                        files={"file": ("sign.jpg", picture, "image/jpeg")})
        s = client.post("/api/search", files={"image": ("sign.jpg", picture, "image/jpeg")})
        waited = time.perf_counter() - t0
        assert r.status_code == 503 and s.status_code == 503, (r.text, s.text)
        assert int(r.headers["Retry-After"]) > 0 and int(s.headers["Retry-After"]) > 0
        assert r.json()["status"] == 503 and "busy" in r.json()["message"]
        assert waited < 5  # refused at once, not after HEAVY_WAIT_S
        assert client.get("/api/search", params={"q": "stop sign"}).status_code == 200  # text searches go on
        release.set()
        for t in threads:
            t.join(30)
        ok = client.post("/api/classify", data={"labels": "stop sign,beach"},
                         files={"file": ("sign.jpg", picture, "image/jpeg")})
        assert ok.status_code == 200 and ok.json()["labels"]


def test_full_index_queue_answers_503(corpus, monkeypatch):
    """One job running and ``max_queued`` waiting: the next POST /api/index is refused with 503."""
    library = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    app = create_app(corpus["db"], library=library)
    jobs = app.state.jobs
    jobs.max_queued = 1
    gate = threading.Event()
    monkeypatch.setattr(jobs, "_run_in_thread", lambda *a: (gate.wait(30), ({"interrupted": False}, []))[1])
    with TestClient(app) as client:
        body = {"paths": [str(corpus["media"] / "harbour.txt")]}
        first = client.post("/api/index", json=body).json()["job_id"]
        deadline = time.time() + 10
        while jobs.status(first)["state"] != "running":
            assert time.time() < deadline
            time.sleep(0.01)
        assert client.post("/api/index", json=body).status_code == 202  # waits behind the first
        refused = client.post("/api/index", json=body)
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        assert "waiting" in refused.json()["message"]
        gate.set()
        assert jobs.wait(first, timeout=30)["state"] == "done"


def test_health_reports_readiness_before_and_after_loading(corpus, monkeypatch):
    """/api/health answers while the models load (ready false, which are loading) and says ready after."""
    library = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    client = TestClient(create_app(corpus["db"], library=library, preload=False))
    before = client.get("/api/health").json()
    assert before["ready"] is False and before["models"] == {}
    gate, real = threading.Event(), library_mod._load_space

    def slow(searcher, space):
        gate.wait(30)
        return real(searcher, space)

    monkeypatch.setattr(library_mod, "_load_space", slow)
    loader = library.start_loading()
    deadline = time.time() + 10
    while (during := client.get("/api/health").json())["models"].get("text") != "loading":
        assert time.time() < deadline, during
        time.sleep(0.01)
    assert during["ready"] is False and during["models"]["visual"] == "waiting"
    gate.set()
    loader.join(60)
    after = client.get("/api/health").json()
    assert after["ready"] is True and after["loading_s"] >= 0
    assert after["models"] == {"text": "ready", "visual": "ready", "phash": "ready", "reranker": "ready",
                               "warm-up": "ready"}
    assert after["search_workers"] >= 2


def test_index_job_in_a_niced_worker_process(corpus, tmp_path):
    """The ingest runs in its own process at lower priority; its commits reach the server's searches."""
    media = tmp_path / "more"
    media.mkdir()
    (media / "kite.txt").write_text("The kite festival on the beach starts at noon on Sunday.\n")
    (media / "lantern.txt").write_text("Lanterns float down the river after the parade.\n")
    db = tmp_path / "db"
    Index(db, CONFIG).add([corpus["media"] / "harbour.txt"])
    library = Library(db, roots=[media, corpus["media"]], config=CONFIG)
    jobs = Jobs(library, mode="process")
    try:
        state = jobs.wait(jobs.start([str(media)]), timeout=300)
        assert state["state"] == "done", state
        assert state["report"]["indexed"] == 2 and state["total"] == 2
        pid = jobs._process.proc.pid
        assert pid != os.getpid() and os.getpriority(os.PRIO_PROCESS, pid) >= INGEST_NICE
        assert library.search("kite festival")[0]["name"] == "kite.txt"
        again = jobs.wait(jobs.start([str(media / "missing.txt")]), timeout=120)  # a failure is reported
        assert again["state"] in ("done", "failed")
        assert jobs._process.proc.pid == pid  # the process (and its loaded encoders) is kept
    finally:
        jobs.close()
    assert not jobs._process


def test_page_shows_models_loading_until_ready(corpus, monkeypatch):
    """The web page's status line names the models still loading, and drops the note once ready."""
    from pathlib import Path

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    import uvicorn

    library = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    gate, real = threading.Event(), library_mod._load_space
    monkeypatch.setattr(library_mod, "_load_space", lambda s, space: (gate.wait(60), real(s, space))[1])
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(corpus["db"], library=library), host="127.0.0.1", port=port,
                                        log_level="warning"))  # preload: loading starts, held at the gate
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    try:
        while not srv.started:
            time.sleep(0.05)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            # a locator assertion, not wait_for_function: the page's CSP forbids evaluating strings
            sync_api.expect(page.locator("#stats")).to_contain_text("loading models: text", timeout=30_000)
            assert "visual" in page.locator("#stats").inner_text()
            gate.set()
            deadline = time.time() + 60  # polled from here: the page's CSP forbids Playwright's polling eval
            while "loading" in (text := page.locator("#stats").inner_text()):
                assert time.time() < deadline, text
                time.sleep(0.2)
            assert "files" in text and library.health()["ready"] is True
            browser.close()
    finally:
        gate.set()
        srv.should_exit = True
        th.join(10)
