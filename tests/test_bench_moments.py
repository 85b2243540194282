"""The moment benchmark harness: metric helpers (fast) and a smoke run on 2 short videos (slow)."""
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.moments.run import match_boundaries, score_shots, temporal_iou  # noqa: E402


def test_temporal_iou():
    assert temporal_iou(0, 2, 1, 3) == pytest.approx(1 / 3)
    assert temporal_iou(0, 1, 2, 3) == 0.0
    assert temporal_iou(1, 2, 1, 2) == 1.0
    assert temporal_iou(5, 5, 4, 6) == 0.0  # an instant has no extent


def test_boundary_matching_is_one_to_one_and_greedy():
    pairs = match_boundaries([1.0, 2.0], [1.1, 1.3, 5.0], tol=0.5)
    assert sorted(pairs) == [(0, 0)]  # 1.3 is 0.7 from 2.0: no second match; each truth used once
    sc = score_shots([{"t": 1.0, "type": "cut"}, {"t": 4.0, "type": "fade"}],
                     [{"t": 1.2, "type": "cut"}, {"t": 4.4, "type": "cut"}, {"t": 9.0, "type": "fade"}])
    assert sc["all"]["tp"] == 2 and sc["all"]["precision"] == pytest.approx(2 / 3, abs=1e-3) and sc["all"]["recall"] == 1.0
    assert sc["cut"]["recall"] == 1.0 and sc["cut"]["precision"] == 1.0
    assert sc["fade"]["recall"] == 1.0 and sc["fade"]["precision"] == 0.0  # found by a prediction labelled "cut"
    assert sc["label_agreement"] == 0.5


@pytest.mark.bench  # a benchmark smoke run: make test-bench
@pytest.mark.timeout(180)
def test_moment_bench_smoke(tmp_path):
    if not (shutil.which("ffmpeg") and shutil.which("espeak-ng")):
        pytest.skip("needs ffmpeg and espeak-ng")
    pytest.importorskip("av")
    from rich.console import Console

    from bench.moments.run import run

    res = run(tmp_path, n_videos=2, quick=True, speed_videos=2, durations=(8.0, 10.0), phrases_per_video=2,
              plots=False, console=Console(file=open(tmp_path / "log.txt", "w"), width=120))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["corpus"]["videos"] == 2 and saved["corpus"]["phrases"] == 4
    manifest = json.loads((tmp_path / "corpus_n2_seed0" / "manifest.json").read_text())
    for v in manifest["videos"]:
        assert v["boundaries"] and all(0 < b["t"] < v["duration"] for b in v["boundaries"])
        assert all(0 <= s["start"] < s["end"] <= v["duration"] for s in v["speech"])
    assert res["index_report"]["failed"] == 0, res["index_report"]["problems"]
    mo = res["moments"]["summary"]
    assert mo["queries"] == 4 and 0 <= mo["r_at_1"] <= mo["r_at_5"] <= 1 and 0 <= mo["mean_iou"] <= 1
    assert len(res["moments"]["per_query"]) == 4
    assert [s["label"] for s in res["speed"]["ingest"]] == ["speech+OCR", "OCR only (no speech)", "no speech, no OCR"]
    assert all(s["x_realtime"] and s["x_realtime"] > 0 for s in res["speed"]["ingest"])
    assert len(res["speed"]["decode"]["per_video"]) == 2
    shots = res["shots"]
    if shots.get("available"):
        assert len(shots["per_video"]) == 2 and not shots["errors"]
        f1 = shots["pooled"]["all"]["f1"]
        assert f1 is not None and 0 <= f1 <= 1
