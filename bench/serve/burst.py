"""Memory and CPU of a burst of concurrent maximum-size image queries against the real server.

Run from the repository root::

    python -m bench.serve.burst --out bench/results/serve-burst                 # 8 clients, 50 Mpx PNGs
    python -m bench.serve.burst --out /tmp/b --clients 4 --side 7999            # the review's repro (64 Mpx)

A tiny index (two generated pictures, the bundled image-text model) is built under ``<out>``,
``omnidex serve``'s app is started in its own process (uvicorn on 127.0.0.1), warmed up with a
small image query, and then ``--clients`` threads send the same ``--side`` x ``--side`` PNG (or
JPEG) to ``POST /api/search`` at once. The server's RSS is sampled every 10 ms (psutil).
Reported: RSS before, peak and 3 s after the burst (MB), peak rise, how far RSS came back
(after / before), the server's CPU seconds during the burst, status codes and wall time.
Writes ``<out>/burst.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MB = 1024 * 1024


def build_index(out: Path) -> Path:
    """Two generated pictures indexed with the bundled model; returns the database folder."""
    from omnidex import Index, IndexConfig
    from omnidex.testing.mediagen import text_image

    db, media = out / "db", out / "media"
    if (db / "files.lance").exists():
        return db
    media.mkdir(parents=True, exist_ok=True)
    text_image("BEACH PARTY", media / "poster.png", bg=(250, 200, 60), fg=(20, 20, 120))
    text_image("STOP", media / "sign.jpg", bg=(200, 20, 20), fg=(255, 255, 255), font_size=80)
    Index(db, IndexConfig(clip_model="lit:bundled")).add([media])
    return db


def make_query(out: Path, side: int, fmt: str = "png") -> Path:
    """A ``side`` x ``side`` picture: a flat PNG compresses to a few hundred KB, like the review's repro."""
    from PIL import Image

    path = out / f"query-{side}.{fmt}"
    if not path.exists():
        im = Image.new("RGB", (side, side), (40, 90, 160))
        im.paste((250, 200, 60), (side // 4, side // 4, side // 2, side // 2))
        im.save(path, optimize=fmt == "png", quality=90)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    """``omnidex serve`` on a free loopback port; returns (process, base URL) once it answers."""
    import httpx

    port = _free_port()
    cmd = "import sys; from omnidex.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", cmd, "serve", "--db", str(db), "--port", str(port)],
                            stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the server did not start within 120 s (exit code {proc.poll()})")


class RssSampler:
    """Samples a process's resident memory in a thread; ``peak`` in bytes."""

    def __init__(self, pid: int, every_s: float = 0.01):
        import psutil

        self.proc, self.every_s, self.peak = psutil.Process(pid), every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def _post(url: str, path: Path) -> tuple[int, float]:
    import httpx

    t0 = time.perf_counter()
    with path.open("rb") as fh:
        r = httpx.post(url + "/api/search", files={"image": (path.name, fh, "image/png")}, timeout=300)
    return r.status_code, time.perf_counter() - t0


def burst(url: str, pid: int, query: Path, clients: int, settle_s: float = 3.0) -> dict:
    """Send ``clients`` concurrent image queries; RSS and CPU figures of the server process."""
    import psutil

    proc = psutil.Process(pid)
    small = make_query(query.parent, 256)
    _post(url, small)  # warm: encoders loaded, first-use allocations done
    time.sleep(1.0)
    before, cpu0 = proc.memory_info().rss, proc.cpu_times()
    t0 = time.perf_counter()
    with RssSampler(pid) as sampler, ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: _post(url, query), range(clients)))
    wall = time.perf_counter() - t0
    cpu1 = proc.cpu_times()
    time.sleep(settle_s)
    after = proc.memory_info().rss
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {"clients": clients, "query": query.name, "query_bytes": query.stat().st_size,
            "statuses": [s for s, _ in results], "latency_s": [round(t, 2) for _, t in results],
            "wall_s": round(wall, 2), "server_cpu_s": round(cpu, 2), "cpu_s_per_request": round(cpu / clients, 2),
            "rss_before_mb": round(before / MB, 1), "rss_peak_mb": round(sampler.peak / MB, 1),
            "rss_after_mb": round(after / MB, 1), "peak_rise_mb": round((sampler.peak - before) / MB, 1),
            "after_over_before": round(after / before, 3)}


def run(out: Path, clients: int, side: int, fmt: str) -> dict:
    """Build the index and query, start the server, run one burst, stop the server."""
    out.mkdir(parents=True, exist_ok=True)
    db = build_index(out)
    query = make_query(out, side, fmt)
    proc, url = start_server(db)
    try:
        return burst(url, proc.pid, query, clients)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv=None) -> int:
    """Command line: run the burst and write ``<out>/burst.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results/serve-burst")
    ap.add_argument("--clients", type=int, default=8, help="concurrent image queries (default 8)")
    ap.add_argument("--side", type=int, default=7071, help="query picture side in pixels (default 7071: 50 Mpx)")
    ap.add_argument("--format", dest="fmt", choices=("png", "jpg"), default="png")
    args = ap.parse_args(argv)
    result = run(Path(args.out), args.clients, args.side, args.fmt)
    (Path(args.out) / "burst.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
