"""Cold ``omnidex search "..." --json``: wall time and peak memory of a fresh process, side by side
with ``python -c "import lancedb"`` (the floor: the store alone) and the old torch text path.

Run from the repository root::

    python -m bench.cli_cold.run --out bench/results/cli_cold            # full run (make bench-cli)
    python -m bench.cli_cold.run --out /tmp/cc --quick                    # 2 queries, 1 repeat

Two libraries: the demo (``omnidex.demo``: a video with speech and slides, sound, pictures,
documents; ~20 files) and a generated library of 1,000 files (documents and pictures). Every run
is a new interpreter (bytecode and the OS file cache warm, as for a person typing commands); the
three commands are interleaved query by query so that machine load hits them alike. Peak memory
is the child's ``ru_maxrss``. The torch path is the same command with ``OMNIDEX_TEXT_RUNTIME=torch``
(sentence-transformers for the MiniLM query vector); its hits are compared with the new path's.

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/cli_cold.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGETS = {"median_wall_s": 1.5, "max_rss_mb": 400}
QUERIES = ("ferry to the islands", "how much did sales increase", "what do I need for hiking", "a yellow heart",
           "the budget meeting moved to next year", "solar roof")
MODES = ("floor", "onnx", "eager", "torch")
# import lancedb | omnidex search (default) | the same importing LanceDB's catalog client eagerly
# (OMNIDEX_EAGER_IMPORTS=1: the path before the deferred import) | omnidex search, torch text path
LIBRARY_FILES = 1000


def run(out: Path, quick: bool = False, repeats: int = 3, log=print) -> dict:
    """Build (or reuse) both libraries, time the commands, write results.json, table.md and the plot."""
    out = Path(out).resolve()
    work = out / "work"
    if not all((work / d / "db" / "files.lance").exists() for d in ("demo", "lib1000")):
        # built in a child process: a child's peak RSS (wait4's ru_maxrss) starts from its parent's at
        # fork, so the measuring process must stay small (an in-process build put ~1 GB on every figure)
        subprocess.run([sys.executable, "-m", "bench.cli_cold.run", "--out", str(out), "--build-only"], check=True)
    libs = {"demo": demo_library(work / "demo", log), "library-1000": generated_library(work / "lib1000", log)}
    queries = QUERIES[:2] if quick else QUERIES
    repeats = 1 if quick else repeats
    res: dict = {"quick": quick, "targets": TARGETS, "queries": list(queries), "repeats": repeats,
                 "machine": machine(), "libraries": {}}
    for name, db in libs.items():
        log(f"== {name}: {db}")
        res["libraries"][name] = measure(db, queries, repeats, log)
    res["import_profile"] = import_profile(libs["demo"], queries[0])
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "table.md").write_text(table(res))
    plot(res, out / "cli_cold.png")
    return res


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cores": len(os.sched_getaffinity(0)), "python": sys.version.split()[0],
            "load_average_at_start": [round(x, 2) for x in load] if load else None}


# ---------------------------------------------------------------------------------------- libraries

def demo_library(root: Path, log) -> Path:
    """The demo corpus, indexed with the defaults (reused when already there)."""
    db = root / "db"
    if not (db / "files.lance").exists():
        from omnidex import Index
        from omnidex.demo import build_corpus

        log("building the demo library ...")
        Index(db).add([build_corpus(root)["corpus"]])
    return db


TOPICS = {
    "travel": ["ferry", "harbour", "island", "train", "ticket", "passport", "hotel", "beach", "map", "luggage"],
    "money": ["budget", "invoice", "revenue", "salary", "tax", "savings", "loan", "quarterly", "profit", "bank"],
    "kitchen": ["bread", "flour", "oven", "soup", "garlic", "recipe", "butter", "onion", "pasta", "cake"],
    "garden": ["tomato", "roses", "compost", "seeds", "hedge", "lawn", "watering", "shed", "apple tree", "soil"],
    "work": ["meeting", "deadline", "report", "project", "hiring", "engineers", "slides", "agenda", "office", "email"],
    "home": ["roof", "window", "boiler", "paint", "carpet", "plumber", "garage", "stairs", "lamp", "fence"],
}
VERBS = ["check", "remember", "discuss", "order", "fix", "plan", "pay", "clean", "book", "compare"]


def _document(rng: random.Random) -> str:
    topic = rng.choice(sorted(TOPICS))
    words = TOPICS[topic]
    lines = [f"# {topic.capitalize()} notes {rng.randrange(1, 999)}", ""]
    for _ in range(rng.randint(3, 9)):
        a, b = rng.sample(words, 2)
        lines.append(f"We need to {rng.choice(VERBS)} the {a} before the {b}, {rng.choice(['today', 'on Monday', 'next week', 'soon'])}.")
    return "\n".join(lines) + "\n"


def generated_library(root: Path, log, n: int = LIBRARY_FILES) -> Path:
    """``n`` files: 85 % short documents on six topics, 15 % pictures (drawn shapes, rendered signs)."""
    db = root / "db"
    if (db / "files.lance").exists():
        return db
    from omnidex import Index
    from omnidex.config import IndexConfig
    from omnidex.testing.mediagen import text_image
    from omnidex.testing.scenes import COLOURS, SHAPES, make_scene, render

    rng = random.Random(17)
    corpus = root / "corpus"
    n_img = n * 15 // 100
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    for i in range(n - n_img):
        p = corpus / "docs" / f"{i // 100:02d}" / f"note_{i:04d}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_document(rng))
    (corpus / "pictures").mkdir(parents=True, exist_ok=True)
    for i in range(n_img):
        if i % 3:
            sc = make_scene(rng, pairs, pairs)
            render(sc["objects"], sc["background"], 128).save(corpus / "pictures" / f"scene_{i:03d}.png")
        else:
            word = rng.choice([w for ws in TOPICS.values() for w in ws]).upper()
            text_image(word, corpus / "pictures" / f"sign_{i:03d}.png", size=(320, 180))
    log(f"indexing {n} generated files (speech off: there is none) ...")
    t0 = time.perf_counter()
    Index(db, IndexConfig(speech=False)).add([corpus])
    log(f"indexed in {time.perf_counter() - t0:.0f} s")
    return db


# ---------------------------------------------------------------------------------------- measuring

def command(mode: str, db: Path, query: str) -> tuple[list[str], dict]:
    """(argv, extra environment) of one cold run."""
    if mode == "floor":
        return [sys.executable, "-c", "import lancedb"], {}
    argv = [sys.executable, "-m", "omnidex", "search", query, "--db", str(db), "--json"]
    if mode == "eager":
        return argv, {"OMNIDEX_TEXT_RUNTIME": "auto", "OMNIDEX_EAGER_IMPORTS": "1"}
    return argv, ({"OMNIDEX_TEXT_RUNTIME": "torch"} if mode == "torch" else {"OMNIDEX_TEXT_RUNTIME": "auto"})


def measure(db: Path, queries, repeats: int, log) -> dict:
    """Every mode on every query, ``repeats`` times, interleaved; with the two paths' hits compared."""
    runs = {m: [] for m in MODES}
    hits: dict[str, dict[str, list]] = {m: {} for m in ("onnx", "eager", "torch")}
    for mode in MODES:  # untimed: caches (an ONNX export made by an older version, score references) settle
        timed(*command(mode, db, queries[0]))
    for r in range(repeats):
        for q in queries:
            for mode in MODES:
                argv, env = command(mode, db, q)
                wall, rss, cpu, stdout = timed(argv, env)
                runs[mode].append({"query": q, "wall_s": round(wall, 3), "rss_mb": round(rss, 1), "cpu_s": round(cpu, 3)})
                if mode != "floor" and r == 0:
                    hits[mode][q] = [(h["path"], h["start"], h["score"]) for h in json.loads(stdout)]
            log(f"  repeat {r + 1} {q!r}: " + ", ".join(f"{m} {runs[m][-1]['wall_s']:.2f} s" for m in MODES))
    out = {m: summarise(runs[m]) for m in MODES}
    served = served_runs(db, queries, repeats, log)
    if served:
        out["served"] = summarise(served)
        runs["served"] = served
    out["runs"] = runs
    out["same_ranking"] = compare(hits["onnx"], hits["torch"])
    out["same_as_eager"] = compare(hits["onnx"], hits["eager"], tol=0.0)
    return out


