"""A server that shares its cores: 1 client vs 16, idle vs during an ingest, side by side in one run.

Run from the repository root (``make bench-serve`` runs the first line)::

    python -m bench.serve.run --out bench/results/serve                    # 20 s per phase, process ingest
    python -m bench.serve.run --out /tmp/s --seconds 8 --modes process,thread   # also the in-thread ingest

``omnidex serve`` itself is started (``python -m omnidex serve --db DEMO --root INGEST``: uvicorn on
127.0.0.1, models loaded at start) and timed until ``/api/health`` says ``ready``; the first search
after that is timed on its own. Then closed-loop clients (each sends ``GET /api/search`` back to back)
load it in four phases: 1 client and 16 clients on an idle server, then the same while an index job
(``POST /api/index``) ingests freshly generated media (text pictures read by OCR, narrated videos,
notes; new content each phase, so nothing is skipped as already indexed). A phase during an ingest
ends when its job does (or after ``--seconds``). ``--modes`` repeats everything with the ingest in
the server's own thread (``--ingest-in thread``, how jobs ran before) for comparison.

Targets (issue 17, part 4; 16 clients against 1 on this machine's cores): throughput >= 1.6x,
p95 <= 4x one client's p50, and a search during an ingest p95 <= 1 s (1 client).
"""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

PHASES = (("idle", 1), ("idle", 16), ("ingest", 1), ("ingest", 16))
WORDS = ("river mountain budget engine harbour garden signal orange planet window violin market rocket "
         "forest copper winter ladder island camera basket silver thunder meadow lantern falcon tunnel "
         "pepper canvas marble compass blanket").split()


# ----------------------------------------------------------------------------------------- media

def make_ingest_media(folder: Path, seed: int, pictures: int = 16, videos: int = 2, notes: int = 12) -> Path:
    """Fresh media for one index job: text pictures, short narrated videos with captions, notes.

    Every file's content depends on ``seed``, so a job never finds it indexed already.
    """
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    if folder.exists() and any(folder.iterdir()):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)

    def phrase(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    for i in range(pictures):
        colour = tuple(rng.randrange(40, 256) for _ in range(3))
        text_image(f"{phrase(2).upper()} {seed}-{i}", folder / f"sign_{i:02d}.png", bg=colour, fg=(10, 10, 10))
    for i in range(videos):
        scenes = [Scene(3.0, tuple(rng.randrange(20, 200) for _ in range(3)), phrase(2).upper()) for _ in range(3)]
        make_video(folder / f"talk_{i}.mp4", scenes, [Narration(0.5, f"the {phrase(3)} is ready"),
                                                       Narration(5.0, f"we saw the {phrase(2)}")])
    for i in range(notes):
        (folder / f"note_{i:02d}.txt").write_text(f"Note {seed}-{i}: {phrase(40)}.\n")
    return folder


# ----------------------------------------------------------------------------------------- server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# server variants compared side by side in one run: name -> environment of ``omnidex serve``
VARIANTS = {"levers": {"OMNIDEX_SERVE_BASELINE": "0"},  # the server as shipped
            # the same with two native threads per search worker (ONNX Runtime, Lance) instead of one
            "threads2": {"OMNIDEX_SERVE_BASELINE": "0", "OMNIDEX_SEARCH_THREADS": "2"},
            # the same, text searches in the server process (no worker processes; as before the pool)
            "inproc": {"OMNIDEX_SERVE_BASELINE": "0", "OMNIDEX_SEARCH_PROCESSES": "0"},
            # as before this round's savings: MiniLM once per space, file rows read per search, one process
            "baseline": {"OMNIDEX_SERVE_BASELINE": "1", "OMNIDEX_SEARCH_PROCESSES": "0"}}


def start_server(db: Path, root: Path, ingest_in: str, env: dict | None = None) -> tuple[subprocess.Popen, str, dict]:
    """``omnidex serve`` on a free port; returns (process, URL, start-up timings) once it is ready."""
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "omnidex", "serve", "--db", str(db), "--port", str(port), "--root", str(root),
           "--ingest-in", ingest_in]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    url, listening, health = f"http://127.0.0.1:{port}", None, {}
    while time.perf_counter() - t0 < 300:
        if proc.poll() is not None:
            raise SystemExit(f"omnidex serve exited with code {proc.returncode}: {' '.join(cmd)}")
        try:
            health = httpx.get(url + "/api/health", timeout=5).json()
            listening = listening or time.perf_counter() - t0
            pool = health.get("search_processes") or {}
            if health.get("ready") and pool.get("ready", 0) >= pool.get("processes", 0):
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        raise SystemExit("omnidex serve was not ready within 300 s")
    ready = time.perf_counter() - t0
    t1 = time.perf_counter()
    first = httpx.get(url + "/api/search", params={"q": "ferry to the islands"}, timeout=120)
    start = {"listening_s": round(listening, 2), "ready_s": round(ready, 2),
             "first_search_ms": round((time.perf_counter() - t1) * 1000, 1), "first_status": first.status_code,
             "models": health.get("models", {}), "search_workers": health.get("search_workers"),
             "search_processes": health.get("search_processes")}
    return proc, url, start


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


