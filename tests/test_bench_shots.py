"""bench/shots: pooled scores and speed, the table, and PySceneDetect on a real generated video."""
from __future__ import annotations

import importlib.util

import pytest

from bench.moments.run import score_shots
from bench.shots.run import pooled, table


def _video(name, truth, pred, duration, wall):
    sc = score_shots([{"t": t, "type": k} for t, k in truth], [{"t": t, "type": "cut"} for t in pred])
    sc.pop("pairs")
    return {"name": name, "duration": duration, "wall_s": wall, "score": sc, "pred": pred}


def test_pooled_micro_averages_and_speed():
    per = [_video("a", [(2.0, "cut"), (5.0, "fade")], [2.1, 9.0], 10.0, 1.0),
           _video("b", [(3.0, "cut")], [3.0], 30.0, 1.0),
           {"name": "c", "error": "ValueError: broken"}]
    p = pooled(per)
    assert p["all"]["tp"] == 2 and p["all"]["predicted"] == 3 and p["all"]["truth"] == 3
    assert p["recall_cut"] == 1.0 and p["recall_fade"] == 0.0
    assert p["speed_x"] == 20.0  # 40 s of video in 2 s
    assert p["median_speed_x"] == 20.0 and p["errors"] == 1


def test_table_names_every_detector():
    per = [_video("a", [(2.0, "cut")], [2.0], 10.0, 0.5)]
    res = {"config": {"videos": 1, "seed": 0, "tolerance_s": 0.5, "cpus": 2, "scenedetect": "0.7"},
           "pooled": {"omnidex": pooled(per), "scenedetect-content": pooled(per)},
           "omnidex_vs_best_peer": {"f1_minus_best_peer_f1": 0.0, "speed_ratio_vs_fastest_peer": 1.0}}
    md = table(res)
    assert "| omnidex | 1.0 | 1.0 | 1.0 |" in md and "scenedetect-content" in md


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("scenedetect") is None, reason="scenedetect (dev extra) not installed")
def test_both_detectors_find_a_generated_cut(tmp_path):
    from bench.shots.run import detect
    from omnidex.testing.mediagen import Scene, make_video

    path = tmp_path / "cut.mp4"
    make_video(path, [Scene(2.0, (200, 30, 30), "ONE"), Scene(2.0, (30, 60, 200), "TWO")], [], size=(320, 180))
    for name in ("omnidex", "scenedetect-content"):
        found = [b["t"] for b in detect(name, str(path))]
        assert any(abs(t - 2.0) <= 0.1 for t in found), (name, found)
