"""Audio-text search of non-speech sounds (issue 6): the log-mel front end, sound windows, the CLAP
wrapper (tiny random-initialised model from a local dir), the bundled offline audio model's held-out
text->sound recall, and sound search through a real index (text query, query by example, bad files).
"""
from __future__ import annotations

import numpy as np
import pytest

from omnidex.audio import frontend as fe

SR = 16_000


def _tone(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(round(seconds * sr))) / sr)).astype(np.float32)


# ---------------------------------------------------------------- front end

@pytest.mark.parametrize("n", [400, 401, 559, 560, 561, 16_000, 48_007])
def test_frame_count_and_hop_follow_the_padding_rule(n):
    frames = fe.frame_signal(np.arange(n, dtype=np.float32), 400, 160)
    assert frames.shape == (1 + (n - 400) // 160, 400) == (fe.n_frames(n), 400)
    assert frames[0, 0] == 0 and frames[0, -1] == 399
    assert np.all(frames[1:, 0] - frames[:-1, 0] == 160)  # 10 ms hop


def test_short_and_empty_signals():
    assert fe.frame_signal(np.ones(100), 400, 160).shape == (1, 400)  # zero-padded to one frame
    assert fe.frame_signal(np.ones(0), 400, 160).shape == (0, 400)
    assert fe.log_mel(np.ones(0, np.float32), SR).shape == (0, 64)


def test_config_defaults_are_the_textbook_ones():
    cfg = fe.FrontendConfig()
    assert (cfg.sr, cfg.win, cfg.hop, cfg.n_fft, cfg.n_mels) == (16_000, 400, 160, 512, 64)
    w = fe.hann(400)
    assert w[0] == 0 and abs(w[200] - 1) < 1e-6  # periodic Hann


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_mel_filterbank_shape_and_range(scale):
    cfg = fe.FrontendConfig(mel_scale=scale, fmin=100.0, fmax=6000.0)
    fb = fe.mel_filterbank(cfg)
    assert fb.shape == (64, 257)
    assert fb.max() <= 1.0 + 1e-6 and (fb.sum(axis=1) > 0).all()  # every band sees some bins
    freqs = np.fft.rfftfreq(512, 1 / SR)
    assert fb[:, freqs > 6000.0].sum() == 0 and fb[:, freqs < 100.0].sum() == 0
    centres = fe.mel_edges(cfg)[1:-1]
    assert np.all(np.diff(centres) > 0)


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_log_mel_shape_and_1khz_tone_peaks_in_its_band(scale):
    cfg = fe.FrontendConfig(mel_scale=scale)
    mel = fe.log_mel(_tone(1000.0, 1.0, SR), SR, cfg)
    assert mel.shape == (fe.n_frames(16_000), 64) == (98, 64)
    assert int(np.argmax(mel.mean(axis=0))) == fe.band_of(1000.0, cfg)
    lo, mid, hi = fe.mel_edges(cfg)[fe.band_of(1000.0, cfg):][:3]
    assert lo < 1000.0 < hi


def test_resampling_44k_to_16k_preserves_a_tone():
    y = fe.resample(_tone(1000.0, 1.0, 44_100), 44_100, 16_000)
    assert len(y) == 16_000
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(np.argmax(spec) * 16_000 / len(y) - 1000.0) <= 1.0


@pytest.mark.parametrize("sr", [8_000, 22_050, 44_100, 48_000])
def test_odd_sample_rates_give_the_same_features(sr):
    mel = fe.log_mel(_tone(1000.0, 1.0, sr), sr)
    assert mel.shape == (98, 64)
    assert int(np.argmax(mel.mean(axis=0))) == fe.band_of(1000.0)


def test_mono_mix_and_peak_normalisation():
    stereo = np.stack([_tone(440.0, 0.5, SR, 0.2), _tone(440.0, 0.5, SR, 0.1)], axis=1)
    x = fe.prepare(stereo, SR)
    assert x.ndim == 1 and abs(float(np.abs(x).max()) - 1.0) < 1e-6
    assert np.abs(x).max() <= 1.0


def test_silence_does_not_divide_by_zero():
    with np.errstate(all="raise"):
        z = fe.peak_normalise(np.zeros(16_000, np.float32))
        mel = fe.log_mel(np.zeros(16_000, np.float32), SR)
    assert not z.any()
    assert np.isfinite(mel).all() and np.allclose(mel, np.log(1e-10))


def test_files_at_odd_rates_decode_to_16k(tmp_path):
    from omnidex.testing.mediagen import make_tone

    for name, sr, ch in (("a.wav", 22_050, 2), ("b.flac", 48_000, 1), ("c.wav", 8_000, 1)):
        path = make_tone(tmp_path / name, 1.0, freq=1000.0, sr=sr, channels=ch, amplitude=0.3)
        x = fe.load(path)
        assert abs(len(x) - 16_000) <= 400 and abs(float(np.abs(x).max()) - 1.0) < 1e-3
        mel = fe.load_log_mel(path)
        assert mel.shape[1] == 64 and int(np.argmax(mel.mean(axis=0))) in (fe.band_of(1000.0) - 1, fe.band_of(1000.0),
                                                                           fe.band_of(1000.0) + 1)


def test_bad_audio_files_raise_media_errors(tmp_path):
    from omnidex.errors import MediaError
    from omnidex.testing.mediagen import make_tone

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    whole = make_tone(tmp_path / "whole.wav", 1.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:44])  # header only, no samples
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    for bad in (empty, cut, junk):
        with pytest.raises(MediaError) as err:
            fe.load(bad)
        assert str(bad) in str(err.value)


