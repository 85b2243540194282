"""Word spotting in faint pictures (omnidex.encoders.ocr_spot, omnidex.search.spot): how often a
spotted word is really there, by its absolute score, and what spotting costs a query.

    python -m bench.ocr.spots --out DIR       # results.json, table.md, spots.png (~2 min)

1. **Calibration.** The words-over-photographs pictures of the development sets (bench/ocr
   README: dev photographs seed 0, the busier dev photographs seed 11, mahotas' photographs seed
   7), each read by the faint path forced on (every box's frames kept, as ingest keeps them for
   the pictures it sends there). Every word of the set's vocabulary that the picture's readings
   do not name (first reading and faint lines, as tokens) is spotted in its boxes; a spot that
   clears :data:`~omnidex.encoders.ocr_spot.FLOOR_PER_LETTER` is right when the picture shows the
   word. Precision by bin of the best absolute score per letter, and the logistic fit that
   :func:`omnidex.search.spot.shows_word` uses (its constants are checked against this fit).
2. **Prefilter.** Over every development box and vocabulary word: the least letter bound
   (:data:`~omnidex.encoders.ocr_spot.PREFILTER_PER_LETTER`) among the pairs that clear both
   floors, and the share of boxes the prefilter leaves to score.
3. **Cost.** :class:`~omnidex.encoders.ocr_spot.SpotIndex` over N faint pictures (the pictures'
   packed frames repeated): the time to build it (once per version of the index) and to score
   one query word (median over five words, three times each), for N = 100, 1000, 5000.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

BINS = ((-0.5, 9.0), (-0.75, -0.5), (-1.0, -0.75), (-1.25, -1.0), (-1.5, -1.25), (-2.0, -1.5), (-9.0, -2.0))


def _spots(ocr, img) -> tuple[list, set[str]]:
    """The faint path forced on: (folded frames of every box, tokens of every reading)."""
    from omnidex.encoders.ocr import _bgr, faint_views, text_of
    from omnidex.encoders.ocr_faint import faint_lines
    from omnidex.encoders.ocr_spot import fold

    bgr = _bgr(img)
    first, _ = ocr.first_reading(bgr)
    frames: list = []
    marked = ocr.trigger.regions(bgr) if ocr.trigger is not None else None  # as read_text_or_faint reads them
    lines = faint_lines(ocr, bgr, faint_views(bgr), None, frames, marked)
    cols = ocr.prob_columns()
    read = set(re.findall(r"[a-z]+", (text_of(first) + " " + " ".join(ln.text for ln in lines)).lower()))
    return [fold(f, cols) for f in frames], read


def fit(x: np.ndarray, y: np.ndarray, steps: int = 20000) -> tuple[float, float]:
    """Logistic regression of y on x (gradient ascent on the mean log-likelihood)."""
    a, b = 1.0, 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        a += 0.05 * float(np.mean((y - p) * x))
        b += 0.05 * float(np.mean(y - p))
    return a, b


def run(out: Path, log=print) -> dict:
    from bench.neardup.ocr import CONDITIONS, vocabulary
    from omnidex.encoders import ocr_spot as S
    from omnidex.encoders.ocr import OCR
    from omnidex.search import spot as search_spot
    from PIL import Image

    from .faint_views import pictures
    from .run import HELDOUT_SEED

    vocab = {"dev": vocabulary(len(CONDITIONS) * 8 * 3, 0), "busy": vocabulary(200, 11),
             "held7": vocabulary(len(CONDITIONS) * 8 * 3, HELDOUT_SEED)}
    ocr = OCR()
    pairs, all_boxes = [], []
    t0 = time.time()
    items = pictures(out / "pictures")
    for k, it in enumerate(items):
        img = Image.open(it["path"]).convert("RGB")
        img.thumbnail((1024, 1024))  # as ingest hands it over
        boxes, read = _spots(ocr, img)
        all_boxes.append([S.trim(b) for b in boxes])
        for w in vocab[it["set"]]:
            if w in read or not boxes or not S.spottable(w):
                continue
            rel, ab = S.spot_scores(all_boxes[-1], w)
            ok = rel / len(w) >= S.FLOOR_PER_LETTER
            if ok.any():
                pairs.append({"set": it["set"], "picture": Path(it["path"]).name, "word": w,
                              "shows": w in it["words"], "absolute": round(float((ab / len(w))[ok].max()), 4)})
        if k % 12 == 11:
            log(f"  {k + 1}/{len(items)} pictures, {time.time() - t0:.0f} s")
    x = np.array([p["absolute"] for p in pairs])
    y = np.array([float(p["shows"]) for p in pairs])
    bins = []
    for lo, hi in BINS:
        m = (x >= lo) & (x < hi)
        bins.append({"from": lo, "to": hi, "right": int(y[m].sum()), "wrong": int(m.sum() - y[m].sum())})
    a, b = fit(x, y)
    shipped = {"slope": search_spot.SLOPE, "bias": search_spot.BIAS}
    # the prefilter: over every development box and vocabulary word, the least letter bound of
    # the box-word pairs that clear both floors, and the share of boxes the prefilter keeps
    flat = [b for boxes in all_boxes for b in boxes if len(b)]
    least = np.stack([b.max(0) for b in flat])
    words = sorted({w for v in vocab.values() for w in v if S.spottable(w)})
    worst, kept, passing = 0.0, 0, 0
    for w in words:
        rel, ab = S.spot_scores(flat, w)
        ok = S.clears(rel, ab, w)
        bound = least[:, [S.LETTERS.index(c) + 1 for c in w]].sum(1) / len(w)
        passing += int(ok.sum())
        worst = min([worst] + list(bound[ok]))
        kept += int((bound >= S.PREFILTER_PER_LETTER).sum())
    prefilter = {"pairs_clearing_floors": passing, "least_bound_among_them": round(float(worst), 3),
                 "prefilter": S.PREFILTER_PER_LETTER, "boxes_kept_share": round(kept / (len(words) * len(flat)), 4)}
    log(f"prefilter: {prefilter}")
    # query-time cost: the pictures' packed frames repeated to N faint pictures
    packed = [S.pack(boxes) for boxes in all_boxes if boxes]
    per_picture = len(flat) / len(packed)
    cost = {}
    for n in (100, 1000, 5000):
        t = time.perf_counter()
        index = S.SpotIndex((packed * (n // len(packed) + 1))[:n])
        build = time.perf_counter() - t
        times = []
        for w in ("fashion", "station", "harbour", "wisconsin", "debian"):
            for _ in range(3):
                t = time.perf_counter()
                index.scores(w)
                times.append(time.perf_counter() - t)
        cost[n] = {"boxes": len(index), "build_ms": round(1000 * build, 1), "median_ms": round(1000 * float(np.median(times)), 1)}
        log(f"cost at {n} faint pictures: {cost[n]}")
    return {"pictures": len(items), "pairs": len(pairs), "bins": bins, "fit": {"slope": round(a, 3), "bias": round(b, 3)},
            "shipped": shipped, "floor_per_letter": S.FLOOR_PER_LETTER, "absolute_per_letter": S.ABSOLUTE_PER_LETTER,
            "boxes_per_picture": round(per_picture, 1), "prefilter": prefilter, "cost": cost, "spots": pairs}


def table(res: dict) -> str:
    rows = ["| absolute score per letter | spotted, shown | spotted, not shown | precision |", "|---|---|---|---|"]
    for b in res["bins"]:
        n = b["right"] + b["wrong"]
        rows.append(f"| [{b['from']}, {b['to']}) | {b['right']} | {b['wrong']} | {b['right'] / n:.2f} |" if n else
                    f"| [{b['from']}, {b['to']}) | 0 | 0 | - |")
    f, s = res["fit"], res["shipped"]
    rows += ["", f"Logistic fit: slope {f['slope']}, bias {f['bias']} (shipped: {s['slope']}, {s['bias']}); "
             f"spots kept from {res['absolute_per_letter']} per letter.", "",
             f"Prefilter ({res['prefilter']['prefilter']} per letter): the {res['prefilter']['pairs_clearing_floors']} "
             f"box-word pairs that clear both floors have bounds from {res['prefilter']['least_bound_among_them']}; "
             f"it keeps {res['prefilter']['boxes_kept_share']:.1%} of the boxes to score.", "",
             "| faint pictures | boxes | index built, ms | one query word, median ms |", "|---|---|---|---|"]
    rows += [f"| {n} | {c['boxes']} | {c['build_ms']} | {c['median_ms']} |" for n, c in res["cost"].items()]
    return "\n".join(rows) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    for b in res["bins"]:
        n = b["right"] + b["wrong"]
        if n:
            mid = (max(b["from"], -2.5) + min(b["to"], 0.5)) / 2
            ax.scatter([mid], [b["right"] / n], s=20 + 4 * n, color="tab:blue")
            ax.annotate(f"{b['right']}/{n}", (mid, b["right"] / n), textcoords="offset points", xytext=(4, 4), fontsize=8)
    xs = np.linspace(-2.5, 0.5, 100)
    for (sl, bi), label, style in (((res["fit"]["slope"], res["fit"]["bias"]), "fit", "-"),
                                   ((res["shipped"]["slope"], res["shipped"]["bias"]), "shipped", "--")):
        ax.plot(xs, 1 / (1 + np.exp(-(sl * xs + bi))), style, label=label)
    ax.axvline(res["absolute_per_letter"], color="grey", lw=0.8)
    ax.set_xlabel("best absolute spot score per letter (nats)")
    ax.set_ylabel("spotted words the picture shows")
    ax.set_title("spots in faint pictures (development sets)")
    ax.legend()
    ns = list(res["cost"])
    bx.plot([int(n) for n in ns], [res["cost"][n]["median_ms"] for n in ns], "o-")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("faint pictures in the index")
    bx.set_ylabel("ms per query word (median)")
    bx.set_title("query-time cost")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    res = run(args.out)
    (args.out / "results.json").write_text(json.dumps(res, indent=1))
    md = table(res)
    (args.out / "table.md").write_text(md)
    plot(res, args.out / "spots.png")
    print(json.dumps({k: v for k, v in res.items() if k != "spots"}))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
