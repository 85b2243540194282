"""Media layer: sniffing, images, audio, video probing/sampling, text, and the media generator.

All media is generated here (ffmpeg, espeak-ng, Pillow); nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np
import pytest

pytest.importorskip("av")
PIL_Image = pytest.importorskip("PIL.Image")

from omnidex.errors import MediaError  # noqa: E402
from omnidex.media import sniff as sniff_mod  # noqa: E402
from omnidex.media.audio import has_audio, load_audio  # noqa: E402
from omnidex.media.image import load_image  # noqa: E402
from omnidex.media.sniff import sniff  # noqa: E402
from omnidex.media.text import TextChunk, chunk_text, read_text  # noqa: E402
from omnidex.media.video import (  # noqa: E402
    VideoInfo, choose_strategy, estimate_costs, probe_video, sample_frames,
)
from omnidex.testing import mediagen  # noqa: E402
from omnidex.testing.mediagen import Narration, Scene  # noqa: E402

if not (shutil.which("ffmpeg") and shutil.which("espeak-ng")):
    pytest.skip("needs Debian ffmpeg and espeak-ng", allow_module_level=True)

RED, BLUE, GREEN = (220, 40, 40), (40, 40, 220), (40, 200, 40)
SCENES = [Scene(2.0, RED, "red car"), Scene(2.0, BLUE, "blue sky"), Scene(2.0, GREEN, "green field")]
NARRATION = [Narration(0.5, "quarterly results"), Narration(3.2, "hello world")]


def _encoders() -> str:
    return subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout


def _close(color, expected, tol=25) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(color, expected))


def _scene_color(gt: dict, t: float):
    for (start, end, _), color in zip(gt["scenes"], gt["colors"]):
        if start <= t < end:
            return color
    return gt["colors"][-1]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Generated media shared by the tests of this module."""
    d = tmp_path_factory.mktemp("media")
    out = {"dir": d}
    out["video"] = mediagen.make_video(d / "talk.mp4", SCENES, NARRATION, gop=25)
    out["bad"] = mediagen.make_bad_files(d / "bad")
    img = mediagen.text_image("Hello", size=(300, 100), bg=(200, 10, 10),
                              shapes=[("rect", (0, 0, 19, 19), (0, 0, 255))])
    for fmt in ("png", "jpg", "webp", "bmp", "tiff"):
        img.save(d / f"img.{fmt}")
    out["img"] = img
    mediagen.make_tone(d / "tone.wav", 1.5, 440, 44100, channels=2)
    mediagen.make_tone(d / "tone.m4a", 1.5, 440, 44100, channels=2)
    return out


# ---------------------------------------------------------------- sniff

def test_sniff_kinds(media):
    d = media["dir"]
    (d / "notes.md").write_text("# Notes\n\nSome *markdown* text, ünïcödé.\n", encoding="utf-8")
    (d / "utf16.dat").write_bytes("hello wide world\n".encode("utf-16"))
    (d / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    for name in ("img.png", "img.jpg", "img.webp", "img.bmp", "img.tiff"):
        assert sniff(d / name) == "image", name
    assert sniff(media["video"]["path"]) == "video"
    assert sniff(media["bad"]["no_audio_video"]) == "video"
    assert sniff(d / "tone.wav") == "audio"
    assert sniff(d / "tone.m4a") == "audio"  # ISO-BMFF without video is audio
    assert sniff(d / "notes.md") == "text"
    assert sniff(d / "utf16.dat") == "text"
    assert sniff(d / "latin1.txt") == "text"
    assert sniff(media["bad"]["random_mp4"]) == "unknown"
    assert sniff(media["bad"]["truncated_mp4"]) == "video"  # brand says video; probe_video refuses it
    assert sniff(media["bad"]["bomb_png"]) == "image"


@pytest.mark.parametrize("ext", [".mp3", ".flac", ".ogg", ".opus"])
def test_sniff_audio_formats(tmp_path, ext):
    assert sniff(mediagen.make_tone(tmp_path / f"t{ext}", 0.5, 440, 44100, channels=2)) == "audio"


def test_sniff_audio_with_cover_art_is_audio(media, tmp_path):
    mp3 = mediagen.make_tone(tmp_path / "song.mp3", 0.5, 440, 44100)
    out = tmp_path / "cover.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(mp3), "-i", str(media["dir"] / "img.png"),
                    "-map", "0", "-map", "1", "-c", "copy", "-disposition:v", "attached_pic", str(out)], check=True)
    assert sniff(out) == "audio"


