"""The MCP server through the official client: in-process, over streamable HTTP, over stdio.

One small real index (a narrated video, two images, a document) serves every test. Each result is
checked against the tool's declared output schema, and its content for what an agent needs:
the narrated moment with timestamps, pictures that decode as small JPEGs, clear tool errors.
"""
from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

PHRASE = "Please close the garden gate behind you."  # Whisper tiny.en hears this espeak phrase right
SAID_AT = 3.5
TOOLS = {"search_moments", "search_by_image", "get_transcript", "describe_file", "export_clip", "index_path",
         "index_status"}
SERVER_SCRIPT = ("import sys; from argparse import ArgumentParser; "
                 "from omnidex.serve.mcp_server import add_mcp_parser, main_mcp; "
                 "p = ArgumentParser(); add_mcp_parser(p.add_subparsers(dest='cmd')); "
                 "sys.exit(main_mcp(p.parse_args(['mcp'] + sys.argv[1:])))")


def test_parser_defaults_bind_loopback():
    from argparse import ArgumentParser

    from omnidex.serve.mcp_server import DEFAULT_PORT, add_mcp_parser

    p = ArgumentParser()
    add_mcp_parser(p.add_subparsers(dest="cmd"))
    args = p.parse_args(["mcp"])
    assert (args.transport, args.host, args.port, args.root) == ("stdio", "127.0.0.1", DEFAULT_PORT, None)
    args = p.parse_args(["mcp", "--transport", "http", "--root", "/a", "--root", "/b", "--port", "9000"])
    assert (args.transport, args.root, args.port) == ("http", ["/a", "/b"], 9000)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A real index of generated media, and an MCP server over it (roots = the corpus folder)."""
    from omnidex import Index, IndexConfig
    from omnidex.serve.mcp_server import build_server
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    root = tmp_path_factory.mktemp("corpus")
    media, queries, incoming = root / "media", root / "queries", root / "incoming"
    for d in (media, queries, incoming):
        d.mkdir()
    video = make_video(media / "talk.mp4", [Scene(3.0, (200, 40, 40), "RED"), Scene(3.0, (30, 60, 200), "BLUE"),
                                           Scene(2.0, (40, 160, 60), "GREEN")],
                       [Narration(SAID_AT, PHRASE)], size=(320, 180), gop=25)
    shapes = [("circle", (40, 40, 140, 140), (200, 30, 30)), ("rect", (180, 100, 300, 220), (20, 40, 200))]
    text_image("", out=media / "shapes.png", size=(480, 360), bg=(250, 230, 60), shapes=shapes)
    text_image("", out=media / "other.png", size=(480, 360), bg=(30, 30, 30),
               shapes=[("triangle", (60, 30, 400, 330), (40, 200, 90))])
    (media / "notes.md").write_text("# Garden notes\n\nThe tomatoes need water every morning in summer.\n")
    # the query: the same picture, smaller and JPEG-compressed (not indexed)
    text_image("", size=(480, 360), bg=(250, 230, 60), shapes=shapes).resize((240, 180)).save(
        queries / "shapes_small.jpg", quality=70)
    outside = tmp_path_factory.mktemp("outside")
    text_image("", out=outside / "secret.png", size=(64, 64), bg=(0, 0, 0))
    config = IndexConfig(clip_model=None, ocr=False)
    report = Index(root / "db", config).add([media])
    assert report.count("indexed") == 4, report.to_dict()
    server = build_server(root / "db", roots=[root], config=config, clips_dir=root / "clips")
    return {"root": root, "db": root / "db", "media": media, "queries": queries, "incoming": incoming,
            "outside": outside, "video": video, "server": server}


def fid(path) -> str:
    from omnidex.serve.library import file_id

    return file_id(str(path))


# ----- client helpers ----------------------------------------------------------------------------
@asynccontextmanager
async def in_process(server):
    """A ClientSession talking to ``server`` over in-memory streams."""
    from mcp.client.session import ClientSession
    from mcp.shared.memory import create_client_server_memory_streams

    low = server._lowlevel_server
    async with create_client_server_memory_streams() as (client, srv):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: low.run(srv[0], srv[1], low.create_initialization_options()))
            async with ClientSession(client[0], client[1]) as session:
                await session.initialize()
                yield session
            tg.cancel_scope.cancel()


async def call(session, name: str, args: dict, schemas: dict | None = None):
    """Call a tool; when it succeeded, validate its structured content against the declared schema
    and check that the first JSON text block says the same."""
    import jsonschema

    if schemas is None:
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
    result = await session.call_tool(name, args)
    if not result.is_error:
        assert schemas[name], f"{name} declares no output schema"
        jsonschema.Draft202012Validator(schemas[name]).validate(result.structured_content)
        texts = [json.loads(c.text) for c in result.content if c.type == "text" and c.text.startswith("{")]
        assert texts and texts[0] == result.structured_content
    return result


def run(server, steps):
    """Run ``await steps(session)`` against an in-process session; return its result."""
    async def main():
        async with in_process(server) as session:
            return await steps(session)
    return anyio.run(main)


def jpegs(result) -> list:
    """The result's image blocks, decoded; each must be a JPEG at most 320 pixels wide."""
    from PIL import Image

    images = []
    for block in result.content:
        if block.type == "image":
            assert block.mime_type == "image/jpeg"
            image = Image.open(io.BytesIO(base64.b64decode(block.data)))
            assert image.format == "JPEG" and image.width <= 320
            images.append(image.convert("RGB"))
    return images


