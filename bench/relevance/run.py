"""Relevance benchmark on generated libraries in topic families (issue 14, item 6).

Run from the repository root::

    python -m bench.relevance.run --out bench/results/relevance            # make bench-relevance
    python -m bench.relevance.run --out /tmp/rel --quick --seeds 1         # small library, ~1 min

For each seed (seed 2 is HELD OUT: tune on seed 1 only) it builds the library of
:mod:`omnidex.testing.library`, indexes it with ``omnidex.Index(db).add`` (default config), runs
every query (``Index.search(text, top_k=10)``) and scores R@1, MRR, nDCG@10, top-hit temporal
IoU, AUROC of the top-1 score (answerable vs no-answer), abstention accuracy of ``hit.confident``,
R@1 per query type, latency and frame_time-outside-moment violations. Then it adds unrelated
files until the library has tripled, re-indexes incrementally, reruns the queries and measures
how far each previous top hit's score moved. Writes ``<out>/results.json`` and plots; prints a
table with the issue's targets (judged on the held-out seed). See bench/relevance/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from . import metrics as M  # noqa: E402

TOP_K = 10
HELD_OUT = 2  # the seed nobody tunes on
TARGETS = {  # (key, target, higher is better)
    "r_at_1": (0.85, True), "ndcg_10": (0.85, True), "mean_iou": (0.80, True), "auroc": (0.90, True),
    "abstention_acc": (0.85, True), "stability_median": (0.02, False), "stability_max": (0.05, False),
    "frame_violations": (0, False),
}


# ------------------------------------------------------------------------------------- searching

def hit_record(h) -> dict:
    """A plain dict of what the metrics need from a Hit (path resolved)."""
    conf = getattr(h, "confident", None)
    return {"path": os.path.realpath(h.path), "start": float(h.start), "end": float(h.end), "unit": h.unit,
            "score": float(h.score), "frame_time": h.frame_time, "confident": None if conf is None else bool(conf),
            "modality": h.modality, "source": getattr(h, "source", ""), "evidence": (h.evidence or "")[:160]}


def run_queries(idx, man: dict, progress, label: str) -> list[dict]:
    """Every query of the manifest through ``Index.search``; hits and latency per query."""
    idx.search("warm up the query encoders", top_k=TOP_K)
    rows = []
    task = progress.add_task(label, total=len(man["queries"]))
    for q in man["queries"]:
        t0 = time.perf_counter()
        hits = idx.search(q["text"], top_k=TOP_K)
        rows.append({"id": q["id"], "latency_ms": (time.perf_counter() - t0) * 1000,
                     "hits": [hit_record(h) for h in hits]})
        progress.advance(task)
    return rows


def _diagnose(q: dict, top: dict | None, by_path: dict, gs: list[int]) -> str:
    """Why an answerable query's top hit is not the exact moment."""
    if top is None:
        return "no_hit"
    if gs[0] == 2:
        return "correct"
    if gs[0] == 1:
        return "right_file_wrong_moment"
    f = by_path.get(top["path"])
    if f is None or f["role"] != "member":
        return "background"
    return "same_family_other_member" if f["family"] == q["family"] else "other_family"


def score_queries(man: dict, rows: list[dict]) -> list[dict]:
    """Per-query metrics: grades, R@1, RR, nDCG@10, IoU, abstention, diagnosis."""
    root = man["root"]
    by_path = {os.path.realpath(os.path.join(root, f["path"])): f for f in man["files"]}
    out = []
    for q, row in zip(man["queries"], rows):
        hits, answerable = row["hits"], q["answer"] is not None
        gs = M.grades(q, hits, root)
        top = hits[0] if hits else None
        rec = {"id": q["id"], "type": q["type"], "tags": q["tags"], "text": q["text"], "answerable": answerable,
               "grades": gs, "top_score": top["score"] if top else 0.0, "latency_ms": round(row["latency_ms"], 1),
               "abstention_ok": M.abstention_correct(answerable, hits),
               "frame_violations": M.frame_violations(hits), "timed_hits": sum(h["unit"] == "s" for h in hits),
               "top": None if top is None else {**top, "path": os.path.relpath(top["path"], root)},
               "answer": q["answer"]}
        if answerable:
            rec.update(r_at_1=M.r_at_1(gs), rr=M.reciprocal_rank(gs), ndcg_10=M.ndcg(gs, TOP_K),
                       iou=M.top_iou(q, hits, gs), outcome=_diagnose(q, top, by_path, gs))
        out.append(rec)
    return out


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(statistics.mean(xs), 4) if xs else None