def test_sniff_webm_audio_only_and_video(tmp_path):
    assert sniff(mediagen.make_tone(tmp_path / "a.webm", 0.5, 440, 48000)) == "audio"


def test_sniff_zero_byte_and_unreadable(media, tmp_path, monkeypatch):
    with pytest.raises(MediaError, match="zero-byte file") as err:
        sniff(media["bad"]["zero_byte"])
    assert "empty.jpg" in str(err.value)
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads anything: simulate the OS refusal
        def deny(*_a, **_k):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(sniff_mod, "open", deny, raising=False)
    with pytest.raises(MediaError, match="permission denied"):
        sniff(locked)


# ---------------------------------------------------------------- images

def test_image_formats_rgb(media):
    for fmt in ("png", "jpg", "webp", "bmp", "tiff"):
        im = load_image(media["dir"] / f"img.{fmt}")
        assert im.mode == "RGB" and im.size == (300, 100)
        assert _close(im.getpixel((5, 5)), (0, 0, 255), 40)  # the blue marker, top-left


def test_exif_orientation_applied(media, tmp_path):
    exif = PIL_Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "o6.jpg"
    media["img"].save(path, exif=exif.tobytes())
    im = load_image(path)
    assert im.size == (100, 300)
    assert _close(im.getpixel((94, 5)), (0, 0, 255), 40)  # top-left marker is now top-right


def test_gif_first_frame_and_alpha(tmp_path):
    frames = [PIL_Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=100, loop=0)
    for name in ("a.gif", "a.webp"):
        im = load_image(tmp_path / name)
        assert im.mode == "RGB" and _close(im.getpixel((10, 10)), (255, 0, 0), 10)
    PIL_Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)


def test_bomb_refused_before_decode(media, tmp_path, monkeypatch):
    ImageFile = pytest.importorskip("PIL.ImageFile")

    def no_decode(self, *a, **k):
        raise AssertionError("pixel data was decoded")

    big = tmp_path / "big.png"
    PIL_Image.new("RGB", (1200, 1000), (1, 2, 3)).save(big)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    start = time.perf_counter()
    with pytest.raises(MediaError, match="bomb"):
        load_image(media["bad"]["bomb_png"])
    assert time.perf_counter() - start < 0.5
    with pytest.raises(MediaError, match="1200x1000"):
        load_image(big, max_pixels=1_000_000)
    assert os.path.getsize(media["bad"]["bomb_png"]) < 1_000_000


def test_corrupt_images(media, tmp_path):
    with pytest.raises(MediaError, match="truncated or corrupt"):
        load_image(media["bad"]["truncated_jpg"])
    with pytest.raises(MediaError):
        load_image(media["bad"]["random_mp4"])
    with pytest.raises(MediaError, match="zero-byte"):
        load_image(media["bad"]["zero_byte"])


# ---------------------------------------------------------------- audio

@pytest.mark.parametrize("ext", [".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a"])
def test_load_audio_formats(tmp_path, ext):
    path = mediagen.make_tone(tmp_path / f"tone{ext}", 1.5, 440, 44100, channels=2)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / 16000 - 1.5) <= 0.05
    assert np.abs(audio).max() <= 1.0
    spectrum = np.abs(np.fft.rfft(audio))
    peaks = sorted(np.argsort(spectrum)[-2:] * 16000 / len(audio))
    assert any(abs(p - 440) < 10 for p in peaks) or any(abs(p - 660) < 10 for p in peaks)
    assert len(load_audio(path, sr=8000)) == pytest.approx(len(audio) / 2, abs=400)