def error_text(result) -> str:
    assert result.is_error, result.structured_content
    return " ".join(c.text for c in result.content if c.type == "text")


# ----- in-process ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_tools_are_listed_with_input_and_output_schemas(corpus):
    async def steps(session):
        return (await session.list_tools()).tools
    tools = {t.name: t for t in run(corpus["server"], steps)}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and "  " not in tool.description and tool.output_schema["type"] == "object"
    assert tools["search_moments"].input_schema["required"] == ["query"]
    assert set(tools["export_clip"].input_schema["required"]) == {"file", "start", "end"}
    assert tools["search_moments"].annotations.read_only_hint
    assert not tools["index_path"].annotations.read_only_hint
    hit = tools["search_moments"].output_schema["$defs"]["HitOut"]
    assert {"id", "name", "start", "end", "score", "evidence", "path"} <= set(hit["required"])
    assert "information only" in hit["properties"]["path"]["description"]
    assert "also_read" in hit["required"] and "another reading" in hit["properties"]["also_read"]["description"]
    assert "guessed" in hit["required"] and "guessed from faint letters" in hit["properties"]["guessed"]["description"]


@pytest.mark.slow
def test_search_moments_finds_the_spoken_moment_with_a_picture(corpus):
    async def steps(session):
        return await call(session, "search_moments", {"query": "close the garden gate", "top_k": 3})
    result = run(corpus["server"], steps)
    hits = result.structured_content["hits"]
    top = hits[0]
    assert top["id"] == fid(corpus["video"]["path"]) and top["name"] == "talk.mp4" and top["kind"] == "video"
    speech = corpus["video"]["speech"][0]
    assert 0 <= top["start"] < top["end"] <= corpus["video"]["duration"] + 1e-6
    assert top["start"] <= speech[0] + 0.5 and top["end"] >= speech[1] - 0.5  # covers what was said
    assert "garden gate" in top["evidence"].lower() and top["unit"] == "s" and top["score"] > 0
    images = jpegs(result)
    assert top["image"] == 0 and len(images) >= 1
    # the picture is the frame of the moment: the blue scene (3-6 s), not the red or green one
    r, g, b = images[0].resize((1, 1)).getpixel((0, 0))
    assert b > r and b > g


@pytest.mark.slow
def test_search_filters_and_within_one_file(corpus):
    async def steps(session):
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
        docs = await call(session, "search_moments", {"query": "watering tomatoes", "modality": ["text"]}, schemas)
        inside = await call(session, "search_moments", {"query": "garden", "file_id": fid(corpus["media"] / "notes.md"),
                                                         "images": 0}, schemas)
        nothing = await call(session, "search_moments", {"query": "garden gate", "path_glob": "*/nowhere/*"}, schemas)
        return docs, inside, nothing
    docs, inside, nothing = run(corpus["server"], steps)
    assert docs.structured_content["hits"][0]["name"] == "notes.md"
    assert {h["kind"] for h in docs.structured_content["hits"]} == {"text"} and not jpegs(docs)
    assert {h["name"] for h in inside.structured_content["hits"]} == {"notes.md"}
    assert inside.structured_content["hits"][0]["unit"] == "line"
    assert nothing.structured_content["hits"] == []