def summarise(per_query: list[dict]) -> dict:
    """Library-level figures from the per-query records."""
    ans = [r for r in per_query if r["answerable"]]
    neg = [r for r in per_query if not r["answerable"]]
    near = [r for r in neg if "near-topic" in r["tags"]]
    pos_scores = [r["top_score"] for r in ans]
    abst = [r["abstention_ok"] for r in per_query]
    flagged = not any(a is None for a in abst)
    lat = [r["latency_ms"] for r in per_query]
    outcomes: dict[str, int] = {}
    for r in ans:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    return {
        "queries": len(per_query), "answerable": len(ans), "no_answer": len(neg), "near_topic": len(near),
        "r_at_1": _mean(r["r_at_1"] for r in ans), "mrr": _mean(r["rr"] for r in ans),
        "ndcg_10": _mean(r["ndcg_10"] for r in ans), "mean_iou": _mean(r["iou"] for r in ans),
        "timed_answerable": sum(r["iou"] is not None for r in ans),
        "auroc": _round(M.auroc(pos_scores, [r["top_score"] for r in neg])),
        "auroc_near_topic": _round(M.auroc(pos_scores, [r["top_score"] for r in near])),
        "abstention_acc": _balanced(ans, neg) if flagged else None,
        "abstention_acc_plain": _mean(float(a) for a in abst) if flagged else None,
        "abstained_no_answer": _mean(float(r["abstention_ok"]) for r in neg) if flagged else None,
        "confident_wrong": _mean(float(r["abstention_ok"] and r["r_at_1"] == 0) for r in ans) if flagged else None,
        "r_at_1_by_type": {t: _mean(r["r_at_1"] for r in ans if r["type"] == t)
                           for t in sorted({r["type"] for r in ans})},
        "r_at_1_title_elsewhere": _mean(r["r_at_1"] for r in ans if "title-elsewhere" in r["tags"]),
        "latency_ms_median": _round(M.percentile(lat, 50), 1), "latency_ms_p90": _round(M.percentile(lat, 90), 1),
        "frame_violations": sum(r["frame_violations"] for r in per_query),
        "timed_hits": sum(r["timed_hits"] for r in per_query), "outcomes": outcomes,
    }


def _balanced(ans: list[dict], neg: list[dict]) -> float | None:
    """Abstention accuracy balanced over the two classes: the mean of the share of answerable
    queries with a confident top hit and the share of no-answer queries without one (a search that
    is always confident scores 0.5, whatever the mix of queries)."""
    parts = [_mean(float(r["abstention_ok"]) for r in rows) for rows in (ans, neg) if rows]
    return round(sum(parts) / len(parts), 4) if parts else None


def _round(x, nd: int = 4):
    return None if x is None else round(float(x), nd)


# ------------------------------------------------------------------------------------- stability

def _find_again(idx, q: dict, old: dict, new_hits: list[dict]) -> dict | None:
    """The previous top moment among the new hits, else searched inside its own file."""
    for h in new_hits:
        if M.same_moment(old, h):
            return h
    for h in idx.search(q["text"], top_k=TOP_K, in_path=old["path"]):
        rec = hit_record(h)
        if M.same_moment(old, rec):
            return rec
    return None


def measure_stability(idx, man: dict, before: list[dict], after: list[dict]) -> dict:
    """Drift of every previous top hit, for answerable queries (the target) and for all queries."""
    out = {}
    for label, keep in (("answerable", lambda q: q["answer"] is not None), ("all", lambda q: True)):
        olds, founds, tops = [], [], []
        for q, b, a in zip(man["queries"], before, after):
            if not keep(q):
                continue
            old = b["hits"][0] if b["hits"] else None
            olds.append(old)
            founds.append(None if old is None else _find_again(idx, q, old, a["hits"]))
            tops.append(a["hits"][0] if a["hits"] else None)
        out[label] = M.stability(olds, founds, tops)
    return out