def test_audio_track_of_video_and_speech_truth(media):
    gt = media["video"]
    audio = load_audio(gt["path"])
    assert abs(len(audio) / 16000 - gt["duration"]) <= 0.06
    assert has_audio(gt["path"]) and not has_audio(media["bad"]["no_audio_video"])
    assert [s[2] for s in gt["speech"]] == ["quarterly results", "hello world"]
    for start, end, _ in gt["speech"]:
        assert start >= 0.5 - 1e-6 and end > start
        assert np.abs(audio[int(start * 16000): int(end * 16000)]).max() > 0.1
    quiet = audio[int(2.4 * 16000): int(3.1 * 16000)]  # between the two phrases
    assert gt["speech"][0][1] < 2.4 and np.abs(quiet).max() < 0.05


def test_audio_errors_and_truncation(media, tmp_path):
    with pytest.raises(MediaError, match="no audio stream"):
        load_audio(media["bad"]["no_audio_video"])
    with pytest.raises(MediaError):
        load_audio(media["bad"]["random_mp4"])
    with pytest.raises(MediaError, match="zero-byte"):
        load_audio(media["bad"]["zero_byte"])
    mp3 = mediagen.make_tone(tmp_path / "long.mp3", 2.0, 440, 44100)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(mp3.read_bytes()[: os.path.getsize(mp3) // 2])
    assert 0.7 <= len(load_audio(cut)) / 16000 <= 1.3


# ---------------------------------------------------------------- video

def test_probe_matches_generation(media):
    gt = media["video"]
    info = probe_video(gt["path"])
    assert info.duration == pytest.approx(gt["duration"], abs=0.05)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (320, 240)
    assert info.codec == "h264" and info.has_audio and info.rotation == 0
    assert info.n_frames == gt["n_frames"] == 150
    assert info.keyframe_times == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert info.mean_gop == pytest.approx(1.0)


@pytest.mark.parametrize("strategy", ["keyframes", "seek", "decode"])
@pytest.mark.parametrize("fps", [0.5, 2.0])
def test_sample_strategies_times_and_content(media, strategy, fps):
    gt = media["video"]
    stats: dict = {}
    used, frames = sample_frames(gt["path"], fps=fps, strategy=strategy, max_side=160, stats=stats)
    assert used == strategy and frames
    assert frames[0].t == pytest.approx(0.0, abs=0.05)
    tol = 0.5 / fps + 0.02 if strategy == "keyframes" else 0.021  # keyframes: nearest keyframe
    targets = np.arange(0, gt["duration"], 1 / fps)
    times = [f.t for f in frames]
    assert times == sorted(times)
    if strategy != "keyframes":
        assert len(frames) == len(targets)
    for f in frames:
        assert min(abs(f.t - t) for t in targets) <= tol
        assert max(f.image.size) <= 160 and f.image.mode == "RGB"
        assert _close(f.image.getpixel((3, 3)), _scene_color(gt, f.t)), (f.t, f.image.getpixel((3, 3)))


def test_keyframes_decode_fewer_frames(media):
    path = media["video"]["path"]
    counts = {}
    for strategy in ("keyframes", "seek", "decode"):
        stats: dict = {}
        sample_frames(path, fps=1.0, strategy=strategy, stats=stats)
        counts[strategy] = stats["decoded"]
    assert counts["keyframes"] == 6
    assert counts["keyframes"] * 10 < counts["decode"]
    stats = {}
    sample_frames(path, fps=2.0, strategy="seek", stats=stats)
    assert stats["decoded"] < 140


def test_auto_strategy_and_limits(media):
    path = media["video"]["path"]
    info = probe_video(path)
    assert choose_strategy(info, 0.5) == "keyframes"
    assert choose_strategy(info, 2.0) == "seek"
    assert choose_strategy(info, 12.5) == "decode"
    used, frames = sample_frames(path, fps=0.5, info=info)
    assert used == "keyframes" and [round(f.t, 2) for f in frames] == [0.0, 2.0, 4.0]
    _, frames = sample_frames(path, fps=10, max_frames=3, strategy="decode")
    assert len(frames) == 3 and frames[-1].t >= 3.5
    with pytest.raises(ValueError):
        sample_frames(path, strategy="bogus")


def _info(duration, fps, gop_s):
    keys = tuple(np.arange(0, duration, gop_s).tolist())
    return VideoInfo("x.mp4", duration, fps, 640, 360, "h264", int(duration * fps), keys, False, 0)


def test_cost_model():
    long_gop = _info(600, 25, 10.0)
    assert choose_strategy(long_gop, 1 / 6) == "seek"  # samples sparser than frames, denser than GOPs
    assert choose_strategy(long_gop, 1.0) == "decode"  # dense samples, long GOP: decode everything
    assert choose_strategy(long_gop, 0.05) == "keyframes"  # a keyframe near every sample
    assert choose_strategy(_info(600, 25, 60.0), 0.05) == "seek"
    assert choose_strategy(_info(600, 25, 0.04), 1.0) == "keyframes"  # all-intra
    assert choose_strategy(_info(600, 25, 2.0), 0.5) == "keyframes"
    costs = estimate_costs(_info(600, 25, 60.0), 0.05)
    assert costs["keyframes"] == float("inf")
    assert costs["seek"] < costs["decode"] == pytest.approx(0.85 * (15000 - 20 * 25 + 1), abs=30)


def test_rotation_applied(tmp_path):
    gt = mediagen.make_video(tmp_path / "rot.mp4", SCENES[:1], rotate=90, audio=False)
    info = probe_video(gt["path"])
    assert info.rotation == 90 and (info.width, info.height) == (320, 240)
    _, frames = sample_frames(gt["path"], fps=1, max_side=160)
    assert frames[0].image.size == (120, 160)


def test_bad_videos(media):
    bad = media["bad"]
    with pytest.raises(MediaError, match=r"MP4 index \(moov atom\) is (missing|cut off|corrupt)"):
        probe_video(bad["truncated_mp4"])
    with pytest.raises(MediaError):
        sample_frames(bad["truncated_mp4"])
    with pytest.raises(MediaError):
        probe_video(bad["random_mp4"])
    with pytest.raises(MediaError, match="no video stream"):
        probe_video(media["dir"] / "tone.m4a")
    with pytest.raises(MediaError, match="zero-byte"):
        probe_video(bad["zero_byte"])
    for strategy in ("auto", "keyframes", "seek", "decode"):
        _, frames = sample_frames(bad["truncated_faststart_mp4"], fps=4, strategy=strategy)
        assert frames and all(f.t < 1.2 for f in frames)  # only what survived the cut
    info = probe_video(bad["no_audio_video"])
    assert not info.has_audio and len(info.keyframe_times) >= 1


CODECS = [("libx265", ".mp4", "hevc"), ("libvpx-vp9", ".webm", "vp9"),
          ("libsvtav1", ".mp4", "av1"), ("libaom-av1", ".mkv", "av1")]


@pytest.mark.parametrize("codec,ext,name", CODECS)
def test_other_codecs_decode(tmp_path, codec, ext, name):
    if codec not in _encoders():
        pytest.skip(f"ffmpeg has no {codec}")
    scenes = [Scene(1.0, RED, "one"), Scene(1.0, BLUE, "two")]
    gt = mediagen.make_video(tmp_path / f"v{ext}", scenes, [Narration(0.2, "hello")], gop=10, codec=codec)
    info = probe_video(gt["path"])
    assert info.codec == name and info.duration == pytest.approx(2.0, abs=0.05)
    assert info.n_frames == 50 and len(info.keyframe_times) == 5
    assert sniff(gt["path"]) == "video" and info.has_audio
    for strategy in ("keyframes", "decode"):
        _, frames = sample_frames(gt["path"], fps=1, strategy=strategy)
        assert len(frames) == 2
        for f in frames:
            assert _close(f.image.getpixel((3, 3)), _scene_color(gt, f.t)), (codec, f.t)
    assert abs(len(load_audio(gt["path"])) / 16000 - 2.0) < 0.1


# ---------------------------------------------------------------- text

def test_read_text_encodings(tmp_path):
    cases = {
        "u8.txt": "héllo\r\nworld\n".encode("utf-8"),
        "bom.txt": b"\xef\xbb\xbf" + "héllo\r\nworld\n".encode("utf-8"),
        "u16.txt": "héllo\r\nworld\n".encode("utf-16"),
        "u16be.txt": b"\xfe\xff" + "héllo\r\nworld\n".encode("utf-16-be"),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert read_text(tmp_path / name) == "héllo\nworld\n", name
    (tmp_path / "l1.txt").write_bytes("caf\xe9".encode("latin-1"))
    assert read_text(tmp_path / "l1.txt") == "café"
    (tmp_path / "big.txt").write_text("abcé" * 100, encoding="utf-8")
    assert read_text(tmp_path / "big.txt", max_bytes=9) == "abcéabc"  # cut, never mid-character


def test_read_text_refuses_binary(media, tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"abc\x00\x01\x02" * 100)
    with pytest.raises(MediaError, match="binary"):
        read_text(tmp_path / "bin.txt")
    with pytest.raises(MediaError, match="binary"):
        read_text(media["dir"] / "img.png")
    with pytest.raises(MediaError, match="zero-byte"):
        read_text(media["bad"]["zero_byte"])


def _doc() -> str:
    rng = np.random.default_rng(1)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron".split()

    def sentence():
        return " ".join(rng.choice(words, rng.integers(4, 18))).capitalize() + "."

    parts = ["# Title", "", "Intro. " + " ".join(sentence() for _ in range(4)), "", "## Method"]
    parts += [sentence() for _ in range(25)] + ["", " ".join(sentence() for _ in range(30)), "", "## End", "", "Done."]
    return "\n".join(parts)


@pytest.mark.parametrize("max_chars,overlap", [(800, 120), (300, 60), (120, 0)])
def test_chunk_text_limits_lines_and_words(max_chars, overlap):
    doc = _doc()
    chunks = chunk_text(doc, max_chars=max_chars, overlap=overlap)
    assert chunks and all(isinstance(c, TextChunk) for c in chunks)
    covered = np.zeros(len(doc), bool)
    for prev, c in zip([None] + chunks, chunks):
        assert c.text == doc[c.start_char:c.end_char] and 0 < len(c.text) <= max_chars
        assert c.line_start == doc.count("\n", 0, c.start_char) + 1
        assert c.line_end == doc.count("\n", 0, c.end_char - 1) + 1
        assert c.start_char == 0 or doc[c.start_char - 1].isspace()  # starts at a word
        assert c.end_char == len(doc) or not doc[c.end_char].isalnum()  # ends at a word end
        if prev is not None:
            assert c.start_char > prev.start_char and c.end_char > prev.end_char
        covered[c.start_char:c.end_char] = True
    assert all(covered[i] or doc[i].isspace() for i in range(len(doc)))
    starts = {c.text.split("\n")[0] for c in chunks}
    assert {"## Method", "## End"} <= starts  # headings start chunks
    if overlap:
        body = [(a, b) for a, b in zip(chunks, chunks[1:]) if not b.text.startswith("#")]
        assert body and all(b.start_char < a.end_char for a, b in body)
        assert all(a.end_char - b.start_char <= overlap for a, b in body)


def test_chunk_text_edge_cases():
    assert chunk_text("") == [] and chunk_text("   \n\n  ") == []
    one = chunk_text("Just one line.")
    assert [(c.text, c.line_start, c.line_end) for c in one] == [("Just one line.", 1, 1)]
    long_word = chunk_text("x" * 250, max_chars=100, overlap=10)
    assert [len(c.text) for c in long_word] == [100, 100, 50]
    with pytest.raises(ValueError):
        chunk_text("abc", max_chars=10, overlap=10)


# ---------------------------------------------------------------- generator

def test_mediagen_outputs(media, tmp_path):
    wav = mediagen.speak("testing one two", tmp_path / "s.wav")
    samples, sr = mediagen.read_wav(wav)
    assert sr == 22050 and np.abs(samples).max() > 0.1
    im = mediagen.text_image("OMNIDEX", out=tmp_path / "t.png", size=(200, 80), bg=(255, 255, 255), fg=(0, 0, 0))
    assert im.size == (200, 80) and (tmp_path / "t.png").exists()
    assert np.asarray(im).min() < 50  # some dark text pixels
    gt = media["video"]
    assert gt["scenes"] == [(0.0, 2.0, "red car"), (2.0, 4.0, "blue sky"), (4.0, 6.0, "green field")]
    again = mediagen.make_video(tmp_path / "again.mp4", SCENES, NARRATION, gop=25)
    assert again["speech"] == gt["speech"]  # deterministic ground truth
