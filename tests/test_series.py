"""Time series as a modality: SAX/MINDIST, the VQ codebook, ingest of CSV/Parquet/.npy into a real
index, exact search by example, text->series with the bundled model, and bad inputs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnidex.series import sax
from omnidex.series.synth import all_combos, generate, make_series, split_combos, Combo
from omnidex.series.vq import Codebook, shapes, train_codebook

# Lin, Keogh, Lonardi, Chiu (2003), Table 3: breakpoints for alphabet sizes 3..10.
PUBLISHED = {
    3: (-0.43, 0.43),
    4: (-0.67, 0.0, 0.67),
    5: (-0.84, -0.25, 0.25, 0.84),
    6: (-0.97, -0.43, 0.0, 0.43, 0.97),
    7: (-1.07, -0.57, -0.18, 0.18, 0.57, 1.07),
    8: (-1.15, -0.67, -0.32, 0.0, 0.32, 0.67, 1.15),
    9: (-1.22, -0.76, -0.43, -0.14, 0.14, 0.43, 0.76, 1.22),
    10: (-1.28, -0.84, -0.52, -0.25, 0.0, 0.25, 0.52, 0.84, 1.28),
}


# ---------------------------------------------------------------- SAX and MINDIST

@pytest.mark.parametrize("a", sorted(PUBLISHED))
def test_breakpoints_match_the_published_table(a):
    assert np.allclose(sax.breakpoints(a), PUBLISHED[a], atol=0.005)


def test_own_normal_quantile_matches_scipy_for_every_alphabet():
    ndtri = pytest.importorskip("scipy.special").ndtri

    for a in range(3, 21):
        for i in range(1, a):
            assert abs(sax._ppf_own(i / a) - ndtri(i / a)) < 1e-12
    assert abs(sax._ppf_own(1e-12) - ndtri(1e-12)) < 1e-9


def test_sax_words_match_hand_computed_examples():
    # 1) x = 1..8, w = 4, a = 4. mean 4.5, population std sqrt(5.25) = 2.2913.
    #    PAA of the z-normalised series: pairs (1,2),(3,4),(5,6),(7,8) -> (1.5-4.5)/2.2913 = -1.309,
    #    -0.436, 0.436, 1.309. Breakpoints for a=4: -0.674, 0, 0.674 -> a, b, c, d.
    assert sax.sax_word(np.arange(1, 9), 4, 4) == "abcd"
    # 2) x = 0,0,0,0,0,0,8,8, w = 4, a = 3. mean 2, var (6*4 + 2*36)/8 = 12, std 3.4641.
    #    z = -0.577 (x6), 1.732 (x2); PAA -> -0.577, -0.577, -0.577, 1.732.
    #    Breakpoints for a=3: -0.431, 0.431 -> a, a, a, c.
    assert sax.sax_word([0, 0, 0, 0, 0, 0, 8, 8], 4, 3) == "aaac"
    # 3) x = 3,1,4,1,5,9,2,6, w = 2, a = 5. mean 31/8 = 3.875; squared deviations sum to 52.875,
    #    std sqrt(52.875/8) = 2.5709. Half means: 2.25 and 5.5 -> z = -0.632 and +0.632.
    #    Breakpoints for a=5: -0.842, -0.253, 0.253, 0.842 -> b, d.
    assert sax.sax_word([3, 1, 4, 1, 5, 9, 2, 6], 2, 5) == "bd"
    # 4) A flat series z-normalises to zeros; 0 sits on the a=4 breakpoint and goes to the upper region.
    assert sax.sax_word([5.0] * 8, 4, 4) == "cccc"


def test_mindist_table_and_hand_value():
    t = sax.dist_table(4)  # cell(a, c) = beta_2 - beta_1 = 0 - (-0.674); cell(a, d) = 0.674 - (-0.674)
    assert t[0, 1] == 0 and t[1, 2] == 0 and math.isclose(t[0, 2], 0.6745, abs_tol=1e-4)
    assert math.isclose(t[0, 3], 1.3490, abs_tol=1e-4) and np.allclose(t, t.T)
    # words "abcd" and "dcba" over n = 8: cells 1.349, 0, 0, 1.349 -> sqrt(8/4) * sqrt(2 * 1.349^2) = 2.698
    d = sax.mindist(sax.from_word("abcd"), sax.from_word("dcba"), 8, 4)
    assert math.isclose(float(d), 2.6980, abs_tol=1e-3)


def test_bad_sax_parameters_are_refused():
    with pytest.raises(ValueError, match="alphabet"):
        sax.breakpoints(2)
    with pytest.raises(ValueError, match="alphabet"):
        sax.breakpoints(21)
    with pytest.raises(ValueError, match="PAA"):
        sax.paa(np.zeros(4), 5)


_series = st.integers(4, 48).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=n, max_size=n),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=n, max_size=n),
    st.integers(1, n), st.integers(3, 20)))


@settings(max_examples=400, deadline=None)
@given(_series)
def test_mindist_never_exceeds_the_true_znormalised_euclidean_distance(case):
    q, c, w, a = case
    q, c = np.asarray(q), np.asarray(c)
    lower = float(sax.mindist(sax.symbols(q[None], w, a)[0], sax.symbols(c[None], w, a)[0], len(q), a))
    true = float(sax.euclidean_znorm(q, c))
    assert lower <= true * (1 + 1e-9) + 1e-9


# ---------------------------------------------------------------- VQ codebook

def test_vq_codebook_trains_encodes_and_round_trips(tmp_path):
    z = shapes([s for s, _, _ in generate(1500, all_combos(), seed=3)], 128)
    cb = train_codebook(z[:1000], k=32, seed=0)
    held = z[1000:]
    tokens = cb.encode(held)
    assert tokens.shape == (500, 15) and tokens.min() >= 0 and tokens.max() < 32
    target = sax.paa(held, cb.segments)
    err = np.mean((cb.decode(tokens) - target) ** 2)
    baseline = np.mean(target ** 2)  # quantising everything to the zero series
    assert err < 0.35 * baseline, (err, baseline)
    hist = cb.histogram(tokens)
    assert np.allclose(np.linalg.norm(hist, axis=1), 1.0)
    cb.save(tmp_path / "cb.npz")
    again = Codebook.load(tmp_path / "cb.npz")
    assert again.fingerprint == cb.fingerprint and np.array_equal(again.encode(held), tokens)
    assert train_codebook(z[:1000], k=32, seed=0).fingerprint == cb.fingerprint  # seeded: reproducible


# ---------------------------------------------------------------- sniffing and reading

def test_sniff_tells_series_from_documents(tmp_path):
    from omnidex.media.sniff import sniff

    (tmp_path / "a.csv").write_text("time,temp,load\n" + "".join(f"{i},{20 + i * 0.1:.2f},{i % 7}\n" for i in range(50)))
    (tmp_path / "b.csv").write_text("name,city\n" + "".join(f"person {i},town {i}\n" for i in range(50)))
    (tmp_path / "c.txt").write_text("A short note. It has commas, words, and no numbers to speak of.\n" * 20)
    np.save(tmp_path / "d.npy", np.arange(100.0))
    assert [sniff(tmp_path / n) for n in ("a.csv", "b.csv", "c.txt", "d.npy")] == ["series", "text", "text", "series"]


# ---------------------------------------------------------------- ingest + search by example

PLANT_AT = 640  # a window start (stride 64)


def _planted_shape(rng, n=128) -> np.ndarray:
    t = np.arange(n)
    return 10 * np.sin(2 * np.pi * t / 40) * np.exp(-t / 50) + 6 * (t > 90)


def _background(rng, n) -> np.ndarray:
    return np.cumsum(rng.normal(0, 1, n))


@pytest.fixture(scope="module")
def series_index(tmp_path_factory):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from omnidex import Index, IndexConfig

    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("series")
    media, queries = root / "media", root / "queries"
    media.mkdir()
    queries.mkdir()
    n = 2048
    shape = _planted_shape(rng)
    # CSV with a header, a time column in seconds and two value columns; the plant is in "load"
    temp, load = _background(rng, n), _background(rng, n)
    load[PLANT_AT:PLANT_AT + 128] = 50 + 3 * shape
    lines = ["time_s,temp,load"] + [f"{i * 0.5:.1f},{temp[i]:.4f},{load[i]:.4f}" for i in range(n)]
    (media / "plant.csv").write_text("\n".join(lines) + "\n")
    # Parquet with timestamps; the plant is in "pressure" at the same window
    pressure = _background(rng, n)
    pressure[PLANT_AT:PLANT_AT + 128] = -200 + 0.5 * shape[::-1]  # time-reversed: a different shape
    ts = pa.array(np.datetime64("2026-01-01T00:00:00") + np.arange(n).astype("timedelta64[m]"))
    pq.write_table(pa.table({"when": ts, "pressure": pressure, "flow": _background(rng, n)}), media / "plant.parquet")
    # 2-D .npy: 3 columns of random walks and one holding the plant upside down
    arr = np.stack([_background(rng, n) for _ in range(3)], axis=1)
    arr[PLANT_AT:PLANT_AT + 128, 1] = 7 - 2 * shape
    np.save(media / "plant.npy", arr)
    for i in range(12):  # distractors
        np.save(media / f"walk{i}.npy", np.stack([_background(rng, 1024) for _ in range(3)], axis=1))
    np.save(queries / "q_csv.npy", 3 * shape + rng.normal(0, 0.3, 128))
    np.save(queries / "q_parquet.npy", shape[::-1] + rng.normal(0, 0.1, 128))
    np.save(queries / "q_npy.npy", -shape + rng.normal(0, 0.1, 128))
    idx = Index(root / "db", IndexConfig(clip_model=None, speech=False, ocr=False))
    report = idx.add([media])
    return {"idx": idx, "report": report, "media": media, "queries": queries, "root": root}


def test_csv_parquet_and_npy_are_indexed_as_series_windows(series_index):
    report, media = series_index["report"], series_index["media"]
    by = {Path(o.path).name: o for o in report.outcomes}
    for name in ("plant.csv", "plant.parquet", "plant.npy"):
        assert by[name].status == "indexed" and by[name].kind == "series", by[name]
    stats = series_index["idx"].stats()
    spaces = [s for s in ("series", "series_text") if s in stats["spaces"]]  # series_text needs the bundled model
    # 2048 samples, 128/64 windows -> 31 per column; CSV: temp + load (time_s is the axis); one row per space
    assert by["plant.csv"].segments == 31 * 2 * len(spaces)
    assert stats["spaces"]["series"]["dim"] == 128 + 32
    assert "series_text" not in spaces or stats["spaces"]["series_text"]["dim"] == 384


@pytest.mark.parametrize("query, name, column, start", [
    ("q_csv.npy", "plant.csv", "load", PLANT_AT * 0.5),  # time_s column: seconds
    ("q_parquet.npy", "plant.parquet", "pressure", None),
    ("q_npy.npy", "plant.npy", "col1", float(PLANT_AT)),  # no time column: sample indices
])
def test_search_by_example_finds_the_planted_window_first(series_index, query, name, column, start):
    hits = series_index["idx"].search(series=str(series_index["queries"] / query), top_k=5)
    top = hits[0]
    assert Path(top.path).name == name and f"column={column}" in top.evidence, hits[:3]
    assert top.modality == "series" and "exact z-normalised Euclidean" in top.evidence
    if start is not None:
        assert top.start == pytest.approx(start)
    else:  # Parquet timestamps: epoch seconds of minute PLANT_AT
        t0 = np.datetime64("2026-01-01T00:00:00").astype("datetime64[s]").astype(np.int64)
        assert top.start == pytest.approx(t0 + 60 * PLANT_AT) and top.unit == "epoch_s"
        assert "window=2026-01-01T10:40:00..2026-01-01T12:47:00" in top.evidence


def test_search_by_file_column_range_and_vector_mode(series_index):
    media = series_index["media"]
    spec = f"{media / 'plant.npy'}:col1:{PLANT_AT}:{PLANT_AT + 128}"
    exact = series_index["idx"].search(series=spec, top_k=3)
    assert Path(exact[0].path).name == "plant.npy" and exact[0].start == PLANT_AT
    assert "distance 0.000" in exact[0].evidence
    approx = series_index["idx"].search(series=spec, top_k=3, series_exact=False)
    assert Path(approx[0].path).name == "plant.npy" and "vector index" in approx[0].evidence


def test_exact_search_equals_brute_force_and_prunes(series_index):
    from omnidex.search.series import encoder_for, exact_topk

    store = series_index["idx"].store
    enc = encoder_for(store, "series")
    rows = store.table("series").to_arrow().to_pylist()
    shapes_all = enc.shape_part(np.stack([r["vector"] for r in rows]))
    rng = np.random.default_rng(11)
    recalls, pruned = [], []
    for _ in range(15):
        q = _background(rng, 128)
        truth = np.sqrt(((shapes_all - enc.shapes([q])[0]) ** 2).sum(1))
        kth = np.sort(truth)[9]
        found, stats = exact_topk(store, enc, q, 10)
        got = [d for d, _ in found]
        assert np.allclose(sorted(got), np.sort(truth)[:10], atol=1e-5)
        recalls.append(np.mean([d <= kth + 1e-5 for d in got]))
        pruned.append(stats.pruned_share)
    print(f"\nseries exact search: recall@10 {np.mean(recalls):.3f}, pruned {np.mean(pruned):.1%} of {len(rows)} windows")
    assert np.mean(recalls) == 1.0 and np.mean(pruned) > 0.3


def test_cli_search_series_json(series_index, capsys):
    from omnidex.cli import main

    rc = main(["search", "--series", str(series_index["queries"] / "q_npy.npy"), "--db",
               str(series_index["root"] / "db"), "--json", "--top", "3"])
    assert rc == 0
    hits = json.loads(capsys.readouterr().out)
    assert Path(hits[0]["path"]).name == "plant.npy" and hits[0]["modality"] == "series"


def test_series_modality_filter_and_unknown_column(series_index):
    from omnidex.errors import OmnidexError

    idx, media = series_index["idx"], series_index["media"]
    hits = idx.search(series=str(series_index["queries"] / "q_csv.npy"), path_glob="*.parquet", top_k=3)
    assert hits and all(h.path.endswith(".parquet") for h in hits)
    with pytest.raises(OmnidexError, match="no numeric column 'nope'"):
        idx.search(series=f"{media / 'plant.csv'}:nope")


# ---------------------------------------------------------------- bad inputs

def test_bad_series_files_are_skipped_or_cleaned_with_a_reason(tmp_path):
    from omnidex import Index, IndexConfig

    media = tmp_path / "bad"
    media.mkdir()
    (media / "empty.csv").write_bytes(b"")
    np.save(media / "strings.npy", np.array(["a", "b", "c"] * 10))
    rows = ["t,a,b"] + [f"{i},{'nan' if i % 5 == 0 else i * 0.5},{'' if i % 3 else 1}" for i in range(200)]
    (media / "nans.csv").write_text("\n".join(rows) + "\n")
    ragged = ["x,y"] + [f"{i},{i * 2}" + (",9,9" if i % 10 == 0 else "") for i in range(200)] + ["7"]
    (media / "ragged.csv").write_text("\n".join(ragged) + "\n")
    with open(media / "huge.npy", "wb") as fh:  # header claims a billion float64 rows, holds 800 bytes
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
        fh.write(np.zeros(100).tobytes())
    (media / "words.csv").write_text("name,city\n" + "".join(f"person {i},town {i}\n" for i in range(30)))
    report = Index(tmp_path / "db", IndexConfig(clip_model=None, speech=False, ocr=False)).add([media])
    by = {Path(o.path).name: o for o in report.outcomes}
    assert by["empty.csv"].status == "skipped" and "zero-byte" in by["empty.csv"].reason
    assert by["strings.npy"].status == "failed" and "not numbers" in by["strings.npy"].reason
    assert by["huge.npy"].status == "failed" and "claims shape (1000000000,)" in by["huge.npy"].reason
    nans = by["nans.csv"]
    assert nans.status == "indexed" and "missing values interpolated" in nans.reason and "'b' dropped" in nans.reason
    assert by["ragged.csv"].status == "indexed" and "ragged rows" in by["ragged.csv"].reason
    assert by["words.csv"].kind == "text"  # not numeric: stays a document


# ---------------------------------------------------------------- text -> series (bundled model)

def _bundled():
    from omnidex.series.encoders import bundled_dir

    if not (bundled_dir() / "config.json").exists():
        pytest.skip("bundled series-lit model not built (python -m omnidex.train.make_series_model)")
    from omnidex.series.model import load_series_lit

    return load_series_lit(bundled_dir())


def test_bundled_text_to_series_recall_on_heldout_combinations():
    from omnidex.train.make_series_model import N_HELDOUT, SEED, text_to_series_recall

    model = _bundled()
    _, held_combos = split_combos(seed=SEED)
    held = generate(N_HELDOUT, held_combos, seed=SEED + 1)
    m = text_to_series_recall(model, held)
    print(f"\ntext->series held-out: R@1 {m['R@1']:.3f} (chance {m['chance_R@1']:.3f}), "
          f"R@5 {m['R@5']:.3f} (chance {m['chance_R@5']:.3f}) over {m['combinations']} unseen combinations")
    assert m["R@1"] > 2.5 * m["chance_R@1"] and m["R@5"] > 1.5 * m["chance_R@5"]


def test_text_query_finds_series_windows(tmp_path):
    from omnidex import Index, IndexConfig

    _bundled()
    rng = np.random.default_rng(5)
    cols = {"spiky": Combo("spike", "none", "low"), "rising": Combo("up", "none", "low"),
            "stepping": Combo("step_down", "none", "low"), "wavy": Combo("flat", "daily", "low")}
    data = {k: make_series(c, rng) for k, c in cols.items()}
    lines = [",".join(cols)] + [",".join(f"{data[k][i]:.4f}" for k in cols) for i in range(128)]
    (tmp_path / "shapes.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "notes.md").write_text("Remember to buy oat milk and coffee beans.\n")
    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, speech=False, ocr=False))
    idx.add([tmp_path / "shapes.csv", tmp_path / "notes.md"])
    for query, col in (("a sharp spike then slow decay", "spiky"), ("steady upward trend", "rising"),
                       ("a step down to a lower level", "stepping")):
        series_hits = [h for h in idx.search(query, top_k=10) if h.modality == "series"]
        assert series_hits and f"column={col}" in series_hits[0].evidence, (query, series_hits)
    # a query about something else does not drag series windows in
    assert all(h.modality != "series" for h in idx.search("oat milk and coffee beans", top_k=5))
