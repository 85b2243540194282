"""Clip export (copy / smart / reencode), the ``clip`` CLI, contact sheets and thumbnails.

Every video is generated here (ffmpeg, espeak-ng); outputs are checked with ffprobe and by
decoding them with PyAV and comparing their pixels and sound with the source.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
PIL_Image = pytest.importorskip("PIL.Image")

from omnidex.cli import main  # noqa: E402
from omnidex.errors import MediaError  # noqa: E402
from omnidex.media import clip as clip_mod  # noqa: E402
from omnidex.media.clip import export_clip  # noqa: E402
from omnidex.media.contact import contact_sheet, frame_at, sheet_layout, thumbnail  # noqa: E402
from omnidex.media.video import probe_video  # noqa: E402
from omnidex.testing.mediagen import Narration, Scene, make_video  # noqa: E402

if not (shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("espeak-ng")):
    pytest.skip("needs Debian ffmpeg and espeak-ng", allow_module_level=True)

FPS = 25
FRAME = 1 / FPS
COLORS = [(210, 40, 40), (40, 190, 60), (40, 60, 210), (220, 200, 40)]
SCENES = [Scene(2.0, c, f"scene {i + 1}") for i, c in enumerate(COLORS)]
SPEECH_AT = 3.0  # narration starts here; clips cut before it must keep it in place


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """H.264 and H.265 MP4s (GOP 2 s) with narration, an H.264 MKV, and a VP9 WebM."""
    d = tmp_path_factory.mktemp("clip-media")
    narration = [Narration(SPEECH_AT, "hello there")]
    out = {"dir": d}
    out["h264"] = make_video(d / "h264.mp4", SCENES, narration, codec="libx264", gop=50)
    out["h265"] = make_video(d / "h265.mp4", SCENES, narration, codec="libx265", gop=50)
    out["mkv"] = make_video(d / "h264.mkv", SCENES, narration, codec="libx264", gop=50)
    out["vp9"] = make_video(d / "vp9.webm", SCENES[:2], codec="libvpx-vp9", gop=50)
    out["rotated"] = make_video(d / "rotated.mp4", SCENES[:2], codec="libx264", gop=50, audio=False, rotate=90)
    return out


# --- helpers ---------------------------------------------------------------------------------


def _probe(path) -> dict:
    """ffprobe streams and packets as JSON."""
    cmd = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_packets", "-of", "json", str(path)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def _stream_times(path) -> dict[str, tuple[float, float]]:
    """(start_time, duration) of the first video and audio stream: the stream header's values,
    or, where the container has no per-stream duration (Matroska), the span of its packets."""
    data = _probe(path)
    times: dict[str, tuple[float, float]] = {}
    for stream in data["streams"]:
        kind = stream["codec_type"]
        if kind in times:
            continue
        packets = [p for p in data["packets"] if p["stream_index"] == stream["index"]]
        first = min(float(p["pts_time"]) for p in packets)
        last = max(float(p["pts_time"]) + float(p.get("duration_time", 0)) for p in packets)
        start = float(stream.get("start_time", first))
        times[kind] = (start, float(stream["duration"]) if "duration" in stream else last - start)
    return times


def _decode_errors(path) -> str:
    """What ffmpeg prints at level 'error' while decoding every stream ('' when clean)."""
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    return proc.stderr.strip()


def _frames(path) -> list[tuple[float, np.ndarray]]:
    """Every decoded video frame as (time, RGB int16 array)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(float(f.time), f.to_ndarray(format="rgb24").astype(np.int16)) for f in container.decode(stream)]


def _frame_at(frames, t: float) -> np.ndarray:
    """The frame whose time is nearest ``t``."""
    return min(frames, key=lambda f: abs(f[0] - t))[1]


