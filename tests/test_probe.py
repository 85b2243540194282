"""`omnidex probe`: agreement with ffprobe, GOP facts, damaged inputs and the CLI.

All media is generated once per session (mediagen and the ffmpeg binary); nothing is downloaded.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("av")

from omnidex import cli  # noqa: E402
from omnidex.errors import MediaError  # noqa: E402
from omnidex.media.probe import probe_file  # noqa: E402
from omnidex.testing import mediagen  # noqa: E402
from omnidex.testing.mediagen import Scene  # noqa: E402

if not (shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("espeak-ng")):
    pytest.skip("needs Debian ffmpeg, ffprobe and espeak-ng", allow_module_level=True)

SCENES = [Scene(1.5, (200, 40, 40), "one"), Scene(1.5, (40, 40, 200), "two")]
FPS = 25
FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
TESTSRC = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}"]
ENCODED = ("h264", "h265", "vp9")  # each with an audio stream


def _ffmpeg(*args: str) -> None:
    subprocess.run([*FFMPEG, *args], check=True, capture_output=True)


@functools.lru_cache(maxsize=None)
def _ffprobe(path: Path, *args: str) -> dict:
    """ffprobe's JSON for ``path`` (cached: each file is probed once per set of arguments)."""
    out = subprocess.run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _truncate(src: Path, dst: Path, share: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Every file the tests probe, generated once."""
    d = tmp_path_factory.mktemp("probe")
    make = functools.partial(mediagen.make_video, scenes=SCENES, fps=FPS, gop=25)
    files = {
        "h264": make(d / "h264.mp4", codec="libx264")["path"],
        "h265": make(d / "h265.mp4", codec="libx265")["path"],
        "vp9": make(d / "vp9.webm", codec="libvpx-vp9")["path"],
        "rotated": make(d / "rotated.mp4", rotate=90, audio=False)["path"],
        "faststart": make(d / "faststart.mp4", audio=False, faststart=True)["path"],
    }
    files["no_bframes"] = d / "no_bframes.mp4"
    _ffmpeg(*TESTSRC, "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", str(files["no_bframes"]))
    files["vfr"] = d / "vfr.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50:duration=1",
            "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-fps_mode", "vfr",
            "-c:v", "libx264", "-preset", "ultrafast", str(files["vfr"]))
    files["audio_only"] = d / "audio_only.mp4"
    _ffmpeg("-i", str(files["h264"]), "-vn", "-c", "copy", str(files["audio_only"]))
    files["zero_audio"] = d / "zero_audio.mkv"  # an audio stream without a single packet
    _ffmpeg(*TESTSRC, "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono,atrim=end_sample=0", "-t", "1",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
            str(files["zero_audio"]))
    files["truncated"] = _truncate(files["faststart"], d / "truncated.mp4", 0.6)  # index intact, data cut
    files["no_moov"] = _truncate(files["h264"], d / "no_moov.mp4", 0.6)  # index (at the end) cut off
    files["empty"] = d / "empty.mp4"
    files["empty"].write_bytes(b"")
    return files


@pytest.fixture(scope="session")
def probed(media) -> dict[str, dict]:
    """probe_file's result for every readable file."""
    return {name: probe_file(path) for name, path in media.items() if name not in ("no_moov", "empty")}


def _near(a: float, b: float, tol: float) -> bool:
    return abs(float(a) - float(b)) <= tol


@pytest.mark.parametrize("name", ENCODED)
def test_container_matches_ffprobe(media, probed, name):
    fmt = _ffprobe(media[name], "-show_format", "-show_streams")["format"]
    ours = probed[name]["container"]
    assert ours["format_name"] == fmt["format_name"]
    assert ours["nb_streams"] == fmt["nb_streams"] == 2
    assert ours["size"] == int(fmt["size"])
    assert _near(ours["duration"], fmt["duration"], 0.05)
    assert _near(ours["bit_rate"], fmt["bit_rate"], 0.02 * int(fmt["bit_rate"]))


@pytest.mark.parametrize("name", ENCODED)
def test_streams_match_ffprobe(media, probed, name):
    ref = _ffprobe(media[name], "-show_format", "-show_streams")
    frame = 1 / FPS
    assert [s["type"] for s in probed[name]["streams"]] == ["video", "audio"]
    for theirs, ours in zip(ref["streams"], probed[name]["streams"]):
        assert ours["type"] == theirs["codec_type"]
        assert ours["codec"] == theirs["codec_name"]
        assert ours["profile"] == theirs.get("profile")
        for key in ("width", "height", "pix_fmt", "avg_frame_rate", "channels"):
            if key in theirs and theirs[key] != "0/0":
                assert ours[key] == theirs[key], key
        if "sample_rate" in theirs:
            assert ours["sample_rate"] == int(theirs["sample_rate"])
        if "bit_rate" in theirs:
            assert _near(ours["bit_rate"], theirs["bit_rate"], 0.02 * int(theirs["bit_rate"]))
        # WebM has no per-stream duration: then every stream must cover the format's duration
        declared = float(theirs.get("duration", ref["format"]["duration"]))
        assert _near(ours["measured_duration"], declared, max(frame, 0.05))
        if "duration" in theirs:
            assert _near(ours["duration"], declared, frame)


@pytest.mark.parametrize("name", [*ENCODED, "vfr"])
def test_keyframes_match_ffprobe(media, probed, name):
    packets = _ffprobe(media[name], "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags")["packets"]
    expected = [float(p["pts_time"]) for p in packets if "K" in p["flags"]]
    gop = probed[name]["streams"][0]["gop"]
    assert gop["keyframes"] == len(expected)
    assert all(_near(a, b, 0.001) for a, b in zip(gop["keyframe_times"], expected))


def test_fixed_gop_intervals(probed):
    gop = probed["h264"]["streams"][0]["gop"]
    assert gop["keyframe_times"][:3] == [0.0, 1.0, 2.0]  # gop=25 at 25 fps
    assert gop["fixed_interval"] and gop["max_interval"] == pytest.approx(1.0)
    assert not gop["variable_frame_rate"] and not gop["open_gop"]


@pytest.mark.parametrize("name, b_frames", [("h264", True), ("no_bframes", False)])
def test_b_frames_match_ffprobe(media, probed, name, b_frames):
    theirs = _ffprobe(media[name], "-show_format", "-show_streams")["streams"][0]["has_b_frames"]
    ours = probed[name]["streams"][0]
    assert (theirs > 0) is b_frames
    assert ours["gop"]["b_frames"] is b_frames
    assert ours["has_b_frames"] == theirs


def test_rotation_matches_ffprobe(media, probed):
    theirs = _ffprobe(media["rotated"], "-show_format", "-show_streams")["streams"][0]
    side = [sd["rotation"] for sd in theirs.get("side_data_list", []) if "rotation" in sd]
    # ffprobe prints the counter-clockwise angle in (-180, 180]; probe normalises it to [0, 360).
    expected = side[0] % 360 if side else (360 - int(theirs["tags"]["rotate"])) % 360
    ours = probed["rotated"]["streams"][0]
    assert ours["rotation"] == expected == 90
    assert any("rotation" in p for p in probed["rotated"]["problems"])
    assert probed["h264"]["streams"][0]["rotation"] == 0


def test_clean_files_have_no_problems(probed):
    for name in (*ENCODED, "no_bframes", "faststart"):
        assert probed[name]["problems"] == [], name


def test_truncated_mp4_is_reported(media, probed):
    problems = probed["truncated"]["problems"]
    assert any("truncated" in p and p.startswith("damaged") for p in problems)


def test_missing_moov_raises_naming_file_and_index(media):
    with pytest.raises(MediaError) as err:
        probe_file(media["no_moov"])
    assert str(media["no_moov"]) in str(err.value)
    assert "moov" in str(err.value) and "missing" in str(err.value)


def test_audio_only_mp4_is_noted(probed):
    result = probed["audio_only"]
    assert [s["type"] for s in result["streams"]] == ["audio"]
    assert any("audio-only" in p and p.startswith("note") for p in result["problems"])


def test_variable_frame_rate(probed):
    gop = probed["vfr"]["streams"][0]["gop"]
    assert gop["variable_frame_rate"]
    assert gop["min_frame_interval"] == pytest.approx(0.02) and gop["max_frame_interval"] == pytest.approx(0.04)
    assert any("variable frame rate" in p for p in probed["vfr"]["problems"])


def test_zero_duration_stream(probed):
    audio = probed["zero_audio"]["streams"][1]
    assert audio["nb_packets"] == 0 and audio["measured_duration"] == 0
    assert any("stream #1" in p and "zero duration" in p for p in probed["zero_audio"]["problems"])


def test_zero_byte_file_raises(media):
    with pytest.raises(MediaError, match="zero-byte"):
        probe_file(media["empty"])


def test_cli_json(media, capsys):
    assert cli.main(["probe", str(media["h264"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["streams"][0]["codec"] == "h264" and out["container"]["nb_streams"] == 2


def test_cli_human(media, capsys):
    assert cli.main(["probe", str(media["vp9"])]) == 0
    out = capsys.readouterr().out
    assert "vp9" in out and "opus" in out and "keyframe" in out


def test_cli_bad_file(media, capsys):
    assert cli.main(["probe", str(media["no_moov"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnidex: error:") and "no_moov.mp4" in err
