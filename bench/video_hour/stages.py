"""Where video ingest's CPU goes with speech and OCR: the same videos indexed with each of them
on and off, CPU seconds of the process and seconds of video per CPU second (robust to other load,
unlike wall time), plus the busy seconds per ingest stage of the full run.

    python -m bench.video_hour.stages --out /tmp/stages --videos 6     # the moment corpus, 360p

20x real time on 2 cores needs at most 2 / 20 = 0.1 CPU seconds per video second with both
cores busy throughout (x per CPU second >= 10, more where the cores are not both kept busy).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

CONFIGS = {"pictures only": {"speech": False, "ocr": False}, "+ OCR": {"speech": False},
           "+ speech": {"ocr": False}, "speech + OCR": {}}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(out: Path, n_videos: int = 6, whisper: str = "tiny.en") -> dict:
    """Index the first ``n_videos`` of the moment corpus under each configuration."""
    from bench.moments.corpus import build_corpus
    from omnidex import Index, IndexConfig
    from omnidex.ingest import timing

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    videos = build_corpus(out / "corpus_n24_seed0", 24, 0)[:n_videos]
    files = [v["file"] for v in videos]
    video_s = sum(v["duration"] for v in videos)
    rows = []
    for name, opts in CONFIGS.items():
        cfg = IndexConfig(clip_model=None, whisper_model=whisper, **opts)
        shutil.rmtree(out / "db_warm", ignore_errors=True)
        Index(out / "db_warm", cfg).add([files[-1]])  # models loaded before the clock starts
        shutil.rmtree(out / "db", ignore_errors=True)
        timing.reset()
        c0, t0 = _cpu(), time.perf_counter()
        Index(out / "db", cfg).add(files)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        rows.append({"config": name, "video_s": round(video_s, 1), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                     "x_realtime": round(video_s / wall, 2), "x_per_cpu_s": round(video_s / cpu, 2),
                     "stages_busy_s": {k: round(v["s"], 2) for k, v in timing.snapshot().items()}})
        print(rows[-1], flush=True)
    res = {"videos": n_videos, "whisper": whisper, "rows": rows}
    (out / "stages.json").write_text(json.dumps(res, indent=1))
    (out / "stages.md").write_text(table(res))
    return res


def table(res: dict) -> str:
    lines = [f"# Video ingest CPU by component ({res['videos']} moment-corpus videos, 360p, Whisper {res['whisper']})", "",
             "| config | video s | wall s | CPU s | x real time (wall) | x per CPU second |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['config']} | {r['video_s']} | {r['wall_s']} | {r['cpu_s']} | {r['x_realtime']} | {r['x_per_cpu_s']} |")
    full = res["rows"][-1]["stages_busy_s"]
    lines += ["", "Busy seconds per stage, speech + OCR (threads overlap; inflated by other load): "
              + ", ".join(f"{k} {v}" for k, v in sorted(full.items(), key=lambda kv: -kv[1]))]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/results/video_stages")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--whisper", default="tiny.en")
    args = ap.parse_args(argv)
    print(table(run(Path(args.out), args.videos, args.whisper)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
