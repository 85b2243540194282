"""Generation (issue 19 part 2): omnidex generate through a tiny random diffusers pipeline built from
configs (no hub) and a stub OpenAI-compatible endpoint on 127.0.0.1; provenance in PNG chunks and the
sidecar; generated pictures marked in search hits; search --imagine; synth --generator pairs that
omnidex train's pairs reader takes as they are; hub loading that fails fast and clearly offline."""
import base64
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from omnidex.cli import main
from omnidex.errors import OmnidexError
from omnidex.gen import generate, read_provenance
from omnidex.gen.provenance import CHUNK_KEY, sidecar_of


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Stable Diffusion pipeline saved with save_pretrained, loaded back by folder."""
    from omnidex.gen.tiny import build_tiny_pipeline

    return str(build_tiny_pipeline(tmp_path_factory.mktemp("tinysd") / "pipe"))


def _pixels(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_generate_cli_records_seed_steps_size_guidance(tiny, tmp_path, capsys):
    out = tmp_path / "a.png"
    code = main(["generate", "a red circle on a dark background", "-o", str(out), "--model", tiny,
                 "--size", "64", "--steps", "3", "--seed", "7", "--guidance", "5", "--json"])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (64, 64) and im.format == "PNG"
        chunk = json.loads(im.info[CHUNK_KEY])
        assert im.info["Description"] == "a red circle on a dark background"
    side = json.loads(sidecar_of(out).read_text())[CHUNK_KEY]
    for prov in (chunk, side, shown):
        assert prov["generator"] == "diffusers" and prov["model"] == tiny
        assert prov["pipeline"] == "StableDiffusionPipeline"
        assert (prov["seed"], prov["steps"], prov["width"], prov["height"], prov["guidance"]) == (7, 3, 64, 64, 5.0)
        assert prov["prompt"] == "a red circle on a dark background"
    assert read_provenance(out)["seed"] == 7
    # the same seed redraws the same picture; another seed draws another one
    main(["generate", "a red circle on a dark background", "-o", str(tmp_path / "b.png"), "--model", tiny,
          "--size", "64", "--steps", "3", "--seed", "7", "--guidance", "5", "--no-sidecar"])
    main(["generate", "a red circle on a dark background", "-o", str(tmp_path / "c.png"), "--model", tiny,
          "--size", "64", "--steps", "3", "--seed", "8", "--guidance", "5"])
    capsys.readouterr()
    assert not sidecar_of(tmp_path / "b.png").exists() and read_provenance(tmp_path / "b.png")["seed"] == 7
    assert np.array_equal(_pixels(out), _pixels(tmp_path / "b.png"))
    assert np.abs(_pixels(out) - _pixels(tmp_path / "c.png")).mean() > 1.0


def test_jpeg_keeps_provenance_in_the_sidecar_only(tiny, tmp_path):
    from omnidex.gen import save

    g = generate("a blue star", model=tiny, seed=1, steps=2, width=64, height=64)
    out = save(g, tmp_path / "s.jpg", sidecar=False)  # formats without text chunks always get the sidecar
    assert read_provenance(out)["prompt"] == "a blue star"
    plain = tmp_path / "plain.png"
    g.image.save(plain)
    assert read_provenance(plain) is None
    sidecar_of(plain).write_text("{not json")
    assert read_provenance(plain) is None  # a foreign or broken sidecar is not provenance


def test_bad_requests_say_what_is_wrong(tiny, tmp_path, capsys):
    with pytest.raises(OmnidexError, match="exactly one image generator"):
        generate("x")
    with pytest.raises(OmnidexError, match="multiples of 8"):
        generate("x", model=tiny, width=60, height=64, steps=1)
    with pytest.raises(OmnidexError, match="not a diffusers pipeline folder"):
        generate("x", model=str(tmp_path), steps=1)
    assert main(["generate", "x", "-o", str(tmp_path / "x.png"), "--model", tiny, "--size", "big"]) == 2
    assert "--size 'big'" in capsys.readouterr().err
    assert main(["generate", "x", "-o", str(tmp_path / "x.gif2"), "--model", tiny, "--size", "64",
                 "--steps", "1"]) == 2
    assert "unknown picture format" in capsys.readouterr().err


def test_hub_ids_fail_fast_and_clearly_when_the_hub_is_unreachable(monkeypatch):
    from omnidex.gen import diffusion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OmnidexError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        diffusion.load_pipeline("nobody-here/no-such-pipeline")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with socket.socket() as s:  # a port nothing listens on: the hub probe fails at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OMNIDEX_HUB_TIMEOUT", "1")
    t0 = time.monotonic()
    with pytest.raises(OmnidexError, match="hub did not answer"):
        diffusion.load_pipeline("nobody-here/no-such-pipeline")
    assert time.monotonic() - t0 < 60  # never a hang
    with pytest.raises(OmnidexError, match="not a hub id"):
        diffusion.load_pipeline("no/such/folder/here")


# ---------------------------------------------------------------- OpenAI-compatible endpoint

class _Images(BaseHTTPRequestHandler):
    calls: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if body["prompt"] == "refuse":
            return self._reply(400, {"error": {"message": "prompt refused by policy"}})
        from PIL import Image

        w, h = (int(v) for v in body["size"].split("x"))
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (20, 200, 40)).save(buf, format="PNG")
        self._reply(200, {"created": 1, "data": [{"b64_json": base64.b64encode(buf.getvalue()).decode(),
                                                   "revised_prompt": body["prompt"] + ", detailed"}]})

    def _reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_endpoint_generation_with_key_from_the_environment(endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MY_IMAGES_KEY", "sk-test-123")
    out = tmp_path / "e.png"
    _Images.calls.clear()
    code = main(["generate", "a green field", "-o", str(out), "--endpoint", endpoint, "--api-key-env",
                 "MY_IMAGES_KEY", "--size", "48x32", "--seed", "5", "--endpoint-model", "sd-local"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    call = _Images.calls[-1]
    assert call["path"] == "/v1/images/generations" and call["auth"] == "Bearer sk-test-123"
    assert call["body"] == {"prompt": "a green field", "n": 1, "size": "48x32", "response_format": "b64_json",
                            "model": "sd-local", "seed": 5}
    prov = read_provenance(out)
    assert prov["generator"] == "endpoint" and prov["endpoint"].endswith("/v1/images/generations")
    assert (prov["seed"], prov["width"], prov["height"], prov["model"]) == (5, 48, 32, "sd-local")
    assert prov["revised_prompt"] == "a green field, detailed"
    assert tuple(_pixels(out)[0, 0]) == (20, 200, 40)


def test_endpoint_errors_are_named(endpoint, tmp_path, monkeypatch):
    with pytest.raises(OmnidexError, match="HTTP 400: prompt refused by policy"):
        generate("refuse", endpoint=endpoint + "/v1")
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    with pytest.raises(OmnidexError, match="NOT_SET_KEY: that environment variable is not set"):
        generate("x", endpoint=endpoint, api_key_env="NOT_SET_KEY")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(OmnidexError, match="cannot reach the image endpoint"):
        generate("x", endpoint=dead, timeout=2)


# ---------------------------------------------------------------- index, search --imagine, synth

@pytest.fixture(scope="module")
def gallery(tiny, tmp_path_factory):
    """An index (bundled LiT model) over two generated pictures and two plain rendered ones."""
    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.gen import save
    from omnidex.testing.scenes import make_scene, render

    root = tmp_path_factory.mktemp("gen-index")
    files = root / "files"
    files.mkdir()
    for i, prompt in enumerate(("a red circle", "a blue square")):
        save(generate(prompt, model=tiny, seed=i, steps=2, width=64, height=64), files / f"gen{i}.png", sidecar=False)
    import random

    pairs = [("red", "circle"), ("blue", "square")]
    for i in range(2):
        scene = make_scene(random.Random(i), pairs, pairs)
        render(scene["objects"], scene["background"], 64).save(files / f"plain{i}.png")
    idx = Index(root / "db", IndexConfig(clip_model="lit:bundled", ocr=False, speech=False))
    assert idx.add([files]).count("indexed") == 4
    return idx, root


@pytest.mark.slow  # indexes with the bundled LiT model
def test_generated_pictures_are_marked_in_hits(gallery, capsys):
    idx, root = gallery
    first = {}
    for name in ("gen0.png", "gen1.png", "plain0.png", "plain1.png"):  # each picture finds itself first
        hit = idx.search(parts=[("image", str(root / "files" / name), 1.0)], top_k=2)[0]
        assert hit.path.endswith("/" + name)
        first[name] = hit
    assert first["gen0.png"].generated["prompt"] == "a red circle" and first["gen0.png"].generated["seed"] == 0
    assert first["gen1.png"].generated["prompt"] == "a blue square"
    assert first["plain0.png"].generated is None and first["plain1.png"].generated is None
    assert first["gen0.png"].to_dict()["generated"]["model"].endswith("pipe")
    assert first["plain0.png"].to_dict()["generated"] is None
    for name, marks in (("gen1.png", 1), ("plain1.png", 0)):
        assert main(["search", "--part", f"image:{root / 'files' / name}", "--db", str(root / "db"), "--top", "1"]) == 0
        table = capsys.readouterr().out
        assert table.count("generated") == marks, table


@pytest.mark.slow  # indexes with the bundled LiT model
def test_search_imagine_fuses_the_text_and_a_generated_picture(gallery, tiny, tmp_path, capsys):
    idx, root = gallery
    pic = tmp_path / "imagined.png"
    code = main(["search", "--imagine", "a red circle", "--imagine-with", tiny, "--imagine-size", "64",
                 "--imagine-steps", "2", "--imagine-out", str(pic), "--db", str(root / "db"), "--json", "--top", "4"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["hits"]) >= 1
    q = out["query"]
    assert [(t["kind"], t["weight"]) for t in q["terms"]] == [("text", 1.0), ("image", 1.0)]
    assert q["terms"][0]["value"] == "a red circle" and q["terms"][1]["value"] == str(pic.resolve())
    assert q["imagined"]["prompt"] == "a red circle" and q["imagined"]["seed"] == 0 and q["imagined"]["steps"] == 2
    cos = q["spaces"]["visual"]["cosines"]
    assert len(cos) == 2 and all(-1 <= c <= 1 for c in cos)
    assert read_provenance(pic)["model"] == tiny
    code = main(["search", "--imagine", "a red circle", "--imagine-with", tiny, "--imagine-size", "64",
                 "--imagine-steps", "2", "--imagine-out", str(pic), "--db", str(root / "db"), "--top", "2"])
    text = capsys.readouterr().out
    assert code == 0 and "imagined picture of 'a red circle': diffusers" in text
    assert "cosine of the result to each term" in text


def test_synth_generator_writes_pairs_train_reads(tiny, tmp_path, capsys):
    from omnidex.train.pairs import load_pairs

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# domain prompts\na rusty bolt\n\na cracked tile\na wet floor\n")
    out = tmp_path / "pairs"
    code = main(["synth", str(out), "--generator", tiny, "--prompts", str(prompts), "--n-train", "4",
                 "--n-heldout", "1", "--size", "64", "--steps", "2", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["train"] == 4 and summary["seconds_per_image"] > 0
    rows = [json.loads(ln) for ln in (out / "train.jsonl").read_text().splitlines()]
    assert [r["caption"] for r in rows] == ["a rusty bolt", "a cracked tile", "a wet floor", "a rusty bolt"]
    assert [r["generated"]["seed"] for r in rows] == [0, 1, 2, 3]
    report = load_pairs(out / "train.jsonl", verify_images=True)
    assert len(report.pairs) == 4 and not report.problems and {p.modality for p in report.pairs} == {"image"}
    assert read_provenance(out / "train" / "00001.png")["prompt"] == "a cracked tile"
    held = [json.loads(ln) for ln in (out / "heldout.jsonl").read_text().splitlines()]
    assert held[0]["caption"] == "a cracked tile"  # the prompts after the training ones
    # without --prompts: the synthetic scene captions
    code = main(["synth", str(tmp_path / "scenes"), "--generator", tiny, "--n-train", "2", "--n-heldout", "0",
                 "--size", "64", "--steps", "1", "--json"])
    capsys.readouterr()
    caps = [json.loads(ln)["caption"] for ln in (tmp_path / "scenes" / "train.jsonl").read_text().splitlines()]
    assert code == 0 and len(caps) == 2 and all(caps)
    assert main(["synth", str(tmp_path / "x"), "--generator", tiny, "--skew", "background=plain-dark:0.5"]) == 2
    assert "does not combine with --generator" in capsys.readouterr().err


@pytest.mark.slow  # loads the locked MiniLM text tower
def test_omnidex_train_takes_generated_pairs_as_they_are(tiny, tmp_path, capsys):
    out = tmp_path / "pairs"
    assert main(["synth", str(out), "--generator", tiny, "--n-train", "8", "--n-heldout", "4", "--size", "64",
                 "--steps", "1", "--json"]) == 0
    capsys.readouterr()
    code = main(["train", str(out / "train.jsonl"), "--val", str(out / "heldout.jsonl"), "--out", str(tmp_path / "m"),
                 "--steps", "2", "--batch", "4"])
    printed = capsys.readouterr().out
    summary = json.loads(printed[printed.index("{"):printed.rindex("}") + 1])
    assert code == 0 and summary["steps"] == 2 and 0.0 <= summary["val_r1"] <= 1.0
    assert (tmp_path / "m" / "model").is_dir()


def test_a_generation_sidecar_is_not_indexed_as_a_document(tmp_path):
    """``out.png.json`` beside ``out.png`` is the picture's provenance (read with it), not a text file;
    other JSON files, and a sidecar-named file with other content, are indexed as before."""
    from PIL import Image

    from omnidex.gen.provenance import Generation, save
    from omnidex.ingest.walk import iter_files

    save(Generation(Image.new("RGB", (16, 16), (9, 9, 9)), {"generator": "diffusers", "prompt": "p", "seed": 1}),
         tmp_path / "out.png", sidecar=True)
    (tmp_path / "notes.json").write_text('{"omnidex:generation": {"prompt": "not beside a picture"}}')
    Image.new("RGB", (8, 8)).save(tmp_path / "mine.png")
    (tmp_path / "mine.png.json").write_text('{"camera": "x100", "iso": 200}')  # someone else's metadata
    problems = {p.name: why for p, why in iter_files([tmp_path], [], False, False)}
    assert problems["out.png.json"] == "provenance sidecar of out.png (indexed with the picture)"
    assert problems["out.png"] == "" and problems["notes.json"] == "" and problems["mine.png.json"] == ""
    assert read_provenance(tmp_path / "out.png")["seed"] == 1
