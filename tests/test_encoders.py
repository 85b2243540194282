"""Encoders: the float32/unit-row boundary, the registry, and real behaviour of the bundled models.

Nothing here touches the network: the hub is made unreachable (HF_HUB_OFFLINE, or an endpoint on
127.0.0.1 that refuses connections), CLIP is a tiny random-initialised model saved to a temp dir.
"""
from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import time
import wave

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from omnidex.encoders.base import Encoder, l2_normalise
from omnidex.encoders.registry import available, build, clear_cache
from omnidex.errors import EncoderUnavailable, OmnidexError

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _unit_f32(v: np.ndarray, n: int, d: int) -> None:
    assert type(v) is np.ndarray and v.dtype == np.float32 and v.shape == (n, d)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------- base + registry

def test_l2_normalise_converts_tensors_and_keeps_zero_rows():
    torch = pytest.importorskip("torch")
    out = l2_normalise(torch.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True) * 2)
    assert type(out) is np.ndarray and out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], atol=1e-6)
    assert l2_normalise(np.array([1.0, 1.0], dtype=np.float64)).shape == (1, 2)


def test_registry_names_unknown_and_cache():
    assert {"minilm", "clip", "phash"} <= set(available())
    with pytest.raises(OmnidexError, match="unknown encoder 'nope'"):
        build("nope")
    assert build("phash") is build("phash")


# ---------------------------------------------------------------- phash

def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT, size)


