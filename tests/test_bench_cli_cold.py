"""bench/cli_cold: the ranking comparison, the table's target marks and the plot (no libraries built)."""
from __future__ import annotations

from bench.cli_cold.run import MODES, compare, plot, summarise, table


def _lib(onnx_wall: float, rss: float) -> dict:
    out = {}
    walls = {"floor": 0.9, "onnx": onnx_wall, "eager": onnx_wall + 0.5, "torch": 6.0}
    assert set(walls) == set(MODES)
    for m, wall in walls.items():
        out[m] = summarise([{"query": "q", "wall_s": wall, "rss_mb": rss, "cpu_s": wall}, {"query": "q", "wall_s": wall * 1.2, "rss_mb": rss, "cpu_s": wall}])
    out["same_ranking"] = compare({"q": [("a", 0.0, 0.5)]}, {"q": [("a", 0.0, 0.5004)]})
    out["same_as_eager"] = compare({"q": [("a", 0.0, 0.5)]}, {"q": [("a", 0.0, 0.5)]}, tol=0.0)
    out["served"] = summarise([{"query": "q", "wall_s": 0.3, "rss_mb": 60.0, "cpu_s": 0.2}])
    return out


def test_compare_sees_order_and_score_changes():
    same = compare({"q": [("a", 0.0, 0.5), ("b", 1.0, 0.4)]}, {"q": [("a", 0.0, 0.5001), ("b", 1.0, 0.4)]})
    assert same["all_same"]
    swapped = compare({"q": [("a", 0.0, 0.5), ("b", 1.0, 0.4)]}, {"q": [("b", 1.0, 0.5), ("a", 0.0, 0.4)]})
    assert not swapped["all_same"] and not swapped["queries"]["q"]["same_order"]
    moved = compare({"q": [("a", 0.0, 0.5)]}, {"q": [("a", 0.0, 0.51)]})
    assert not moved["all_same"] and moved["queries"]["q"]["max_score_gap"] == 0.01


def test_table_marks_targets_and_plot_is_written(tmp_path):
    res = {"targets": {"median_wall_s": 1.5, "max_rss_mb": 400}, "machine": {"cores": 2, "load_average_at_start": [1, 1, 1]},
           "libraries": {"demo": _lib(1.2, 300.0), "library-1000": _lib(2.5, 300.0)}, "import_profile": {"lancedb": 1.1}}
    md = table(res)
    demo_row = next(ln for ln in md.splitlines() if ln.startswith("| demo |") and "ONNX" in ln)
    big_row = next(ln for ln in md.splitlines() if ln.startswith("| library-1000 |") and "ONNX" in ln)
    assert "**met**" in demo_row and "**not met**" in big_row
    assert "torch / ONNX median wall 5.00x" in md and "lancedb 1.10 s" in md
    assert "deferred catalog client saves 0.55 s wall" in md and "identical hits: yes" in md
    assert "while `omnidex serve` of this index runs | 1 | 0.30 |" in md
    plot(res, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 5000