# ------------------------------------------------------------------------------------------ driver

def _index(idx, paths: list[str], progress, label: str) -> dict:
    """``Index.add`` with a progress bar; the report's counts, wall time and problems."""
    task = progress.add_task(label, total=len(paths))
    t0 = time.perf_counter()
    rep = idx.add(paths, progress=lambda done, total, path: progress.update(task, completed=done, total=total))
    progress.update(task, completed=len(paths))
    d = rep.to_dict()
    return {"files": len(paths), "indexed": d["indexed"], "unchanged": d["unchanged"], "failed": d["failed"],
            "skipped": d["skipped"], "wall_s": round(time.perf_counter() - t0, 1), "notices": d["notices"],
            "problems": [(Path(o["path"]).name, o["status"], o["reason"]) for o in d["files"]
                         if o["status"] in ("failed", "skipped")]}


def _build(fn, progress, label: str, *args) -> dict:
    """Build (or load from cache) a library with a progress bar."""
    task = progress.add_task(label, total=1)
    man = fn(*args, progress=lambda done, total, path: progress.update(task, completed=done, total=total))
    progress.update(task, completed=1, total=1)
    return man


def run_seed(out: Path, seed: int, size: str, factor: float, progress) -> dict:
    """Build, index and score one seed's library, then triple it and measure score drift."""
    from omnidex import Index
    from omnidex.testing.library import build_library, build_unrelated, file_path

    t0 = time.perf_counter()
    man = _build(build_library, progress, f"seed {seed}: library", out / "libraries", seed, size)
    gen_s = time.perf_counter() - t0
    db = out / f"db_{size}_seed{seed}"
    shutil.rmtree(db, ignore_errors=True)
    idx = Index(db)
    ingest = _index(idx, [file_path(man, f["path"]) for f in man["files"]], progress, f"seed {seed}: index")
    before = run_queries(idx, man, progress, f"seed {seed}: queries")
    per_query = score_queries(man, before)
    t0 = time.perf_counter()
    extra = _build(build_unrelated, progress, f"seed {seed}: unrelated", out / "libraries", man, factor)
    gen_s += time.perf_counter() - t0
    ingest_extra = _index(idx, [file_path(extra, f["path"]) for f in extra["files"]], progress,
                          f"seed {seed}: index unrelated")
    after = run_queries(idx, man, progress, f"seed {seed}: queries again")
    after_q = score_queries(man, after)
    return {"seed": seed, "held_out": seed == HELD_OUT, "size": size, "spec_hash": man["spec_hash"],
            "files": len(man["files"]), "families": [f["title"] for f in man["families"]],
            "unrelated_files": len(extra["files"]), "generate_s": round(gen_s, 1),
            "ingest": ingest, "ingest_unrelated": ingest_extra, "summary": summarise(per_query),
            "after_tripling": summarise(after_q), "stability": measure_stability(idx, man, before, after),
            "per_query": per_query, "per_query_after": after_q}


# --------------------------------------------------------------------------------------- reporting

def _status(value, key: str) -> str:
    """PASS/FAIL against the issue's target, n/a when not measurable."""
    if value is None:
        return "n/a"
    target, higher = TARGETS[key]
    return "PASS" if (value >= target if higher else value <= target) else "FAIL"


def _metric_values(seed_res: dict) -> dict:
    """metric key -> value of one seed (the keys of TARGETS plus info rows)."""
    s, st = seed_res["summary"], seed_res["stability"]["answerable"]
    vals = {k: s.get(k) for k in ("r_at_1", "mrr", "ndcg_10", "mean_iou", "auroc", "auroc_near_topic",
                                  "abstention_acc", "abstention_acc_plain", "abstained_no_answer", "confident_wrong",
                                  "frame_violations", "latency_ms_median", "latency_ms_p90")}
    vals.update(stability_median=st["median_abs_change"], stability_max=st["max_abs_change"],
                stability_keeps_rank1=st["keeps_rank1"], stability_lost=st["lost"],
                r_at_1_tripled=seed_res["after_tripling"]["r_at_1"])
    for t, v in s["r_at_1_by_type"].items():
        vals[f"R@1 {t}"] = v
    vals["R@1 on-screen, title only in speech"] = s.get("r_at_1_title_elsewhere")
    return vals