@pytest.mark.slow
def test_search_by_image_finds_its_near_duplicate_first(corpus):
    query = corpus["queries"] / "shapes_small.jpg"

    async def steps(session):
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
        by_path = await call(session, "search_by_image", {"image": str(query), "top_k": 3}, schemas)
        data = base64.b64encode(query.read_bytes()).decode()
        by_data = await call(session, "search_by_image", {"image_base64": f"data:image/jpeg;base64,{data}"}, schemas)
        by_id = await call(session, "search_by_image", {"image": fid(corpus["media"] / "shapes.png")}, schemas)
        return by_path, by_data, by_id
    for result in run(corpus["server"], steps):
        hits = result.structured_content["hits"]
        assert hits[0]["id"] == fid(corpus["media"] / "shapes.png") and hits[0]["kind"] == "image"
        assert all(h["id"] != fid(corpus["media"] / "other.png") or h["score"] < hits[0]["score"] for h in hits)
        assert jpegs(result)[0].size == (320, 240)


@pytest.mark.slow
def test_transcript_window_has_the_spoken_words(corpus):
    video_id = fid(corpus["video"]["path"])

    async def steps(session):
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
        window = await call(session, "get_transcript", {"file": video_id, "start": 3.0, "end": 7.0}, schemas)
        silent = await call(session, "get_transcript", {"file": video_id, "start": 0.0, "end": 1.0}, schemas)
        by_path = await call(session, "get_transcript", {"file": str(corpus["video"]["path"])}, schemas)
        return window, silent, by_path
    window, silent, by_path = run(corpus["server"], steps)
    out = window.structured_content
    assert out["id"] == video_id and "close the garden gate" in out["text"].lower()
    words = [w for win in out["windows"] for w in win["words"]]
    assert any("gate" in w["w"].lower() for w in words)
    assert all(SAID_AT - 0.5 <= w["s"] <= w["e"] <= corpus["video"]["duration"] for w in words)
    assert silent.structured_content["windows"] == [] and silent.structured_content["text"] == ""
    assert out["truncated"] is False
    assert by_path.structured_content["text"] == out["text"]


@pytest.mark.slow
def test_describe_file_has_shots_duration_and_keyframes(corpus):
    async def steps(session):
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
        video = await call(session, "describe_file", {"file": fid(corpus["video"]["path"])}, schemas)
        image = await call(session, "describe_file", {"file": fid(corpus["media"] / "shapes.png")}, schemas)
        doc = await call(session, "describe_file", {"file": fid(corpus["media"] / "notes.md")}, schemas)
        return video, image, doc
    video, image, doc = run(corpus["server"], steps)
    out = video.structured_content
    assert out["kind"] == "video" and out["duration"] == pytest.approx(8.0, abs=0.05)
    assert [round(s["start"], 1) for s in out["shots"]] == [0.0, 3.0, 6.0]
    assert "gate" in out["transcript"]["excerpt"].lower() and out["transcript"]["language"] == "en"
    assert {s["type"] for s in out["media"]["streams"]} == {"video", "audio"}
    frames = jpegs(video)
    assert len(frames) == len(out["keyframes"]) == 3 and [k["shot"] for k in out["keyframes"]] == [1, 2, 3]
    reds = [f.resize((1, 1)).getpixel((0, 0))[0] for f in frames]
    assert reds[0] > 150 > reds[1]  # shot 1 is red, shot 2 blue
    assert image.structured_content["kind"] == "image" and len(jpegs(image)) == 1
    assert "tomatoes" in doc.structured_content["text"][0]["text"] and not jpegs(doc)


