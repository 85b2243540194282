"""Fusion ablation on the relevance libraries (issue 14, item 5): noisy-OR / learned linear fusion /
cross-attention reranker, each ranking the same fused pools of 50 moments per query.

Run from the repository root (after the libraries exist, e.g. after ``make bench-relevance``)::

    python -m bench.relevance.ablation --out bench/results/relevance_ablation

Each library (seed 1 = development, seed 2 = HELD OUT) is indexed once with the default
configuration and every query's fused pool is kept (``omnidex.train.rerank_data``). The three
rankers then score the same pools; a reranker only reorders a pool, so its top 10 is what the
engine returns with that reranker installed. The confidence threshold of each method is the one
with the best abstention accuracy on seed 1, applied unchanged to seed 2. Writes results.json,
ABLATION.md and ablation.png.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEV, HELD_OUT = 1, 2
METRICS = ("r_at_1", "mrr", "ndcg_10", "auroc", "abstention_acc")


def bundled_model() -> Path:
    """The cross-attention reranker shipped with omnidex (its linear fusion is in ``linear/``)."""
    import omnidex

    return Path(omnidex.__file__).parent / "models" / "rerank"


def rankers(model_dir: Path) -> dict:
    """method -> callable(pool) -> probabilities, in pool order."""
    from omnidex.search.rerank_model import LearnedReranker

    out = {"noisy-or": lambda p: np.asarray([h["score"] for h in p["hits"]], np.float64)}
    for name, d in (("linear", model_dir / "linear"), ("xattn", model_dir)):
        if (d / "config.json").exists():
            rr = LearnedReranker(d)
            out[name] = lambda p, rr=rr: rr.probabilities(p["text"], p["hits"], p.get("context"))
    return out


def score_all(methods: dict, pools: list[dict]) -> tuple[dict, dict]:
    """(method -> score arrays of the non-empty pools, method -> median ms per pool)."""
    scores, ms = {}, {}
    live = [p for p in pools if p["hits"]]
    for name, fn in methods.items():
        times, arrs = [], []
        for p in live:
            t0 = time.perf_counter()
            arrs.append(np.asarray(fn(p), np.float64))
            times.append((time.perf_counter() - t0) * 1000)
        scores[name], ms[name] = arrs, round(statistics.median(times), 2) if times else None
    return scores, ms


def by_type(pools: list[dict], scores: list[np.ndarray]) -> dict:
    """R@1 per query type (answerable pools; an empty pool is a miss)."""
    live = iter(scores)
    hits: dict[str, list[float]] = {}
    for p in pools:
        if not p["hits"]:
            s = None
        else:
            s = next(live)
        if p["answerable"]:
            ok = s is not None and p["hits"][int(np.argmax(s))]["grade"] == 2
            hits.setdefault(p["type"], []).append(float(ok))
    return {t: round(float(np.mean(v)), 4) for t, v in sorted(hits.items())}


def evaluate(pools: dict[int, list[dict]], methods: dict) -> dict:
    """Per seed and method: metrics at 0.5, the dev-chosen threshold, per-type R@1, latency."""
    from omnidex.train.rerank import best_threshold, rank_metrics

    res: dict = {"seeds": {}}
    scored = {seed: score_all(methods, ps) for seed, ps in pools.items()}
    thresholds = {}
    for name in methods:
        thresholds[name] = best_threshold(pools[DEV], scored[DEV][0][name])[0] if DEV in pools else 0.5
    for seed, ps in pools.items():
        scores, ms = scored[seed]
        res["seeds"][str(seed)] = {name: {
            **rank_metrics(ps, scores[name], thresholds[name]),
            "abstention_acc_at_0.5": rank_metrics(ps, scores[name], 0.5)["abstention_acc"],
            "r_at_1_by_type": by_type(ps, scores[name]), "rescore_ms_median": ms[name]} for name in methods}
    res["thresholds_from_dev"] = thresholds
    return res


def verdict(res: dict) -> dict:
    """Whether the cross-attention reranker beats noisy-OR on the held-out seed (R@1 and nDCG@10)."""
    held = res["seeds"].get(str(HELD_OUT), {})
    if "xattn" not in held or "noisy-or" not in held:
        return {"xattn_beats_noisy_or": None}
    x, n = held["xattn"], held["noisy-or"]
    return {"xattn_beats_noisy_or": bool(x["r_at_1"] > n["r_at_1"] and x["ndcg_10"] > n["ndcg_10"]),
            "delta_r_at_1": round(x["r_at_1"] - n["r_at_1"], 4), "delta_ndcg_10": round(x["ndcg_10"] - n["ndcg_10"], 4)}


def table(res: dict) -> str:
    """Markdown: one row per (seed, method)."""
    lines = ["| seed | method | R@1 | MRR | nDCG@10 | AUROC | abstention (dev threshold) | threshold | "
             "abstention @0.5 | rescore ms (median, pool of 50) |", "|" + "---|" * 10]
    for seed, rows in res["seeds"].items():
        tag = " (held-out)" if int(seed) == HELD_OUT else " (dev)"
        for name, r in rows.items():
            lines.append(f"| {seed}{tag} | {name} | {r['r_at_1']} | {r['mrr']} | {r['ndcg_10']} | {r['auroc']} | "
                         f"{r['abstention_acc']} | {r['threshold']} | {r['abstention_acc_at_0.5']} | "
                         f"{r['rescore_ms_median']} |")
    return "\n".join(lines) + "\n"


def plot(res: dict, out: Path) -> str:
    """Bars of every metric per method on the held-out seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["seeds"].get(str(HELD_OUT)) or next(iter(res["seeds"].values()))
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    width = 0.8 / len(rows)
    for i, (name, r) in enumerate(rows.items()):
        ax.bar([j + i * width for j in range(len(METRICS))], [r[m] or 0 for m in METRICS], width, label=name)
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(METRICS))], METRICS)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"fusion ablation, held-out seed {HELD_OUT}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ablation.png", dpi=110)
    plt.close(fig)
    return "ablation.png"