LABELS = {"r_at_1": "R@1 (exact moment)", "mrr": "MRR", "ndcg_10": "nDCG@10", "mean_iou": "mean IoU of top hit (timed)",
          "auroc": "AUROC top-1 answerable vs no-answer", "auroc_near_topic": "AUROC vs near-topic no-answer",
          "abstention_acc": "abstention accuracy, balanced (hit.confident)",
          "abstention_acc_plain": "abstention accuracy, plain share of queries",
          "abstained_no_answer": "no-answer queries with no confident hit",
          "confident_wrong": "answerable: confident top hit that is wrong", "frame_violations": "frame_time outside [start, end]",
          "stability_median": "stability: median |score change|", "stability_max": "stability: max |score change|",
          "stability_keeps_rank1": "stability: top hit keeps rank 1", "stability_lost": "stability: top hit lost",
          "r_at_1_tripled": "R@1 after tripling", "latency_ms_median": "latency median (ms)",
          "latency_ms_p90": "latency p90 (ms)"}


def summary_rows(res: dict) -> list[dict]:
    """One row per metric: value per seed, target and status (judged on the held-out seed)."""
    seeds = res["seeds"]
    keys: list[str] = []
    for sr in seeds:
        keys += [k for k in _metric_values(sr) if k not in keys]
    rows = []
    for k in keys:
        vals = {str(sr["seed"]): _metric_values(sr).get(k) for sr in seeds}
        judged = next((sr for sr in seeds if sr["held_out"]), seeds[-1])
        v = _metric_values(judged).get(k)
        target = TARGETS.get(k)
        rows.append({"metric": LABELS.get(k, k), "key": k, "values": vals,
                     "target": None if target is None else (">= " if target[1] else "<= ") + str(target[0]),
                     "status": _status(v, k) if target else "info", "judged_on_seed": judged["seed"]})
    return rows


def print_table(res: dict, console) -> None:
    """The results table (rich)."""
    from rich.markup import escape
    from rich.table import Table

    seeds = res["seeds"]
    table = Table(title=f"relevance benchmark ({res['config']['size']}; held-out seed {HELD_OUT})")
    table.add_column("metric")
    for sr in seeds:
        table.add_column(f"seed {sr['seed']}" + (" (held-out)" if sr["held_out"] else " (dev)"))
    table.add_column("target")
    table.add_column("status")
    colours = {"PASS": "green", "FAIL": "red", "info": "dim", "n/a": "yellow"}
    for r in res["summary"]:
        table.add_row(escape(r["metric"]), *[_fmt(r["values"].get(str(sr["seed"]))) for sr in seeds], r["target"] or "—",
                      f"[{colours[r['status']]}]{r['status']}[/]")
    console.print(table)
    for sr in seeds:
        s = sr["summary"]
        console.print(f"seed {sr['seed']}: {sr['files']} files (+{sr['unrelated_files']} unrelated), "
                      f"{s['queries']} queries ({s['answerable']} answerable, {s['no_answer']} no-answer, "
                      f"{s['near_topic']} near-topic); wrong top hits: {s['outcomes']}")


