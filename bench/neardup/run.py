"""Matching what people really do to media: edited photos, screenshots, glued OCR words, slow pans.

Run from the repository root::

    python -m bench.neardup.run --out bench/results/neardup           # full run (make bench-neardup)
    python -m bench.neardup.run --out /tmp/nd --quick                  # fewer seeds, pictures, excerpts

Parts (see bench/neardup/README.md):

1. images: top-1 per edit (flip, crop 50 %, letterbox, rotation, screenshot, JPEG q15, grey,
   resize, caption) on held-out natural photographs, each with a same-scene distractor in the
   library; the dev photographs for comparison; video frames; a picture finding the library
   screenshot that shows it; query latency.
2. ocr: one-word queries for words in pictures, rank-1 per condition, and word recall in the
   stored OCR text before and after glued words are split.
3. pans: clip localisation error on slow pans, zooms and near-static shots, adaptive fine search
   vs fixed +-1 s.

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/neardup.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGETS = {"image_top1": 0.95, "ocr_rank1": 0.95, "pan_within_0.1s": 0.95}
PARTS = ("images", "ocr", "pans")


def run(out: Path, quick: bool, parts=PARTS, log=print) -> dict:
    """Run the parts, write results.json, table.md and the plot.

    Args:
        out: results folder (scratch media go to ``out/work``).
        quick: the small version.
        parts: which parts to run.
        log: progress lines.
    Returns:
        The results.
    """
    from .images import photo_sets, run_images
    from .ocr import run_ocr
    from .pans import run_pans

    out = Path(out).resolve()  # indexed paths are absolute: so must the truth be
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    dev, _ = photo_sets()
    res: dict = {"quick": quick, "targets": TARGETS}
    t0 = time.perf_counter()
    if "images" in parts:
        res["images"] = run_images(work, quick, log)
    if "ocr" in parts:
        res["ocr"] = run_ocr(work, quick, [dev[k] for k in ("astronaut", "coffee", "rocket", "china") if k in dev], log)
    if "pans" in parts:
        big = [dev[k] for k in ("hubble_deep_field", "retina", "china", "coffee", "astronaut", "rocket") if k in dev]
        res["pans"] = run_pans(work, quick, big, log)
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    (out / "table.md").write_text(table(res))
    plot(res, out / "neardup.png")
    return res


def _mark(value, target) -> str:
    return "" if value is None else ("PASS" if value >= target else "FAIL")


def table(res: dict) -> str:
    """Markdown tables of every figure with its target."""
    lines = ["# Near-duplicates, OCR words, clip localisation", ""]
    img = res.get("images")
    if img:
        lines += ["## Images: top-1 is the source (held-out photos; dev photos)", "",
                  "| edit | held-out | n | dev | video frames | status |", "|---|---|---|---|---|---|"]
        held, dev, vid = img["heldout_result"]["per_edit"], img["dev_result"]["per_edit"], img["video_result"]["per_edit"]
        for edit, v in held.items():
            lines.append(f"| {edit} | {v['top1']:.3f} | {v['n']} | {dev.get(edit, {}).get('top1', float('nan')):.3f} "
                         f"| {vid.get(edit, {}).get('top1', float('nan')):.3f} | {_mark(v['top1'], TARGETS['image_top1'])} |")
        for edit, v in img["screenshot_library"]["per_edit"].items():
            lines.append(f"| {edit} -> library screenshot | {v['top1']:.3f} | {v['n']} | | | "
                         f"{_mark(v['top1'], TARGETS['image_top1'])} |")
        lat = img["heldout_result"]["latency_s"]
        lines += ["", f"Query latency (no CLIP, {img['library_files']} files): median {lat['median']} s, "
                      f"p90 {lat['p90']} s, max {lat['max']} s. Ingest: {img['ingest']['seconds']} s.", ""]
    if res.get("ocr"):
        lines += ["## OCR: one-word query ranks the picture first", "",
                  "| condition | rank-1 | word recall before split | after | n | status |", "|---|---|---|---|---|---|"]
        for cond, v in res["ocr"].items():
            lines.append(f"| {cond} | {v['rank1']:.3f} | {v['before']:.3f} | {v['after']:.3f} | {v['n']} | "
                         f"{_mark(v['rank1'], TARGETS['ocr_rank1'])} |")
        lines.append("")
    if res.get("pans"):
        p = res["pans"]
        seeds = p.get("seeds", {"dev": [0], "heldout": [1]})
        lines += ["## Clip localisation: start within +-0.1 s", "",
                  "Range: the hit's stated start range (starts that fit about equally well) holds the truth; "
                  "sure: the range is at most 0.2 s wide. Before: the same dev excerpts without the last stage "
                  "(thumbnails) and with the fine search fixed at +-1 s. Latency and CPU: median per `search --video`.", "",
                  "| motion | seeds | within 0.1 s | thumbnails only | fixed +-1 s | median err (s) | max err (s) "
                  "| range holds truth | median range (s) | sure | latency (s) | CPU (s) | n | status |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for label, key in ((f"dev {seeds.get('dev')}", "adaptive"), (f"held-out {seeds.get('heldout')}", "heldout")):
            for kind, v in p.get(key, {}).items():
                old = [f"{p[b][kind]['within_0.1s']:.3f}" if key == "adaptive" and b in p else ""
                       for b in ("thumbnails", "fixed_1s")]
                lines.append(f"| {kind} | {label} | {v['within_0.1s']:.3f} | {old[0]} | {old[1]} | {v['median_s']} "
                             f"| {v['max_s']} | {v.get('range_covers', '')} | {v.get('median_range_s', '')} "
                             f"| {v.get('sure', '')} | {v.get('median_latency_s', '')} | {v.get('median_cpu_s', '')} "
                             f"| {v['n']} | {_mark(v['within_0.1s'], TARGETS['pan_within_0.1s'])} |")
        if "thumbnails" in p:
            a, t = p["adaptive"]["all"], p["thumbnails"]["all"]
            lines += ["", f"Dev, median per search: CPU {a.get('median_cpu_s')} s with the last stage vs "
                          f"{t.get('median_cpu_s')} s thumbnails only; wall {a.get('median_latency_s')} vs "
                          f"{t.get('median_latency_s')} s."]
        off = [r for k in ("dev", "heldout") for r in p.get("rows", {}).get(k, []) if r and r["err"] > 0.1]
        if off:
            lines += ["", "Excerpts placed more than 0.1 s off:", "", "| excerpt | truth | found | range | method |",
                      "|---|---|---|---|---|"]
            lines += [f"| {r['query']} | {r['truth']:.2f} | {r['start']:.2f} | {r['range'][0]:.2f}-{r['range'][1]:.2f} "
                      f"| {r['method']} |" for r in off]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    """Bars: top-1 per edit, OCR rank-1 and recall per condition, pan localisation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    if res.get("images"):
        held = res["images"]["heldout_result"]["per_edit"]
        axes[0].bar(list(held), [v["top1"] for v in held.values()], color="#4477aa")
        axes[0].set_title("held-out top-1 per edit")
    if res.get("ocr"):
        conds = list(res["ocr"])
        x = range(len(conds))
        for k, (key, colour) in enumerate((("before", "#bbbbbb"), ("after", "#66aa55"), ("rank1", "#4477aa"))):
            axes[1].bar([i + 0.27 * (k - 1) for i in x], [res["ocr"][c][key] for c in conds], 0.27, label=key, color=colour)
        axes[1].set_xticks(list(x), conds)
        axes[1].legend(fontsize=8)
        axes[1].set_title("OCR: word recall / rank-1")
    if res.get("pans"):
        kinds = list(res["pans"]["adaptive"])
        keys = [k for k in (("fixed_1s", "#bbbbbb"), ("thumbnails", "#dddd88"), ("adaptive", "#4477aa"), ("heldout", "#66aa55"))
                if k[0] in res["pans"]]
        w = 0.8 / len(keys)
        for k, (key, colour) in enumerate(keys):
            axes[2].bar([i + w * (k - (len(keys) - 1) / 2) for i in range(len(kinds))],
                        [res["pans"][key][c]["within_0.1s"] for c in kinds], w,
                        label={"adaptive": "dev", "heldout": "held-out"}.get(key, key), color=colour)
        axes[2].set_xticks(range(len(kinds)), kinds)
        axes[2].legend(fontsize=8)
        axes[2].set_title("clip start within 0.1 s")
    for ax in axes:
        ax.axhline(0.95, color="red", lw=0.8, ls="--")
        ax.set_ylim(0, 1.05)
        ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Near-duplicate, OCR-word and clip-localisation benchmark.")
    ap.add_argument("--out", type=Path, default=Path("bench/results/neardup"))
    ap.add_argument("--quick", action="store_true", help="fewer seeds, pictures and excerpts")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of images,ocr,pans")
    args = ap.parse_args(argv)
    try:
        res = run(args.out, args.quick, tuple(p for p in args.parts.split(",") if p))
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - print and fail
        traceback.print_exc()
        return 1
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
