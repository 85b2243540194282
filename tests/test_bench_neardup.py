"""bench/neardup: the table and plot from a results dict (the runs themselves are long)."""
from __future__ import annotations

from bench.neardup.run import plot, table


def _res():
    per = {"flip": {"top1": 1.0, "n": 4}, "crop50": {"top1": 0.75, "n": 4}}
    lat = {"median": 0.5, "p90": 1.0, "max": 2.0, "n": 8}
    img = {"heldout_result": {"per_edit": per, "latency_s": lat}, "dev_result": {"per_edit": per},
           "video_result": {"per_edit": per}, "screenshot_library": {"per_edit": {"picture": {"top1": 1.0, "n": 2}}},
           "library_files": 9, "ingest": {"seconds": 1.0}}
    ocr = {"sign_tight": {"rank1": 1.0, "before": 0.0, "after": 1.0, "n": 3}}
    stats = {"n": 2, "found": 1.0, "within_0.1s": 0.5, "median_s": 0.04, "max_s": 0.2}
    held = dict(stats, **{"within_0.1s": 1.0, "range_covers": 1.0, "median_range_s": 0.04, "sure": 0.5})
    thumbs = dict(stats, **{"within_0.1s": 0.25, "median_cpu_s": 3.9, "median_latency_s": 5.5})
    dev = dict(stats, **{"median_cpu_s": 4.8, "median_latency_s": 6.4})
    miss = {"query": "still3_2.mp4", "truth": 12.0, "start": 11.8, "err": 0.2, "range": [11.2, 12.3],
            "method": "1 clip key frames against every frame at 128x72"}
    pans = {"seeds": {"dev": [0, 1], "heldout": [5, 6]}, "adaptive": {"pan": stats, "all": dev},
            "thumbnails": {"pan": thumbs, "all": thumbs}, "fixed_1s": {"pan": stats, "all": stats},
            "heldout": {"pan": held, "all": held}, "rows": {"dev": [miss], "heldout": []}}
    return {"images": img, "ocr": ocr, "pans": pans}


def test_table_marks_each_figure_against_its_target(tmp_path):
    md = table(_res())
    assert "| flip | 1.000 | 4 | 1.000 | 1.000 | PASS |" in md
    assert "| crop50 | 0.750 |" in md and "FAIL" in md
    assert "| sign_tight | 1.000 | 0.000 | 1.000 | 3 | PASS |" in md
    assert "| pan | dev [0, 1] | 0.500 | 0.250 | 0.500 | 0.04 | 0.2 |" in md and "FAIL |" in md
    assert "| pan | held-out [5, 6] | 1.000 |  |  | 0.04 | 0.2 | 1.0 | 0.04 | 0.5 |  |  | 2 | PASS |" in md
    assert "CPU 4.8 s with the last stage vs 3.9 s thumbnails only" in md
    assert "| still3_2.mp4 | 12.00 | 11.80 | 11.20-12.30 | 1 clip key frames" in md
    plot(_res(), tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