# ----------------------------------------------------------------------------------------- load

async def _client(http, queries: list[str], until, out: list, seed: int) -> None:
    rng = random.Random(seed)
    while not until():
        q = rng.choice(queries)
        t0 = time.perf_counter()
        try:
            r = await http.get("/api/search", params={"q": q, "top_k": 10})
            took = r.json().get("took_ms") if r.status_code == 200 else None
            out.append((time.perf_counter() - t0, r.status_code, took))
        except Exception:  # noqa: BLE001 - counted as an error
            out.append((time.perf_counter() - t0, 0, None))


async def _job_watch(http, job_id: str, state: dict) -> None:
    while state.get("state") not in ("done", "failed"):
        state.update((await http.get(f"/api/jobs/{job_id}")).json())
        await asyncio.sleep(0.25)


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) the server process itself has used: its threads, not an ingest
    child's (a child's time reaches the parent's counters only when it ends)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # the process has ended
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(url: str, queries: list[str], clients: int, seconds: float, ingest: Path | None,
                pid: int | None = None) -> dict:
    """One phase: ``clients`` closed-loop clients for ``seconds`` (or until the ingest job ends);
    ``pid``: the server's process, whose CPU seconds per answered request are reported."""
    import httpx

    from bench.serve.run import summarise

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=clients + 2)) as http:
        for q in queries[:2]:  # connections open, nothing else
            await http.get("/api/search", params={"q": q})
        job, watch = {}, None
        if ingest is not None:
            r = await http.post("/api/index", json={"paths": [str(ingest)]})
            r.raise_for_status()
            job = {"job_id": r.json()["job_id"], "state": "queued"}
            watch = asyncio.create_task(_job_watch(http, job["job_id"], job))
            while job["state"] == "queued":
                await asyncio.sleep(0.05)
        out: list = []
        # the server's CPU: its own process and its search worker processes (an ingest child is not counted)
        pool = (await http.get("/api/health")).json().get("search_processes") or {}
        pids = [pid] + list(pool.get("pids") or []) if pid is not None else []
        cpu0, own0 = {p: _cpu_s(p) for p in pids}, time.process_time()
        t0 = time.perf_counter()

        def until() -> bool:
            return time.perf_counter() - t0 >= seconds or (ingest is not None and job["state"] in ("done", "failed"))

        await asyncio.gather(*[_client(http, queries, until, out, i) for i in range(clients)])
        wall = time.perf_counter() - t0
        cpu, own = sum(_cpu_s(p) - c for p, c in cpu0.items()), time.process_time() - own0
        if watch is not None:
            await watch
    res = summarise(out, wall, clients)
    ok = sum(1 for _, status, _ in out if status == 200)
    res.update(server_cpu_s=round(cpu, 2), client_cpu_s=round(own, 2),
               server_cpu_ms_per_req=round(1000 * cpu / ok, 2) if ok else None,
               client_cpu_ms_per_req=round(1000 * own / ok, 2) if ok else None)
    res["p95_ms"] = round(_pct([lat * 1000 for lat, status, _ in out if status == 200], 95), 1)
    if ingest is not None:
        res.update(job_state=job["state"], job_files=job.get("total"),
                   job_s=round((job.get("finished") or 0) - (job.get("started") or 0), 1),
                   job_report={k: v for k, v in (job.get("report") or {}).items() if k in ("indexed", "failed")})
    return res


PACED_LOAD = 1.6  # the paced phase offers this many times one client's requests per second


async def paced(url: str, queries: list[str], clients: int, rate: float, seconds: float, seed: int = 0) -> dict:
    """Open-loop load: requests arrive at random (Poisson, ``rate`` per second) whatever the server
    does, at most ``clients`` in flight (later arrivals wait for one; that wait counts). Latency is
    from the arrival to the answer. Closed-loop clients (:func:`phase`) always keep ``clients``
    requests queued, so their latency is clients / throughput (Little's law); this phase shows the
    latency at a given load instead."""
    import httpx

    from bench.serve.run import summarise

    rng, out = random.Random(seed), []
    slots = asyncio.Semaphore(clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=clients + 2)) as http:
        for q in queries[:2]:
            await http.get("/api/search", params={"q": q})
        t0, at, tasks = time.perf_counter(), 0.0, []

        async def one(arrival: float, q: str) -> None:
            async with slots:
                try:
                    r = await http.get("/api/search", params={"q": q, "top_k": 10})
                    status = r.status_code
                except Exception:  # noqa: BLE001 - counted as an error
                    status = 0
            out.append((time.perf_counter() - t0 - arrival, status, None))

        while True:
            at += rng.expovariate(rate)
            if at >= seconds:
                break
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(at, rng.choice(queries))))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    res = summarise(out, wall, clients)
    res.update(offered_rps=round(rate, 2), phase="paced",
               p95_ms=round(_pct([lat * 1000 for lat, status, _ in out if status == 200], 95), 1))
    return res