# ---------------------------------------------------------------- sound windows

def test_sound_windows_overlap_cover_the_tail_and_skip_silence():
    from omnidex.audio.windows import sound_windows

    x = np.concatenate([_tone(500.0, 4.0, SR), np.zeros(4 * SR, np.float32), _tone(500.0, 2.5, SR)])
    wins = sound_windows(x, SR, 3.0)
    spans = [(a, b) for a, b, _ in wins]
    assert spans[0] == (0.0, 3.0) and spans[1] == (1.5, 4.5)
    assert spans[-1][1] == pytest.approx(len(x) / SR)  # the tail is covered
    assert all(not (a >= 4.0 and b <= 8.0) for a, b in spans)  # windows inside the silence are skipped
    assert all(len(seg) == 3 * SR for _, _, seg in wins)
    assert sound_windows(_tone(500.0, 1.0, SR), SR, 3.0)[0][:2] == (0.0, 1.0)  # short track: one window
    assert sound_windows(np.zeros(10 * SR, np.float32), SR, 3.0) == []


# ---------------------------------------------------------------- CLAP (tiny, random-initialised)

@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    pytest.importorskip("transformers")
    from omnidex.encoders.clap import save_tiny_clap

    return save_tiny_clap(tmp_path_factory.mktemp("clap") / "tiny-clap", projection_dim=24)


def test_tiny_clap_loads_from_a_local_dir_and_embeds(tiny_clap):
    from omnidex.encoders.registry import build

    enc = build("clap", model=str(tiny_clap))
    assert enc.dim == 24 and enc.sample_rate == 48_000 and enc.identity.startswith("clap:")
    a = enc.encode_audio([_tone(440.0, 3.0, 48_000), _tone(2000.0, 1.0, 48_000)])
    t = enc.encode_text(["a siren wailing", "a dog barking"])
    for v in (a, t):
        assert v.dtype == np.float32 and v.shape == (2, 24)
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(enc.encode_audio([_tone(440.0, 3.0, 48_000)]), a[:1], atol=1e-5)  # deterministic


