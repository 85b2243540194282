"""Which faint views find words at 35 % / 20 % opacity over photographs, with the faint path forced
on every picture (also where the first reading found nothing, which the shipped trigger skips).

    python -m bench.ocr.faint_views --out /tmp/ocr_faint_views

Pictures: bench/neardup/ocr.py's photo_35 / photo_20 over the words part's four dev photographs
(seed 0, 8 each) and over eight busier dev photographs (gravel, grass, brick, Hubble deep field,
coins, a motorcycle garage, coffee, a cat; words of seed 11). Dev only: the held-out photographs
stay for bench.ocr.run's words part. Per view set: words found (among the tokens of the reading,
split-word stream and repairs included), CPU-s per picture, and how many pictures the shipped
trigger sends to the faint path at all. Also the words part's first held-out set (mahotas'
photographs, seed 7: ``held7``), looked at since stop 23 and so a development set now. Writes ``<out>/results.json`` and ``<out>/table.md``.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

BUSY = ("gravel", "grass", "brick", "hubble_deep_field", "coins", "motorcycle_left", "coffee", "chelsea")


def _sets(ocr):
    """View sets: name -> function (bgr, clahe views) -> [(views, detector side)]."""
    from omnidex.encoders import ocr_faint as fm

    gate = ocr.gate_side or ocr.det_max_side
    return {
        "clahe + headroom (before)": lambda b, c: [(c, gate), (fm.headroom_views(b, median=0), ocr.det_max_side)],
        "clahe + headroom, median 7": lambda b, c: [(c, gate), (fm.headroom_views(b, median=7), ocr.det_max_side)],
        "clahe + band 7": lambda b, c: [(c, gate), (fm.band_views(b, (7,)), fm.BAND_SIDE)],
        "clahe + band 11 (stop 23)": lambda b, c: [(c, gate), (fm.band_views(b, (11,)), fm.BAND_SIDE)],
        "clahe + band 7, 11": lambda b, c: [(c, gate), (fm.band_views(b, (7, 11)), fm.BAND_SIDE)],
        "clahe + stroke 21 of band 11": lambda b, c: [(c, gate), (fm.stroke_views(fm.band_views(b, (11,)), 21), ocr.det_max_side)],
        "clahe + band 11 + stroke 21 (shipped)": lambda b, c: [(c, gate), (bv := fm.band_views(b, (11,)), fm.BAND_SIDE),
                                                               (fm.stroke_views(bv, 21), ocr.det_max_side)],
    }


def _reading(ocr, bgr, groups) -> str:
    """read_text_or_faint's reading with the faint path forced and the given view groups."""
    import omnidex.encoders.ocr as m
    from omnidex.encoders.wordsplit import SEPARATOR, repairs, with_split_words

    first, _ = ocr._read_bgr(bgr, True)
    text = m.text_of(first)
    lines = list(first)
    for views, side in groups:
        for view, quads in zip(views, ocr.detect(views, side, loose=True) if views else []):
            for source in ((view, bgr) if len(quads) else ()):
                lines += [ln for ln in ocr.recognise(source, quads) if ln.score >= ocr.min_score and ln.text.strip()]
    extra = [x for ln in lines for w in ln.text.split() for x in [w, *repairs(w)]]
    return with_split_words(f"{text}{SEPARATOR}{' '.join(extra)}" if extra else text)


def pictures(out: Path) -> list[dict]:
    from bench.neardup.images import photo_sets
    from bench.neardup.ocr import build, render, vocabulary

    dev, held = photo_sets()
    items = [it for it in build(out / "dev", 8, [dev[k] for k in ("astronaut", "coffee", "rocket", "china")], 0)
             if it["condition"].startswith("photo")]
    for it in items:
        it["set"] = "dev"
    voc = iter(vocabulary(200, 11))
    for cond in ("photo_35", "photo_20"):
        for i, name in enumerate(BUSY):
            words = [next(voc) for _ in range(3)]
            path = out / "busy" / f"{cond}_{i}_{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            render(cond, words, dev[name], None).save(path)
            items.append({"condition": cond, "path": str(path), "words": words, "set": "busy"})
    from .run import HELDOUT_SEED

    for it in build(out / "held7", 8, [held[k] for k in sorted(held)], HELDOUT_SEED):
        if it["condition"].startswith("photo"):
            items.append(it | {"set": "held7"})
    return items


def run(out: Path) -> dict:
    from PIL import Image

    import omnidex.encoders.ocr as m

    ocr = m.OCR()
    ocr._load()
    items = pictures(out)
    res: dict = {"pictures": len(items), "sets": {}}
    bgrs = [m._bgr(Image.open(it["path"]).convert("RGB")) for it in items]
    trig = [ocr.first_reading(bgr)[1] for bgr in bgrs]
    res["trigger"] = {f"{s}_{c}": sum(t for t, it in zip(trig, items) if it["set"] == s and it["condition"] == c)
                      for s in ("dev", "busy", "held7") for c in ("photo_35", "photo_20")}
    for name, groups in _sets(ocr).items():
        found: dict = {}
        cpu = 0.0
        for it, bgr in zip(items, bgrs):
            c0 = time.process_time()
            tokens = set(re.findall(r"[a-z]+", _reading(ocr, bgr, groups(bgr, m.faint_views(bgr))).lower()))
            cpu += time.process_time() - c0
            found.setdefault(f"{it['set']}_{it['condition']}", []).extend(w in tokens for w in it["words"])
        res["sets"][name] = {k: f"{sum(v)}/{len(v)}" for k, v in found.items()}
        res["sets"][name]["all"] = f"{sum(sum(v) for v in found.values())}/{sum(len(v) for v in found.values())}"
        res["sets"][name]["cpu_s_per_picture"] = round(cpu / len(items), 2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    keys = ["dev_photo_35", "dev_photo_20", "busy_photo_35", "busy_photo_20", "held7_photo_35", "held7_photo_20",
            "all", "cpu_s_per_picture"]
    lines = ["| views (faint path forced) | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {n} | " + " | ".join(str(r[k]) for k in keys) + " |" for n, r in res["sets"].items()]
    lines += ["", "Pictures the shipped trigger sends to the faint path: "
              + ", ".join(f"{k} {v}/8" for k, v in res["trigger"].items())]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Words found per faint view set, faint path forced (dev pictures)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    run(args.out.resolve())
    print((args.out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