def _pct(xs: list[float], p: float) -> float:
    from bench.serve.run import _pct as pct

    return pct(xs, p)


def study(db: Path, work: Path, queries: list[str], seconds: float, modes: list[str],
          variants: list[str] = ("levers",)) -> dict:
    """Every mode: start-up timings and the four phases; media for the ingest phases generated first.

    With several ``variants`` (:data:`VARIANTS`), one server per variant runs at once (the others
    idle) and each phase is run for every variant in turn, so load from outside falls on all alike.
    """
    root = work / "ingest"
    runs = []
    for m, mode in enumerate(modes):
        servers = {}
        try:
            for v, variant in enumerate(variants):
                folders = {i: make_ingest_media(root / f"{mode}-{variant}-{i}-{os.getpid()}",
                                                seed=1000 * m + 100 * v + i + os.getpid())
                           for i, (kind, _) in enumerate(PHASES) if kind == "ingest"}
                served = work / f"db-{mode}-{variant}"  # each server its own copy: the ingest phases add files
                shutil.rmtree(served, ignore_errors=True)
                shutil.copytree(db, served)
                proc, url, start = start_server(served, root, mode, VARIANTS[variant])
                servers[variant] = (proc, url, start, folders, [])
            for i, (kind, clients) in enumerate(PHASES):
                if kind == "ingest" and PHASES[i - 1][0] == "idle":  # the idle phases done, before the first ingest
                    _paced_phases(servers, queries, seconds, mode, m)
                for variant, (proc, url, _, folders, phases) in servers.items():
                    res = asyncio.run(phase(url, queries, clients, seconds, folders.get(i), proc.pid))
                    res.update(phase=kind, mode=mode, variant=variant)
                    phases.append(res)
                    print(f"  {mode:7s} {variant:8s} {kind:6s} {clients:2d} clients: {res['throughput_rps']:6.1f} req/s, "
                          f"p50 {res['p50_ms']:7.1f} ms, p95 {res['p95_ms']:7.1f} ms, "
                          f"server CPU {res['server_cpu_ms_per_req']} ms/req, errors {res['errors']}", flush=True)
        finally:
            for proc, *_ in servers.values():
                stop_server(proc)
        for variant, (_, _, start, _, phases) in servers.items():
            runs.append({"mode": mode, "variant": variant, "start": start, "phases": phases,
                         "targets": targets(phases)})
    return {"runs": runs, "targets": runs[0]["targets"]}


def _paced_phases(servers: dict, queries: list[str], seconds: float, mode: str, seed: int) -> None:
    """Each variant's open-loop phase at 1.6x its own one-client rate (idle phases done, no ingest yet)."""
    for variant, (proc, url, _, _, phases) in servers.items():
        one = next(p for p in phases if p["phase"] == "idle" and p["clients"] == 1)
        res = asyncio.run(paced(url, queries, 16, PACED_LOAD * one["throughput_rps"], seconds, seed=seed))
        res.update(mode=mode, variant=variant)
        phases.append(res)
        print(f"  {mode:7s} {variant:8s} paced  {res['offered_rps']:6.1f} req/s offered: "
              f"{res['throughput_rps']:6.1f} answered, p50 {res['p50_ms']:7.1f} ms, p95 {res['p95_ms']:7.1f} ms, "
              f"errors {res['errors']}", flush=True)


def targets(phases: list[dict]) -> dict:
    """The issue's three targets from one mode's phases."""
    by = {(p["phase"], p["clients"]): p for p in phases}
    one, many, ingest = by[("idle", 1)], by[("idle", 16)], by[("ingest", 1)]
    paced_ = by.get(("paced", 16))
    ratio = many["throughput_rps"] / one["throughput_rps"] if one["throughput_rps"] else 0.0
    tail = many["p95_ms"] / one["p50_ms"] if one["p50_ms"] else float("inf")
    return {"throughput_ratio": round(ratio, 2), "throughput_ok": ratio >= 1.6,
            "p95_over_p50_1": round(tail, 2), "tail_ok": tail <= 4.0,
            "little_bound": round(16 / many["throughput_rps"] * 1000 / one["p50_ms"], 2) if many["throughput_rps"] else None,
            "ingest_p95_ms": ingest["p95_ms"], "ingest_ok": ingest["p95_ms"] <= 1000.0,
            # what bounds the throughput ratio on C cores: ratio <= C * cpu(1) / cpu(16) when one client keeps one core busy
            "server_cpu_ms_per_req_1": one.get("server_cpu_ms_per_req"),
            "server_cpu_ms_per_req_16": many.get("server_cpu_ms_per_req"),
            # open loop at 1.6x one client's rate (16 connections): the latency at that load, not Little's floor
            "paced_offered_rps": paced_["offered_rps"] if paced_ else None,
            "paced_rps": paced_["throughput_rps"] if paced_ else None,
            "paced_p95_over_p50_1": round(paced_["p95_ms"] / one["p50_ms"], 2) if paced_ and one["p50_ms"] else None}
