"""Search latency and throughput through the real HTTP server: a study of concurrency and ingest,
and optionally a large synthetic index.

Run from the repository root::

    python -m bench.serve.run --out bench/results/serve                           # make bench-serve
    python -m bench.serve.run --out /tmp/s --quick                                # 6 s phases
    python -m bench.serve.run --out /tmp/s --modes process,thread                 # also the in-thread ingest
    python -m bench.serve.run --out /tmp/s --segments 100000 --clients 8          # + the 100k synthetic index

The study (:mod:`bench.serve.study`): ``omnidex serve`` on the demo index, its start-up until
``/api/health`` says ready and its first search, then 1 and 16 closed-loop clients, on an idle
server and during an index job, side by side. The synthetic index (``--segments K``, 0 skips it):
K rows of random unit vectors of the real text encoder's dimension (MiniLM, 384-d) with
random-word text and an FTS index, loaded by ``--clients`` clients for ``--seconds``.

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/latency.png``, and prints the table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEMO_QUERIES = ["how much did sales increase", "solar roof", "what do I need for hiking", "beach party",
                "budget meeting", "tomato plants", "a yellow heart", "departures gate", "sourdough bread",
                "quarterly results"]
WORDS = ("river mountain budget engine harbour garden signal orange planet window violin market rocket "
         "forest copper winter ladder island camera basket silver thunder meadow lantern falcon tunnel "
         "pepper canvas marble compass blanket").split()
SEGMENTS_PER_FILE = 100


# ----------------------------------------------------------------------------------------- indexes

def ensure_demo(demo_dir: Path) -> Path:
    """The demo index under ``demo_dir`` (built with ``python -m omnidex.demo`` when missing)."""
    db = demo_dir / "omnidex-data"
    if not (db / "files.lance").exists():
        print(f"building the demo index in {demo_dir} (a few minutes) ...", flush=True)
        subprocess.run([sys.executable, "-m", "omnidex.demo", "--out", str(demo_dir)], check=True,
                       stdout=subprocess.DEVNULL)
    return db


def build_synthetic(db: Path, segments: int, seed: int = 0) -> Path:
    """A store with ``segments`` random text-space rows (MiniLM's identity and dimension).

    Reused when it already holds that many rows.
    """
    import numpy as np

    from omnidex.config import IndexConfig
    from omnidex.spaces import Models
    from omnidex.store import Store

    store = Store(db)
    if store.count("text") == segments:
        return db
    if db.exists() and store.count("files"):
        raise SystemExit(f"{db} holds another synthetic index; delete it first")
    spec = Models(IndexConfig(clip_model=None, speech=False, ocr=False)).spec("text")
    store.ensure_space("text", spec)
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    n_files = max(1, segments // SEGMENTS_PER_FILE)
    t0 = time.perf_counter()
    for f0 in range(0, n_files, 100):
        files, rows = [], []
        for f in range(f0, min(n_files, f0 + 100)):
            path = f"/synthetic/doc_{f:06d}.txt"
            sha = uuid.UUID(int=f).hex * 2
            k = SEGMENTS_PER_FILE if f < n_files - 1 else segments - SEGMENTS_PER_FILE * (n_files - 1)
            vecs = rng.standard_normal((k, spec.dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            for i in range(k):
                text = " ".join(rng.choice(words, 12))
                rows.append({"id": f"{sha[:16]}:chunk:{i}", "path": path, "sha256": sha, "mtime": 0.0,
                             "kind": "text", "source": "chunk", "start": float(i * 5 + 1), "end": float(i * 5 + 5),
                             "at": float(i * 5 + 1), "unit": "line", "text": text, "words": "", "batch": "",
                             "vector": vecs[i]})
            files.append({"path": path, "sha256": sha, "size": 1000, "mtime": 0.0, "kind": "text",
                          "status": "indexed", "reason": "", "segments": k, "duration": 0.0, "batch": "",
                          "indexed_at": time.time(), "info": ""})
        store.commit(uuid.uuid4().hex, files, {"text": rows}, [])
    store.optimize()
    print(f"synthetic index: {segments} segments in {n_files} files, {time.perf_counter() - t0:.1f} s", flush=True)
    return db


# ----------------------------------------------------------------------------------------- server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_forever(db: str, port: int) -> None:
    """Child process: the real app under uvicorn (what ``omnidex serve`` runs)."""
    import uvicorn

    from omnidex.serve.app import create_app

    app = create_app(db, search_processes=None)  # text searches in worker processes, as `omnidex serve`
    app.state.library.warm()
    if app.state.library.pool is not None:
        app.state.library.pool.wait_ready()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    """Start the server process and wait until it answers /api/health."""
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.serve.run", "--serve", str(db), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server for {db} exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the server for {db} did not start within 180 s")


# ----------------------------------------------------------------------------------------- load

async def _client(http, queries: list[str], deadline: float, out: list, seed: int) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        q = rng.choice(queries)
        t0 = time.perf_counter()
        try:
            r = await http.get("/api/search", params={"q": q, "top_k": 10})
            took = r.json().get("took_ms") if r.status_code == 200 else None
            out.append((time.perf_counter() - t0, r.status_code, took))
        except Exception:  # noqa: BLE001 - counted as an error
            out.append((time.perf_counter() - t0, 0, None))


async def load(url: str, queries: list[str], clients: int, seconds: float) -> dict:
    """Run ``clients`` concurrent closed-loop clients for ``seconds``; latency and throughput."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=clients)) as http:
        for q in queries[:3]:  # warm-up (encoders, calibration samples, connections)
            await http.get("/api/search", params={"q": q})
        out: list = []
        t0 = time.perf_counter()
        deadline = t0 + seconds
        await asyncio.gather(*[_client(http, queries, deadline, out, i) for i in range(clients)])
        wall = time.perf_counter() - t0
    return summarise(out, wall, clients)


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def summarise(out: list, wall: float, clients: int) -> dict:
    """Figures from (latency s, status, took_ms) samples."""
    ok = [lat * 1000 for lat, status, _ in out if status == 200]
    took = [t for _, status, t in out if status == 200 and t is not None]
    return {"clients": clients, "seconds": round(wall, 2), "requests": len(out), "errors": len(out) - len(ok),
            "throughput_rps": round(len(ok) / wall, 2) if wall else 0.0,
            "p50_ms": round(_pct(ok, 50), 1), "p90_ms": round(_pct(ok, 90), 1), "p99_ms": round(_pct(ok, 99), 1),
            "max_ms": round(max(ok), 1) if ok else float("nan"),
            "mean_ms": round(statistics.fmean(ok), 1) if ok else float("nan"),
            "server_p50_ms": round(_pct(took, 50), 1), "server_p99_ms": round(_pct(took, 99), 1),
            "latencies_ms": [round(x, 2) for x in ok]}


def bench_index(name: str, db: Path, queries: list[str], clients: int, seconds: float) -> dict:
    """Start a server on ``db``, load it, stop it."""
    proc, url = start_server(db)
    try:
        import httpx

        health = httpx.get(url + "/api/health", timeout=10).json()
        res = asyncio.run(load(url, queries, clients, seconds))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    res.update(index=name, db=str(db), files=health["files"],
               segments=sum(s["rows"] for s in health["spaces"].values()))
    return res


# ----------------------------------------------------------------------------------------- report

def table(study: dict | None, synthetic: list[dict]) -> str:
    """Markdown: start-up, the four phases per ingest mode, the targets; then the synthetic index."""
    lines = []
    if study:
        lines += ["| ingest in | server | phase | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | "
                  "server p50 ms | server CPU ms/req | client CPU ms/req |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for run in study["runs"]:
            for p in run["phases"]:
                job = f" (job {p['job_s']} s, {p.get('job_files')} files)" if p["phase"] == "ingest" else ""
                job = f" (open loop, {p['offered_rps']} req/s offered)" if p["phase"] == "paced" else job
                lines.append(f"| {run['mode']} | {run.get('variant', '')} | {p['phase']}{job} | {p['clients']} | "
                             f"{p['requests']} | {p['errors']} | {p['throughput_rps']} | {p['p50_ms']} | {p['p95_ms']} | "
                             f"{p['p99_ms']} | {p['server_p50_ms']} | {p.get('server_cpu_ms_per_req')} | "
                             f"{p.get('client_cpu_ms_per_req')} |")
        lines += ["", "| ingest in | server | start to listening s | start to ready s | first search after ready ms |",
                  "|---|---|---:|---:|---:|"]
        for run in study["runs"]:
            st = run["start"]
            lines.append(f"| {run['mode']} | {run.get('variant', '')} | {st['listening_s']} | {st['ready_s']} | "
                         f"{st['first_search_ms']} |")
        mark = {True: "met", False: "**not met**"}
        lines += ["", "| server (ingest in) | throughput 16 vs 1 (>= 1.6x) | p95(16) / p50(1) (<= 4x) | "
                  "closed-loop floor 16/req-s / p50(1) | search during an ingest p95 (<= 1000 ms) | "
                  "server CPU ms/req, 1 -> 16 clients | open loop at 1.6x one client's req/s: answered, p95 / p50(1) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for run in study["runs"]:
            t = run.get("targets") or study["targets"]
            lines.append(f"| {run.get('variant', '')} ({run['mode']}) | {t['throughput_ratio']}x {mark[t['throughput_ok']]} | "
                         f"{t['p95_over_p50_1']}x {mark[t['tail_ok']]} | {t['little_bound']}x | "
                         f"{t['ingest_p95_ms']} ms {mark[t['ingest_ok']]} | "
                         f"{t.get('server_cpu_ms_per_req_1')} -> {t.get('server_cpu_ms_per_req_16')} | "
                         f"{t.get('paced_rps')} of {t.get('paced_offered_rps')} req/s, {t.get('paced_p95_over_p50_1')}x |")
    if synthetic:
        lines += ["", "| index | segments | clients | requests | errors | req/s | p50 ms | p90 ms | p99 ms | server p50 ms |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in synthetic:
            lines.append(f"| {r['index']} | {r['segments']} | {r['clients']} | {r['requests']} | {r['errors']} | "
                         f"{r['throughput_rps']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['server_p50_ms']} |")
    return "\n".join(lines) + "\n"


def plot(study: dict | None, synthetic: list[dict], out: Path) -> None:
    """Latency CDFs of every phase (and synthetic run), throughput per phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    curves = [(f"{run.get('variant', '')} {run['mode']}: {p['phase']}, {p['clients']} cl.", p) for run in (study or {}).get("runs", [])
              for p in run["phases"]] + [(f"synthetic {r['segments']}, {r['clients']} cl.", r) for r in synthetic]
    for label, r in curves:
        xs = sorted(r["latencies_ms"])
        if xs:
            ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=f"{label}: p95 {r.get('p95_ms', r['p99_ms'])} ms")
    ax.axvline(1000, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("GET /api/search latency")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    bx.barh([c[0] for c in curves][::-1], [c[1]["throughput_rps"] for c in curves][::-1], color="tab:blue")
    bx.set_xlabel("requests / s")
    bx.set_title("throughput")
    bx.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    """CLI of the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench/results/serve"))
    ap.add_argument("--seconds", type=float, default=20.0, help="load per phase (and per synthetic index)")
    ap.add_argument("--quick", action="store_true", help="6 s phases (a smoke run)")
    ap.add_argument("--modes", default="process", help="ingest placements to compare: process,thread")
    ap.add_argument("--variants", default="levers,inproc,baseline",
                    help="servers compared phase by phase: levers (this tree: text searches in worker processes), "
                         "inproc (the same, searches in the server process: OMNIDEX_SEARCH_PROCESSES=0), "
                         "baseline (OMNIDEX_SERVE_BASELINE=1, one process: "
                         "none of the savings)")
    ap.add_argument("--before-tree", type=Path, default=None,
                    help="a checkout of an earlier commit (git worktree add DIR COMMIT): its server runs as the "
                         "variant 'before', side by side with the others")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients on the synthetic index")
    ap.add_argument("--segments", type=int, default=0, help="rows of the synthetic index (0: skip it)")
    ap.add_argument("--demo", type=Path, default=Path("demo-data"), help="demo folder (built when missing)")
    ap.add_argument("--no-study", action="store_true", help="skip the concurrency/ingest study")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--serve", default=None, help=argparse.SUPPRESS)  # child process mode
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve_forever(args.serve, args.port)
        return 0
    seconds = 6.0 if args.quick else args.seconds
    args.out.mkdir(parents=True, exist_ok=True)
    study_res, synthetic = None, []
    if not args.no_study:
        from bench.serve.study import study

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        if args.before_tree is not None:
            from bench.serve.study import VARIANTS

            VARIANTS["before"] = {"PYTHONPATH": str(args.before_tree.resolve() / "src")}
            variants.append("before")
        study_res = study(ensure_demo(args.demo), args.out.resolve(), DEMO_QUERIES, seconds, modes, variants)
    if args.segments > 0:
        db = build_synthetic(args.out / f"synthetic-{args.segments}", args.segments)
        rng = random.Random(1)
        queries = [" ".join(rng.sample(WORDS, 3)) for _ in range(50)]
        synthetic.append(bench_index("synthetic", db, queries, args.clients, seconds))
    md = table(study_res, synthetic)
    print(md)
    (args.out / "table.md").write_text(md)
    (args.out / "results.json").write_text(json.dumps({"study": study_res, "synthetic": synthetic}, indent=1))
    if not args.no_plot:
        plot(study_res, synthetic, args.out)
    print(f"wrote {args.out / 'results.json'}, table.md and latency.png")
    runs = (study_res or {}).get("runs", [])
    errors = sum(p["errors"] for run in runs for p in run["phases"]) + sum(r["errors"] for r in synthetic)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