def _fmt(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _top_scores(seed_res: dict) -> tuple[list, list]:
    """The top-1 scores of one seed's answerable and no-answer queries."""
    rows = seed_res["per_query"]
    return [r["top_score"] for r in rows if r["answerable"]], [r["top_score"] for r in rows if not r["answerable"]]


def make_plots(res: dict, out: Path) -> list[str]:
    """Per-type R@1 bars, top-1 score histograms and ROC curves; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = res["seeds"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    types = sorted({t for sr in seeds for t in sr["summary"]["r_at_1_by_type"]})
    width = 0.8 / len(seeds)
    for i, sr in enumerate(seeds):
        vals = [sr["summary"]["r_at_1_by_type"].get(t) or 0 for t in types]
        ax.bar([j + i * width for j in range(len(types))], vals, width,
               label=f"seed {sr['seed']}" + (" (held-out)" if sr["held_out"] else ""))
    ax.set_xticks([j + width * (len(seeds) - 1) / 2 for j in range(len(types))], types)
    ax.axhline(TARGETS["r_at_1"][0], color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("R@1")
    ax.set_title("R@1 per query type")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "r_at_1_by_type.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(seeds), figsize=(5 * len(seeds), 3.2), squeeze=False)
    for ax, sr in zip(axes[0], seeds):
        pos, neg = _top_scores(sr)
        ax.hist([pos, neg], bins=20, range=(0, 1), label=["answerable", "no answer"], color=["#4477aa", "#cc6677"])
        ax.set_title(f"top-1 score, seed {sr['seed']}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "score_hist.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for sr in seeds:
        pos, neg = _top_scores(sr)
        xs, ys = zip(*M.roc_points(pos, neg))
        ax.plot(xs, ys, label=f"seed {sr['seed']} (AUROC {sr['summary']['auroc']})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set_xlabel("false positive rate (no-answer)")
    ax.set_ylabel("true positive rate (answerable)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=110)
    plt.close(fig)
    return ["r_at_1_by_type.png", "score_hist.png", "roc.png"]


def run(out: str | Path, seeds: tuple[int, ...] = (1, 2), quick: bool = False, factor: float = 2.0,
        plots: bool = True, console=None) -> dict:
    """Run the benchmark for every seed; writes ``<out>/results.json`` and returns it."""
    import subprocess

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console(width=150)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = "small" if quick else "full"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or os.environ.get("OMNIDEX_COMMIT", "")
    res = {"config": {"size": size, "seeds": list(seeds), "held_out_seed": HELD_OUT, "top_k": TOP_K,
                      "unrelated_factor": factor, "targets": {k: list(v) for k, v in TARGETS.items()},
                      "cpus": os.cpu_count(), "python": sys.version.split()[0], "commit": commit}, "seeds": []}
    t_start = time.perf_counter()
    cols = (TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=console, transient=False) as progress:
        for seed in seeds:
            res["seeds"].append(run_seed(out, seed, size, factor, progress))
    res["wall_s"] = round(time.perf_counter() - t_start, 1)
    res["summary"] = summary_rows(res)
    if plots:
        try:
            res["plots"] = make_plots(res, out)
        except Exception as exc:  # noqa: BLE001 - plots are optional
            res["plots_error"] = f"{type(exc).__name__}: {exc}"
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print_table(res, console)
    console.print(f"wrote {out / 'results.json'} (run took {res['wall_s']} s)")
    return res


def rescore(out: str | Path, plots: bool = True, console=None) -> dict:
    """Recompute every summary, the table and the plots from ``<out>/results.json``'s per-query
    records (after a change to the metrics; nothing is indexed or searched)."""
    from rich.console import Console

    console = console or Console(width=150)
    out = Path(out)
    res = json.loads((out / "results.json").read_text())
    for sr in res["seeds"]:
        sr["summary"] = summarise(sr["per_query"])
        if sr.get("per_query_after"):
            sr["after_tripling"] = summarise(sr["per_query_after"])
    res["summary"] = summary_rows(res)
    if plots:
        res["plots"] = make_plots(res, out)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print_table(res, console)
    return res


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description="Relevance benchmark on generated topic-family libraries.")
    ap.add_argument("--out", type=Path, default=Path("bench/results/relevance"))
    ap.add_argument("--quick", action="store_true", help="the small library (36 files, 20 queries per seed)")
    ap.add_argument("--seeds", default="1,2", help=f"comma-separated seeds (default 1,2; {HELD_OUT} is held out)")
    ap.add_argument("--factor", type=float, default=2.0, help="unrelated files added, times the library (2 = triple)")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--rescore", action="store_true", help="recompute the figures from <out>/results.json only")
    args = ap.parse_args(argv)
    try:
        if args.rescore:
            rescore(args.out, plots=not args.no_plots)
            return 0
        run(args.out, tuple(int(s) for s in args.seeds.split(",") if s.strip()), args.quick, args.factor,
            plots=not args.no_plots)
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - print and fail
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
