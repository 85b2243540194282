"""Text queries without torch (issue 17, part 1): MiniLM and the in-house LiT text towers on ONNX
Runtime + tokenizers, checked against torch; a cold CLI text search imports no torch, transformers
or sentence-transformers, and ranks as the torch path does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HEAVY = ("torch", "transformers", "sentence_transformers")
TEXTS = ["ferry to the islands", "  how much did sales increase  ", "x", "",
         "Ünïcode café naïve 東京 — emoji 🚲", "word " * 400]  # the last is cut at 256 word pieces


@pytest.fixture(scope="module")
def towers():
    from omnidex.encoders.minilm import MiniLM

    return MiniLM(runtime="onnx"), MiniLM(runtime="torch")


def test_onnx_minilm_agrees_with_sentence_transformers(towers):
    fast, slow = towers
    assert (fast.runtime, slow.runtime) == ("onnx", "torch")
    assert fast.identity == slow.identity and fast.dim == slow.dim == 384  # same space, same stored identity
    a, b = fast.encode_text(TEXTS), slow.encode_text(TEXTS)
    assert a.dtype == np.float32 and a.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.9999
    # a batch of many lengths gives each row what it gives alone (padding and reordering are invisible)
    alone = np.concatenate([fast.encode_text([t]) for t in TEXTS])
    assert np.allclose(alone, a, atol=1e-5)


def test_a_tampered_export_is_never_used(towers, tmp_path, monkeypatch, capsys):
    """The sidecar's torch vectors are checked on every load: a file that no longer matches them is
    refused and torch does the work, with a notice that names the file."""
    from omnidex.encoders import onnx_text
    from omnidex.encoders.minilm import MiniLM

    fast, _ = towers
    path = onnx_text.export_path(fast.identity)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    bad = tmp_path / "cache"
    monkeypatch.setenv("OMNIDEX_CACHE", str(bad))
    target = onnx_text.export_path(fast.identity)
    target.parent.mkdir(parents=True)
    target.write_bytes(path.read_bytes())
    data = path.with_name(path.name + ".data")  # the weights beside the graph
    target.with_name(target.name + ".data").write_bytes(data.read_bytes())
    meta["reference"][0] = list(-np.asarray(meta["reference"][0]))  # torch said something else
    target.with_suffix(".json").write_text(json.dumps(meta))
    enc = MiniLM(runtime="onnx")
    assert enc.runtime == "torch" and "agree" in enc.runtime_notice and str(target) in enc.runtime_notice
    assert "notice" in capsys.readouterr().err
    assert float(enc.encode_text(["quarterly results"])[0] @ fast.encode_text(["quarterly results"])[0]) > 0.9999


def test_runtime_switch_and_a_clear_error(monkeypatch):
    from omnidex.encoders.onnx_text import wanted_runtime
    from omnidex.errors import EncoderUnavailable

    monkeypatch.setenv("OMNIDEX_TEXT_RUNTIME", "torch")
    assert wanted_runtime() == "torch"
    monkeypatch.setenv("OMNIDEX_TEXT_RUNTIME", "auto")
    assert wanted_runtime() == "onnx" and wanted_runtime(device="cuda") == "torch"
    with pytest.raises(ValueError, match="OMNIDEX_TEXT_RUNTIME"):
        wanted_runtime("tensorflow")
    from omnidex.encoders.minilm import MiniLM

    with pytest.raises(EncoderUnavailable, match="auto, onnx, torch"):
        MiniLM(runtime="fast please")


def test_lit_towers_answer_text_from_minilm_without_loading_their_torch_models(towers):
    from omnidex.audio.encoder import AudioLitEncoder, bundled_sound_dir
    from omnidex.encoders.lit import LitEncoder
    from omnidex.spaces import bundled_visual_dir

    fast, _ = towers
    q = fast.encode_text(["a red star"])
    for enc in (LitEncoder(str(bundled_visual_dir())), AudioLitEncoder(str(bundled_sound_dir()))):
        assert np.allclose(enc.encode_text(["a red star"]), q, atol=1e-6)
        assert enc._model is None  # the image / sound tower was never loaded for text


def _search_subprocess(db: Path, query: str, env: dict | None = None) -> tuple[list[dict], list[str]]:
    """A cold ``omnidex search QUERY --json`` in a fresh interpreter: (hits, heavy modules it imported)."""
    code = ("import json, sys\nfrom omnidex.cli import main\n"
            f"status = main(['search', {query!r}, '--db', {str(db)!r}, '--json', '--top-k', '10'])\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
            "print('HEAVY=' + json.dumps(heavy), file=sys.stderr)\nsys.exit(status)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-2000:]
    heavy = json.loads(next(ln for ln in out.stderr.splitlines() if ln.startswith("HEAVY="))[6:])
    return json.loads(out.stdout), heavy


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """Documents and drawn shapes indexed with the defaults (MiniLM text, the bundled visual model)."""
    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.demo import _shape_photos, write_docs

    root = tmp_path_factory.mktemp("lib")
    write_docs(root)
    _shape_photos(root / "shapes")
    Index(root / "db", IndexConfig(speech=False, ocr=False)).add([root])
    return root / "db"


def test_a_cold_cli_text_search_imports_no_torch(small_index):
    hits, heavy = _search_subprocess(small_index, "what do I need for hiking")
    assert heavy == []
    assert hits and hits[0]["path"].endswith("travel.txt")


def test_the_torch_switch_still_works_and_ranks_the_same(small_index):
    for q in ("what do I need for hiking", "a yellow heart"):
        fast, heavy = _search_subprocess(small_index, q)
        slow, heavy_slow = _search_subprocess(small_index, q, {"OMNIDEX_TEXT_RUNTIME": "torch"})
        assert heavy == [] and "torch" in heavy_slow
        _assert_same_ranking(fast, slow, q)


def _assert_same_ranking(fast: list[dict], slow: list[dict], query: str, tol: float = 2e-3) -> None:
    assert [(h["path"], h["start"]) for h in fast] == [(h["path"], h["start"]) for h in slow], query
    for a, b in zip(fast, slow):
        assert abs(a["score"] - b["score"]) <= tol, (query, a, b)


@pytest.mark.slow
def test_the_demo_ranks_the_same_without_torch(tmp_path_factory):
    """The demo library (video with speech and slides, sound, images, documents): every text query of
    the demo ranks the same through ONNX Runtime as through torch, and imports no torch."""
    from omnidex import Index
    from omnidex.demo import build_corpus

    out = tmp_path_factory.mktemp("demo")
    Index(out / "db").add([build_corpus(out)["corpus"]])
    for q in ("how much did sales increase", "solar roof", "what do I need for hiking", "beach party",
              "a yellow heart", "a dog playing chess", "ferry to the islands", "a siren wailing"):
        fast, heavy = _search_subprocess(out / "db", q)
        slow, _ = _search_subprocess(out / "db", q, {"OMNIDEX_TEXT_RUNTIME": "torch"})
        assert heavy == [], (q, heavy)
        _assert_same_ranking(fast, slow, q)


@pytest.mark.slow
def test_a_clip_index_answers_text_without_torch_and_ranks_the_same(tmp_path):
    """An index with a CLIP visual space: the text tower exported at ingest runs from ``tokenizers`` and
    ONNX Runtime in a cold process (the model loads only for a picture) and ranks as torch does."""
    from PIL import Image

    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.encoders.clip import save_tiny_clip
    from omnidex.encoders.registry import clear_cache

    model = save_tiny_clip(tmp_path / "clip", seed=3)
    pics = tmp_path / "pics"
    pics.mkdir()
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)]):
        Image.new("RGB", (48, 40), colour).save(pics / f"p{i}.png")
    try:
        Index(tmp_path / "db", IndexConfig(clip_model=str(model), speech=False, ocr=False, sound=False)).add([pics])
    finally:
        clear_cache()
    for q in ("a red square", "green"):
        fast, heavy = _search_subprocess(tmp_path / "db", q)
        slow, heavy_slow = _search_subprocess(tmp_path / "db", q, {"OMNIDEX_TEXT_RUNTIME": "torch"})
        assert heavy == [] and "torch" in heavy_slow
        assert any("clip" in h["signals"] for h in fast)
        _assert_same_ranking(fast, slow, q)
