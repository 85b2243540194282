"""Near-duplicate image search on natural photographs: top-1 per edit, both screenshot directions,
video frames, query latency.

Held-out photographs (mahotas' sample data) were never looked at while the method was tuned;
the dev photographs (scikit-image, scikit-learn, matplotlib) were. Every held-out source has a
hard distractor in the library: another view of the same scene (moved by a third, a
perspective change, other light; :func:`omnidex.testing.edits.same_scene`). The dev photographs
fill the library as further distractors (the motorcycle stereo pair among them).
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np

HELDOUT = ("DepartmentStore", "lena", "luispedro", "nuclear")  # mahotas sample data, unseen while tuning
SLIDE_S = 3.0  # seconds each photograph is shown in the slideshow video


def _cfg():
    from omnidex import IndexConfig

    return IndexConfig(clip_model=None, ocr=False, speech=False, sound=False, series=False)


def photo_sets() -> tuple[dict, dict]:
    """(dev photographs, held-out photographs): name -> RGB PIL image at most 1024 px."""
    from PIL import Image

    from omnidex.testing.edits import sample_photos

    dev, held = {}, {}
    for name, path in sample_photos().items():
        img = Image.open(path).convert("RGB")
        img.thumbnail((1024, 1024))
        (held if name in HELDOUT else dev)[name] = img
    return dev, held


def build_folder(folder: Path, sources: dict, fillers: dict, screenshots: bool, seed: int) -> dict:
    """Write a library: each source (or a screenshot showing it) beside its same-scene distractor.

    Returns:
        {"truth": name -> path of the file a query made from that source must find,
         "pictures": name -> the source picture (PIL), "files": count}
    """
    from omnidex.testing.edits import same_scene, screenshot

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    truth, pictures = {}, {}
    for name, img in sources.items():
        src, other = same_scene(img, rng)
        pictures[name] = src
        other.save(folder / f"{name}_same_scene.jpg", quality=92)
        shown = screenshot(src, rng) if screenshots else src
        path = folder / (f"{name}_screenshot.png" if screenshots else f"{name}.png")
        shown.save(path)
        truth[name] = str(path)
    for name, img in fillers.items():
        img.save(folder / f"filler_{name}.png")
    return {"truth": truth, "pictures": pictures, "files": len(list(folder.iterdir()))}


def slideshow(out: Path, pictures: dict) -> dict:
    """A video showing each picture for ``SLIDE_S`` seconds (640x480, padded): name -> (start, end)."""
    from PIL import Image

    frames_dir = out.parent / (out.stem + "_frames")
    shutil.rmtree(frames_dir, ignore_errors=True)
    frames_dir.mkdir(parents=True)
    spans = {}
    for i, (name, img) in enumerate(pictures.items()):
        canvas = Image.new("RGB", (640, 480))
        im = img.copy()
        im.thumbnail((640, 480))
        canvas.paste(im, ((640 - im.width) // 2, (480 - im.height) // 2))
        canvas.save(frames_dir / f"{i:03d}.png")
        spans[name] = (i * SLIDE_S, (i + 1) * SLIDE_S)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-framerate", f"1/{SLIDE_S}",
                    "-i", str(frames_dir / "%03d.png"), "-vf", "fps=25,format=yuv420p", "-c:v", "libx264",
                    "-crf", "23", "-g", "50", str(out)], check=True)
    shutil.rmtree(frames_dir)
    return spans


def make_queries(folder: Path, pictures: dict, seeds: list[int], edits: dict) -> list[dict]:
    """Edited copies of each picture, written as files: [{"edit", "source", "path"}]."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, img in pictures.items():
        for edit, fn in edits.items():
            for seed in seeds:
                q = fn(img, np.random.default_rng([seed, zlib.crc32(edit.encode()), zlib.crc32(name.encode())]))
                path = folder / f"{name}_{edit}_{seed}.png"
                q.convert("RGB").save(path)
                out.append({"edit": edit, "source": name, "path": str(path)})
    return out


