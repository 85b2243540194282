"""Security of the HTTP API: roots and ids, symlinks, uploads, tokens, hosts, origins, filters, fuzzing."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from omnidex import Index, IndexConfig  # noqa: E402
from omnidex.serve.app import create_app  # noqa: E402
from omnidex.serve.library import Library, file_id  # noqa: E402

SECRET = b"root:x:0:0:TOPSECRET-do-not-serve\n"
CONFIG = IndexConfig(clip_model=None, speech=False, ocr=False, follow_symlinks=True)
HOSTILE = ["' OR 1=1 --", "'", "''", '"', "\\", "\\'", "a'b\"c\\", "%", "%%", "_", "*", "**/*", "[", "[!a]",
           "') OR ('1'='1", "path = path", "x; DROP TABLE files; --", "\u0000", "é'💥", "../../etc/passwd"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """media/ (the root) holds documents, an image and a symlink to outside/secret.txt; outside/ is
    indexed too (so it has an id) but is not a served root."""
    from omnidex.testing.mediagen import text_image

    base = tmp_path_factory.mktemp("serve-sec")
    media, outside = base / "media", base / "outside"
    media.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (media / "budget.txt").write_text("Budget meeting: move the marketing budget to next year.\n")
    (media / "garden.txt").write_text("Water the tomato plants every morning in the garden.\n")
    (media / "later.txt").write_text("A file that will be swapped for a symlink after indexing.\n")
    text_image("HELLO", media / "hello.png")
    os.symlink(outside / "secret.txt", media / "link.txt")
    db = base / "db"
    report = Index(db, CONFIG).add([media, outside / "secret.txt"])
    assert report.count("indexed") == 6, report.to_dict()
    lib = Library(db, roots=[media], config=CONFIG)
    lib.warm()
    return {"base": base, "media": media, "outside": outside, "db": db, "lib": lib}


@pytest.fixture(scope="module")
def client(setup):
    with TestClient(create_app(setup["db"], library=setup["lib"], upload_limit_mb=1)) as c:
        yield c


def _ok(r, *codes):
    assert r.status_code in codes, (r.status_code, r.text)
    assert SECRET not in r.content and b"TOPSECRET" not in r.content
    return r


# ----- files only from the roots, only by id -------------------------------------------------------
def test_ids_outside_roots_and_symlink_escapes_are_refused(client, setup):
    secret_id = file_id(str(setup["outside"] / "secret.txt"))
    link_id = file_id(str(setup["media"] / "link.txt"))
    for fid in (secret_id, link_id):
        assert fid in setup["lib"].snapshot().ids  # indexed, so the id is known ...
        for url in (f"/media/{fid}", f"/api/thumb/{fid}", f"/api/thumb/{fid}?t=0&w=64", f"/api/items/{fid}",
                    f"/api/items/{fid}/transcript"):
            _ok(client.get(url), 403)  # ... but never served, nor its indexed text
        _ok(client.get(f"/media/{fid}", headers={"Range": "bytes=0-10"}), 403)
        with pytest.raises(PermissionError):
            setup["lib"].resolve(fid)
    hits = _ok(client.get("/api/search", params={"q": "root do not serve"}), 200).json()["hits"]
    assert secret_id not in {h["id"] for h in hits}  # its text is indexed, but search does not show it
    ok = client.get(f"/media/{file_id(str(setup['media'] / 'budget.txt'))}")
    assert ok.status_code == 200 and ok.content.startswith(b"Budget meeting")


def test_default_roots_refuse_a_symlink_swapped_in_after_indexing(setup, tmp_path):
    lib = Library(setup["db"], config=CONFIG)  # roots: the folders holding indexed files
    later = setup["media"] / "later.txt"
    fid = file_id(str(later))
    assert lib.resolve(fid) == later.resolve()
    with TestClient(create_app(setup["db"], library=lib)) as c:
        assert c.get(f"/media/{fid}").status_code == 200
        original = later.read_bytes()
        later.unlink()
        os.symlink("/etc/passwd", later)
        try:
            r = c.get(f"/media/{fid}")
            assert r.status_code == 403 and b"root:" not in r.content
        finally:
            later.unlink()
            later.write_bytes(original)


TRAVERSALS = ["../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "%252e%252e%252f%252e%252e%252fetc%252fpasswd", "%2Fetc%2Fpasswd", "/etc/passwd",
              "....//....//etc/passwd", "..\\..\\etc\\passwd", "%00", "0123456789abcdef/../../x"]


@pytest.mark.parametrize("prefix", ["/media/", "/api/thumb/", "/api/items/"])
def test_traversal_attempts(client, setup, prefix):
    for attack in TRAVERSALS + [str(setup["outside"] / "secret.txt"), "%2F" + str(setup["outside"] / "secret.txt")[1:]]:
        _ok(client.get(prefix + attack), 403, 404, 422)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raw_get(port: int, target: str) -> bytes:
    """Send a request line exactly as given (no client-side normalisation of dot segments)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_raw_dot_segments_over_a_real_socket(client, setup):
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline
        time.sleep(0.05)
    try:
        for prefix in ("/media/", "/api/thumb/", "/api/items/", "/static/"):
            for attack in TRAVERSALS:
                reply = _raw_get(port, prefix + attack)
                status = int(reply.split(b" ", 2)[1])
                assert status in (400, 403, 404, 422), (prefix + attack, reply[:200])
                assert b"TOPSECRET" not in reply and b"root:x:0:0" not in reply
        assert b"200 OK" in _raw_get(port, "/api/health")
    finally:
        srv.should_exit = True
        th.join(10)