def _speech_onset(path, threshold: float = 0.05) -> float:
    """Time (on the file's clock) of the first audio sample louder than ``threshold``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples = np.abs(frame.to_ndarray()).max(axis=0)
            loud = np.flatnonzero(samples > threshold)
            if loud.size:
                return float(frame.time) + loud[0] / frame.sample_rate
    raise AssertionError("no speech found")


def _assert_matches_source(src, out, result, tol: float = 4.0) -> None:
    """Every output frame looks like the source frame at the same source time."""
    source, clip = _frames(src), _frames(out)
    assert abs(len(clip) * FRAME - (result.end - result.start)) < FRAME / 2
    t0 = clip[0][0]
    for t, image in clip:
        diff = np.abs(image - _frame_at(source, result.start + t - t0)).mean()
        assert diff < tol, f"frame at {t:.3f} s differs from the source by {diff:.1f}"


def _close(color, expected, tol: int = 20) -> bool:
    """Every channel within ``tol``."""
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(color, expected))


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders an export may have left."""
    return [p.name for p in folder.iterdir() if "omnidex-partial" in p.name or p.name.startswith(".omnidex-clip-")]


# --- copy ------------------------------------------------------------------------------------


def test_copy_on_keyframe_is_lossless_and_exact(media, tmp_path):
    src = media["h264"]["path"]
    out = tmp_path / "copy.mp4"
    result = export_clip(src, 2.0, 6.0, out, mode="copy")
    assert result.mode_used == "copy" and result.reencoded_seconds == 0
    assert abs(result.duration - 4.0) <= FRAME
    assert result.seconds < 5
    with av.open(str(src)) as a, av.open(str(out)) as b:
        key = next(bytes(p) for p in a.demux(a.streams.video[0]) if p.pts is not None and p.is_keyframe
                   and abs(float(p.pts * p.time_base) - 2.0) < 1e-6)
        first = next(p for p in b.demux(b.streams.video[0]) if p.size)
        assert bytes(first) == key and first.is_keyframe
    assert _decode_errors(out) == ""
    assert _leftovers(tmp_path) == []


def test_copy_refuses_start_off_keyframe(media, tmp_path):
    with pytest.raises(MediaError, match="keyframe"):
        export_clip(media["h264"]["path"], 1.3, 4.0, tmp_path / "x.mp4", mode="copy")
    assert list(tmp_path.iterdir()) == []


def test_auto_copies_keyframe_aligned_range(media, tmp_path):
    result = export_clip(media["h265"]["path"], 2.0, 4.0, tmp_path / "auto.mp4")
    assert result.mode_used == "copy"


# --- smart -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,suffix", [("h264", ".mp4"), ("h265", ".mp4"), ("h265", ".mkv"), ("mkv", ".mkv")])
def test_smart_cut_is_frame_accurate_and_decodes_cleanly(media, tmp_path, kind, suffix):
    src = media[kind]["path"]
    out = tmp_path / f"smart{suffix}"
    result = export_clip(src, 1.3, 7.5, out, mode="smart")
    assert result.mode_used == "smart"
    assert abs(result.start - 1.3) <= FRAME / 2 + 0.01  # MKV times are whole milliseconds
    assert abs(result.duration - (7.5 - 1.3)) <= FRAME
    assert result.copied_seconds > result.reencoded_seconds > 0
    assert _decode_errors(out) == ""
    _assert_matches_source(src, out, result)


def test_smart_tail_only_when_end_is_not_a_clean_cut(media, tmp_path):
    result = export_clip(media["h264"]["path"], 2.0, 6.3, tmp_path / "tail.mp4", mode="auto")
    assert result.mode_used == "smart"
    assert 0 < result.reencoded_seconds <= 0.5
    assert abs(result.duration - 4.3) <= FRAME
    assert _decode_errors(tmp_path / "tail.mp4") == ""


def test_no_keyframe_inside_range_reencodes(media, tmp_path):
    result = export_clip(media["h264"]["path"], 0.5, 1.5, tmp_path / "short.mp4", mode="smart")
    assert result.mode_used == "reencode" and any("keyframe" in n for n in result.notes)
    assert abs(result.duration - 1.0) <= FRAME


# --- audio -----------------------------------------------------------------------------------


