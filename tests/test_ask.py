"""Grounded answers (``ask``) and captions against a scripted OpenAI-compatible server on 127.0.0.1.

The server is started by the test in a thread; it records every request and answers from a
script, so what omnidex sends (frames as image_url data parts, transcript lines with their
times) and what it does with the reply (citation checks, retry, caption indexing) are checked
without any real model.
"""
import base64
import io
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from omnidex.ask import LLMConfig, LLMError, ask, caption
from omnidex.ask.answer import CitationError
from omnidex.ask.backends import OpenAIChat, endpoint
from omnidex.ask.citations import check, find, seconds
from omnidex.ask.evidence import Evidence

PHRASES = [(1.0, "The weather today is cold and rainy."),
           (7.0, "Our quarterly results show that revenue grew by twenty percent.")]


# ---------------------------------------------------------------- the scripted server

class ScriptedLLM:
    """An OpenAI-compatible /v1/chat/completions server answering from ``script`` (strings or
    callables taking the request body), recording every request."""

    def __init__(self, script=(), delay_s: float = 0.0):
        self.script, self.requests, self.delay_s = list(script), [], delay_s
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                time.sleep(owner.delay_s)
                step = owner.script.pop(0) if owner.script else "no script left"
                text = step(body) if callable(step) else step
                out = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def llm(self, **kw) -> LLMConfig:
        return LLMConfig(url=self.url, model="scripted-vlm", api_key="sk-test", **{"timeout_s": 10.0, **kw})

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedLLM()
    yield s
    s.close()


def _user_text(body: dict) -> str:
    content = body["messages"][1]["content"]
    return "\n".join(p["text"] for p in content if p["type"] == "text") if isinstance(content, list) else content


def _images(body: dict) -> list[str]:
    content = body["messages"][1]["content"]
    return [p["image_url"]["url"] for p in content if isinstance(content, list) and p["type"] == "image_url"]


# ---------------------------------------------------------------- fast: citations and the wire format

def test_citation_forms_are_found():
    cites = find("Red [00:12.5–00:18.0] and hi [12.5s, 40s]; see [E3] [talk.mp4 1:02:05] [sic] [3.5 s-4s]")
    assert [(c.start, c.end) for c in cites if not c.ids] == [(12.5, 18.0), (12.5, 12.5), (40.0, 40.0),
                                                            (3725.0, 3725.0), (3.5, 4.0)]
    assert [c.ids for c in cites if c.ids] == [("E3",)] and cites[4].file == "talk.mp4"
    assert seconds("01:02.5") == 62.5 and seconds("12s") == 12.0


def _ev(i, start, end, path="/v/talk.mp4", source="speech"):
    return Evidence(f"E{i}", path, source, start, end, "s", text="words")


def test_citations_outside_the_video_or_the_evidence_are_problems():
    evidence = [_ev(1, 2.0, 6.0), _ev(2, 10.0, 14.0, source="frame")]
    durations = {"/v/talk.mp4": 20.0}
    ok = find("Yes [00:03.0–00:05.0] and [10.5s]")
    assert check(ok, evidence, durations) == [] and ok[0].evidence == ["E1"] and ok[1].paths == ["/v/talk.mp4"]
    outside = check(find("Later [01:30]"), evidence, durations)
    assert len(outside) == 1 and "outside the video" in outside[0] and "20.0s" in outside[0]
    assert "not a time in the evidence" in check(find("Then [00:08]"), evidence, durations)[0]
    assert "cites no evidence" in check(find("No brackets at all."), evidence, durations)[0]
    assert "names no evidence item" in check(find("See [E9]"), evidence, durations)[0]


def test_payload_carries_images_as_jpeg_data_parts_and_plain_text_as_strings():
    from PIL import Image

    chat = OpenAIChat(LLMConfig(model="m"))
    body = chat.payload([{"role": "system", "content": ["be brief"]},
                         {"role": "user", "content": ["look:", Image.new("RGB", (900, 300), "red")]}])
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    url = body["messages"][1]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert im.format == "JPEG" and max(im.size) == 512
    assert endpoint("http://h:11434") == "http://h:11434/v1/chat/completions"
    assert endpoint("http://h/v1/") == endpoint("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def test_env_and_flags_configure_the_backend(monkeypatch):
    monkeypatch.setenv("OMNIDEX_LLM_URL", "http://example:1/v1")
    monkeypatch.setenv("OMNIDEX_LLM_MODEL", "llava")
    cfg = LLMConfig.from_env(model="qwen2-vl", timeout_s=None)
    assert cfg.url == "http://example:1/v1" and cfg.model == "qwen2-vl" and cfg.timeout_s == 120.0
    monkeypatch.delenv("OMNIDEX_LLM_MODEL")
    from omnidex.ask.backends import make_backend

    with pytest.raises(LLMError, match="no vision-language model named"):
        make_backend(LLMConfig.from_env())


def test_unreachable_endpoint_fails_fast_with_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match="cannot reach the chat endpoint"):
        OpenAIChat(LLMConfig(url=f"http://127.0.0.1:{port}", model="m", timeout_s=5)).chat(
            [{"role": "user", "content": ["hi"]}])
    assert time.perf_counter() - t0 < 3