def served_runs(db: Path, queries, repeats: int, log) -> list[dict]:
    """The same cold command while an ``omnidex serve`` of this index runs (the CLI asks it)."""
    import socket

    from omnidex.serve import discovery

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "omnidex", "serve", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    try:
        if not discovery.wait_ready(f"http://127.0.0.1:{port}", server, timeout=300):
            log("  served: the server did not get ready; row left out")
            return []
        for _ in range(repeats):
            for q in queries:
                argv, env = command("onnx", db, q)
                wall, rss, cpu, _ = timed(argv, env)
                runs.append({"query": q, "wall_s": round(wall, 3), "rss_mb": round(rss, 1), "cpu_s": round(cpu, 3)})
        log(f"  served: median {np.median([r['wall_s'] for r in runs]):.2f} s")
    finally:
        server.terminate()
        server.wait(30)
    return runs


def timed(argv: list[str], env: dict) -> tuple[float, float, float, str]:
    """(wall seconds, peak RSS in MB, CPU seconds, stdout) of one fresh process; peak and CPU from ``wait4``."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env={**os.environ, **env})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {err.read().decode()[-1500:]}")
        return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out.read().decode()


def summarise(runs: list[dict]) -> dict:
    wall = np.asarray([r["wall_s"] for r in runs])
    rss = np.asarray([r["rss_mb"] for r in runs])
    cpu = np.asarray([r.get("cpu_s", np.nan) for r in runs], float)
    return {"n": len(runs), "median_wall_s": round(float(np.median(wall)), 3),
            "median_cpu_s": round(float(np.median(cpu)), 3),
            "p90_wall_s": round(float(np.percentile(wall, 90)), 3), "median_rss_mb": round(float(np.median(rss)), 1),
            "max_rss_mb": round(float(rss.max()), 1)}


def compare(fast: dict, slow: dict, tol: float = 2e-3) -> dict:
    """Whether each query's hits have the same paths, starts and order, and scores within ``tol``."""
    per = {}
    for q in fast:
        a, b = fast[q], slow[q]
        order = [(p, s) for p, s, _ in a] == [(p, s) for p, s, _ in b]
        gap = max((abs(x[2] - y[2]) for x, y in zip(a, b)), default=0.0)
        per[q] = {"same_order": order, "max_score_gap": round(gap, 5), "hits": len(a)}
    return {"all_same": all(v["same_order"] and v["max_score_gap"] <= tol for v in per.values()),
            "tolerance": tol, "queries": per}


