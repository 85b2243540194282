"""Ingest throughput and query latency on a generated corpus (the demo's media, scaled up).

Prints a table and JSON, and writes ``<out>/ingest_bench.json``. Run with ``make bench``.
Figures are medians over repeated queries; ingest rates are measured per media kind in one run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path


def build(root: Path, n_images: int, n_videos: int, video_s: float) -> dict[str, Path]:
    """Generate images, narrated videos and documents into separate folders."""
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    dirs = {k: root / k for k in ("images", "videos", "docs")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    colours = [(200, 30, 30), (30, 160, 60), (30, 60, 200), (220, 200, 40), (120, 40, 160)]
    for i in range(n_images):
        text_image(f"Invoice {1000 + i}", dirs["images"] / f"img{i:04d}.jpg", bg=colours[i % 5], fg=(255, 255, 255))
    third = video_s / 3
    for i in range(n_videos):
        scenes = [Scene(third, colours[(i + k) % 5], f"PART {k + 1}") for k in range(3)]
        make_video(dirs["videos"] / f"vid{i:02d}.mp4", scenes,
                   [Narration(1.0, f"This is video number {i + 1}."), Narration(third + 1, "The meeting starts at noon.")],
                   size=(640, 360))
    for i in range(40):
        (dirs["docs"] / f"doc{i:03d}.md").write_text(
            f"# Note {i}\n\n" + " ".join(f"Paragraph {k} talks about topic {i * k % 17}." for k in range(60)))
    return dirs


def timed_index(db: Path, folder: Path, **cfg) -> tuple[float, dict]:
    """Index ``folder`` into a fresh db; return wall seconds and the report."""
    from omnidex import Index, IndexConfig

    shutil.rmtree(db, ignore_errors=True)
    idx = Index(db, IndexConfig(clip_model=None, **cfg))
    idx.add([folder])  # warm models on a first run so load time is not counted as throughput
    shutil.rmtree(db, ignore_errors=True)
    idx = Index(db, IndexConfig(clip_model=None, **cfg))
    t0 = time.perf_counter()
    report = idx.add([folder])
    return time.perf_counter() - t0, report.to_dict()


def query_latency(db: Path, queries: list[dict], repeats: int) -> dict:
    """Median and p95 milliseconds per query kind, models warm."""
    from omnidex import Index

    idx = Index(db)
    out = {}
    for q in queries:
        label = q.pop("label")
        idx.search(**q)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            idx.search(**q)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out[label] = {"median_ms": round(statistics.median(times), 1),
                      "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--video-seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    dirs = build(work / "media", args.images, args.videos, args.video_seconds)
    res: dict = {"corpus": {"images": args.images, "videos": args.videos, "video_seconds": args.videos * args.video_seconds, "docs": 40}}
    wall, _ = timed_index(work / "db_img", dirs["images"])
    res["images_per_s"] = round(args.images / wall, 2)
    wall, _ = timed_index(work / "db_img_noocr", dirs["images"], ocr=False)
    res["images_per_s_no_ocr"] = round(args.images / wall, 2)
    total_video = args.videos * args.video_seconds
    wall, _ = timed_index(work / "db_vid", dirs["videos"])
    res["video_s_per_wall_s"] = round(total_video / wall, 2)
    wall, _ = timed_index(work / "db_vid_nospeech", dirs["videos"], speech=False)
    res["video_s_per_wall_s_no_speech"] = round(total_video / wall, 2)
    wall, _ = timed_index(work / "db_docs", dirs["docs"])
    res["docs_per_s"] = round(40 / wall, 2)
    wall, report = timed_index(work / "db_all", work / "media")
    res["all_files_per_s"] = round((report["indexed"]) / wall, 2)
    res["query"] = query_latency(work / "db_all", [
        {"label": "text", "text": "when does the meeting start"},
        {"label": "text_filtered", "text": "invoice", "modality": "image"},
        {"label": "image", "image": next(dirs["images"].iterdir())},
    ], args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_bench.json").write_text(json.dumps(res, indent=2))
    print_table(res)
    print(json.dumps(res, indent=2))


def print_table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="omnidex ingest / query benchmark (CPU, CLIP off)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in res.items():
        if k == "query":
            for label, d in v.items():
                t.add_row(f"query {label} median / p95 (ms)", f"{d['median_ms']} / {d['p95_ms']}")
        elif k != "corpus":
            t.add_row(k, str(v))
    Console().print(t)


if __name__ == "__main__":
    main()