def test_a_server_that_never_answers_times_out():
    slow = ScriptedLLM(["late"], delay_s=5.0)
    try:
        t0 = time.perf_counter()
        with pytest.raises(LLMError, match="cannot reach|timed out"):
            OpenAIChat(slow.llm(timeout_s=1.0)).chat([{"role": "user", "content": ["hi"]}])
        assert time.perf_counter() - t0 < 4
    finally:
        slow.close()


# ---------------------------------------------------------------- slow: a real index of a generated video

@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    root = tmp_path_factory.mktemp("ask")
    media = root / "media"
    media.mkdir()
    truth = make_video(media / "talk.mp4", [Scene(6.0, (20, 40, 160), "WELCOME"),
                                             Scene(6.0, (20, 120, 40), "HARBOUR LIGHTHOUSE")],
                       [Narration(t, s) for t, s in PHRASES])
    text_image("zz", media / "plain.png", bg=(120, 60, 160), fg=(120, 60, 160))
    idx = Index(root / "db", IndexConfig(clip_model="lit:bundled", frame_fps=1.0))
    report = idx.add([media])
    assert report.count("indexed") == 2, report.to_dict()
    return {"index": idx, "video": str(media / "talk.mp4"), "image": str(media / "plain.png"), "truth": truth,
            "root": root}


def _cite_revenue(body: dict) -> str:
    """Answer like a good model: find the transcript line about revenue and cite its label."""
    m = re.search(r"(\[[^\]]+\]) speech: [^\n]*revenue", _user_text(body))
    assert m, _user_text(body)
    return f"Revenue grew by twenty percent {m.group(1)}."


@pytest.mark.slow
def test_ask_sends_frames_and_timed_transcript_and_returns_checked_citations(indexed, server):
    server.script = [_cite_revenue]
    ans = ask(indexed["index"], "how much did revenue grow?", file=indexed["video"], llm=server.llm())
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "scripted-vlm"
    text = _user_text(req["body"])
    assert "how much did revenue grow?" in text
    assert re.search(r"\[00:0\d\.\d–00:1\d\.\d\] speech: .*revenue", text), text  # transcript with its times
    assert "ocr:" in text and "HARBOUR" in text.upper()  # on-screen text too
    frames = _images(req["body"])
    assert frames and all(u.startswith("data:image/jpeg;base64,") for u in frames)
    from PIL import Image

    assert Image.open(io.BytesIO(base64.b64decode(frames[0].split(",", 1)[1]))).format == "JPEG"
    assert re.search(r"E\d+ · talk\.mp4 · frame at \[00:\d\d\.\d\]", text)  # each frame labelled with its time
    # the answer's citation is parsed and tied to the transcript evidence it names
    assert ans.attempts == 1 and len(ans.citations) == 1
    c = ans.citations[0]
    spoken = [e for e in ans.evidence if e.source == "speech" and "revenue" in e.text.lower()]
    assert spoken and spoken[0].id in c.evidence and c.paths == [indexed["video"]]
    assert 6.0 <= c.start <= 9.0 and c.end <= indexed["truth"]["duration"]
    assert json.dumps(ans.to_dict())


@pytest.mark.slow
def test_answers_citing_times_outside_the_video_are_rejected(indexed, server):
    server.script = ["It happens at [05:00].", "Still [04:59–05:10]."]
    with pytest.raises(CitationError, match="outside the video") as err:
        ask(indexed["index"], "when does the lighthouse appear?", file=indexed["video"], llm=server.llm())
    assert len(server.requests) == 2  # one retry, which was told what was wrong
    follow_up = server.requests[1]["body"]["messages"]
    assert follow_up[-2] == {"role": "assistant", "content": "It happens at [05:00]."}
    assert "outside the video" in follow_up[-1]["content"]
    assert err.value.answer == "Still [04:59–05:10]."


@pytest.mark.slow
def test_a_retry_can_fix_the_citations(indexed, server):
    server.script = ["Revenue grew [00:59].", _cite_revenue]
    ans = ask(indexed["index"], "how much did revenue grow?", file=indexed["video"], llm=server.llm())
    assert ans.attempts == 2 and "outside the video" in ans.rejected[0]
    server.script = ["Revenue grew [00:59]."]
    with pytest.raises(CitationError):
        ask(indexed["index"], "how much did revenue grow?", file=indexed["video"], llm=server.llm(), retry=False)