def import_profile(db: Path, query: str) -> dict:
    """Seconds of import per top-level package of one cold search (``python -X importtime``)."""
    argv = [sys.executable, "-X", "importtime", "-m", "omnidex", "search", query, "--db", str(db), "--json"]
    err = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "OMNIDEX_TEXT_RUNTIME": "auto"}).stderr
    roots: dict[str, float] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):  # top level: one space after the bar
            try:
                us = int(cum.strip())
            except ValueError:
                continue
            root = name.strip().split(".")[0]
            roots[root] = roots.get(root, 0.0) + us / 1e6
    top = sorted(roots.items(), key=lambda kv: -kv[1])[:12]
    return {k: round(v, 3) for k, v in top}


# ---------------------------------------------------------------------------------------- reporting

def table(res: dict) -> str:
    t = res["targets"]
    lines = ["| library | command | runs | median wall s | p90 wall s | median CPU s | peak RSS MB (max) | target |",
             "|---|---|---|---|---|---|---|---|"]
    names = {"floor": '`python -c "import lancedb"` (floor)', "onnx": "`omnidex search` (ONNX text path)",
             "eager": "`omnidex search`, LanceDB imported eagerly (before)",
             "torch": "`omnidex search` (torch text path, before)"}
    for lib, r in res["libraries"].items():
        for m in MODES:
            s = r[m]
            ok = "" if m != "onnx" else ("**met**" if s["median_wall_s"] <= t["median_wall_s"] and
                                         s["max_rss_mb"] <= t["max_rss_mb"] else "**not met**")
            lines.append(f"| {lib} | {names[m]} | {s['n']} | {s['median_wall_s']:.2f} | {s['p90_wall_s']:.2f} | "
                         f"{s.get('median_cpu_s', float('nan')):.2f} | {s['max_rss_mb']:.0f} | {ok} |")
    for lib, r in res["libraries"].items():
        if "served" in r:
            s = r["served"]
            lines.append(f"| {lib} | `omnidex search` while `omnidex serve` of this index runs | {s['n']} | "
                         f"{s['median_wall_s']:.2f} | {s['p90_wall_s']:.2f} | {s['median_cpu_s']:.2f} | {s['max_rss_mb']:.0f} | |")
    lines += ["", f"Targets for the ONNX path: median <= {t['median_wall_s']} s and peak RSS <= {t['max_rss_mb']} MB.", ""]
    for lib, r in res["libraries"].items():
        on, to, fl = r["onnx"]["median_wall_s"], r["torch"]["median_wall_s"], r["floor"]["median_wall_s"]
        ea = r["eager"]["median_wall_s"]
        cpu = {m: r[m].get("median_cpu_s", float("nan")) for m in MODES}
        lines.append(f"- {lib}: torch / ONNX median wall {to / on:.2f}x (CPU {cpu['torch'] / cpu['onnx']:.2f}x); "
                     f"ONNX minus the lancedb floor {on - fl:+.2f} s wall, {cpu['onnx'] - cpu['floor']:+.2f} s CPU; same ranking as the torch path on every query: "
                     f"{'yes' if r['same_ranking']['all_same'] else 'NO'}; deferred catalog client saves {ea - on:.2f} s wall "
                     f"({cpu['eager'] - cpu['onnx']:.2f} s CPU), identical hits: {'yes' if r['same_as_eager']['all_same'] else 'NO'}")
    prof = ", ".join(f"{k} {v:.2f} s" for k, v in res.get("import_profile", {}).items())
    lines += ["", f"Imports of one cold ONNX-path search (`python -X importtime`, cumulative per top-level package): {prof}",
              "", f"Machine: {res['machine']['cores']} cores; load average at start "
              f"{res['machine']['load_average_at_start']}, at end {res['machine'].get('load_average_at_end')}. "
              "CPU s (user + system of the process) stays close to what the wall time is on an idle machine "
              "(a cold search is mostly one thread importing), while wall time grows with other load."]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    libs = list(res["libraries"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.2
    colours = {"floor": "#999999", "onnx": "#2a7ab0", "eager": "#8fb8d8", "torch": "#d9822b"}
    for k, (key, p90, label, target) in enumerate([("median_wall_s", "p90_wall_s", "wall s (median, bar to p90)", "median_wall_s"),
                                                    ("max_rss_mb", None, "peak RSS MB", "max_rss_mb")]):
        ax = axes[k]
        for j, m in enumerate(MODES):
            xs = np.arange(len(libs)) + (j - (len(MODES) - 1) / 2) * width
            vals = [res["libraries"][lib][m][key] for lib in libs]
            err = None
            if p90:
                err = [[0] * len(libs), [res["libraries"][lib][m][p90] - v for lib, v in zip(libs, vals)]]
            ax.bar(xs, vals, width, yerr=err, color=colours[m], label=m, capsize=3)
        ax.axhline(res["targets"][target], color="k", ls="--", lw=1, label="target")
        ax.set_xticks(np.arange(len(libs)), libs)
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("cold `omnidex search --json` vs `import lancedb` (floor) and the torch text path")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench/results/cli_cold"))
    ap.add_argument("--quick", action="store_true", help="2 queries, 1 repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--build-only", action="store_true", help="build the two libraries and stop (run uses it)")
    a = ap.parse_args()
    if a.build_only:
        work = a.out.resolve() / "work"
        demo_library(work / "demo", print)
        generated_library(work / "lib1000", print)
        return
    res = run(a.out, a.quick, a.repeats)
    print(table(res))


if __name__ == "__main__":
    main()
