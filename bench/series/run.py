"""Benchmark of time series search (``python -m bench.series.run``).

Builds a generated corpus (random walks with planted synthetic shapes, as 2-D ``.npy`` files),
indexes it into a real store, then measures:

* exact search by example: recall@10 against brute-force z-normalised Euclidean distance, the
  share of windows pruned by SAX/MINDIST (never fetched), and query latency;
* the vector index path: recall@10 and latency;
* text->series recall@1/@5 of the bundled model on held-out (unseen) caption combinations.

Prints a table and JSON, and writes ``results.json``.

    python -m bench.series.run [--files 60] [--queries 30] [--out bench/results/series]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def make_corpus(root: Path, files: int, seed: int = 0) -> int:
    """``files`` .npy files of 4 columns x 2048 samples: random walks with synthetic shapes pasted in."""
    from omnidex.series.synth import all_combos, make_series

    rng = np.random.default_rng(seed)
    combos = all_combos()
    for f in range(files):
        arr = np.cumsum(rng.normal(0, 1, (2048, 4)), axis=0)
        for _ in range(6):
            c, at = int(rng.integers(4)), int(rng.integers(0, 2048 - 128))
            s = make_series(combos[int(rng.integers(len(combos)))], rng)
            arr[at:at + 128, c] = arr[at, c] + (s - s.mean()) / (s.std() + 1e-9) * rng.uniform(2, 10)
        np.save(root / f"s{f:04d}.npy", arr)
    return files


def measure_search(idx, queries: list[np.ndarray], k: int = 10) -> dict:
    """Exact and vector search against brute force over the stored shapes."""
    from omnidex.search.series import encoder_for, exact_topk

    store = idx.store
    enc = encoder_for(store, "series")
    tbl = store.table("series").to_arrow()
    shapes_all = enc.shape_part(np.stack(tbl.column("vector").to_numpy(zero_copy_only=False)))
    rec_exact, rec_vec, pruned, t_exact, t_vec = [], [], [], [], []
    for q in queries:
        zq = enc.shapes([q])[0]
        truth = np.sqrt(((shapes_all - zq) ** 2).sum(1))
        kth = np.sort(truth)[k - 1]
        t0 = time.perf_counter()
        found, stats = exact_topk(store, enc, q, k)
        t_exact.append(time.perf_counter() - t0)
        rec_exact.append(np.mean([d <= kth + 1e-5 for d, _ in found]))
        pruned.append(stats.pruned_share)
        t0 = time.perf_counter()
        rows = store.vector_search("series", enc.encode_series([q])[0], k)
        t_vec.append(time.perf_counter() - t0)
        vec_shapes = enc.shape_part(np.stack([_vector(store, r) for r in rows]))
        rec_vec.append(np.mean(np.sqrt(((vec_shapes - zq) ** 2).sum(1)) <= kth + 1e-5))
    return {"windows": len(shapes_all), "queries": len(queries), "k": k,
            "exact_recall@10": float(np.mean(rec_exact)), "exact_pruned_share": float(np.mean(pruned)),
            "exact_latency_ms_median": 1000 * float(np.median(t_exact)),
            "vector_recall@10": float(np.mean(rec_vec)), "vector_latency_ms_median": 1000 * float(np.median(t_vec)),
            "sax": f"w={enc.word} a={enc.alphabet} n={enc.length}"}


def _vector(store, row) -> np.ndarray:
    from omnidex.search.series import _fetch
    from omnidex.store import sql_str

    return np.asarray(_fetch(store.table("series"), [row["id"]], f"path = {sql_str(row['path'])}")[0]["vector"])


def measure_text(n_heldout: int = 600) -> dict:
    """Text->series recall of the bundled model on held-out combinations (see make_model)."""
    from omnidex.series.encoders import bundled_dir
    from omnidex.train.make_series_model import SEED, text_to_series_recall
    from omnidex.series.model import load_series_lit
    from omnidex.series.synth import generate, split_combos

    if not (bundled_dir() / "config.json").exists():
        return {"error": "bundled model missing: python -m omnidex.train.make_series_model"}
    _, held = split_combos(seed=SEED)
    return text_to_series_recall(load_series_lit(bundled_dir()), generate(n_heldout, held, seed=SEED + 1))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print/write the results."""
    from omnidex import Index, IndexConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=60, help="generated .npy files (4 columns x 2048 samples each)")
    p.add_argument("--queries", type=int, default=30, help="query windows")
    p.add_argument("--out", default="bench/results/series", help="where results.json goes")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="omnidex-series-bench-"))
    try:
        (work / "media").mkdir()
        make_corpus(work / "media", args.files)
        idx = Index(work / "db", IndexConfig(clip_model=None, speech=False, ocr=False))
        t0 = time.perf_counter()
        report = idx.add([work / "media"])
        ingest_s = time.perf_counter() - t0
        rng = np.random.default_rng(99)
        queries = [np.cumsum(rng.normal(0, 1, 128)) for _ in range(args.queries // 2)]
        arrs = [np.load(work / "media" / f"s{int(i):04d}.npy") for i in rng.integers(0, args.files, args.queries - len(queries))]
        queries += [a[s:s + 128, int(rng.integers(4))] + rng.normal(0, 0.5, 128)
                    for a, s in zip(arrs, rng.integers(0, 1900, len(arrs)))]
        res = {"ingest_s": round(ingest_s, 2), "files": report.count("indexed"), **measure_search(idx, queries),
               "text_to_series": measure_text()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    _table(res)
    print(json.dumps(res, indent=2))
    return 0


def _table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"series search over {res['windows']} windows ({res['sax']})")
    for col in ("measure", "value"):
        t.add_column(col)
    t.add_row("exact recall@10 vs brute force", f"{res['exact_recall@10']:.3f}")
    t.add_row("windows pruned by MINDIST", f"{res['exact_pruned_share']:.1%}")
    t.add_row("exact query latency (median)", f"{res['exact_latency_ms_median']:.1f} ms")
    t.add_row("vector index recall@10", f"{res['vector_recall@10']:.3f}")
    t.add_row("vector query latency (median)", f"{res['vector_latency_ms_median']:.1f} ms")
    tx = res["text_to_series"]
    if "R@1" in tx:
        t.add_row("text->series R@1 (chance)", f"{tx['R@1']:.3f} ({tx['chance_R@1']:.3f})")
        t.add_row("text->series R@5 (chance)", f"{tx['R@5']:.3f} ({tx['chance_R@5']:.3f})")
    Console().print(t)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