def test_tiny_clap_vectors_land_in_the_index(tiny_clap, tmp_path):
    from omnidex import Index, IndexConfig
    from omnidex.testing.mediagen import make_tone

    media = tmp_path / "media"
    media.mkdir()
    make_tone(media / "hum.wav", 4.0, freq=200.0, sr=44_100)
    make_tone(media / "beep.flac", 2.0, freq=2000.0, sr=22_050)
    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, speech=False, ocr=False, clap_model=str(tiny_clap)))
    report = idx.add([media])
    assert report.count("indexed") == 2, report.outcomes
    spec = idx.store.space_spec("sound")
    assert spec.name == "clap" and spec.dim == 24 and dict(spec.kwargs)["model"] == str(tiny_clap)
    rows = idx.store.table("sound").to_arrow().to_pylist()
    assert len(rows) == 2 + 1  # 4 s: a window at 0-3 and one aligned to the end, 1-4; 2 s: one window
    assert all(len(r["vector"]) == 24 and r["source"] == "sound" for r in rows)
    hits = Index(tmp_path / "db").search("a high beep", top_k=3, min_score=0.0)  # rebuilt from the store's spec
    assert hits and all(h.source == "sound" for h in hits)


def test_unreachable_clap_fails_fast_and_ingest_goes_on(tmp_path, monkeypatch):
    import time

    from omnidex import Index, IndexConfig
    from omnidex.testing.mediagen import make_tone

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    make_tone(tmp_path / "hum.wav", 2.0, freq=200.0)
    t0 = time.perf_counter()
    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, speech=False, ocr=False,
                                             clap_model="laion/clap-htsat-unfused-not-cached"))
    report = idx.add([tmp_path / "hum.wav"])
    assert time.perf_counter() - t0 < 30
    assert report.outcomes[0].status == "indexed"
    assert "sound" not in idx.store.spaces()
    assert any("clap-htsat-unfused-not-cached" in n and "--clap" in n for n in report.notices), report.notices


# ---------------------------------------------------------------- the bundled offline model

@pytest.fixture(scope="module")
def bundled():
    from omnidex.audio.encoder import bundled_sound_dir
    from omnidex.encoders.registry import build

    if not (bundled_sound_dir() / "model.safetensors").exists():
        pytest.fail("the bundled audio model is missing: run `python -m omnidex.train.make_audio_model`")
    return build("audio-lit", model=str(bundled_sound_dir()))


R5_TARGET = 0.8


def test_offline_model_text_to_sound_recall_on_held_out_sounds(bundled):
    """Fresh clips (a seed the build never used) of every class, incl. combinations never trained on."""
    from omnidex.audio.evaluate import evaluate_sound_set
    from omnidex.audio.synth import HELDOUT_COMBOS, generate

    held = generate(6, seed=2026, split="heldout", paraphrase=False)
    m = evaluate_sound_set(bundled.encode_audio, bundled.encode_text, held,
                           {"unseen_combinations": set(HELDOUT_COMBOS)})
    print(f"text->sound R@1 {m['R@1']:.3f} R@5 {m['R@5']:.3f} (chance R@5 {m['chance']['R@5']:.3f}); "
          f"unseen combinations R@5 {m['unseen_combinations']['R@5']:.3f}")
    assert m["queries"] == len(set(held.keys)) and m["gallery"] == len(held.clips)
    assert m["R@5"] >= R5_TARGET
    assert m["R@1"] >= 5 * m["chance"]["R@1"]


