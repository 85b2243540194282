"""Ray vs local ingest engines on the same generated corpus, on this machine.

Run from the repository root::

    python -m bench.ray.run --out bench/results/ray            # 40 images, 6 x 20 s videos, 20 docs; 3 runs
    python -m bench.ray.run --out /tmp/ray --quick             # tiny corpus, 1 run (smoke test)

Engines, each indexing the whole corpus into a fresh database with the bundled offline models
(``lit:bundled`` visual, MiniLM text, Whisper tiny.en, RapidOCR, the bundled sound model):

* ``local sequential``: ``IndexConfig(prefetch=0)``: decode then embed, one file at a time;
* ``local overlapped``: ``prefetch=1`` (the default): the next file decodes in a background thread
  while this one is embedded;
* ``ray``: ``engine="ray"`` on a local Ray with ``--ray-cpus`` CPUs (decode tasks + an encoder
  actor pool); Ray is started once, and its start-up time is reported separately.

Runs are interleaved (seq, overlapped, ray, seq, ...) and the median wall time per engine is
reported. Models are warm for every timed run (one untimed warm-up per engine on a small corpus):
the local engines share one loaded ``Models``; Ray's decode workers keep theirs between runs, its
encoder actors are started (and load their encoders) by every run, as in real use.
Rows are checked equal between engines (ids, text, vectors within float tolerance, times).

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/engines.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ENGINES = ("local sequential", "local overlapped", "ray")
FULL = {"images": 40, "videos": 6, "video_s": 20.0, "docs": 20, "runs": 3}
QUICK = {"images": 3, "videos": 1, "video_s": 4.0, "docs": 2, "runs": 1}
COLOURS = [(200, 30, 30), (30, 160, 60), (30, 60, 200), (220, 200, 40), (120, 40, 160)]
WORDS = ("harbour budget violin winter garden rocket meadow copper lantern falcon market island "
         "thunder canvas marble compass").split()


def build_corpus(root: Path, images: int, videos: int, video_s: float, docs: int) -> Path:
    """Generated images with text, narrated videos of three scenes, and Markdown notes."""
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    root.mkdir(parents=True, exist_ok=True)
    for i in range(images):
        text_image(f"Invoice {1000 + i} {WORDS[i % len(WORDS)]}", root / f"img{i:03d}.jpg",
                   bg=COLOURS[i % 5], fg=(255, 255, 255))
    third = video_s / 3
    for i in range(videos):
        scenes = [Scene(third, COLOURS[(i + k) % 5], f"PART {k + 1}") for k in range(3)]
        make_video(root / f"vid{i:02d}.mp4", scenes,
                   [Narration(0.5, f"This is video number {i + 1}."),
                    Narration(third + 0.5, "The meeting starts at noon.")], size=(640, 360))
    for i in range(docs):
        body = " ".join(f"Paragraph {k} is about the {WORDS[(i + k) % len(WORDS)]}." for k in range(40))
        (root / f"doc{i:03d}.md").write_text(f"# Note {i}\n\n{body}\n")
    return root


def run_engine(engine: str, corpus: Path, db: Path, models) -> dict:
    """Index ``corpus`` into a fresh ``db`` with one engine; wall seconds and the report."""
    from omnidex.config import IndexConfig
    from omnidex.ingest.pipeline import Ingestor
    from omnidex.store import Store

    base = IndexConfig(clip_model="lit:bundled", frame_fps=0.5)
    cfg = {"local sequential": replace(base, prefetch=0), "local overlapped": replace(base, prefetch=1),
           "ray": replace(base, engine="ray")}[engine]
    shutil.rmtree(db, ignore_errors=True)
    t0 = time.perf_counter()
    report = Ingestor(Store(db), cfg, models if engine != "ray" else None).run([corpus])
    wall = time.perf_counter() - t0
    counts = {s: report.count(s) for s in ("indexed", "skipped", "failed")}
    return {"wall_s": wall, "files": len(report.outcomes), **counts,
            "segments": sum(o.segments for o in report.outcomes)}


def compare(db_a: Path, db_b: Path) -> dict:
    """Same files and segment ids per space? Rows whose text differs (a transcript worded
    otherwise); the largest vector difference among rows of equal text; the largest time difference."""
    from omnidex.store import Store

    a, b = Store(db_a), Store(db_b)
    files = [{r["path"]: (r["status"], r["segments"]) for r in s.table("files").to_arrow().to_pylist()}
             for s in (a, b)]
    out = {"files_equal": files[0] == files[1], "spaces_equal": a.spaces() == b.spaces(), "ids_equal": True,
           "rows": 0, "text_differs": [], "max_vector_diff": 0.0, "max_time_diff": 0.0}
    for space in sorted(set(a.spaces()) & set(b.spaces())):
        ra, rb = ({r["id"]: r for r in s.table(space).to_arrow().to_pylist()} for s in (a, b))
        out["ids_equal"] &= sorted(ra) == sorted(rb)
        for rid in sorted(set(ra) & set(rb)):
            x, y = ra[rid], rb[rid]
            out["rows"] += 1
            out["max_time_diff"] = max(out["max_time_diff"], max(abs(x[k] - y[k]) for k in ("start", "end", "at")))
            if x["text"] != y["text"]:
                out["text_differs"].append(f"{space} {Path(x['path']).name} {x['source']}: {x['text'][:60]!r} vs "
                                           f"{y['text'][:60]!r}")
                continue
            diff = float(max(abs(p - q) for p, q in zip(x["vector"], y["vector"])))
            out["max_vector_diff"] = max(out["max_vector_diff"], diff)
    out["equal"] = all(out[k] for k in ("files_equal", "spaces_equal", "ids_equal")) \
        and out["max_vector_diff"] <= 1e-5 and out["max_time_diff"] <= 0.05
    return out


def summarise(walls: dict[str, list[float]], runs: dict[str, dict], startup_s: float) -> dict:
    """Median/min/max wall per engine, files/s, and ratios to the sequential engine."""
    seq = statistics.median(walls["local sequential"])
    out = {}
    for engine, ws in walls.items():
        med = statistics.median(ws)
        out[engine] = {"median_s": round(med, 2), "min_s": round(min(ws), 2), "max_s": round(max(ws), 2),
                       "runs_s": [round(w, 2) for w in ws], "files_per_s": round(runs[engine]["files"] / med, 3),
                       "speedup_vs_sequential": round(seq / med, 3), **{k: runs[engine][k] for k in
                                                                          ("files", "indexed", "skipped", "failed", "segments")}}
    out["ray"]["startup_s"] = round(startup_s, 2)
    return out


def table(summary: dict, corpus: dict, cores: int, runs: int, checks: dict, quick: bool = False) -> str:
    """Markdown table with a one-line heading, and one line per rows-equal check."""
    how = "quick smoke run: models load inside the walls, not a measurement" if quick else \
        f"median of {runs} interleaved runs, models warm"
    lines = [f"Ingest engines on {corpus['images']} images, {corpus['videos']} x {corpus['video_s']:.0f} s videos, "
             f"{corpus['docs']} docs ({cores} cores; {how})", "",
             "| engine | median wall (s) | min-max (s) | files/s | vs sequential |", "|---|---|---|---|---|"]
    for engine in ENGINES:
        s = summary[engine]
        lines.append(f"| {engine} | {s['median_s']:.1f} | {s['min_s']:.1f}-{s['max_s']:.1f} | "
                     f"{s['files_per_s']:.2f} | {s['speedup_vs_sequential']:.2f}x |")
    lines.append(f"| ray start-up (once per process, not in the walls above) | {summary['ray']['startup_s']:.1f} | | | |")
    lines.append("")
    for name, c in checks.items():
        lines.append(f"- rows, {name}: files {'equal' if c['files_equal'] else 'DIFFER'}, segment ids "
                     f"{'equal' if c['ids_equal'] else 'DIFFER'}; {len(c['text_differs'])} of {c['rows']} rows worded "
                     f"differently; max |vector diff| {c['max_vector_diff']:.1e} (rows of equal text), "
                     f"max |time diff| {c['max_time_diff']:.2f} s")
    return "\n".join(lines) + "\n"


def plot(summary: dict, out: Path) -> Path:
    """Bar chart: median wall per engine (min-max whiskers), Ray start-up stacked on the Ray bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meds = [summary[e]["median_s"] for e in ENGINES]
    lo = [summary[e]["median_s"] - summary[e]["min_s"] for e in ENGINES]
    hi = [summary[e]["max_s"] - summary[e]["median_s"] for e in ENGINES]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.bar(ENGINES, meds, yerr=[lo, hi], capsize=4, color=["#888", "#4a7", "#47c"], label="index the corpus")
    ax.bar(["ray"], [summary["ray"]["startup_s"]], bottom=[summary["ray"]["median_s"]], color="#47c",
           alpha=0.35, hatch="//", label="+ Ray start-up (once per process)")
    for i, e in enumerate(ENGINES):
        ax.text(i, meds[i] / 2, f"{meds[i]:.1f} s\n{summary[e]['speedup_vs_sequential']:.2f}x", ha="center",
                color="white", fontsize=9)
    ax.set_ylabel("wall seconds (median)")
    ax.set_title("omnidex ingest engines on one machine")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "engines.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _warm(models, work: Path, ray_cpus: int, engines=ENGINES) -> float:
    """Start Ray and load every model once per engine on a tiny corpus; returns Ray's start-up seconds."""
    from omnidex.ingest.ray_engine import connect

    startup = connect(num_cpus=ray_cpus)
    if engines:
        small = build_corpus(work / "warm", 1, 1, 3.0, 1)
        for engine in engines:
            run_engine(engine, small, work / "db-warm", models)
    return startup