# ----- uploads -------------------------------------------------------------------------------------
def test_oversized_upload_is_413(client):
    big = b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024 + 10)
    r = client.post("/api/search", files={"image": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "larger" in r.json()["message"]

    def chunked():  # no Content-Length: counted while it streams
        for _ in range(3):
            yield bytes(600 * 1024)

    r = client.post("/api/search", content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_wrong_type_is_415(client, setup):
    text = b"just some words, not a picture at all\n"
    r = client.post("/api/search", files={"image": ("fake.png", text, "image/png")})
    assert r.status_code == 415 and "image" in r.json()["message"]
    png = (setup["media"] / "hello.png").read_bytes()
    assert client.post("/api/search", files={"audio": ("a.wav", png, "audio/wav")}).status_code == 415
    assert client.post("/api/classify", files={"file": ("x.png", text, "image/png")},
                       data={"labels": "a,b"}).status_code == 415
    assert client.post("/api/search", files={"image": ("e.png", b"x" * 0 + b"\0", "image/png")}).status_code in (400, 415)


def test_malformed_multipart_is_a_client_error(client):
    cases = [
        (b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\nabc", "multipart/form-data; boundary=b"),
        (b"garbage without any boundary", "multipart/form-data"),
        (b"--b\r\nno headers here\r\n--b--\r\n", "multipart/form-data; boundary=b"),
        (b"\xff\xfe\x00", "multipart/form-data; boundary=\"\""),
    ]
    for body, ctype in cases:
        r = client.post("/api/search", content=body, headers={"content-type": ctype})
        assert r.status_code in (400, 415, 422), (ctype, r.status_code, r.text)
        assert "error" in r.json()


# ----- filters are data, never SQL --------------------------------------------------------------
def test_hostile_filters(client, setup):
    base = client.get("/api/search", params={"q": "budget meeting", "top_k": 50}).json()["hits"]
    base_ids = {(h["id"], h["start"]) for h in base}
    assert base and base[0]["name"] == "budget.txt"
    for s in HOSTILE:
        r = client.get("/api/search", params={"q": "budget meeting", "path": s, "top_k": 50})
        assert r.status_code in (200, 400), (s, r.text)
        hits = r.json().get("hits", [])
        assert {(h["id"], h["start"]) for h in hits} <= base_ids, s
        if s in ("' OR 1=1 --", "'", "%", "\\", "x; DROP TABLE files; --", "path = path"):
            assert hits == [], s
        r = client.get("/api/search", params={"q": s, "top_k": 5})
        assert r.status_code in (200, 400), (s, r.text)
        r = client.get("/api/search", params={"q": "budget", "modality": s})
        assert r.status_code == 400 and "modality" in r.json()["message"], s
        r = client.get("/api/search", params={"q": "budget", "in": s})
        assert r.status_code == 404, s
        r = client.post("/api/search", data={"q": "budget", "path": s})
        assert r.status_code in (200, 400), s
    assert client.get("/api/search", params={"q": "budget", "path": "*"}).json()["hits"]
    # the index is untouched
    assert client.get("/api/health").json()["files"] == 6


# ----- tokens, hosts, origins, CORS ---------------------------------------------------------------
def test_token_required_when_configured(setup):
    with TestClient(create_app(setup["db"], library=setup["lib"], token="s3cret-token")) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
            r = c.get("/api/health", headers=headers)
            assert r.status_code == 401 and r.json()["message"], headers
        fid = file_id(str(setup["media"] / "budget.txt"))
        assert c.get(f"/media/{fid}").status_code == 401
        assert c.get(f"/media/{fid}?token=nope").status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get(f"/media/{fid}?token=s3cret-token").content.startswith(b"Budget")
        page = c.get("/?token=s3cret-token")
        assert page.status_code == 200 and "omnidex_token" in page.headers.get("set-cookie", "")
        assert "set-cookie" not in c.get("/?token=guess").headers  # the page is public: no cookie for a guess
        c.cookies.clear()
        c.cookies.set("omnidex_token", "s3cret-token")
        assert c.get("/api/health").status_code == 200
        c.cookies.clear()
        assert c.get("/").status_code == 200  # the page itself holds no data
        # with a token, any Host is fine (it is the guard, not the Host)
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret-token", "Host": "box.lan:8765"}).status_code == 200


def test_foreign_host_refused_without_token(client):
    r = client.get("/api/health", headers={"Host": "evil.example:8765"})
    assert r.status_code == 403
    assert client.get("/api/health", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "[::1]:8765"}).status_code == 200


def test_cross_site_post_refused(client, setup):
    r = client.post("/api/index", json={"paths": [str(setup["media"])]}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/search", data={"q": "budget"}, headers={"Origin": "http://testserver"})
    assert r.status_code == 200


def test_cors_closed_by_default_and_opt_in(client, setup):
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "authorization"}
    r = client.options("/api/search", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/api/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(setup["db"], library=setup["lib"], cors=["http://ok.example"], token="t0k")) as c:
        r = c.options("/api/search", headers={**pre, "Origin": "http://ok.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://ok.example"
        r = c.options("/api/search", headers=pre)
        assert "access-control-allow-origin" not in r.headers
        r = c.get("/api/health", headers={"Origin": "http://ok.example", "Authorization": "Bearer t0k"})
        assert r.headers["access-control-allow-origin"] == "http://ok.example"


def test_index_paths_must_lie_inside_roots(client, setup):
    for paths in ([str(setup["outside"])], ["/etc"], [str(setup["media"] / ".." / "outside")], ["../../"]):
        r = client.post("/api/index", json={"paths": paths})
        assert r.status_code == 403, paths
    r = client.post("/api/index", json={"paths": [str(setup["media"])]})
    assert r.status_code == 202
    assert client.app.state.jobs.wait(r.json()["job_id"], timeout=60)["state"] == "done"


# ----- fuzzing --------------------------------------------------------------------------------------
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_errors(client):
    """Schemathesis: generated requests for every operation of /openapi.json never get a 5xx."""
    from hypothesis import given

    ops = _operations(client.app)
    assert {op.label for op in ops} >= {"GET /api/search", "POST /api/search", "GET /media/{file_id}",
                                        "POST /api/index", "POST /api/classify", "GET /api/thumb/{file_id}"}
    for op in ops:
        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            response = case.call()
            case.validate_response(response, checks=[schemathesis.checks.not_a_server_error])

        fuzz()


def test_range_and_thumb_parameters_never_crash(client, setup):
    """Random Range headers and thumbnail parameters on a real file: a 2xx/4xx, right bytes when 206."""
    from hypothesis import given
    from hypothesis import strategies as st

    path = setup["media"] / "garden.txt"
    data = path.read_bytes()
    fid = file_id(str(path))
    nums = st.integers(min_value=0, max_value=2 * len(data)).map(str) | st.just("")
    ranges = st.builds(lambda a, b: f"bytes={a}-{b}", nums, nums) | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)

    @given(header=ranges)
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def ranged(header):
        r = client.get(f"/media/{fid}", headers={"Range": header})
        assert r.status_code in (200, 206, 416), (header, r.status_code)
        if r.status_code == 206:
            a, b = (int(x) for x in r.headers["content-range"].split()[1].split("/")[0].split("-"))
            assert r.content == data[a:b + 1]
        elif r.status_code == 200:
            assert r.content == data

    @given(t=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12) | st.none(),
           w=st.integers(min_value=-10, max_value=5000))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def thumbs(t, w):
        params = {"w": w} if t is None else {"w": w, "t": t}
        r = client.get(f"/api/thumb/{file_id(str(setup['media'] / 'hello.png'))}", params=params)
        assert r.status_code in (200, 422), (t, w, r.status_code)

    ranged()
    thumbs()


# ----- hardening (issue 18) ---------------------------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds no pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _no_internals(r, name: str):
    body = r.json()
    assert set(body) >= {"error", "message", "status"} and body["status"] == r.status_code
    assert "omnidex-upload" not in r.text and "omnidex-query" not in r.text and "/tmp" not in r.text, r.text
    assert name in body["message"], body
    return body


def test_a_bomb_or_a_broken_picture_gets_the_same_answer_on_search_and_classify(client, setup):
    hello = (setup["media"] / "hello.png").read_bytes()
    cases = {"bomb.png": (_png_header(12000, 12000), "image_too_large"),
             "wide.png": (_png_header(7200, 7200), "image_too_large"),  # 51.8 Mpx: under the ingest cap, over the query cap
             "cut.png": (hello[: len(hello) // 2], "unreadable_media")}
    for name, (data, code) in cases.items():
        found = client.post("/api/search", files={"image": (name, data, "image/png")})
        labelled = client.post("/api/classify", files={"file": (name, data, "image/png")}, data={"labels": "a,b"})
        for r in (found, labelled):
            assert r.status_code == 422, (name, r.text)
            assert _no_internals(r, name)["error"] == code


def test_labels_and_query_lengths_are_capped(client):
    png = b"\x89PNG"  # never read: the labels are refused first
    many = ",".join(f"label{i}" for i in range(65))
    r = client.post("/api/classify", files={"file": ("x.png", png, "image/png")}, data={"labels": many})
    assert r.status_code == 400 and "at most 64" in r.json()["message"]
    r = client.post("/api/classify", data={"labels": "x" * 101, "id": "0123456789abcdef"})
    assert r.status_code == 400 and "100 characters" in r.json()["message"]
    assert client.post("/api/classify", data={"labels": "a," * 5000}).status_code == 422  # longer than the form allows
    assert client.get("/api/search", params={"q": "x" * 2001}).status_code == 422
    assert client.post("/api/search", data={"q": "x" * 2001}).status_code == 422


def test_security_headers_on_every_answer_and_an_httponly_cookie(setup):
    fid = file_id(str(setup["media"] / "budget.txt"))
    with TestClient(create_app(setup["db"], library=setup["lib"], token="s3cret-token")) as c:
        auth = {"Authorization": "Bearer s3cret-token"}
        answers = {"/": c.get("/"), "/docs": c.get("/docs"), "/static/app.js": c.get("/static/app.js"),
                   "/api/health": c.get("/api/health", headers=auth), "media": c.get(f"/media/{fid}", headers=auth),
                   "401": c.get("/api/health"), "404": c.get("/nope", headers=auth)}
        for what, r in answers.items():
            assert r.headers["x-content-type-options"] == "nosniff", what
            assert r.headers["referrer-policy"] == "no-referrer", what
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], what
        assert "script-src 'self'" in answers["/"].headers["content-security-policy"]
        assert "sandbox" in answers["media"].headers["content-security-policy"]
        cookie = c.get("/?token=s3cret-token").headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie


def test_docs_load_nothing_from_elsewhere(client):
    import re

    r = client.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert "<script" not in html.lower()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(ref.startswith(("/", "#")) for ref in refs), refs
    assert "/api/search" in html and "ErrorOut" in html
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert client.get("/static/docs.css").status_code == 200
    assert client.get("/redoc").status_code == 404 and client.get("/docs/oauth2-redirect").status_code == 404


def test_options_and_405_name_every_method_and_null_file_parts_mean_no_file(client):
    r = client.options("/api/search")
    assert r.status_code == 204 and {"GET", "POST"} <= set(r.headers["allow"].replace(" ", "").split(","))
    r = client.put("/api/search")
    assert r.status_code == 405 and "POST" in r.headers["allow"] and r.json()["error"] == "method_not_allowed"
    for text in ("null", ""):
        r = client.post("/api/search", data={"q": "budget", "image": text, "audio": text})
        assert r.status_code == 200, (text, r.text)
    r = client.post("/api/search", data={"q": "budget", "image": "some words"})
    assert r.status_code == 400 and "not text" in r.json()["message"]


def test_a_range_with_thousands_of_digits_is_416(client, setup):
    fid = file_id(str(setup["media"] / "garden.txt"))
    r = client.get(f"/media/{fid}", headers={"Range": "bytes=" + "9" * 5000 + "-"})
    assert r.status_code == 416 and r.json()["error"] == "range_not_satisfiable" and "digits" not in r.text


def test_media_is_opened_then_checked(setup, tmp_path):
    """open_media refuses what the descriptor turned out to be: a FIFO (no hang), a folder swapped in."""
    from omnidex.serve.library import OutsideRoots

    lib = Library(setup["db"], roots=[setup["media"]], config=CONFIG)
    fid = file_id(str(setup["media"] / "garden.txt"))
    fd, st, real = lib.open_media(fid)
    try:
        assert os.read(fd, 5) == b"Water" and real == os.path.realpath(setup["media"] / "garden.txt")
    finally:
        os.close(fd)
    moved = setup["media"] / "budget.txt.bak"
    os.replace(setup["media"] / "budget.txt", moved)
    try:
        os.mkfifo(setup["media"] / "budget.txt")
        with pytest.raises(FileNotFoundError):
            lib.open_media(file_id(str(setup["media"] / "budget.txt")))
    finally:
        os.unlink(setup["media"] / "budget.txt")
        os.replace(moved, setup["media"] / "budget.txt")
    with pytest.raises(OutsideRoots) as refused:  # an indexed file outside the roots names the roots
        lib.open_media(file_id(str(setup["outside"] / "secret.txt")))
    assert str(setup["media"].resolve()) in str(refused.value)


def test_an_indexed_folder_is_a_root_and_refusals_list_the_roots(setup, tmp_path):
    """Without --root: indexing a folder, then asking the server to index it again, is allowed."""
    from omnidex.testing.mediagen import text_image

    top = tmp_path / "photos"
    (top / "2024").mkdir(parents=True)
    (top / "2025").mkdir()
    text_image("ONE", top / "2024" / "one.png")
    (top / "2025" / "two.txt").write_text("A note about the second year.\n")
    db = tmp_path / "db"
    Index(db, CONFIG).add([top])
    with TestClient(create_app(db, config=CONFIG)) as c:
        again = c.post("/api/index", json={"paths": [str(top)]})
        assert again.status_code == 202, again.text
        assert c.app.state.jobs.wait(again.json()["job_id"], timeout=60)["state"] == "done"
        refused = c.post("/api/index", json={"paths": [str(tmp_path)]})
        assert refused.status_code == 403
        body = refused.json()
        assert body["error"] == "forbidden" and body["roots"] == [str(top.resolve())]
        assert str(top.resolve()) in body["message"]