def run(out: Path, model: Path, libraries: Path, cache: Path, seeds=(DEV, HELD_OUT)) -> dict:
    """Collect (or read cached) pools of every seed, score them three ways, write the results."""
    from omnidex.train.rerank_data import library_pools

    out.mkdir(parents=True, exist_ok=True)
    pools = {s: library_pools(cache, s, "full", extra=False, allow_bench=True, libraries=libraries,
                              progress=lambda m: print(m, flush=True)) for s in seeds}
    res = evaluate(pools, rankers(model))
    res.update(model=str(model), verdict=verdict(res), config={"seeds": list(seeds), "held_out": HELD_OUT,
               "threshold_from": f"seed {DEV}", "cpus": os.cpu_count()})
    res["plot"] = plot(res, out)
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "ABLATION.md").write_text(table(res) + "\nverdict: " + json.dumps(res["verdict"]) + "\n")
    print(table(res))
    print("verdict:", res["verdict"])
    return res


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    from omnidex._env import cache_dir

    ap = argparse.ArgumentParser(description="noisy-OR vs linear fusion vs cross-attention reranker")
    ap.add_argument("--out", type=Path, default=Path("bench/results/relevance_ablation"))
    ap.add_argument("--model", type=Path, default=None, help="reranker folder (default: the bundled one)")
    ap.add_argument("--libraries", type=Path, default=Path("bench/results/relevance/libraries"),
                    help="where the benchmark rendered its libraries (rendered here if missing)")
    ap.add_argument("--cache", type=Path, default=None, help="indexes and pools (default: omnidex cache/rerank)")
    ap.add_argument("--seeds", default=f"{DEV},{HELD_OUT}")
    args = ap.parse_args(argv)
    run(args.out, args.model or bundled_model(), args.libraries, args.cache or cache_dir() / "rerank",
        tuple(int(s) for s in args.seeds.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
