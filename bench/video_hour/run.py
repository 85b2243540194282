"""One hour of video: wall time to index 360p and 1080p H.264, with and without speech.

Run from the repository root::

    python -m bench.video_hour.run --out bench/results/video_hour            # the full run
    python -m bench.video_hour.run --out /tmp/vh --quick                     # a 60 s 360p clip

Each configuration indexes one generated video (``media.make_hour``: narrated scenes with cuts,
fades and moving patterns, libx264 at its default GOP, AAC) into a fresh database with a
random-initialised CLIP ViT-B/32 (the compute of the trained one), frames at ``--fps`` (default 1)
picked per shot by content, Whisper tiny.en when speech is on, OCR and the sound space off.
Models are loaded before the clock starts (load time is reported apart). Reported per
configuration: wall seconds, real-time factor (video seconds per wall second), CPU seconds and
mean busy cores, frames embedded, words transcribed, and the busy seconds per stage from
``omnidex.ingest.timing`` (stages overlap in threads, so they add up to more than the wall).

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/wall.png``, ``<out>/stages.png``.
See README.md in this folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET_S_PER_HOUR = 15 * 60  # 1 h of 1080p (1 fps CLIP + tiny.en speech) in at most 15 min
DEFAULT_CACHE = Path("bench/results/video_hour/media")
# stage groups shown in the breakdown: timing stage names -> label
GROUPS = {"decode": ("probe", "decode"), "shots": ("shots", "frames"), "clip": ("clip",),
          "speech": ("audio_decode", "speech"), "store": ("store",), "other": ("text", "phash", "sound")}


def index_config(clip_dir: Path, speech: bool, fps: float, shots: bool, runtimes: tuple):
    """The IndexConfig of one configuration (runtimes only when this omnidex has the field)."""
    from omnidex import IndexConfig

    kw = dict(clip_model=str(clip_dir), frame_fps=fps, max_frames=1_000_000, shots=shots, speech=speech,
              whisper_model="tiny.en", ocr=False, sound=False)
    if runtimes and "runtimes" in {f.name for f in dataclasses.fields(IndexConfig)}:
        kw["runtimes"] = runtimes
    return IndexConfig(**kw)


def warm_models(cfg):
    """Build every encoder the run uses and run each once, so load time stays off the clock."""
    from PIL import Image

    from omnidex.spaces import Models

    models = Models(cfg)
    models.encoder("visual").encode_image([Image.new("RGB", (320, 180), (90, 120, 200))] * 2)
    models.encoder("text").encode_text(["warm up"])
    models.encoder("phash")
    if cfg.speech and (tr := models.transcriber()) is not None:
        import numpy as np

        tr.transcribe(np.zeros(16000, np.float32))
    return models


def _timed_store(store) -> dict:
    """Wrap the store's writes (commit, optimize) on this instance; return the running totals."""
    spent = {"s": 0.0, "n": 0}
    for name in ("commit", "optimize"):
        fn = getattr(store, name)

        def wrapper(*a, _fn=fn, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                spent["s"] += time.perf_counter() - t0
                spent["n"] += 1
        setattr(store, name, wrapper)
    return spent


def count_words(store) -> int:
    """Words in the stored speech windows."""
    if "text" not in store.spaces():
        return 0
    rows = store.table("text").to_arrow().select(["source", "words"]).to_pylist()
    return sum(len(json.loads(r["words"])) for r in rows if r["source"] == "speech" and r["words"])


def run_one(video: Path, video_s: float, db: Path, cfg, label: str) -> dict:
    """Index ``video`` into a fresh ``db`` with ``cfg``; wall, CPU, counts and stage seconds."""
    from omnidex import Index

    timing = _timing()
    shutil.rmtree(db, ignore_errors=True)
    t0 = time.perf_counter()
    models = warm_models(cfg)
    load_s = time.perf_counter() - t0
    idx = Index(db, cfg)
    idx._models = models  # the warmed encoders (Index.add builds them lazily otherwise)
    store_t = _timed_store(idx.store)
    timing and timing.reset()
    c0, t1 = time.process_time(), time.perf_counter()
    report = idx.add([video])
    wall, cpu = time.perf_counter() - t1, time.process_time() - c0
    stages = timing.snapshot() if timing else {}
    stages["store"] = {"s": round(store_t["s"], 3), "n": store_t["n"]}
    outcome = report.outcomes[0]
    row = {"label": label, "video": video.name, "video_s": round(video_s, 1), "speech": cfg.speech,
           "shots": cfg.shots, "runtimes": [list(r) for r in getattr(cfg, "runtimes", ())],
           "status": outcome.status, "note": outcome.reason, "wall_s": round(wall, 2),
           "rtf": round(video_s / wall, 2), "cpu_s": round(cpu, 1), "busy_cores": round(cpu / wall, 2),
           "load_s": round(load_s, 1), "frames": idx.store.count("visual") if "visual" in idx.store.spaces() else 0,
           "words": count_words(idx.store), "segments": outcome.segments, "notices": report.notices,
           "stages": stages, "groups": group_stages(stages)}
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # so far in this process
    row["wall_per_hour_s"] = round(wall * 3600.0 / video_s, 1)
    row["target_s"] = round(TARGET_S_PER_HOUR * video_s / 3600.0, 1)
    row["meets_target"] = wall <= row["target_s"]
    shutil.rmtree(db, ignore_errors=True)
    return row


def _timing():
    """``omnidex.ingest.timing``, or None for an omnidex from before the stage timers (the same bench
    can then time an older checkout: ``PYTHONPATH=<old checkout>/src python -m bench.video_hour.run``)."""
    try:
        from omnidex.ingest import timing
    except ImportError:
        return None
    return timing


def group_stages(stages: dict) -> dict[str, float]:
    """Busy seconds per stage group (see ``GROUPS``)."""
    return {g: round(sum(stages.get(k, {}).get("s", 0.0) for k in keys), 2) for g, keys in GROUPS.items()}


def print_table(rows: list[dict]) -> str:
    """Print and return the Markdown table."""
    head = ("| configuration | video s | wall s | x real time | wall per hour | target | frames | words | "
            "CPU s | busy cores | decode | shots | CLIP | speech | store |")
    lines = ["## Indexing one hour of video on this machine (wall time; stage columns are busy seconds, they overlap)",
             "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        g = r["groups"]
        lines.append(f"| {r['label']} | {r['video_s']:.0f} | {r['wall_s']:.1f} | {r['rtf']:.1f} | "
                     f"{r['wall_per_hour_s'] / 60:.1f} min | {'PASS' if r['meets_target'] else 'FAIL'} "
                     f"(<= {r['target_s']:.0f} s) | {r['frames']} | {r['words']} | {r['cpu_s']:.0f} | "
                     f"{r['busy_cores']:.2f} | {g['decode']:.1f} | {g['shots']:.1f} | {g['clip']:.1f} | "
                     f"{g['speech']:.1f} | {g['store']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    return text


def make_plots(rows: list[dict], out: Path) -> list[str]:
    """Wall time per configuration against the target, and stacked busy seconds per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [r["label"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(rows)), 3.8))
    ax.bar(x, [r["wall_s"] / 60 for r in rows], color="#4477aa")
    targets = sorted({r["target_s"] for r in rows})
    for t in targets:
        ax.axhline(t / 60, color="red", ls="--", label=f"target {t / 60:.3g} min (15 min per hour)")
    ax.set_xticks(x, labels, fontsize=8, rotation=20, ha="right")
    ax.set_ylabel("wall minutes")
    ax.set_title(f"time to index {rows[0]['video_s'] / 60:.0f} min of video")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "wall.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(rows)), 4))
    bottom = np.zeros(len(rows))
    for g in GROUPS:
        vals = np.array([r["groups"][g] for r in rows])
        ax.bar(x - 0.2, vals, 0.38, bottom=bottom, label=g)
        bottom += vals
    ax.bar(x + 0.2, [r["wall_s"] for r in rows], 0.38, color="black", label="wall")
    ax.set_xticks(x, labels, fontsize=8, rotation=20, ha="right")
    ax.set_ylabel("seconds")
    ax.set_title("busy s per stage (stacked; stages overlap) vs wall", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "stages.png", dpi=110)
    plt.close(fig)
    return ["wall.png", "stages.png"]


EXTRAS = ("grid", "int8")  # extra 1080p-with-speech runs: a fixed 1 fps grid (shots off); the int8 image tower


def configurations(quick: bool, sizes: list[str], extras: tuple[str, ...], runtimes: tuple) -> list[dict]:
    """The runs: every size with and without speech (shots on, ``runtimes``), then per extra one more
    run of the largest size with speech: "grid" = frames on a fixed 1 fps grid without shot
    detection, "int8" = CLIP's image tower in ONNX Runtime with int8 weights."""
    if quick:
        return [dict(size="360p", speech=sp, shots=True, runtimes=runtimes, label=f"360p {lab}")
                for sp, lab in ((True, "speech"), (False, "no speech"))]
    out = [dict(size=s, speech=sp, shots=True, runtimes=runtimes, label=f"{s} {'speech' if sp else 'no speech'}")
           for s in sizes for sp in (True, False)]
    big = sizes[-1]
    if "grid" in extras:
        out.append(dict(size=big, speech=True, shots=False, runtimes=runtimes, label=f"{big} speech, 1 fps grid"))
    if "int8" in extras:
        out.append(dict(size=big, speech=True, shots=True, runtimes=(("visual", "onnx-int8"),),
                        label=f"{big} speech, int8 CLIP"))
    return out


def run(out: Path, quick: bool = False, minutes: float = 60.0, sizes=("360p", "1080p"), fps: float = 1.0,
        runtimes: tuple = (), extras: tuple = EXTRAS, cache: Path = DEFAULT_CACHE, plots: bool = True) -> dict:
    """Generate (or reuse) the videos, index each configuration, write the results; return them."""
    from omnidex.media.video import probe_video

    from .media import make_hour, random_clip_b32

    out.mkdir(parents=True, exist_ok=True)
    total_s = 60.0 if quick else minutes * 60.0
    clip_dir = random_clip_b32(cache)
    rows = []
    for conf in configurations(quick, list(sizes), tuple(extras), runtimes):
        video = make_hour(conf["size"], cache, total_s=total_s, piece_s=60.0 if quick else 120.0)
        video_s = probe_video(video).duration
        label = conf["label"]
        print(f"[video_hour] {label}: indexing {video.name} ({video_s:.0f} s) ...", file=sys.stderr, flush=True)
        cfg = index_config(clip_dir, conf["speech"], fps, conf["shots"], conf["runtimes"])
        rows.append(run_one(video, video_s, out / "db", cfg, label))
        print(f"[video_hour] {label}: {rows[-1]['wall_s']:.1f} s wall", file=sys.stderr, flush=True)
    res = {"bench": "video_hour", "quick": quick, "fps": fps, "cores": os.cpu_count(),
           "target_s_per_hour": TARGET_S_PER_HOUR, "runs": rows}
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "table.md").write_text(print_table(rows))
    if plots:
        res["plots"] = make_plots(rows, out)
    print(json.dumps({"runs": [{k: r[k] for k in ("label", "wall_s", "rtf", "frames", "words", "meets_target")}
                               for r in rows]}))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Index one hour of 360p and 1080p video, with and without speech.")
    ap.add_argument("--out", type=Path, default=Path("bench/results/video_hour"))
    ap.add_argument("--quick", action="store_true", help="a 60 s 360p clip, speech on and off")
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the generated video (default 60)")
    ap.add_argument("--sizes", default="360p,1080p", help="comma-separated: 360p, 1080p")
    ap.add_argument("--fps", type=float, default=1.0, help="frames embedded per second (default 1)")
    ap.add_argument("--runtime", action="append", default=[], metavar="visual=RUNTIME",
                    help="image-tower runtime, e.g. visual=onnx-int8 (when this omnidex has runtimes)")
    ap.add_argument("--extra", default=",".join(EXTRAS),
                    help="extra 1080p runs with speech: grid (1 fps, shots off), int8 (CLIP image tower "
                         "in ONNX Runtime int8); comma-separated, or 'none' (default: grid,int8)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where generated media and the model are kept")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    runtimes = ()
    if args.runtime:
        from omnidex.encoders.fastpath import parse_runtimes

        runtimes = parse_runtimes(args.runtime)
    run(args.out, args.quick, args.minutes, tuple(args.sizes.split(",")), args.fps, runtimes,
        tuple(e for e in args.extra.split(",") if e in EXTRAS), args.cache, not args.no_plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