def test_offline_model_identity_dim_and_rate(bundled):
    assert bundled.dim == 384 and bundled.sample_rate == 16_000 and bundled.identity.startswith("audio-lit:")
    v = bundled.encode_audio([_tone(1000.0, 3.0, SR), _tone(1000.0, 0.4, SR)])
    assert v.shape == (2, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------- through a real index

SOUND_FILES = {"siren": (("siren", "wail"), 44_100), "bark": (("bark",), 22_050),
               "beeps": (("beeps", "high", "fast"), 16_000), "noise": (("noise", "white"), 48_000),
               "music": (("music",), 22_050), "applause": (("applause",), 16_000)}


def _render(key: tuple, seed: int, seconds: float = 6.0) -> np.ndarray:
    from omnidex.audio.synth import catalogue, render

    cls = next(c for c in catalogue() if c.key == key)
    rng = np.random.default_rng([seed, len(key)])
    return np.concatenate([render(cls, rng) for _ in range(int(seconds // 3))])


@pytest.fixture(scope="module")
def sound_index(bundled, tmp_path_factory):
    from omnidex import Index, IndexConfig
    from omnidex.audio.frontend import resample
    from omnidex.testing.mediagen import write_wav

    root = tmp_path_factory.mktemp("sounds")
    media = root / "media"
    media.mkdir()
    for name, (key, sr) in SOUND_FILES.items():
        write_wav(media / f"{name}.wav", resample(_render(key, 7), 16_000, sr), sr)
    (media / "empty.wav").write_bytes(b"")
    (media / "cut.wav").write_bytes((media / "siren.wav").read_bytes()[:30])
    write_wav(media / "silence.wav", np.zeros(3 * 16_000, np.float32), 16_000)
    queries = root / "queries"
    queries.mkdir()
    for name, (key, _) in SOUND_FILES.items():
        write_wav(queries / f"{name}.wav", _render(key, 99, 3.0), 16_000)
    idx = Index(root / "db", IndexConfig(clip_model=None, speech=False, ocr=False))
    report = idx.add([media])
    return idx, report, media, queries


def test_sound_files_are_windowed_and_bad_ones_reported(sound_index):
    idx, report, media, _ = sound_index
    by_name = {o.path.rsplit("/", 1)[-1]: o for o in report.outcomes}
    for name in SOUND_FILES:
        assert by_name[f"{name}.wav"].status == "indexed" and by_name[f"{name}.wav"].segments == 3, by_name[f"{name}.wav"]
    assert by_name["empty.wav"].status in ("skipped", "failed") and by_name["empty.wav"].reason
    assert by_name["cut.wav"].status in ("skipped", "failed") and by_name["cut.wav"].reason
    assert by_name["silence.wav"].segments == 0  # digital silence is not embedded
    assert idx.store.space_spec("sound").identity.startswith("audio-lit:")


def test_text_query_a_siren_ranks_the_siren_window_first(sound_index):
    idx, _, _, _ = sound_index
    hits = idx.search("a siren", top_k=3)
    assert hits[0].path.endswith("siren.wav"), [(h.path, h.score) for h in hits]
    assert hits[0].source == "sound" and "sound" in hits[0].signals
    assert 0.0 <= hits[0].start < hits[0].end <= 6.0 + 1e-6


def test_query_by_example_finds_the_same_sound_class_first(sound_index):
    idx, _, _, queries = sound_index
    firsts = {}
    for name in SOUND_FILES:
        hits = idx.search(audio=queries / f"{name}.wav", top_k=3)
        firsts[name] = hits[0].path.rsplit("/", 1)[-1] if hits else None
    assert firsts["bark"] == "bark.wav", firsts
    assert sum(firsts[n] == f"{n}.wav" for n in SOUND_FILES) >= len(SOUND_FILES) - 1, firsts


def test_bad_query_audio_names_the_file(sound_index, tmp_path):
    from omnidex.errors import OmnidexError

    idx, _, _, _ = sound_index
    bad = tmp_path / "q.wav"
    bad.write_bytes(b"")
    with pytest.raises(OmnidexError) as err:
        idx.search(audio=bad)
    assert str(bad) in str(err.value)


def test_build_command_runs_end_to_end_and_writes_a_loadable_fp16_model(tmp_path):
    """``python -m omnidex.train.make_audio_model`` in miniature (2 steps): data, training, held-out eval, export."""
    import json

    from omnidex.train.make_audio_model import build
    from omnidex.encoders.registry import build as build_encoder

    out = tmp_path / "audio-lit"
    record = build(tmp_path / "work", out, steps=2, per_class=2, batch=16, progress=False)
    assert {"config.json", "model.safetensors", "TRAINING.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "config.json").read_text())["dtype"] == "float16"
    assert record["train_clips"] == 2 * record["classes"] and 0.0 <= record["text_to_sound"]["R@5"] <= 1.0
    enc = build_encoder("audio-lit", model=str(out))
    assert enc.encode_audio([np.zeros(8000, np.float32)]).shape == (1, 384)
