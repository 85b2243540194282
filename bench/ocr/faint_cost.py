"""CPU cost of the faint-text path (OCR.read_text_or_faint) against the first reading alone and
against the faint path before (two CLAHE views at full size, run only after a low-contrast line),
against auto mode without the faint-text trigger (:mod:`omnidex.encoders.ocr_trigger`), and of the faint path on every picture (``OCR(faint="all")``: ``omnidex index --ocr-faint all``),
side by side picture by picture, on plain photos and on words over photos; and how many pictures
each gives some text (on plain photos: text that is not there).

    python -m bench.ocr.faint_cost --out /tmp/ocr_faint_cost

Plain photos: the speed part's dev library pictures without text (bench/ocr/library.py, seed 5).
Words over photos: bench/neardup/ocr.py's photo_35 / photo_20 pictures over six dev photographs.
Writes ``<out>/results.json`` and ``<out>/table.md``; CPU-seconds of this process (load-proof).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _before(ocr, img) -> str:
    import omnidex.encoders.ocr as m

    bgr = m._bgr(img)
    first, faint = ocr._read_bgr(bgr, True)
    if faint:
        [ocr._read_bgr(v, False, loose=True)[0] for v in m.faint_views(bgr)]
    return m.text_of(first)


def run(out: Path, plain_n: int = 40) -> dict:
    from PIL import Image

    import omnidex.encoders.ocr as m
    import omnidex.encoders.ocr_faint as fm
    from bench.neardup.images import photo_sets as nd_photos
    from bench.neardup.ocr import render, vocabulary

    from omnidex.encoders.wordsplit import original_text

    from .library import build, photo_sets

    ocr = m.OCR(faint="auto")
    ocr._load()
    untriggered = m.OCR(faint="auto", trigger=False)  # auto mode before the faint-text trigger
    untriggered._load()
    every = m.OCR(faint="all")  # omnidex index --ocr-faint all
    every._load()
    ran = [0]
    original = fm.faint_lines

    def counted(*a, **k):
        ran[0] += 1
        return original(*a, **k)

    fm.faint_lines = counted
    dev, _ = photo_sets()
    items = build(out / "plain", dev, plain_n, 5, text_every=10 ** 6)
    sets = {"plain photos": [Image.open(it["path"]).convert("RGB") for it in items if not it["words"]]}
    nd, _ = nd_photos()
    voc = iter(vocabulary(100, 77))
    sets["words over photos"] = [render(c, [next(voc) for _ in range(3)], nd[n], None) for c in ("photo_35", "photo_20")
                                 for n in ("astronaut", "coffee", "chelsea", "flower", "grace_hopper", "motorcycle_left")]
    res = {}
    try:
        for name, imgs in sets.items():
            for img in imgs[:2]:
                ocr.read_text(img)  # warm
            t: dict = {"first_reading": [], "faint_before": [], "faint_untriggered": [], "faint_now": [], "faint_all": []}
            given = {k: 0 for k in t}  # pictures given some text (shown text: without the hidden stream)
            runs = {k: 0 for k in t}  # pictures the faint path ran on
            for img in imgs:
                for key, fn in (("first_reading", ocr.read_text), ("faint_before", lambda im: _before(ocr, im)),
                                ("faint_untriggered", untriggered.read_text_or_faint),
                                ("faint_now", ocr.read_text_or_faint), ("faint_all", every.read_text_or_faint)):
                    ran[0] = 0
                    c0 = time.process_time()
                    text = fn(img)
                    t[key].append(time.process_time() - c0)
                    runs[key] += ran[0]
                    given[key] += bool(original_text(text).strip())
            res[name] = {"pictures": len(imgs), "faint_path_ran": runs["faint_now"],
                         "faint_path_ran_untriggered": runs["faint_untriggered"], "given_text": given}
            for key, v in t.items():
                res[name][key] = {"cpu_s_total": round(sum(v), 2), "cpu_ms_median": round(1000 * statistics.median(v))}
            res[name]["now_vs_before"] = round(sum(t["faint_now"]) / sum(t["faint_before"]), 2)
    finally:
        fm.faint_lines = original
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    lines = ["| pictures | n | faint path ran (auto without / with the trigger) | first reading CPU-s (median ms) | faint path before "
             "| auto without the trigger | faint path now (auto) | faint path on every picture (all) | now / before "
             "| given text: first / auto without trigger / auto / all |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        cells = [f"{r[k]['cpu_s_total']} ({r[k]['cpu_ms_median']})"
                 for k in ("first_reading", "faint_before", "faint_untriggered", "faint_now", "faint_all")]
        g = r["given_text"]
        lines.append(f"| {name} | {r['pictures']} | {r['faint_path_ran_untriggered']} / {r['faint_path_ran']} | {' | '.join(cells)} "
                     f"| {r['now_vs_before']}x | {g['first_reading']} / {g['faint_untriggered']} / {g['faint_now']} / {g['faint_all']} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="CPU cost of the faint-text OCR path")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--plain", type=int, default=40, help="library pictures (plain photos)")
    args = ap.parse_args(argv)
    run(args.out.resolve(), args.plain)
    print((args.out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