@pytest.mark.slow
def test_export_clip_writes_a_playable_clip_of_the_moment(corpus):
    from omnidex.media.probe import probe_file

    async def steps(session):
        return await call(session, "export_clip", {"file": fid(corpus["video"]["path"]), "start": 3.0, "end": 6.0})
    result = run(corpus["server"], steps)
    out = result.structured_content
    clip = Path(out["path"])
    assert clip.is_file() and clip.parent == corpus["root"] / "clips" and out["size"] == clip.stat().st_size
    info = probe_file(clip)
    assert info["problems"] == []
    assert info["container"]["duration"] == pytest.approx(3.0, abs=0.1) == out["duration"]
    assert {s["type"] for s in info["streams"]} == {"video", "audio"}
    frame = jpegs(result)[0]
    r, g, b = frame.resize((1, 1)).getpixel((0, 0))
    assert b > r and b > g  # the middle of 3-6 s is the blue scene


@pytest.mark.slow
def test_refusals_and_unknown_ids_are_tool_errors(corpus):
    secret = corpus["outside"] / "secret.png"

    async def steps(session):
        return [await session.call_tool(name, args) for name, args in [
            ("describe_file", {"file": str(secret)}),
            ("get_transcript", {"file": "0123456789abcdef"}),
            ("export_clip", {"file": "0123456789abcdef", "start": 0, "end": 1}),
            ("search_by_image", {"image": str(secret)}),
            ("index_path", {"paths": [str(corpus["outside"])]}),
            ("search_by_image", {"image_base64": "not base64 at all!"}),
            ("search_by_image", {}),
            ("export_clip", {"file": fid(corpus["media"] / "shapes.png"), "start": 0, "end": 1}),
            ("get_transcript", {"file": fid(corpus["video"]["path"]), "start": 5, "end": 2}),
            ("index_status", {"job_id": "nope"}),
            ("search_moments", {"query": "x", "modality": ["smell"]}),
            ("search_moments", {"query": "x", "top_k": 0}),
        ]]
    results = run(corpus["server"], steps)
    messages = [error_text(r) for r in results]
    for i in (0, 3, 4):
        assert "outside the indexed roots" in messages[i] or "outside the served roots" in messages[i], messages[i]
    assert "no indexed file with id '0123456789abcdef'" in messages[1] and "0123456789abcdef" in messages[2]
    assert "base64" in messages[5] and "exactly one" in messages[6]
    assert "shapes.png is 'image', not a video" in messages[7]
    assert "before start" in messages[8] and "no index job" in messages[9] and "modality" in messages[10]
    assert "top_k" in messages[11]
    assert all("Traceback" not in m for m in messages)


@pytest.mark.slow
def test_without_roots_files_are_served_from_where_they_were_indexed_only(corpus):
    from omnidex.serve.mcp_server import build_server

    server = build_server(corpus["db"])  # no --root: roots are the folders holding indexed files

    async def steps(session):
        return [await session.call_tool(name, args) for name, args in [
            ("describe_file", {"file": str(corpus["video"]["path"])}),
            ("index_path", {"paths": [str(corpus["outside"])]}),
            ("search_by_image", {"image": str(corpus["outside"] / "secret.png")}),
        ]]
    described, index, by_image = run(server, steps)
    assert not described.is_error and described.structured_content["name"] == "talk.mp4"
    assert "outside the indexed roots" in error_text(index) and "--root" in error_text(index)
    assert "outside the indexed roots" in error_text(by_image)


@pytest.mark.slow
def test_index_job_completes_and_the_file_becomes_searchable(corpus):
    note = corpus["incoming"] / "lighthouse.md"
    note.write_text("The lighthouse keeper counts seagulls at dawn on the rocky island.\n")

    async def steps(session):
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
        started = await call(session, "index_path", {"paths": [str(corpus["incoming"])]}, schemas)
        job_id = started.structured_content["job_id"]
        deadline = time.monotonic() + 60
        status = await call(session, "index_status", {"job_id": job_id}, schemas)
        while status.structured_content["state"] not in ("done", "failed") and time.monotonic() < deadline:
            status = await call(session, "index_status", {"job_id": job_id, "wait_s": 5}, schemas)
        found = await call(session, "search_moments", {"query": "lighthouse keeper seagulls"}, schemas)
        return started, status, found
    started, status, found = run(corpus["server"], steps)
    assert started.structured_content["state"] in ("queued", "running", "done")
    job = status.structured_content
    assert job["state"] == "done", job
    assert [(f["name"], f["status"], f["id"]) for f in job["files"]] == [("lighthouse.md", "indexed", fid(note))]
    assert job["report"]["indexed"] == 1 and job["elapsed_s"] > 0
    assert found.structured_content["hits"][0]["id"] == fid(note)