def _scene(seed: int, text: str) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (480, 320), tuple(int(v) for v in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = rng.integers(0, 400), rng.integers(0, 260)
        w, h = rng.integers(30, 160, 2)
        shape = d.rectangle if rng.integers(0, 2) else d.ellipse
        shape([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    d.text((20, 20), text, font=_font(36), fill="black")
    return im


def _copies(im: Image.Image) -> dict[str, Image.Image]:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=35)
    w, h = im.size
    return {"resize": im.resize((w // 3, h // 3)), "jpeg": Image.open(io.BytesIO(buf.getvalue())),
            "bright": ImageEnhance.Brightness(im).enhance(1.3),
            "crop": im.crop((int(w * .04), int(h * .04), int(w * .96), int(h * .96)))}


def test_phash_near_duplicates_are_nearer_than_other_images():
    enc = build("phash")
    assert isinstance(enc, Encoder) and enc.modalities == frozenset({"image"})
    assert enc.identity.startswith("phash:") and "@v" in enc.identity
    originals = [_scene(i, t) for i, t in enumerate(["OMNIDEX 2026", "quarterly results", "red car", "hello"])]
    base = enc.encode_image(originals)
    _unit_f32(base, 4, enc.dim)
    assert 128 <= enc.dim <= 256
    for i, im in enumerate(originals[:3]):
        for kind, copy in _copies(im).items():
            sims = base @ enc.encode_image([copy])[0]
            others = np.delete(sims, i)
            assert sims[i] > 0.8 and sims[i] > others.max() + 0.3, (i, kind, sims)


def test_phash_deterministic_empty_and_text_refused():
    enc = build("phash")
    im = _scene(7, "same")
    np.testing.assert_array_equal(enc.encode_image([im]), enc.encode_image([im.copy()]))
    assert enc.encode_image([]).shape == (0, enc.dim)
    blank = enc.encode_image([Image.new("L", (5, 5), 128)])
    _unit_f32(blank, 1, enc.dim)  # a flat image still gets a unit vector, never NaN
    with pytest.raises(NotImplementedError):
        enc.encode_text(["a"])


# ---------------------------------------------------------------- MiniLM (bundled, real)

@pytest.mark.slow
def test_minilm_paraphrase_beats_unrelated_and_returns_numpy():
    enc = build("minilm")
    assert enc.dim == 384 and enc.modalities == frozenset({"text"})
    assert enc.identity.startswith("minilm:sentence-transformers/all-MiniLM-L6-v2@")
    v = enc.encode_text(["The quarterly results beat expectations.",
                         "Earnings for the quarter were better than forecast.",
                         "A red car is parked next to the river."])
    _unit_f32(v, 3, 384)  # the boundary: plain NumPy float32, not a torch tensor
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    assert enc.encode_text([]).shape == (0, 384)
    with pytest.raises(TypeError):
        enc.encode_text("one string")
    with pytest.raises(NotImplementedError):
        enc.encode_image([Image.new("RGB", (8, 8))])


# ---------------------------------------------------------------- CLIP (tiny, random init)

@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    from omnidex.encoders.clip import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_tiny_clip_text_and_image_from_a_directory(tiny_clip_dir):
    enc = build("clip", model=str(tiny_clip_dir))
    assert enc.dim == 16 and enc.modalities == frozenset({"text", "image"})
    assert len(enc._processor.tokenizer) > 1000
    t = enc.encode_text(["a red car", "quarterly results", "x" * 500])  # long text is truncated
    _unit_f32(t, 3, 16)
    imgs = [Image.new("RGB", (100, 60), "red"), Image.new("L", (20, 20), 50), _scene(1, "hi").convert("RGBA")]
    _unit_f32(enc.encode_image(imgs), 3, 16)
    assert enc.encode_text([]).shape == (0, 16) and enc.encode_image([]).shape == (0, 16)
    enc.batch_size = 2  # batching must not change the answer
    np.testing.assert_allclose(enc.encode_text(["a", "b", "c"])[2], enc.encode_text(["c"])[0], atol=1e-5)


def test_tiny_clip_identity_names_dir_and_weights_and_is_stable(tiny_clip_dir, tmp_path):
    first = build("clip", model=str(tiny_clip_dir))
    clear_cache()
    second = build("clip", model=str(tiny_clip_dir))
    assert first is not second and first.identity == second.identity
    assert first.identity.startswith(f"clip:{tiny_clip_dir.resolve()}@") and len(first.identity.split("@")[1]) == 12
    from omnidex.encoders.clip import save_tiny_clip

    other = build("clip", model=str(save_tiny_clip(tmp_path / "other", seed=1)))
    assert other.identity.split("@")[1] != first.identity.split("@")[1]


def test_clip_boundary_accepts_output_objects_and_tensors():
    torch = pytest.importorskip("torch")
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    from omnidex.encoders.clip import _features

    x = torch.ones(2, 4)
    for out in (x, BaseModelOutputWithPooling(pooler_output=x)):
        got = _features(out)
        assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (2, 4)


def test_clip_refuses_a_broken_tokenizer(tiny_clip_dir, tmp_path):
    from transformers import CLIPTokenizer

    broken = tmp_path / "broken"
    shutil.copytree(tiny_clip_dir, broken)
    CLIPTokenizer(vocab={"<|startoftext|>": 0, "<|endoftext|>": 1}, merges=[]).save_pretrained(broken)
    with pytest.raises(EncoderUnavailable, match="tokenizer came back broken"):
        build("clip", model=str(broken))


def test_clip_loads_from_the_hub_cache_offline(tiny_clip_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--omnidex--tiny-clip"
    shutil.copytree(tiny_clip_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    enc = build("clip", model="omnidex/tiny-clip")
    assert enc.identity == "clip:omnidex/tiny-clip@0123456789ab"
    _unit_f32(enc.encode_text(["hello"]), 1, 16)


def _expect_fast_unavailable(model: str) -> str:
    start = time.monotonic()
    with pytest.raises(EncoderUnavailable) as err:
        build("clip", model=model)
    assert time.monotonic() - start < 15
    msg = str(err.value)
    assert model in msg and "huggingface-cli download" in msg and "--clip" in msg
    return msg


def test_clip_hub_id_offline_fails_fast_with_the_fix(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE" in _expect_fast_unavailable("openai/clip-vit-base-patch32")


def test_clip_hub_unreachable_fails_fast_without_retries(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # refuses: no packet leaves
    assert "cannot reach 127.0.0.1:9" in _expect_fast_unavailable("openai/clip-vit-base-patch32")


def test_clip_missing_directory_is_named():
    with pytest.raises(EncoderUnavailable, match="/no/such/clip/dir"):
        build("clip", model="/no/such/clip/dir")


# ---------------------------------------------------------------- Whisper tiny.en (bundled, real)

def _speech(text: str, tmp_path, lead_silence_s: float = 0.0) -> np.ndarray:
    """espeak-ng narration as float32 16 kHz mono, after ``lead_silence_s`` of silence."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        sr, raw = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0
    n = int(len(x) * 16000 / sr)
    y = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    return np.concatenate([np.zeros(int(lead_silence_s * 16000), np.float32), y])


@pytest.fixture(scope="module")
def transcriber():
    pytest.importorskip("faster_whisper")
    from omnidex.encoders.whisper import Transcriber

    return Transcriber("tiny.en")


def _words(transcript) -> list[str]:
    return ["".join(c for c in w.text.lower() if c.isalnum()) for s in transcript.segments for w in s.words]


@pytest.mark.slow
def test_whisper_gets_most_words_with_ordered_timestamps(transcriber, tmp_path):
    from omnidex.encoders.whisper import Transcript, Word

    assert transcriber.identity.startswith("whisper:tiny.en@")
    audio = _speech("we will meet again next monday morning", tmp_path, lead_silence_s=0.5)
    tr = transcriber.transcribe(audio)
    assert isinstance(tr, Transcript) and tr.language == "en"
    assert tr.duration == pytest.approx(audio.size / 16000)
    # tiny.en mishears some espeak phrases ("quick brown fox" -> "quick round-fog stump");
    # this one it gets right at several offsets. Allow one miss, not more.
    expected = "we will meet again next monday morning".split()
    got = _words(tr)
    assert sum(w in got for w in expected) >= 6, got
    words = [w for s in tr.segments for w in s.words]
    assert all(isinstance(w, Word) and type(w.start) is float for w in words)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and len(set(starts)) >= len(starts) - 1
    assert all(0.0 <= w.start <= w.end <= tr.duration + 0.05 and 0.0 <= w.prob <= 1.0 for w in words)
    with pytest.raises(dataclasses.FrozenInstanceError):
        words[0].start = 1.0


@pytest.mark.slow
def test_whisper_timestamps_follow_leading_silence(transcriber, tmp_path):
    audio = _speech("please open the red door", tmp_path, lead_silence_s=3.0)
    tr = transcriber.transcribe(audio)
    assert transcriber.transcribe(audio) == tr  # greedy temperature 0: ingest is reproducible
    words = [w for s in tr.segments for w in s.words]
    assert words and abs(words[0].start - 3.0) <= 0.7, words[:2]
    assert sum(w in _words(tr) for w in "please open the red door".split()) >= 4


def test_whisper_empty_and_bad_audio(transcriber):
    tr = transcriber.transcribe(np.zeros(0, np.float32))
    assert tr.segments == () and tr.duration == 0.0
    with pytest.raises(ValueError, match="mono"):
        transcriber.transcribe(np.zeros((2, 16000), np.float32))


def test_whisper_other_sizes_offline_fail_fast(tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    from huggingface_hub import constants

    from omnidex.encoders.whisper import Transcriber

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(EncoderUnavailable, match=r"'base\.en'.*huggingface-cli download Systran/faster-whisper-base\.en"):
        Transcriber("base.en")
    assert time.monotonic() - start < 15
    with pytest.raises(EncoderUnavailable, match="Invalid model size"):
        Transcriber("enormous")


# ---------------------------------------------------------------- OCR (bundled PP-OCRv4, real)

@pytest.mark.slow
def test_ocr_reads_rendered_text_in_reading_order():
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex.encoders.ocr import OCR, OcrLine

    im = Image.new("RGB", (640, 240), "white")
    d = ImageDraw.Draw(im)
    d.text((30, 130), "quarterly results", font=_font(40), fill="black")
    d.text((30, 30), "OMNIDEX 2026", font=_font(40), fill="black")
    ocr = OCR()
    assert ocr.identity.startswith("rapidocr:ppocrv4@")
    lines = ocr.read(im)
    assert all(isinstance(ln, OcrLine) and ln.score >= 0.5 for ln in lines)
    assert all(0 <= ln.box[0] < ln.box[2] <= 640 and 0 <= ln.box[1] < ln.box[3] <= 240 for ln in lines)
    assert ocr.read_text(im) == "OMNIDEX 2026\nquarterly results"
    assert ocr.read(Image.new("RGB", (200, 100), "white")) == []


def test_reading_order_groups_rows_then_left_to_right():
    from omnidex.encoders.ocr import OcrLine, reading_order

    right = OcrLine("b", 0.9, (200, 12, 260, 40))
    left = OcrLine("a", 0.9, (10, 10, 100, 38))
    below = OcrLine("c", 0.9, (10, 60, 100, 90))
    assert [ln.text for ln in reading_order([below, right, left])] == ["a", "b", "c"]