@pytest.mark.parametrize("start,suffix", [(1.3, ".mp4"), (2.0, ".mkv")])
def test_audio_in_sync(media, tmp_path, start, suffix):
    src = media["h264"]
    out = tmp_path / f"av{suffix}"
    result = export_clip(src["path"], start, 6.0, out)
    times = _stream_times(out)
    (v0, vd), (a0, ad) = times["video"], times["audio"]
    assert abs(v0 - a0) <= FRAME
    assert abs(vd - ad) <= 0.05
    onset = src["speech"][0][0]
    assert abs((_speech_onset(out) - v0) - (onset - result.start)) <= 0.05


# --- other codecs ----------------------------------------------------------------------------


def test_vp9_falls_back_to_reencode(media, tmp_path):
    src = media["vp9"]["path"]
    out = tmp_path / "vp9.webm"
    result = export_clip(src, 0.7, 3.1, out)
    assert result.mode_used == "reencode" and any("vp9" in n for n in result.notes)
    assert abs(result.duration - 2.4) <= FRAME
    assert _probe(out)["streams"][0]["codec_name"] == "vp9"
    assert _decode_errors(out) == ""
    _assert_matches_source(src, out, result, tol=8.0)


def test_reencode_mode(media, tmp_path):
    out = tmp_path / "re.mp4"
    result = export_clip(media["h264"]["path"], 1.3, 3.3, out, mode="reencode")
    assert result.mode_used == "reencode" and result.copied_seconds == 0
    assert abs(result.duration - 2.0) <= FRAME
    _assert_matches_source(media["h264"]["path"], out, result)


def test_rotated_source_keeps_rotation_or_is_turned_upright(media, tmp_path):
    src = media["rotated"]["path"]
    smart = export_clip(src, 1.3, 3.5, tmp_path / "rot.mp4")
    assert smart.mode_used == "smart" and probe_video(smart.path).rotation == 90
    assert _decode_errors(smart.path) == ""
    _assert_matches_source(src, smart.path, smart)
    assert frame_at(smart.path, 0.5).size == (240, 320)
    mkv = export_clip(src, 1.3, 3.5, tmp_path / "rot.mkv")  # Matroska cannot say "rotate"
    assert mkv.mode_used == "reencode" and any("rotation" in n for n in mkv.notes)
    assert probe_video(mkv.path).rotation == 0 and frame_at(mkv.path, 0.5).size == (240, 320)


# --- errors and the CLI ----------------------------------------------------------------------


