"""The last stage of clip placement (search/clip_align.py): key frames against every video frame, and an
honest start range; end to end on a slow zoom and a near-static shot re-encoded at a low bitrate."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from omnidex.search import clip_align as ca

SIZE = (64, 36)
FPS = 25.0


def _zoom_frames(n: int, seed: int = 0, rate: float = 0.004) -> np.ndarray:
    """A slow zoom into a smooth random picture: frame i magnified by (1 + rate * i)."""
    rng = np.random.default_rng(seed)
    from PIL import Image

    pic = Image.fromarray(rng.uniform(0, 255, (24, 40)).astype(np.uint8)).resize((640, 360), Image.Resampling.BICUBIC)
    out = []
    for i in range(n):
        s = 1.0 + rate * i
        w, h = 640 / s, 360 / s
        box = (320 - w / 2, 180 - h / 2, 320 + w / 2, 180 + h / 2)
        out.append(np.asarray(pic.resize(SIZE, Image.Resampling.BILINEAR, box=box), np.float32).ravel())
    return np.stack(out)


def _clip(video: np.ndarray, truth: int, length: int, lag: int, keys: bool) -> ca.Frames:
    """Frames truth.. of the video as a low-bitrate re-encode shows them: the first is a key frame,
    every other lags ``lag`` frames behind (the encoder kept the older blocks), levels shifted by 2."""
    idx = np.array([truth] + [max(truth, truth + j - lag) for j in range(1, length)])
    key = np.zeros(length, bool)
    key[0] = keys
    return ca.Frames(np.arange(length) / FPS, video[idx] - 2.0, key)


def _scan(clip: ca.Frames, video: np.ndarray, lo: float, hi: float) -> dict:
    target = ca.Frames(np.arange(len(video)) / FPS, video)
    return ca._scan(clip, clip.times - clip.times[0], target, lo, hi, SIZE[0])


def test_key_frame_places_a_lagging_slow_zoom_to_the_frame():
    video = _zoom_frames(300)
    truth = 120
    res = _scan(_clip(video, truth, 100, lag=4, keys=True), video, 3.0, 6.5)
    assert res["key"] and res["frames"] == 1
    assert abs(res["start"] - truth / FPS) <= 0.04
    lo, hi = res["range"]
    assert lo <= truth / FPS <= hi and hi - lo <= 0.2


def test_lagging_predicted_frames_alone_place_the_zoom_early():
    """Why the key frames decide: the same clip with no frame marked key is read as starting early."""
    video = _zoom_frames(300)
    truth = 120
    res = _scan(_clip(video, truth, 100, lag=4, keys=False), video, 3.0, 6.5)
    assert not res["key"]
    assert res["start"] < truth / FPS - 0.1


def test_a_still_clip_states_a_wide_range_that_holds_the_truth():
    """A still picture whose clip shares no frame-specific detail with the video (each has its own noise)."""
    rng = np.random.default_rng(1)
    still = _zoom_frames(1)
    video = still + rng.normal(0, 1.5, (300, still.shape[1]))
    truth = 140
    clip = ca.Frames(np.arange(80) / FPS, still + rng.normal(0, 1.5, (80, still.shape[1])) + 1.0, np.arange(80) == 0)
    res = _scan(clip, video, 3.0, 8.0)
    lo, hi = res["range"]
    assert hi - lo > 1.0  # nothing tells the instant: the range says so
    assert lo <= truth / FPS <= hi


def test_search_window_grows_with_the_coarse_range():
    assert ca.search_window(10.0, 10.0, 10.0) == (10.0 - ca.FINE_MIN_HALF_S, 10.0 + ca.FINE_MIN_HALF_S)
    a, b = ca.search_window(10.0, 7.0, 12.0)
    assert a == 7.0 - ca.FINE_PAD_S and b == 12.0 + ca.FINE_PAD_S
    assert ca.search_window(1.0, 0.0, 1.0)[0] == 0.0
    assert ca.search_window(20.0, 0.0, 40.0) == (20.0 - ca.FINE_MAX_HALF_S, 20.0 + ca.FINE_MAX_HALF_S)


@pytest.mark.slow
def test_search_video_places_low_bitrate_excerpts_of_a_slow_zoom_and_a_near_static_shot(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.fail("ffmpeg is needed to make the test videos")
    from PIL import Image

    from bench.neardup import pans
    from omnidex import Index, IndexConfig
    from omnidex.testing.edits import sample_photos

    photos = sample_photos()  # photographs the pans benchmark does not use
    lib = tmp_path / "lib"
    lib.mkdir()
    cases = []
    for kind, name, start in (("zoom", "chelsea", 7.32), ("static", "coins", 5.88)):  # excerpts at 320 px, CRF 35
        photo = Image.open(photos[name]).convert("RGB")
        video = pans.make_video(photo, kind, tmp_path / f"{kind}.mp4", 20.0)
        clip = tmp_path / f"{kind}_clip.mp4"
        pans.subprocess.run(pans.FFMPEG + ["-i", str(video), "-ss", f"{start:.3f}", "-t", "5", "-vf", "scale=320:-2",
                                           "-c:v", "libx264", "-crf", "35", "-an", str(clip)], check=True)
        shutil.move(str(video), lib / video.name)
        cases.append((str(lib / video.name), clip, start))
    for kind, name in (("pan", "camera"), ("pan", "moon"), ("zoom", "grass")):  # other videos beside them
        pans.make_video(Image.open(photos[name]).convert("RGB"), kind, lib / f"other_{name}.mp4", 20.0)
    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, ocr=False, speech=False, sound=False, series=False))
    idx.add([lib])
    for path, clip, start in cases:
        hit = idx.search(video=str(clip), top_k=1)[0]
        assert hit.path == path
        lo, hi = hit.start_range
        assert lo - 0.1 <= start <= hi + 0.1, (clip.name, hit.start_range)
        assert abs(hit.start - start) <= 0.1, (clip.name, hit.start, hit.evidence)
        assert "key frames" in hit.evidence