def evaluate(idx, queries: list[dict], truth: dict, modality: tuple = (), spans: dict | None = None) -> dict:
    """Top-1 per edit: the top hit is the source's file (and, for video, inside its span)."""
    per: dict[str, list[int]] = {}
    latency, misses = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = idx.search(image=q["path"], top_k=3, modality=modality)
        latency.append(time.perf_counter() - t0)
        top = hits[0] if hits else None
        ok = top is not None and top.path == truth[q["source"]]
        if ok and spans is not None:
            a, b = spans[q["source"]]
            ok = top.start < b and top.end > a
        per.setdefault(q["edit"], []).append(int(ok))
        if not ok:
            misses.append({"query": Path(q["path"]).name, "top": Path(top.path).name if top else None})
    table = {e: {"top1": round(sum(v) / len(v), 4), "n": len(v)} for e, v in per.items()}
    return {"per_edit": table, "misses": misses[:40], "latency_s": _latency(latency)}


def _latency(values: list[float]) -> dict:
    if not values:
        return {}
    v = sorted(values)
    return {"median": round(statistics.median(v), 3), "p90": round(v[int(0.9 * (len(v) - 1))], 3),
            "max": round(v[-1], 3), "n": len(v)}


def _index(db: Path, folders: list[Path]):
    from omnidex import Index

    shutil.rmtree(db, ignore_errors=True)
    idx = Index(db, _cfg())
    t0 = time.perf_counter()
    report = idx.add(folders)
    files = sum(1 for o in report.outcomes if o.status == "indexed")
    return idx, {"files": files, "seconds": round(time.perf_counter() - t0, 2)}


def run_images(work: Path, quick: bool, log=print) -> dict:
    """The whole image part (see the module docstring).

    Args:
        work: scratch folder.
        quick: fewer seeds and edits' repetitions.
        log: progress lines.
    Returns:
        JSON-ready results.
    """
    from omnidex.testing.edits import EDITS

    dev, held = photo_sets()
    if not held:
        raise RuntimeError("the held-out photographs come from mahotas: pip install mahotas")
    seeds = [1, 2] if quick else [1, 2, 3, 4, 5, 6]
    lib = build_folder(work / "lib", held, dev, screenshots=False, seed=7)
    idx, ingest = _index(work / "db", [work / "lib"])
    log(f"images: library of {ingest['files']} files indexed in {ingest['seconds']} s")
    res = {"library_files": ingest["files"], "ingest": ingest, "heldout": HELDOUT}
    queries = make_queries(work / "q_held", lib["pictures"], seeds, EDITS)
    res["heldout_result"] = evaluate(idx, queries, lib["truth"])
    log(f"images: {len(queries)} held-out queries done")
    dev_pics = dict(list(dev.items())[:: 3 if quick else 1])
    dev_q = make_queries(work / "q_dev", dev_pics, seeds[:1], EDITS)
    dev_truth = {k: str(work / "lib" / f"filler_{k}.png") for k in dev_pics}
    res["dev_result"] = evaluate(idx, dev_q, dev_truth)
    res["video_result"] = _video_frames(work, lib["pictures"], queries[:: 2 if quick else 1])
    log("images: video-frame queries done")
    res["screenshot_library"] = _screenshot_direction(work, held, dev, seeds)
    return res


def _video_frames(work: Path, pictures: dict, queries: list[dict]) -> dict:
    """The same edited queries against a slideshow video of the pictures (its own index): the top
    hit must be the video, at the time the picture is shown."""
    spans = slideshow(work / "video" / "slides.mp4", pictures)
    idx, _ = _index(work / "db_video", [work / "video"])
    truth = {k: str(work / "video" / "slides.mp4") for k in pictures}
    return evaluate(idx, queries, truth, ("video",), spans)


def _screenshot_direction(work: Path, held: dict, dev: dict, seeds: list[int]) -> dict:
    """Library screenshots found from the picture they show (resized and recompressed)."""
    from omnidex.testing.edits import jpeg_heavy, resize

    lib = build_folder(work / "lib_shots", held, dev, screenshots=True, seed=7)
    idx, _ = _index(work / "db_shots", [work / "lib_shots"])
    plain = {"picture": lambda im, rng: im, "picture_resized": resize, "picture_jpeg": jpeg_heavy}
    queries = make_queries(work / "q_shots", lib["pictures"], seeds[:2], plain)
    return evaluate(idx, queries, lib["truth"])
