"""``make bench``: every speed and scale benchmark in sequence, one summary.

Each benchmark is ``python -m bench.<name>.run --out bench/results/<name>`` and writes
``results.json``, ``table.md`` and plots there. This runs them one after another (never in parallel:
they would time each other) and writes ``bench/results/SUMMARY.md`` (the tables, with links to the
plots) and ``bench/results/suite.json`` (machine, wall time and status of each, their results).

Run: ``python -m bench.suite`` (``--quick`` for the smoke versions, ``--only clip,scale``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCHES = {
    "clip": "CLIP ViT-B/32 image embedding throughput vs a plain transformers loop and a peer tool",
    "video_hour": "one hour of 360p and 1080p video: wall time to index, with and without speech",
    "video_speed": "video with speech and on-screen text: x real time at 360p, CPU per part, the 1080p hour",
    "scale": "query latency p50/p99, recall@10 and memory at 10k, 100k and 1M segments, exact vs ANN",
    "ray": "Ray engine versus the local engine on the same corpus",
    "shots": "shot boundaries against PySceneDetect on the moment corpus: F1 and seconds of video per second",
    "serve": "the HTTP server: 1 client vs 16, idle vs during an ingest, start-up until ready",
    "cli_cold": "cold `omnidex search --json` wall and peak memory vs `import lancedb` (the floor) and the torch text path",
    "ocr": "OCR on photo libraries (1 picture in 5 with text): images/s and word recall vs the reader before and plain RapidOCR; one-word search per condition",
}


def machine() -> dict:
    """What the figures were measured on."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        info["affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def run_one(name: str, out: Path, quick: bool) -> dict:
    """Run one benchmark module in its own process; return its status, wall time and results."""
    dest = out / name
    cmd = [sys.executable, "-m", f"bench.{name}.run", "--out", str(dest)] + (["--quick"] if quick else [])
    print(f"\n=== bench {name}: {BENCHES[name]}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    entry = {"name": name, "what": BENCHES[name], "rc": rc, "wall_s": round(time.perf_counter() - t0, 1),
             "command": " ".join(["python"] + cmd[1:])}
    res = dest / "results.json"
    if rc == 0 and res.exists():
        entry["results"] = json.loads(res.read_text())
    return entry


def summary(entries: list[dict], out: Path, info: dict) -> str:
    """Markdown: machine, then each benchmark's own table and plots."""
    lines = ["# omnidex benchmarks", "",
             f"Machine: {info.get('affinity', info['cpus'])} cores, {info.get('memory_gb', '?')} GB, "
             f"Python {info['python']}, torch {info.get('torch', '-')}, GPU: {info.get('cuda') or 'none'}.", ""]
    for e in entries:
        lines += [f"## {e['name']}: {e['what']}", "", f"`{e['command']}` — {e['wall_s']} s, "
                  + ("ok" if e["rc"] == 0 else f"**failed (exit {e['rc']})**"), ""]
        table = out / e["name"] / "table.md"
        if e["rc"] == 0 and table.exists():
            lines += [table.read_text().strip(), ""]
        for png in sorted((out / e["name"]).glob("*.png")):
            lines += [f"![{png.stem}]({e['name']}/{png.name})", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--quick", action="store_true", help="the smoke version of each benchmark")
    ap.add_argument("--only", default="", help=f"comma list from {','.join(BENCHES)}")
    args = ap.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else BENCHES) if n]
    bad = [n for n in names if n not in BENCHES]
    if bad:
        ap.error(f"unknown benchmark {bad}; choose from {list(BENCHES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    entries = [run_one(n, out, args.quick) for n in names]
    doc = {"machine": info, "quick": args.quick, "benches": entries}
    suffix = "-quick" if args.quick else ""
    (out / f"suite{suffix}.json").write_text(json.dumps(doc, indent=1))
    md = summary(entries, out, info)
    (out / f"SUMMARY{suffix}.md").write_text(md)
    print(md)
    failed = [e["name"] for e in entries if e["rc"] != 0]
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
