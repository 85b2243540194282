"""Fairness slices (issue 19, part 3): per-slice metrics with bootstrap intervals, synth --skew, train --balance."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from omnidex.cli import main
from omnidex.train.contrastive import Batcher
from omnidex.train.slices import balance_weights, bootstrap_ci, field_value, pair_values, slice_report
from omnidex.train.synth import generate, parse_skew


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(out, n_train=60, n_heldout=48, seed=5, size=32)
    return out


def test_slice_report_on_a_hand_made_eval():
    # slice "easy": every query right; slice "hard": 4 of 40 right. The gap is real, its CI excludes 0.
    values = ["easy"] * 40 + ["hard"] * 40
    hits = np.array([1] * 40 + [1] * 4 + [0] * 36, dtype=float)
    rep = slice_report(values, {"R@1": hits}, "scene", reps=1000)
    by = {s["value"]: s for s in rep["slices"]}
    assert by["easy"]["n"] == 40 and by["easy"]["R@1"]["mean"] == 1.0 and by["easy"]["R@1"]["lo"] == 1.0
    assert by["hard"]["R@1"]["mean"] == pytest.approx(0.1)
    assert by["hard"]["R@1"]["lo"] < 0.1 < by["hard"]["R@1"]["hi"] < 0.3
    g = rep["gap"]
    assert (g["best"], g["worst"]) == ("easy", "hard") and g["gap"] == pytest.approx(0.9)
    assert g["significant"] and 0.7 < g["lo"] <= 0.9 <= g["hi"]
    # equal slices: no real gap
    same = slice_report(["a"] * 30 + ["b"] * 30, {"R@1": np.array([1, 0] * 30, dtype=float)}, "x", reps=1000)
    assert same["gap"]["gap"] == 0.0 and not same["gap"]["significant"]


def test_bootstrap_interval_narrows_with_more_data():
    small = bootstrap_ci(np.array([1, 0] * 5, dtype=float))
    large = bootstrap_ci(np.array([1, 0] * 500, dtype=float))
    assert small[0] < large[0] < 0.5 < large[1] < small[1]


def test_field_value_follows_dots():
    row = {"background": "noise", "objects": [{"colour": "red"}, {"colour": "blue"}]}
    assert field_value(row, "background") == "noise"
    assert field_value(row, "objects.1.colour") == "blue"
    assert field_value(row, "objects.5.colour") is None and field_value(row, "nope") is None


def test_eval_slice_cli_reports_each_background_with_intervals(synth, tmp_path, capsys):
    plot = tmp_path / "slices.png"
    assert main(["eval", str(synth / "heldout.jsonl"), "--clip", "lit:bundled", "--slice", "background",
                 "--slice-plot", str(plot), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    rows = [json.loads(x) for x in (synth / "heldout.jsonl").read_text().splitlines()]
    want = Counter(r["background"] for r in rows)
    sl = res["slices"]
    assert sl["field"] == "background" and {s["value"]: s["n"] for s in sl["slices"]} == dict(want)
    ranks = np.array(res["text_to_item"]["ranks"])
    for s in sl["slices"]:  # each slice's R@5 is the mean over its own captions' ranks
        idx = [i for i, r in enumerate(rows) if r["background"] == s["value"]]
        assert s["R@5"]["mean"] == pytest.approx(float(np.mean(ranks[idx] <= 5)))
        assert s["R@5"]["lo"] <= s["R@5"]["mean"] <= s["R@5"]["hi"]
    assert sl["gap"]["gap"] >= 0 and plot.stat().st_size > 5000 and res["slice_plots"] == [str(plot)]


def test_eval_slice_on_a_missing_field_names_the_file(synth, capsys):
    assert main(["eval", str(synth / "heldout.jsonl"), "--clip", "lit:bundled", "--slice", "weather"]) == 1
    err = capsys.readouterr().err
    assert "heldout.jsonl" in err and "weather" in err


def test_classify_accuracy_per_slice(synth, tmp_path, capsys):
    files = sorted(str(p) for p in (synth / "heldout").glob("*.png"))
    meta = json.loads((synth / "meta.json").read_text())
    plot = tmp_path / "cls.png"
    assert main(["classify", *files, "--labels", ",".join(meta["colours"]), "--template", "a {} shape",
                 "--clip", "lit:bundled", "--truth", str(synth / "heldout.jsonl"), "--label-field", "objects.0.colour",
                 "--slice", "background", "--slice-plot", str(plot), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    acc = out["accuracy"]
    truth = {str(synth / r["path"]): r for r in map(json.loads, (synth / "heldout.jsonl").read_text().splitlines())}
    right = [r["top"][0][0] == truth[r["path"]]["objects"][0]["colour"] for r in out["results"]]
    assert acc["n"] == len(files) and acc["accuracy"] == pytest.approx(np.mean(right))
    assert acc["accuracy"] > 1.5 / len(meta["colours"])  # the bundled model reads colours well above chance
    assert sum(s["n"] for s in acc["slices"]["slices"]) == len(files) and plot.exists()


def test_skew_is_honoured_in_the_training_split_only(tmp_path):
    plain = generate(tmp_path / "plain", n_train=120, n_heldout=20, seed=2, size=16)
    assert plain["train"] == 120
    generate(tmp_path / "skew", n_train=120, n_heldout=20, seed=2, size=16, skew="background=plain-dark:0.5")
    generate(tmp_path / "none", n_train=120, n_heldout=20, seed=2, size=16, skew="background=plain-dark:0")
    share = {}
    for name in ("plain", "skew", "none"):
        rows = [json.loads(x) for x in (tmp_path / name / "train.jsonl").read_text().splitlines()]
        share[name] = sum(r["background"] == "plain-dark" for r in rows) / len(rows)
    assert 0.38 <= share["skew"] <= 0.62 and share["none"] == 0.0 and share["plain"] < 0.35
    # the held-out split keeps the natural mix, byte for byte
    assert (tmp_path / "skew" / "heldout.jsonl").read_bytes() == (tmp_path / "plain" / "heldout.jsonl").read_bytes()
    meta = json.loads((tmp_path / "skew" / "meta.json").read_text())
    assert meta["skew"] == {"field": "background", "value": "plain-dark", "share": 0.5, "split": "train"}


def test_skew_spec_errors(tmp_path, capsys):
    assert parse_skew("objects.0.colour=red:0.3") == ("objects.0.colour", "red", 0.3)
    for bad in ("background:0.5", "background=noise", "background=noise:1.5", "=noise:0.2"):
        with pytest.raises(ValueError):
            parse_skew(bad)
    assert main(["synth", str(tmp_path / "x"), "--skew", "background=noise:2"]) == 2
    assert "SHARE" in capsys.readouterr().err
    with pytest.raises(ValueError, match="did not draw"):
        generate(tmp_path / "y", n_train=3, n_heldout=0, size=16, skew="background=purple:1")


def test_balance_weights_change_what_the_batcher_draws(synth):
    from omnidex.train.pairs import load_pairs

    pairs = load_pairs(synth / "train.jsonl").pairs
    values = pair_values(synth / "train.jsonl", "background", pairs)
    assert len(values) == len(pairs) and "(missing)" not in values
    w = balance_weights(values)
    per_value = Counter()
    for v, x in zip(values, w):
        per_value[v] += x
    assert all(x == pytest.approx(1 / len(per_value)) for x in per_value.values())

    def drawn(weights):
        b = Batcher(pairs, 30, seed=1, loader=lambda s: s, weights=weights)
        got = Counter(values[i] for k in range(200) for i in b.batch(k).indices)
        return {v: got[v] / sum(got.values()) for v in per_value}

    natural, balanced = drawn(None), drawn(w)
    counts = Counter(values)
    rare = min(counts, key=counts.get)
    assert natural[rare] == pytest.approx(counts[rare] / len(values), abs=1e-9)  # each epoch a permutation
    assert all(abs(s - 1 / len(counts)) < 0.04 for s in balanced.values())
    assert balanced[rare] > natural[rare] + 0.05
    # the draws are a pure function of (seed, step)
    assert Batcher(pairs, 30, 1, loader=lambda s: s, weights=w).batch(7).indices == \
        Batcher(pairs, 30, 1, loader=lambda s: s, weights=w).batch(7).indices
    with pytest.raises(ValueError):
        Batcher(pairs, 30, weights=[1.0] * 3)


def test_index_eval_slices_read_the_queries_file(tmp_path):
    from omnidex.train.evaluate import _query_slices

    q = tmp_path / "queries.jsonl"
    rows = [{"query": f"q{i}", "relevant": ["a.png"], "lang": "en" if i < 20 else "de"} for i in range(40)]
    q.write_text("\n".join(json.dumps(r) for r in rows))
    per_query = [{"query": f"q{i}", "rank": 1 if i < 20 else (None if i % 2 else 7)} for i in range(40)]
    rep = _query_slices(q, "lang", per_query)
    by = {s["value"]: s for s in rep["slices"]}
    assert by["en"]["R@1"]["mean"] == 1.0 and by["de"]["R@1"]["mean"] == 0.0 and by["de"]["R@10"]["mean"] == 0.5
    assert rep["gap"]["best"] == "en" and rep["gap"]["significant"]
    from omnidex.errors import OmnidexError

    with pytest.raises(OmnidexError, match="queries.jsonl"):
        _query_slices(q, "country", per_query)


@pytest.mark.slow  # the train command end to end
def test_train_cli_balance(synth, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(synth / "train.jsonl"), "--out", str(out), "--balance", "background",
                 "--image-size", "32", "--steps", "2", "--batch", "8"]) == 0
    err = capsys.readouterr().err
    assert "--balance background" in err and "equal share" in err and (out / "model" / "config.json").exists()
    assert main(["train", str(synth / "train.jsonl"), "--out", str(tmp_path / "x"), "--balance", "weather",
                 "--steps", "1"]) == 2
    assert "weather" in capsys.readouterr().err
