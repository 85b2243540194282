"""Text detectors compared as the reader uses them, on development pictures only:

    python -m bench.ocr.det_compare --out DIR ppocr /tmp/det/det.onnx

Each detector (``ppocr``: RapidOCR's; or an ONNX file, see :mod:`bench.ocr.finetune_det`) is
plugged into the shipped reader (``OCR(det=...)``), which reads, with the faint path as it runs in
ingest (``read_text_or_faint``):

* words found (split-word stream and repairs included) on :mod:`bench.ocr.faint_views`' pictures
  (photo_35 / photo_20 over the four dev photographs, the busier dev photographs and the seed-7
  set) and on the other words conditions over the dev photographs (seed 3, 4 pictures each);
* the text pictures of :mod:`bench.ocr.library`'s libraries (dev seed 0, mahotas seed 1), per style;
* the plain pictures of those libraries: how many the gate passes on (``has_text``), how many read
  anything, how many start the faint path, and CPU per picture.

Writes ``<out>/results.json`` and ``<out>/table.md``.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def pictures(work: Path) -> tuple[list[dict], list[dict]]:
    """(pictures with words: {"path", "words", "set", "condition"}, plain library pictures)."""
    from bench.neardup.images import photo_sets
    from bench.neardup.ocr import build

    from . import library
    from .faint_views import pictures as faint_pictures

    items = faint_pictures(work / "faint")
    dev, _ = photo_sets()
    items += [it | {"set": "devcond"} for it in build(work / "devcond", 4, [dev[k] for k in ("astronaut", "coffee", "rocket", "china")], 3)
              if not it["condition"].startswith("photo")]
    ldev, lheld = library.photo_sets()
    lib = library.build(work / "lib_dev", ldev, 100, 0) + library.build(work / "lib_held", lheld, 60, 1)
    items += [it | {"set": "library", "condition": it["style"]} for it in lib if it["words"]]
    return items, [it for it in lib if not it["words"]]


def compare(det: str, items: list[dict], plain: list[dict]) -> dict:
    from PIL import Image

    import omnidex.encoders.ocr as m
    from omnidex.encoders.wordsplit import with_split_words

    ocr = m.OCR(det=det)
    ocr._load()
    found: dict = {}
    for it in items:
        tokens = _tokens(with_split_words(ocr.read_text_or_faint(Image.open(it["path"]).convert("RGB"))))
        found.setdefault(f"{it['set']}_{it['condition']}", []).extend(w in tokens for w in it["words"])
    passed = read = faint = 0
    cpu = []
    for it in plain:
        img = Image.open(it["path"]).convert("RGB")
        c0 = time.process_time()
        text = ocr.read_text_or_faint(img)
        cpu.append(time.process_time() - c0)
        read += bool(text.strip())
        passed += ocr.has_text(img)
        faint += ocr.first_reading(m._bgr(img))[1]
    res = {k: f"{sum(v)}/{len(v)}" for k, v in sorted(found.items())}
    res.update(plain=len(plain), plain_gate_passed=passed, plain_read_something=read, plain_faint_path=faint,
               plain_cpu_ms_median=round(1000 * float(np.median(cpu)), 1), plain_cpu_ms_mean=round(1000 * float(np.mean(cpu)), 1))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Text detectors compared inside the shipped reader (dev pictures)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("dets", nargs="+", help="'ppocr' or ONNX files")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    items, plain = pictures(out / "work")
    res = {det: compare(det, items, plain) for det in args.dets}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    keys = list(next(iter(res.values())))
    lines = ["| figure | " + " | ".join(res) + " |", "|---" * (len(res) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(str(r[k]) for r in res.values()) + " |" for k in keys]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