# ----- real transports -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    keep = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "TOKENIZERS_PARALLELISM", "HOME",
            "PATH")
    return {k: os.environ[k] for k in keep if k in os.environ}


@pytest.mark.slow
def test_streamable_http_round_trip(corpus, tmp_path):
    import httpx

    port = _free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, "--transport", "http", "--port", str(port),
                             "--db", str(corpus["db"]), "--root", str(corpus["root"])],
                            env=_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.2)
        # DNS-rebinding protection: a request naming another host is refused
        rebound = httpx.post(url, headers={"Host": "evil.example", "Content-Type": "application/json",
                                           "Accept": "application/json, text/event-stream"}, content=b"{}")
        assert rebound.status_code in (400, 403, 421)

        async def main():
            from mcp.client.session import ClientSession
            from mcp.client.streamable_http import streamable_http_client

            async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
                data = base64.b64encode((corpus["queries"] / "shapes_small.jpg").read_bytes()).decode()
                found = await call(session, "search_by_image", {"image_base64": data, "top_k": 2}, schemas)
                said = await call(session, "get_transcript", {"file": fid(corpus["video"]["path"]), "end": 8}, schemas)
                refused = await session.call_tool("describe_file", {"file": str(corpus["outside"] / "secret.png")})
                return set(schemas), found, said, refused
        names, found, said, refused = anyio.run(main)
        assert names == TOOLS
        assert found.structured_content["hits"][0]["id"] == fid(corpus["media"] / "shapes.png") and jpegs(found)
        assert "close the garden gate" in said.structured_content["text"].lower()
        assert "outside the indexed roots" in error_text(refused)
        assert "streamable HTTP at http://127.0.0.1:" in (tmp_path / "server.log").read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
def test_stdio_round_trip(corpus):
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, env=_env(),
                                   args=["-c", SERVER_SCRIPT, "--db", str(corpus["db"]), "--root", str(corpus["root"])])

    async def main():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
                transcript = await call(session, "get_transcript", {"file": fid(corpus["video"]["path"])}, schemas)
                described = await call(session, "describe_file", {"file": fid(corpus["media"] / "shapes.png")}, schemas)
                return set(schemas), transcript, described
    names, transcript, described = anyio.run(main)
    assert names == TOOLS
    assert "close the garden gate" in transcript.structured_content["text"].lower()
    assert described.structured_content["kind"] == "image" and len(jpegs(described)) == 1


@pytest.mark.slow
def test_search_says_when_nothing_is_a_confident_match(corpus):
    async def steps(session):
        schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
        none = await call(session, "search_moments", {"query": "a dog playing chess", "images": 0}, schemas)
        sure = await call(session, "search_moments", {"query": "close the garden gate", "images": 0}, schemas)
        return none, sure
    none, sure = run(corpus["server"], steps)
    hits = none.structured_content["hits"]
    assert all(h["confident"] is False for h in hits)
    said = " ".join(c.text for c in none.content if c.type == "text")
    assert "no confident match" in said
    top = sure.structured_content["hits"][0]
    assert top["name"] == "talk.mp4" and top["confident"] is True
    assert "no confident match" not in " ".join(c.text for c in sure.content if c.type == "text")


