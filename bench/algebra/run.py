"""Query arithmetic on the offline visual model's synthetic world (``python -m bench.algebra.run``).

Gallery: the single-object images of a freshly generated synthetic set (``omnidex.train.synth``,
a seed the bundled model never trained on; both splits, so every colour-shape pair can occur).
For every triple (c1, c2, shape) with c1 != c2 whose target pair (c2, shape) is in the gallery,
the query ``'c1 shape' - 'c1' + 'c2'`` is combined exactly as ``omnidex search`` does it
(:func:`omnidex.search.algebra.combine`: weighted sum of the encoder's text vectors,
L2-normalised) and the gallery is ranked by cosine. Reported: the share of queries whose top-1
image is the target colour+shape, mean precision@5 (and its ceiling: few pairs have five
images), the chance level of both (the target's share
of the gallery), the shares whose top-1 keeps the shape / takes the new colour / keeps the old
colour; and for reference the unedited query ``'c1 shape'`` (how often it already lands on the
target) and the direct query ``'c2 shape'`` (the ceiling).

    python -m bench.algebra.run [--model DIR] [--images N] [--out bench/results/algebra]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

GALLERY_SEED = 11  # not the bundled model's training seed (0)


def gallery(data: Path, n_generated: int = 1000, seed: int = GALLERY_SEED) -> list[dict]:
    """Single-object records of a generated set (written under ``data`` when missing).

    Args:
        data: folder of the synthetic set.
        n_generated: images generated in all (about a third are single-object scenes).
        seed: generation seed.
    Returns:
        Records with ``file``, ``colour``, ``shape`` of the one object.
    """
    from omnidex.train.synth import generate

    n_held = max(1, n_generated // 6)
    if not (data / "meta.json").exists():
        generate(data, n_train=n_generated - n_held, n_heldout=n_held, seed=seed, size=64)
    rows = []
    for split in ("train", "heldout"):
        for line in (data / f"{split}.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r["kind"] == "single":
                obj = r["objects"][0]
                rows.append({"file": data / r["path"], "colour": obj["colour"], "shape": obj["shape"]})
    return rows


def measure(encoder, rows: list[dict], max_queries: int | None = None) -> dict:
    """Arithmetic retrieval figures of one encoder over all (c1, c2, shape) triples.

    Args:
        encoder: a text+image encoder (``encode_text``/``encode_image``, unit rows).
        rows: gallery records from :func:`gallery`.
        max_queries: keep only the first N triples (tests); None for all.
    Returns:
        A JSON-ready dict of shares, chance levels and counts.
    """
    from PIL import Image

    from omnidex.search.algebra import combine
    from omnidex.train.synth import COLOURS, SHAPES

    img = encoder.encode_image([Image.open(r["file"]).convert("RGB") for r in rows])
    pairs = np.array([f"{r['colour']} {r['shape']}" for r in rows])
    colours, shapes = np.array([r["colour"] for r in rows]), np.array([r["shape"] for r in rows])
    words = list(COLOURS) + [f"{c} {s}" for c in COLOURS for s in SHAPES]
    vec = dict(zip(words, encoder.encode_text(words)))
    triples = [(c1, c2, s) for s in SHAPES for c1 in COLOURS for c2 in COLOURS
               if c1 != c2 and np.any(pairs == f"{c2} {s}")][:max_queries]
    acc = {k: [] for k in ("top1", "p5", "chance", "shape_kept", "new_colour", "old_colour",
                           "source_top1", "direct_top1", "direct_p5", "p5_ceiling")}
    for c1, c2, s in triples:
        target = f"{c2} {s}"
        q = combine(np.stack([vec[f"{c1} {s}"], vec[c1], vec[c2]]), [1.0, -1.0, 1.0])
        order = np.argsort(-(img @ q), kind="stable")
        acc["top1"].append(pairs[order[0]] == target)
        acc["p5"].append(np.mean(pairs[order[:5]] == target))
        acc["chance"].append(np.mean(pairs == target))
        acc["p5_ceiling"].append(min(5, int(np.sum(pairs == target))) / 5)
        acc["shape_kept"].append(shapes[order[0]] == s)
        acc["new_colour"].append(colours[order[0]] == c2)
        acc["old_colour"].append(colours[order[0]] == c1)
        acc["source_top1"].append(pairs[int(np.argmax(img @ vec[f"{c1} {s}"]))] == target)
        direct = np.argsort(-(img @ vec[target]), kind="stable")
        acc["direct_top1"].append(pairs[direct[0]] == target)
        acc["direct_p5"].append(np.mean(pairs[direct[:5]] == target))
    out = {k: round(float(np.mean(v)), 4) for k, v in acc.items()}
    out.update(queries=len(triples), gallery=len(rows), pairs_in_gallery=int(len(set(pairs))),
               lift_top1=round(out["top1"] / max(out["chance"], 1e-9), 1))
    out["image"] = measure_image(img, rows, {c: vec[c] for c in COLOURS})
    return out


def measure_image(img: np.ndarray, rows: list[dict], colour_vec: dict) -> dict:
    """``image_of(c1 shape) - 'c1' + 'c2'`` for every gallery image and colour c2: how often the first
    *other* image is a c2 shape (the query image itself is left out: it is always nearest)."""
    from omnidex.search.algebra import combine

    pairs = np.array([f"{r['colour']} {r['shape']}" for r in rows])
    top1, chance, plain = [], [], []
    for i, r in enumerate(rows):
        for c2 in colour_vec:
            target = f"{c2} {r['shape']}"
            if c2 == r["colour"] or not np.any(pairs == target):
                continue
            q = combine(np.stack([img[i], colour_vec[r["colour"]], colour_vec[c2]]), [1.0, -1.0, 1.0])
            sims, base = img @ q, img @ img[i]
            sims[i] = base[i] = -np.inf
            top1.append(pairs[int(np.argmax(sims))] == target)
            plain.append(pairs[int(np.argmax(base))] == target)
            chance.append(np.sum(pairs == target) / (len(rows) - 1))
    return {"queries": len(top1), "top1": round(float(np.mean(top1)), 4), "chance": round(float(np.mean(chance)), 4),
            "image_alone_top1": round(float(np.mean(plain)), 4)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print JSON and a table, write ``results.json``."""
    from omnidex.encoders.registry import build
    from omnidex.spaces import bundled_visual_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(bundled_visual_dir()), help="LiT model directory (default: lit:bundled)")
    p.add_argument("--data", default="build/algebra/synth", help="synthetic gallery (generated if missing)")
    p.add_argument("--images", type=int, default=1000, help="images generated (about a third are single-object)")
    p.add_argument("--out", default="bench/results/algebra", help="output folder")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = gallery(Path(args.data), args.images)
    res = {"model": args.model, **measure(build("lit", model=args.model), rows),
           "wall_s": 0.0}
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    _table(res)
    return 0