def _db(work: Path, engine: str) -> Path:
    return work / f"db-{engine.replace(' ', '-')}"


def time_engines(corpus: Path, work: Path, models, runs: int) -> tuple[dict[str, list[float]], dict[str, dict]]:
    """Interleaved timed runs: (engine -> wall seconds per run, engine -> its last run)."""
    walls: dict[str, list[float]] = {e: [] for e in ENGINES}
    last: dict[str, dict] = {}
    for r in range(runs):
        for engine in ENGINES:
            last[engine] = run_engine(engine, corpus, _db(work, engine), models)
            walls[engine].append(last[engine]["wall_s"])
            print(f"run {r + 1}/{runs} {engine:17s} {last[engine]['wall_s']:7.1f} s", flush=True)
    return walls, last


def main(argv: list[str] | None = None) -> dict:
    """Build the corpus, time the engines, check rows agree, write the results."""
    ap = argparse.ArgumentParser(description="Ray vs local ingest engines")
    ap.add_argument("--out", type=Path, default=Path("bench/results/ray"))
    ap.add_argument("--quick", action="store_true", help="tiny corpus, one run (smoke test)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per engine (default 3; quick 1)")
    ap.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray")
    args = ap.parse_args(argv)
    from omnidex.config import IndexConfig
    from omnidex.ingest.engines import available_cores
    from omnidex.spaces import Models

    spec = dict(QUICK if args.quick else FULL)
    runs = args.runs or spec.pop("runs")
    spec.pop("runs", None)
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    corpus = build_corpus(work / "corpus", **spec)
    models = Models(IndexConfig(clip_model="lit:bundled", frame_fps=0.5))
    startup = _warm(models, work, args.ray_cpus, engines=() if args.quick else ENGINES)
    walls, last = time_engines(corpus, work, models, runs)
    db = {e: _db(work, e) for e in ENGINES}
    checks = {"overlapped vs sequential": compare(db["local sequential"], db["local overlapped"]),
              "ray vs sequential": compare(db["local sequential"], db["ray"])}
    summary = summarise(walls, last, startup)
    result = {"corpus": spec, "runs": runs, "cores": available_cores(), "ray_cpus": args.ray_cpus,
              "engines": summary, "rows_equal": checks,
              "note": "wall = index the corpus into a fresh db with warm models; Ray start-up is paid once "
                      "per process and reported separately; timings on a shared machine are noisy"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    md = table(summary, spec, result["cores"], runs, checks, args.quick)
    (args.out / "table.md").write_text(md)
    plot(summary, args.out)
    print(md)
    print(json.dumps({"engines": summary, "rows_equal": checks}, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    import ray

    ray.shutdown()
    return result


if __name__ == "__main__":
    main()
