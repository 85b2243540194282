"""Clip localisation on near-static shots: placed by the timing of frame-to-frame changes when they
line up, else an honest start range (``Hit.start_range``)."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from omnidex.search import video_query as vq


def _thumbs(levels: np.ndarray, t0: float = 0.0, fps: float = 25.0, seed: int = 0) -> "vq._Thumbs":
    """Thumbnails of a fixed random picture whose brightness follows ``levels`` (one per frame)."""
    rng = np.random.default_rng(seed)
    pic = rng.uniform(0.2, 0.6, (vq.THUMB[1], vq.THUMB[0], 3)).astype(np.float32)
    colour = np.stack([(pic * lv).ravel() for lv in levels])
    grey = np.stack([(c.reshape(-1, 3).mean(1) - c.reshape(-1, 3).mean()) / (c.reshape(-1, 3).mean(1).std() + 0.015)
                     for c in colour])
    return vq._Thumbs(t0 + np.arange(len(levels)) / fps, grey, colour)


def _ramp(n: int, pulses: bool) -> np.ndarray:
    """A slow brightening (the light) with, optionally, a source encoder's refresh every 50 frames."""
    lv = 1.0 + 0.0004 * np.arange(n)
    if pulses:
        lv = lv + 0.004 * ((np.arange(n) % 50) < 1)
    return lv


@pytest.mark.parametrize("pulses", [True, False])
def test_changes_place_a_still_clip_only_when_they_line_up(pulses):
    video = _ramp(400, pulses)
    truth = 137  # frames
    clip = video[truth: truth + 120] * 0.995  # re-encoded: a little darker throughout
    target, query = _thumbs(video), _thumbs(clip)
    assert query.still()
    q_rel = query.times - query.times[0]
    shifts = target.times[(target.times >= 3.0) & (target.times <= 8.0)]
    start, _, (lo, hi) = vq._best_shift(query, target, shifts, q_rel, offset=5.5, fps=25.0)
    if pulses:
        assert abs(start - truth / 25) < 0.02 and hi - lo <= 0.1
    else:  # a bare ramp with a level shift: nothing tells the instant, and the range says so
        assert hi - lo > 0.5 and lo - 0.04 <= truth / 25 <= hi + 0.04


@pytest.mark.slow
def test_search_video_places_a_near_static_excerpt_and_reports_its_range(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    from PIL import Image

    from bench.neardup import pans
    from omnidex import Index, IndexConfig

    rng = np.random.default_rng(3)
    small = (rng.uniform(0, 255, (48, 64, 3))).astype(np.uint8)
    photo = Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)  # a soft, textured scene
    video = pans.make_video(photo, "static", tmp_path / "still.mp4", 16.0)
    start = 6.04
    clip = pans.excerpt(video, tmp_path / "clip.mp4", start, 5.0, np.random.default_rng(1))
    (tmp_path / "lib").mkdir()
    shutil.move(str(video), tmp_path / "lib" / "still.mp4")
    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, ocr=False, speech=False, sound=False, series=False))
    idx.add([tmp_path / "lib"])
    hit = idx.search(video=str(clip), top_k=1)[0]
    lo, hi = hit.start_range
    assert lo - 0.1 <= start <= hi + 0.1  # the stated range holds the truth ...
    assert abs(hit.start - start) <= 0.1 or "anywhere from" in hit.evidence  # ... and a loose one is said
    assert json.loads(json.dumps(hit.to_dict()))["start_range"] == [lo, hi]