@pytest.mark.parametrize("args,reason", [
    (["--start", "3", "--end", "2"], "after start"),
    (["--start", "30", "--end", "40"], "beyond the end"),
    (["--start", "1", "--end", "2", "--mode", "copy"], "keyframe"),
])
def test_cli_errors_name_the_file(media, tmp_path, capsys, args, reason):
    src = media["h264"]["path"]
    out = tmp_path / "bad.mp4"
    assert main(["clip", str(src), *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(src) in err and reason in err
    assert list(tmp_path.iterdir()) == []


def test_cli_output_is_input_and_missing_file(media, tmp_path, capsys):
    src = media["h264"]["path"]
    assert main(["clip", str(src), "--start", "1", "--end", "2", "-o", str(src)]) == 2
    assert str(src) in capsys.readouterr().err
    missing = tmp_path / "nope.mp4"
    assert main(["clip", str(missing), "--start", "1", "--end", "2", "-o", str(tmp_path / "o.mp4")]) == 2
    assert "nope.mp4" in capsys.readouterr().err
    assert main(["clip", str(src), "--start", "1", "--end", "2", "-o", str(tmp_path / "o.avi")]) == 2
    assert "o.avi" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_failure_leaves_no_partial_file(media, tmp_path, monkeypatch):
    def broken_mux(source, plan, video, out, tools):
        out.write_bytes(b"half a file")
        raise MediaError(source.path, "ffmpeg failed: simulated")

    monkeypatch.setattr(clip_mod, "_mux", broken_mux)
    out = tmp_path / "never.mp4"
    with pytest.raises(MediaError, match="simulated"):
        export_clip(media["h264"]["path"], 1.3, 4.0, out)
    assert list(tmp_path.iterdir()) == []


def test_end_is_clamped_with_a_note(media, tmp_path):
    result = export_clip(media["h264"]["path"], 6.0, 99.0, tmp_path / "end.mp4")
    assert result.mode_used == "copy" and abs(result.duration - 2.0) <= FRAME
    assert any("clamped" in n for n in result.notes)


def test_cli_with_hit_json_string(media, tmp_path, capsys):
    hit = {"path": str(media["h264"]["path"]), "start": 2.0, "end": 4.0, "score": 0.7, "modality": "video"}
    out = tmp_path / "hit.mp4"
    assert main(["clip", json.dumps(hit), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode_used"] == "copy" and report["path"] == str(out.resolve())
    assert abs(report["duration"] - 2.0) <= FRAME and out.exists()


def test_cli_with_hits_json_file_and_override(media, tmp_path, capsys):
    hits = [{"path": str(media["h265"]["path"]), "start": 1.3, "end": 3.0},
            {"path": "/elsewhere.mp4", "start": 0, "end": 1}]
    hit_file = tmp_path / "hits.json"
    hit_file.write_text(json.dumps(hits))
    out = tmp_path / "from-file.mkv"
    assert main(["clip", str(hit_file), "--end", "4.5", "-o", str(out)]) == 0
    line = capsys.readouterr().out
    assert str(out.resolve()) in line and "smart" in line
    assert abs(_stream_times(out)["video"][1] - 3.2) <= FRAME


# --- contact sheets and thumbnails -----------------------------------------------------------


def test_contact_sheet_one_labelled_tile_per_shot(media, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["contact", str(media["h264"]["path"]), "-o", str(out), "--cols", "3", "--width", "160"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    sheet = PIL_Image.open(out)
    layout = sheet_layout(len(COLORS), 3, 160, 120)  # 4 scenes -> 4 shots, 320x240 -> 160x120 tiles
    assert sheet.format == "PNG" and sheet.size == layout.size
    for (x0, y0, _, _), color in zip(layout.tiles, COLORS):
        assert _close(sheet.getpixel((x0 + 5, y0 + 5)), color)
    x, y = layout.labels[0]
    label = np.asarray(sheet.crop((x, y, x + 150, y + 14)).convert("L"))
    assert label.max() > 150  # text was drawn


def test_contact_sheet_picks_evenly_and_defaults_to_cwd(media, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["contact", str(media["h265"]["path"]), "--width", "64"]) == 0
    assert PIL_Image.open(tmp_path / "h265.contact.png").size == sheet_layout(4, 5, 64, 48).size
    two = PIL_Image.open(contact_sheet(media["h264"]["path"], tmp_path / "two.png", width=64, max_shots=2))
    layout = sheet_layout(2, 5, 64, 48)
    assert two.size == layout.size
    assert _close(two.getpixel((layout.tiles[1][0] + 3, layout.tiles[1][1] + 3)), COLORS[-1])


@pytest.mark.parametrize("t,scene", [(0.5, 0), (1.99, 0), (2.0, 1), (3.0, 1), (7.9, 3)])
def test_thumbnail_is_the_frame_at_t(media, tmp_path, t, scene):
    out = thumbnail(media["h265"]["path"], t, tmp_path / "thumb.png", width=160)
    image = PIL_Image.open(out)
    assert image.size == (160, 120)
    assert _close(image.getpixel((4, 4)), COLORS[scene])


def test_thumbnail_outside_the_video(media, tmp_path):
    with pytest.raises(MediaError, match="outside"):
        thumbnail(media["h264"]["path"], 9.0, tmp_path / "x.png")


def test_cli_thumb(media, tmp_path):
    from omnidex.cli import main

    out = tmp_path / "frame.jpg"
    assert main(["thumb", str(media["h264"]["path"]), "--at", "3.0", "-o", str(out), "--width", "80"]) == 0
    image = PIL_Image.open(out)
    assert image.size == (80, 60) and _close(image.getpixel((4, 4)), COLORS[1])
    assert main(["thumb", str(media["h264"]["path"]), "--at", "99", "-o", str(out)]) == 2