@pytest.mark.slow
def test_cli_ask_prints_the_answer_and_its_evidence(indexed, server, capsys):
    from omnidex.cli import main

    server.script = [_cite_revenue]
    code = main(["ask", indexed["video"], "how much did revenue grow?", "--db", str(indexed["root"] / "db"),
                 "--llm-url", server.url, "--model", "scripted-vlm", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["citations"][0]["evidence"] and "twenty percent" in out["answer"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["ask", "anything?", "--db", str(indexed["root"] / "db"), "--llm-url", f"http://127.0.0.1:{port}",
                 "--model", "m"])
    assert code == 2 and "cannot reach the chat endpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_captions_are_indexed_as_searchable_text(indexed, server, capsys):
    idx = indexed["index"]
    assert idx.search("giraffe sunglasses", top_k=5, modality="caption") == []

    def describe(body):
        content = body["messages"][0]["content"]
        assert sum(p["type"] == "image_url" for p in content) == 1  # one picture per caption request
        return "A purple giraffe wearing sunglasses." if len(server.requests) == 1 else "A harbour at dusk."

    server.script = [describe] * 10
    done = caption(idx, [indexed["image"], indexed["video"]], llm=server.llm())
    by_path = {}
    for d in done:
        by_path.setdefault(d["path"], []).append(d)
    assert len(server.requests) == 1 + len(by_path[indexed["video"]])  # the image, then one per shot
    shots = by_path[indexed["video"]]
    assert len(shots) >= 2 and shots[0]["start"] == 0.0 and shots[-1]["end"] == pytest.approx(12.0, abs=0.2)
    hits = idx.search("giraffe sunglasses", top_k=3)
    assert hits[0].path == indexed["image"] and "giraffe" in hits[0].evidence and hits[0].source == "caption"
    hits = idx.search("harbour at dusk", top_k=3, modality="caption")
    assert hits and hits[0].path == indexed["video"] and hits[0].unit == "s"
    from omnidex.cli import main

    server.script = ["A purple giraffe wearing sunglasses."]
    code = main(["caption", indexed["image"], "--db", str(indexed["root"] / "db"), "--llm-url", server.url,
                 "--model", "scripted-vlm", "--json"])  # captioning again (from the CLI) replaces, never duplicates
    assert code == 0 and json.loads(capsys.readouterr().out)[0]["caption"] == "A purple giraffe wearing sunglasses."
    rows = idx.store.table("text").search().where("source = 'caption'").limit(None).to_list()
    assert sum(r["path"] == indexed["image"] for r in rows) == 1


# ---------------------------------------------------------------- the transformers backend, with a tiny random model

_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
             "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
             "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")


def _save_tiny_llava(path):
    """A tiny random-initialised LLaVA (CLIP vision tower + Llama) with processor and chat template."""
    import transformers as tf

    from omnidex.encoders.clip import tiny_tokenizer

    tok = tiny_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    cfg = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(**small, image_size=32, patch_size=8),
        text_config=tf.LlamaConfig(**small, vocab_size=len(tok), num_key_value_heads=2, max_position_embeddings=4096,
                                   bos_token_id=0, eos_token_id=1, pad_token_id=1),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1)
    tf.LlavaForConditionalGeneration(cfg).eval().save_pretrained(path)
    images = tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tf.LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                      chat_template=_TEMPLATE, num_additional_image_tokens=1).save_pretrained(path)
    return path


@pytest.mark.slow
def test_transformers_backend_runs_a_local_model_and_its_uncited_answer_is_rejected(indexed, tmp_path):
    from PIL import Image

    from omnidex.ask.backends import make_backend

    backend = make_backend(LLMConfig(model=str(_save_tiny_llava(tmp_path / "vlm")), max_tokens=6))
    assert backend.name == "transformers"  # a local directory selects the transformers backend
    msgs, images = backend.hf_messages([{"role": "user", "content": ["look", Image.new("RGB", (900, 90)), "ok?"]}])
    assert [p["type"] for p in msgs[0]["content"]] == ["text", "image", "text"] and max(images[0].size) == 512
    assert isinstance(backend.chat([{"role": "user", "content": ["hello", Image.new("RGB", (40, 40), "red")]}]), str)
    # the evidence (frames included) goes through the model's own processor; a random model cites nothing
    with pytest.raises(CitationError, match="cites no evidence|not a time"):
        ask(indexed["index"], "how much did revenue grow?", file=indexed["video"], backend=backend, max_frames=2)
