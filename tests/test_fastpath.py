"""The CPU fast path of CLIP's towers: runtimes (ONNX Runtime fp32 / int8) for images and query texts, the
lean image front end, the export cache, the torch fallback, and the CLIP throughput benchmark's smoke run.

Tiny random-initialised CLIPs of the real architecture: plumbing and numerical agreement, not quality.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from omnidex.encoders import fastpath
from omnidex.errors import OmnidexError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _onnx_cache(tmp_path_factory, monkeypatch):
    """Exports go to a per-session folder, never to the user's cache."""
    monkeypatch.setenv("OMNIDEX_CACHE", str(tmp_path_factory.getbasetemp() / "omnidex-cache"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from omnidex.encoders.clip import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def tiny224(tmp_path_factory):
    """Tiny towers at CLIP's real input size, so the processor resizes and crops as ViT-B/32's does."""
    from omnidex.encoders.clip import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip-224"), image_size=224)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """JPEG photos of several shapes (landscape, portrait, odd sizes) and one RGBA PNG."""
    from bench.clip.run import photo

    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i, size in enumerate([(640, 480), (480, 640), (333, 517), (1000, 250), (224, 224), (300, 260)]):
        paths.append(folder / f"p{i}.jpg")
        photo(i, size).save(paths[-1], quality=90)
    rgba = photo(9, (320, 240)).convert("RGBA")
    rgba.putalpha(128)
    paths.append(folder / "alpha.png")
    rgba.save(paths[-1])
    return paths


def _processor_vectors(enc, paths):
    """The reference: the model's own transformers processor, then torch fp32."""
    from PIL import Image

    from omnidex.encoders.fastpath import to_rgb

    pixels = enc._processor(images=[to_rgb(Image.open(p)) for p in paths], return_tensors="np")["pixel_values"]
    return pixels.astype(np.float32), enc._torch_images(pixels.astype(np.float32))


def test_runtimes_are_parsed_and_bad_ones_list_the_choices():
    assert fastpath.parse_runtimes(["visual=onnx-int8"]) == (("visual", "onnx-int8"),)
    assert fastpath.parse_runtimes(["visual=onnx", "visual=torch"]) == (("visual", "torch"),)  # last wins
    assert fastpath.parse_runtimes(None) == ()
    assert fastpath.parse_runtimes(["query=auto", "visual=onnx"]) == (("query", "auto"), ("visual", "onnx"))
    for bad in ("visual=tensorrt", "text=onnx", "visual", "=onnx", "visual=auto", "query=fast"):
        with pytest.raises(OmnidexError, match="torch, onnx, onnx-int8") as err:
            fastpath.parse_runtimes([bad])
        assert "visual" in str(err.value) and "query" in str(err.value)


def test_cli_refuses_an_unknown_runtime_before_any_work(tmp_path, capsys):
    from omnidex.cli import main

    assert main(["index", str(tmp_path), "--db", str(tmp_path / "db"), "--runtime", "visual=gpu"]) == 2
    err = capsys.readouterr().err
    assert "visual=gpu" in err and "onnx-int8" in err
    assert not (tmp_path / "db").exists()


def test_cache_dir_and_thread_count_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OMNIDEX_CACHE", str(tmp_path / "c"))
    assert fastpath.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("OMNIDEX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fastpath.cache_dir() == tmp_path / "xdg" / "omnidex"
    assert fastpath.onnx_path("clip:x@1", "onnx", 224, 224) != fastpath.onnx_path("clip:x@1", "onnx-int8", 224, 224)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert fastpath.cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # Ray sets it to an actor's CPUs
    assert fastpath.cores() == 1


def test_prefetch_prepares_the_next_batch_while_the_current_one_runs():
    started = {i: threading.Event() for i in range(4)}

    def prepare(chunk):
        started[chunk].set()
        return chunk * 10, threading.current_thread().name

    got = []
    for value, thread in fastpath.prefetched(range(4), prepare):
        i = value // 10
        if i < 3:  # the worker starts batch i+1 before we are done with batch i
            assert started[i + 1].wait(5)
        got.append((value, thread))
    assert [v for v, _ in got] == [0, 10, 20, 30]
    assert all(t.startswith("omnidex-prep") for _, t in got)

    def boom(chunk):
        raise ValueError(f"bad chunk {chunk}")

    with pytest.raises(ValueError, match="bad chunk 0"):
        list(fastpath.prefetched(range(2), boom))


def test_fast_front_end_matches_the_processor(tiny224, photos):
    """Pixels within two grey levels of CLIPImageProcessor for PIL input; vectors >= 0.999 cosine with
    reduced-scale JPEG decoding from files (landscape, portrait, odd sizes, transparency)."""
    from PIL import Image

    from omnidex.encoders.clip import CLIP

    enc = CLIP(str(tiny224))
    assert enc._prep is not None and enc._prep.out_hw == (224, 224)
    ref_pixels, ref = _processor_vectors(enc, photos)
    fast_pixels = enc._prep.batch([Image.open(p) for p in photos])
    levels = np.abs(fast_pixels - ref_pixels) / max(enc._prep.scale)  # in uint8 steps
    assert levels.max() <= 2.01 and levels.mean() < 0.1  # Pillow's fixed-point rounding, one pass vs two
    from_files = enc.encode_image([str(p) for p in photos])
    cos = np.sum(from_files * ref, axis=1)
    assert cos.min() >= 0.999, cos
    assert np.allclose(enc.encode_image([Image.open(p) for p in photos]), from_files, atol=0.02)


def test_decode_is_reduced_scale_upright_and_rgb(tmp_path, tiny224):
    from PIL import Image

    from bench.clip.run import photo
    from omnidex.encoders.clip import CLIP

    prep = CLIP(str(tiny224))._prep
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    photo(1, (1280, 960)).save(tmp_path / "turned.jpg", quality=90, exif=exif)
    image, size = fastpath.decode(tmp_path / "turned.jpg", prep)
    assert size == (960, 1280) and image.mode == "RGB"
    assert image.size == (240, 320)  # DCT scale 1/4 keeps the short side >= 224 (resize target 224x298)
    full, _ = fastpath.decode(tmp_path / "turned.jpg")
    assert full.size == (960, 1280)


@pytest.mark.slow
def test_onnx_runtimes_agree_with_torch_and_keep_the_identity(tiny, photos, monkeypatch):
    from omnidex.encoders.clip import CLIP

    base = CLIP(str(tiny))
    ref = base.encode_image([str(p) for p in photos])
    encoders = {rt: CLIP(str(tiny), runtime=rt) for rt in ("onnx", "onnx-int8")}
    for rt, enc in encoders.items():
        assert enc.runtime == rt and enc.runtime_notice is None
        assert enc.identity == base.identity and enc.dim == base.dim
        assert np.array_equal(enc.encode_text(["a red car"]), base.encode_text(["a red car"]))  # text: torch
        assert fastpath.onnx_path(enc.identity, rt, 32, 32).exists()
    cos = {rt: np.sum(enc.encode_image([str(p) for p in photos]) * ref, axis=1) for rt, enc in encoders.items()}
    assert cos["onnx"].min() >= 0.999, cos["onnx"]
    assert cos["onnx-int8"].min() >= 0.99, cos["onnx-int8"]  # measured ~0.9998 on random-init ViT-B/32

    def no_export(*args, **kwargs):
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(fastpath, "export_image_tower", no_export)
    assert CLIP(str(tiny), runtime="onnx").runtime == "onnx"


@pytest.mark.slow
def test_a_failed_export_falls_back_to_torch_with_one_notice(tiny, photos, tmp_path, monkeypatch):
    from omnidex import Index, IndexConfig
    from omnidex.encoders.clip import CLIP
    from omnidex.encoders.registry import clear_cache

    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setenv("OMNIDEX_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(fastpath, "export_image_tower", broken)
    enc = CLIP(str(tiny), runtime="onnx-int8")
    assert enc.runtime == "torch" and "exporter exploded" in enc.runtime_notice and "torch" in enc.runtime_notice
    assert enc.encode_image([str(photos[0])]).shape == (1, enc.dim)
    clear_cache()
    cfg = IndexConfig(clip_model=str(tiny), speech=False, ocr=False, sound=False, runtimes=(("visual", "onnx"),))
    report = Index(tmp_path / "db", cfg).add([photos[0].parent])
    assert report.count("indexed") == len(photos)
    runtime_notes = [n for n in report.notices if "runtime 'onnx'" in n]
    assert len(runtime_notes) == 1 and "exporter exploded" in runtime_notes[0], report.notices
    clear_cache()


TEXTS = ["a red car", "a dog running on the beach at sunset, seen from far away", "x", ""]


@pytest.mark.slow
def test_text_runtimes_agree_with_torch_and_are_exported_once(tiny, monkeypatch, tmp_path):
    from omnidex.encoders.clip import CLIP

    # an empty export cache: another test of this session may have exported the same tiny model's
    # text tower already, and a cached export is used at once (the test would then depend on order)
    monkeypatch.setenv("OMNIDEX_CACHE", str(tmp_path / "cache"))
    base = CLIP(str(tiny))  # text_runtime="torch"
    ref = base.encode_text(TEXTS)
    assert base.text_runtime == "torch"
    # int8 on a width-32 tower is coarse (worst text ~0.97); the real-size ViT-B/32 text tower's agreement
    # is measured by bench/scale (min cosine over its queries) and checked on probe texts at every load
    for rt, least in (("onnx", 0.9999), ("onnx-int8", 0.95)):
        enc = CLIP(str(tiny), text_runtime=rt)
        assert enc.text_runtime == "torch"  # nothing exported until the first text
        got = enc.encode_text(TEXTS)  # one padded batch of very different lengths, an empty string included
        assert enc.text_runtime == rt and enc.text_runtime_notice is None
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cos = np.sum(got * ref, axis=1)
        assert cos.min() >= least, (rt, cos)
        one_by_one = np.concatenate([enc.encode_text([t]) for t in TEXTS])  # padding must not move a vector
        # (int8 scales activations per batch, so the company a text keeps moves it a little)
        assert np.sum(one_by_one * got, axis=1).min() >= (0.99999 if rt == "onnx" else 0.99)
        assert enc.encode_text([]).shape == (0, enc.dim)
        assert fastpath.onnx_path(enc.identity, "text-" + rt, 0, 0).exists()
    auto = CLIP(str(tiny), text_runtime="auto")
    auto.encode_text(["a"])
    assert auto.text_runtime == "onnx"  # onnx and onnxruntime are installed here

    def no_export(*args, **kwargs):
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(fastpath, "export_text_tower", no_export)
    again = CLIP(str(tiny), text_runtime="onnx")
    again.encode_text(["a red car"])
    assert again.text_runtime == "onnx"
    with pytest.raises(OmnidexError, match="unknown text runtime"):
        CLIP(str(tiny), text_runtime="tensorrt")


@pytest.mark.slow
def test_a_failed_text_export_searches_with_torch_and_says_why(tiny, photos, tmp_path, monkeypatch, capsys):
    from omnidex import Index, IndexConfig
    from omnidex.encoders.clip import CLIP
    from omnidex.encoders.registry import clear_cache

    def broken(*args, **kwargs):
        raise RuntimeError("text exporter exploded")

    monkeypatch.setenv("OMNIDEX_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(fastpath, "export_text_tower", broken)
    enc = CLIP(str(tiny), text_runtime="onnx")
    got = enc.encode_text(["a red car"])
    assert enc.text_runtime == "torch" and "text exporter exploded" in enc.text_runtime_notice
    assert np.array_equal(got, CLIP(str(tiny)).encode_text(["a red car"]))
    assert "text exporter exploded" in capsys.readouterr().err
    clear_cache()
    try:
        ix = Index(tmp_path / "db", IndexConfig(clip_model=str(tiny), speech=False, ocr=False, sound=False))
        ix.add([photos[0].parent])
        assert ix.search("a red circle", top_k=3, min_score=0.0)  # answered, by torch
        assert ix._searcher.models.encoder("visual").text_runtime == "torch"
    finally:
        clear_cache()  # the fallen-back encoder must not serve later tests


@pytest.mark.slow
def test_search_encodes_queries_on_onnx_by_default_with_the_same_ranking(tiny, photos, tmp_path, capsys):
    """Searches use ONNX Runtime's text tower unless told otherwise (``--runtime query=torch``); same answers."""
    from omnidex import Index, IndexConfig
    from omnidex.cli import main

    cfg = IndexConfig(clip_model=str(tiny), speech=False, ocr=False, sound=False)
    Index(tmp_path / "db", cfg).add([photos[0].parent])
    fast, slow = Index(tmp_path / "db"), Index(tmp_path / "db", IndexConfig(runtimes=(("query", "torch"),)))
    for q in ("a red circle", "stripes", "a photo of a dog"):
        a, b = fast.search(q, top_k=5, min_score=0.0), slow.search(q, top_k=5, min_score=0.0)
        assert [h.path for h in a] == [h.path for h in b]
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-3)
    assert fast._searcher.models.encoder("visual").text_runtime == "onnx"
    assert slow._searcher.models.encoder("visual").text_runtime == "torch"
    flags = ["--db", str(tmp_path / "db"), "--json", "--top", "3"]
    assert main(["search", "a red circle", "--runtime", "query=torch"] + flags) == 0
    assert main(["search", "a red circle", "--runtime", "query=turbo"] + flags) == 2
    assert "query=turbo" in capsys.readouterr().err


@pytest.mark.slow
def test_ingest_with_the_onnx_runtime_finds_what_torch_finds(tiny, photos, tmp_path):
    """``omnidex index --runtime visual=onnx`` stores vectors in the same space: same identity, same top hits."""
    from omnidex import Index, IndexConfig
    from omnidex.cli import main

    folder = photos[0].parent
    flags = ["--clip", str(tiny), "--no-speech", "--no-ocr", "--clap", "none", "--json"]
    assert main(["index", str(folder), "--db", str(tmp_path / "onnx"), "--runtime", "visual=onnx"] + flags) == 0
    Index(tmp_path / "torch", IndexConfig(clip_model=str(tiny), speech=False, ocr=False, sound=False)).add([folder])
    a, b = Index(tmp_path / "onnx"), Index(tmp_path / "torch")
    assert a.store.space_spec("visual").identity == b.store.space_spec("visual").identity
    assert a.store.space_spec("visual").kwargs == b.store.space_spec("visual").kwargs  # no runtime in the spec
    for p in photos[:3]:
        top_a, top_b = a.search(image=p, top_k=1), b.search(image=p, top_k=1)
        assert top_a[0].path == top_b[0].path and top_a[0].path.endswith(p.name)
    ta, tb = a.search("a red circle", top_k=3, min_score=0.0), b.search("a red circle", top_k=3, min_score=0.0)
    assert [h.path for h in ta] == [h.path for h in tb]


@pytest.mark.bench  # a benchmark smoke run: make test-bench
def test_clip_bench_quick_writes_the_expected_entries(tmp_path):
    env = dict(os.environ, OMNIDEX_CACHE=str(tmp_path / "cache"))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "bench.clip.run", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    want = {"omnidex torch", "omnidex onnx", "omnidex onnx-int8", "transformers loop", "transformers batch 32",
            "sentence-transformers"}
    assert want <= set(res["contenders"])
    for name, row in res["contenders"].items():
        assert row["img_s"] > 0 and row["runs"] and row["cosine_vs_fp32"]["min"] > 0.99, name
    assert res["contenders"]["transformers loop"]["vs_transformers_loop"] == 1.0
    assert res["limit"]["peak_img_s"] > 0 and res["limit"]["gflops_per_image"] > 0
    assert set(res["batch_scaling"]) == {"torch", "onnx", "onnx-int8"} and "8" in res["batch_scaling"]["onnx"]
    assert {"fp32 >= 10 img/s", "fast path >= 20 img/s"} <= set(res["targets"])
    assert (out / "table.md").read_text().startswith("# CLIP") and (out / "throughput.png").stat().st_size > 0
    assert (out / "batch_scaling.png").exists()


def test_vit_b32_flops_are_counted_from_the_architecture():
    from types import SimpleNamespace

    from bench.clip.run import tower_flops

    b32 = SimpleNamespace(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, image_size=224, patch_size=32)
    f = tower_flops(b32, 512)
    assert f["tokens"] == 50 and 8.7 < f["gflops"] < 8.9  # the usual ~4.4 GMACs of ViT-B/32