def test_the_text_answer_names_words_matched_in_another_reading():
    """Agents that read text only see why a picture matched when the word was read only in a
    faint view (the structured hit carries ``also_read``; the search that sets it is in
    tests/test_ocr_faint.py)."""
    from omnidex.serve.mcp_server import _hit_out, _hits_line

    hit = {"id": "f1", "name": "quokka.jpg", "kind": "image", "start": 0.0, "end": 0.0, "unit": "none",
           "moment": "", "score": 0.99, "modality": "image", "source": "ocr", "signals": {"fts": 0.85},
           "evidence": "RODN", "matched_words": [], "also_read": ["ROTTNEST"], "guessed": ["rodney"], "confident": True,
           "path": "/x/quokka.jpg"}
    out = _hit_out(hit, None)
    assert out["also_read"] == ["ROTTNEST"] and out["evidence"] == "RODN"
    line = _hits_line({"hits": [out]})
    assert "RODN (also read: ROTTNEST) (guessed: rodney)" in line and out["guessed"] == ["rodney"]
    plain = _hits_line({"hits": [_hit_out({**hit, "also_read": [], "guessed": []}, None)]})
    assert "also read" not in plain and "guessed" not in plain


# ----- hardening (issue 18) ---------------------------------------------------------------------------
def test_arguments_are_checked_strictly_and_clips_stop_at_the_end_of_the_video(corpus):
    video = fid(corpus["video"]["path"])

    async def steps(session):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        refused = [await session.call_tool(name, args) for name, args in [
            ("search_moments", {"query": "garden", "top_kk": 3}),
            ("search_moments", {"query": "x" * 2001}),
            ("index_status", {"job_id": "0123456789ab"}),
            ("export_clip", {"file": video, "start": 50, "end": 60}),
        ]]
        clip = await call(session, "export_clip", {"file": video, "start": 6.0, "end": 1000})
        return tools, refused, clip
    tools, refused, clip = run(corpus["server"], steps)
    assert all(t.input_schema.get("additionalProperties") is False for t in tools.values())
    extra, long, job, past = (error_text(r) for r in refused)
    assert "top_kk" in extra and "Extra inputs are not permitted" in extra
    assert "2000" in long
    assert "no index job with id '0123456789ab'" in job and "file `id`" not in job
    assert "past its end" in past
    out = clip.structured_content
    assert out["clamped"] is True and out["requested_end"] == 1000 and out["end"] == pytest.approx(8.0, abs=0.05)
    assert out["duration"] == pytest.approx(2.0, abs=0.1) and "1000" not in out["name"]
    assert "cut to 8" in clip.content[0].text


def test_http_off_loopback_needs_the_bearer_token(corpus):
    """The app `omnidex mcp --transport http --host 0.0.0.0` serves: 401 without the token (or with it
    in the address), tools with `Authorization: Bearer`; security headers on every answer."""
    import threading

    import httpx
    import uvicorn

    from omnidex.serve.mcp_server import build_server, http_app

    token = "s3cret-token-for-tests"
    app = http_app(build_server(corpus["db"], roots=[corpus["root"]]), host="0.0.0.0", token=token)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        while not srv.started:
            time.sleep(0.05)
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        accept = {"Accept": "application/json, text/event-stream"}
        for headers, where in [({}, url), ({"Authorization": "Bearer wrong"}, url), ({}, url + f"?token={token}")]:
            r = httpx.post(where, json=hello, headers={**accept, **headers})
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (headers, r.text)
            assert r.headers["x-content-type-options"] == "nosniff" and "frame-ancestors 'none'" in \
                r.headers["content-security-policy"]
        cross = httpx.post(url, json=hello, headers={**accept, "Authorization": f"Bearer {token}",
                                                     "Origin": "https://evil.example"})
        assert cross.status_code == 403

        async def main():
            from mcp.client.session import ClientSession
            from mcp.client.streamable_http import streamable_http_client
            import httpx2

            client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
            async with client, streamable_http_client(url, http_client=client) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                return {t.name for t in (await session.list_tools()).tools}
        assert anyio.run(main) == TOOLS
    finally:
        srv.should_exit = True
        th.join(10)


def test_cli_generates_a_token_off_loopback():
    from argparse import ArgumentParser

    from omnidex.serve.mcp_server import add_mcp_parser

    p = ArgumentParser()
    add_mcp_parser(p.add_subparsers(dest="cmd"))
    args = p.parse_args(["mcp", "--transport", "http", "--host", "0.0.0.0", "--token", "abc"])
    assert args.token == "abc"
