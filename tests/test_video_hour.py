"""Frames embedded while the video decodes (streamed decode paths, FrameStream) and the video-hour bench smoke run."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
COLOURS = [(200, 30, 30), (30, 160, 60), (30, 60, 200)]

needs_tools = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("espeak-ng")),
                                 reason="needs ffmpeg and espeak-ng")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """6 s, three 2 s scenes, x264 at its default GOP (one keyframe): sampling must decode forward."""
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    pytest.importorskip("av")
    from omnidex.testing.mediagen import Scene, make_video

    scenes = [Scene(2.0, c, f"SCENE {i}") for i, c in enumerate(COLOURS)]
    return make_video(tmp_path_factory.mktemp("vh") / "v.mp4", scenes, size=(320, 180), fps=FPS, audio=False)


@pytest.mark.parametrize("strategy", ["auto", "decode", "seek"])
def test_one_fps_frames_land_on_time_and_stream_as_converted(video, strategy):
    from omnidex.media.video import sample_frames

    seen, stats = [], {}
    used, frames = sample_frames(video["path"], fps=1.0, strategy=strategy, max_side=160, stats=stats,
                                 on_frame=seen.append)
    assert [f.t for f in frames] == pytest.approx(list(range(6)), abs=1.0 / FPS + 1e-6)  # +-1 frame
    assert [id(f) for f in seen] == [id(f) for f in frames]  # handed over as converted, same objects
    assert stats["decode_s"] > 0 and stats["targets"] == 6
    for f in frames:
        assert f.image.size == (160, 90)
        corner = np.asarray(f.image)[4:12, 4:12].reshape(-1, 3).mean(axis=0)  # background, away from text
        assert np.abs(corner - COLOURS[int(f.t // 2)]).max() < 12, (f.t, corner)


def test_shot_scan_streams_its_picks(video):
    from omnidex.media.shots import detect_shots

    seen, stats = [], {}
    scan = detect_shots(video["path"], sample_fps=1.0, max_side=160, stats=stats, on_frame=seen.append)
    assert [round(s.start, 2) for s in scan.shots] == [0.0, 2.0, 4.0]
    assert scan.frames and {id(f) for f in scan.frames} <= {id(f) for f in seen}
    assert stats["decode_s"] > 0 and stats["analyse_s"] >= 0


class _Encoder:
    """Deterministic stand-in: the vector is (width, red of the top-left pixel); counts batches."""

    def __init__(self, fail: bool = False):
        self.fail, self.batches = fail, []

    def encode_image(self, images):
        if self.fail:
            raise RuntimeError("encoder broke")
        self.batches.append(len(images))
        return np.array([[im.size[0], im.getpixel((0, 0))[0]] for im in images], np.float32)


def _frames(n: int):
    from PIL import Image

    from omnidex.media.video import Frame

    return [Frame(float(i), Image.new("RGB", (10 + i, 4), (i, 0, 0))) for i in range(n)]


def test_frame_stream_batches_and_maps_vectors_back():
    from omnidex.ingest.frame_stream import FrameStream

    enc, frames = _Encoder(), _frames(11)
    stream = FrameStream(enc, batch=4, max_queue=2)  # a small queue: the producer waits for the encoder
    for f in frames[:10]:
        stream.put(f)
    vectors = stream.finish(frames[::-1])
    assert vectors[0] is None  # frame 10 never went through the stream
    assert [tuple(v) for v in vectors[1:]] == [(10.0 + i, float(i)) for i in range(9, -1, -1)]
    assert enc.batches == [4, 4, 2]


def test_frame_stream_error_never_blocks_and_falls_back():
    from omnidex.ingest.frame_stream import FrameStream

    frames = _frames(9)
    stream = FrameStream(_Encoder(fail=True), batch=2, max_queue=1)
    worker = threading.Thread(target=lambda: [stream.put(f) for f in frames])
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()  # the failed encoder keeps draining the queue
    assert stream.finish(frames) == [None] * 9 and isinstance(stream.error, RuntimeError)


@pytest.mark.slow
def test_streamed_vectors_equal_a_plain_encode(video, tmp_path):
    from omnidex import IndexConfig
    from omnidex.encoders.clip import save_tiny_clip
    from omnidex.ingest.embed import embed_pieces
    from omnidex.ingest.extract import extract_video_file
    from omnidex.spaces import Models

    cfg = IndexConfig(clip_model=str(save_tiny_clip(tmp_path / "clip")), frame_fps=1.0, speech=False,
                      sound=False, ocr=False, phash=False)
    models = Models(cfg)
    ext = extract_video_file(Path(video["path"]), cfg, models)
    frames = [p for p in ext.pieces if p.source == "frame"]
    assert frames and all(p.vector is not None for p in frames)
    rows = embed_pieces(ext, {"path": "v", "sha256": "0" * 64, "mtime": 0.0, "kind": "video", "batch": ""}, models)
    plain = models.encoder("visual").encode_image([p.image for p in frames])
    assert np.allclose(np.stack([r["vector"] for r in rows["visual"]]), plain, atol=1e-5)
    if "engine" in {f.name for f in dataclasses.fields(IndexConfig)}:  # out-of-process engines embed later
        ray_cfg = dataclasses.replace(cfg, engine="ray")
        assert all(p.vector is None for p in extract_video_file(Path(video["path"]), ray_cfg, Models(ray_cfg)).pieces)


@pytest.mark.bench  # a benchmark smoke run: make test-bench
@pytest.mark.timeout(300)
@needs_tools
def test_video_hour_bench_quick(tmp_path):
    out = tmp_path / "vh"
    proc = subprocess.run([sys.executable, "-m", "bench.video_hour.run", "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    speech, silent = res["runs"]
    for run in res["runs"]:
        assert run["status"] == "indexed" and run["video_s"] == pytest.approx(60, abs=0.5)
        assert 30 <= run["frames"] <= 180  # about 1 fps, placed by content
        assert run["wall_s"] > 0 and run["rtf"] == pytest.approx(60 / run["wall_s"], rel=0.05)
        assert run["stages"]["clip"]["n"] == run["frames"] and run["stages"]["decode"]["s"] > 0
        assert set(run["groups"]) == {"decode", "shots", "clip", "speech", "store", "other"}
    assert speech["words"] >= 20 and silent["words"] == 0 and "speech" not in silent["stages"]
    assert (out / "table.md").read_text().startswith("## ")
    assert (out / "wall.png").exists() and (out / "stages.png").exists()


@pytest.mark.bench  # a benchmark smoke run: make test-bench
@pytest.mark.timeout(600)
@needs_tools
def test_video_speed_bench_quick(tmp_path):
    """bench.video_hour.speed on 60 s of 360p: the four toggled runs, CPU per part, the target row."""
    out = tmp_path / "vs"
    proc = subprocess.run([sys.executable, "-m", "bench.video_hour.speed", "--out", str(out), "--minutes", "1",
                           "--minutes-1080p", "0", "--no-before"], cwd=ROOT, capture_output=True, text=True, timeout=580)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    rows = {r["label"]: r for r in res["rows"]}
    assert list(rows) == ["360p pictures only", "360p + OCR", "360p + speech", "360p speech + OCR"]
    for label, r in rows.items():
        assert r["status"] == "indexed" and r["video_s"] == pytest.approx(60, abs=0.5)
        assert r["x_realtime"] == pytest.approx(r["video_s"] / r["wall_s"], rel=0.02)
        has_ocr, has_speech = "OCR" in label, "speech" in label
        assert (r["ocr_rows"] > 0) == has_ocr and (r["words"] >= 20) == has_speech
        if has_ocr:  # frames whose picture did not change reuse the text: never more read than picked
            assert 0 < r["stages"]["ocr_read"]["n"] <= r["stages"]["ocr"]["n"]
    assert "meets_target" in rows["360p speech + OCR"]
    part = res["cpu_by_part"]
    assert part["ocr"] > 0 and part["speech"] > 0 and part["all"] >= part["pictures"]
    assert (out / "speed.png").exists() and "CPU seconds per minute" in (out / "table.md").read_text()