def _table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"'c1 shape' - 'c1' + 'c2' over {res['queries']} triples, {res['gallery']} gallery images")
    for col in ("query", "top-1 is c2+shape", "precision@5", "chance"):
        t.add_column(col)
    t.add_row("'c1 shape' - 'c1' + 'c2'", f"{res['top1']:.3f}", f"{res['p5']:.3f}", f"{res['chance']:.3f}")
    t.add_row("(most a ranking can get)", "1.000", f"{res['p5_ceiling']:.3f}", "")
    t.add_row("'c1 shape' (unedited)", f"{res['source_top1']:.3f}", "", f"{res['chance']:.3f}")
    t.add_row("'c2 shape' (direct, ceiling)", f"{res['direct_top1']:.3f}", f"{res['direct_p5']:.3f}",
              f"{res['chance']:.3f}")
    Console().print(t)
    im = res["image"]
    print(f"image - 'c1' + 'c2' over {im['queries']} (image, colour) queries: first other image is a c2 shape "
          f"{im['top1']:.3f} (the image alone: {im['image_alone_top1']:.3f}; chance {im['chance']:.3f})")
    print(f"top-1 keeps the shape {res['shape_kept']:.3f}, takes the new colour {res['new_colour']:.3f}, "
          f"keeps the old colour {res['old_colour']:.3f}; lift over chance x{res['lift_top1']}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
