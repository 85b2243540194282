"""The GOP strip of the item view: ``GET /api/items/{id}/gop`` and its drawing in the web page.

A narrated H.264 video (fixed GOP of 25 frames, B-frames) and a picture are indexed once. The API is
checked against the file's own packets (demuxed here with PyAV) and the NAL slice types; the page is
driven in Debian's headless Chromium with Playwright (no browser download): the strip must show one
bar per frame, the keyframes marked, bar heights following the bytes, and clicking a bar seeks the
video. A screenshot goes to test-artifacts/web/gop.png.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # indexes a narrated video (speech recognition, OCR)

pytest.importorskip("fastapi")
av = pytest.importorskip("av")

from fastapi.testclient import TestClient  # noqa: E402

from omnidex import Index, IndexConfig  # noqa: E402
from omnidex.serve.app import create_app  # noqa: E402
from omnidex.serve.library import file_id  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "web"
SAID = "The lighthouse keeper counts the passing ships every night."
GOP, FPS, SECONDS = 25, 25, 4.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    root = tmp_path_factory.mktemp("gop")
    media = root / "media"
    media.mkdir()
    video = make_video(media / "harbour.mp4", [Scene(2.0, (20, 40, 160), "HARBOUR"), Scene(2.0, (20, 120, 40), "SHIPS")],
                       [Narration(0.5, SAID)], size=(320, 180), fps=FPS, gop=GOP)
    text_image("A still picture", media / "still.png", bg=(250, 200, 60), fg=(20, 20, 120))
    db = root / "db"
    report = Index(db, IndexConfig(clip_model=None, frame_fps=1.0)).add([media])
    assert report.count("indexed") == 2, report.to_dict()
    with av.open(str(video["path"])) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        facts = {"count": len(packets), "sizes": sorted(p.size for p in packets),
                 "keys": sum(p.is_keyframe for p in packets)}
    return {"root": root, "db": db, "video": video["path"], "still": media / "still.png", "packets": facts}


@pytest.fixture(scope="module")
def client(corpus):
    with TestClient(create_app(corpus["db"])) as c:
        yield c


def _id(lib_path: Path) -> str:
    return file_id(str(lib_path))


def test_gop_endpoint_lists_every_frame_with_type_size_and_keyframes(client, corpus):
    vid = _id(corpus["video"])
    r = client.get(f"/api/items/{vid}/gop")
    assert r.status_code == 200, r.text
    body = r.json()
    frames, facts = body["frames"], corpus["packets"]
    assert body["id"] == vid and body["codec"] == "h264" and not body["capped"]
    assert len(frames) == facts["count"] == int(SECONDS * FPS)
    assert sorted(f["size"] for f in frames) == facts["sizes"] and body["total_bytes"] == sum(facts["sizes"])
    assert sum(f["key"] for f in frames) == facts["keys"] == int(SECONDS * FPS) // GOP
    assert [i for i, f in enumerate(frames) if f["key"]] == list(range(0, len(frames), GOP))  # display order
    assert all(f["type"] == "I" for f in frames if f["key"])
    assert body["counts"]["B"] > 0 and body["counts"]["P"] > 0 and body["counts"]["?"] == 0
    times = [f["pts_time"] for f in frames]
    assert times == sorted(times)
    capped = client.get(f"/api/items/{vid}/gop", params={"max": 30}).json()
    assert len(capped["frames"]) == 30 and capped["capped"] is True


def test_gop_endpoint_refuses_what_has_no_gop(client, corpus):
    r = client.get(f"/api/items/{_id(corpus['still'])}/gop")
    assert r.status_code == 422 and "only videos" in r.json()["message"]
    assert client.get("/api/items/0123456789abcdef/gop").status_code == 404
    assert client.get("/api/items/not-an-id/gop").status_code == 404
    assert client.get(f"/api/items/{_id(corpus['video'])}/gop", params={"max": 0}).status_code == 422


# ------------------------------------------------------------------ the page
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(corpus):
    uvicorn = pytest.importorskip("uvicorn")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(corpus["db"]), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert thread.is_alive() and time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_the_item_view_draws_the_gop_strip(server, corpus):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.set_default_timeout(20000)
            page.goto(server + "/?q=lighthouse+keeper+ships")
            page.wait_for_selector("#results .card")
            page.locator("#results .card").first.click()
            page.wait_for_selector("#gop-box:not([hidden]) .gop-frame")
            frames = page.locator("#gop .gop-frame")
            count = corpus["packets"]["count"]
            assert frames.count() == count
            keys = page.locator("#gop .gop-frame.key")
            assert keys.count() == corpus["packets"]["keys"]
            assert "t-I" in keys.first.get_attribute("class") and "key" in frames.first.get_attribute("class")
            assert page.locator("#gop .gop-frame.t-B").count() > 0 and page.locator("#gop .gop-frame.t-P").count() > 0
            # heights follow the bytes: the largest frame draws the tallest bar, a smaller one a shorter bar
            sized = page.eval_on_selector_all(
                "#gop .gop-frame", "els => els.map(e => [Number(e.dataset.size), e.getBoundingClientRect().height])")
            biggest = max(sized)
            assert max(h for _, h in sized) == biggest[1]
            smallest = min(sized)
            assert smallest[1] < biggest[1] and smallest[0] < biggest[0]
            summary = page.locator("#gop-summary").inner_text()
            assert f"{count} frames" in summary and f"{corpus['packets']['keys']} keyframes" in summary
            assert "Frames by size and type" in page.locator("#gop").get_attribute("aria-label")
            # a click on the second GOP's keyframe seeks the video to it
            keys.nth(1).click()
            page.wait_for_function("t => Math.abs(document.querySelector('#stage video').currentTime - t) < 0.1",
                                   arg=GOP / FPS)
            page.evaluate("document.querySelector('#stage video').pause()")
            path = SHOTS / "gop.png"
            page.locator("#player").screenshot(path=str(path))
            assert path.stat().st_size > 5000
        finally:
            browser.close()
    assert not errors, errors
