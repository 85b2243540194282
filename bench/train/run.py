"""Benchmark of the bundled offline visual model (``make bench-train``).

On 500 held-out synthetic images whose main object is a colour-shape combination never seen in
training: text->image recall@1/@5 (each image's own caption against all 500 images) versus
chance, and zero-shot classification accuracy of the main object's colour and shape (prompt
ensembles over the 10 colours / 8 shapes). The same numbers for an untrained tower of the same
architecture show what training bought. Prints a table, writes ``results.json`` and a plot.

    python -m bench.train.run [--model DIR] [--out bench/results/train]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

TARGETS = {"R@1": 0.5, "R@5": 0.85}
COLOUR_TEMPLATES = ("a {} shape", "a {} object", "something {}", "a picture of a {} thing")
SHAPE_TEMPLATES = ("a {}", "a picture of a {}", "a {} shape", "there is a {}")


def heldout(data: Path) -> list[dict]:
    """The held-out records (generated with the bundled model's seed when missing)."""
    from omnidex.train.make_model import N_HELDOUT, N_TRAIN, SEED, SIZE
    from omnidex.train.synth import generate

    if not (data / "heldout.jsonl").exists():
        generate(data, n_train=min(N_TRAIN, 200), n_heldout=N_HELDOUT, seed=SEED, size=SIZE)
    rows = [json.loads(line) for line in (data / "heldout.jsonl").read_text().splitlines() if line.strip()]
    for r in rows:
        r["file"] = data / r["path"]
    return rows


def measure(encoder, rows: list[dict]) -> dict:
    """Retrieval and zero-shot figures of one encoder on the held-out rows."""
    from PIL import Image

    from omnidex.classify import label_embeddings
    from omnidex.train.evaluate import retrieval_metrics
    from omnidex.train.synth import COLOURS, SHAPES

    from .consistency import ambiguity

    images = [Image.open(r["file"]).convert("RGB") for r in rows]
    img = encoder.encode_image(images)
    txt = encoder.encode_text([r["caption"] for r in rows])
    t2i = retrieval_metrics(img, txt)["text_to_item"]
    out = {"R@1": t2i["R@1"], "R@5": t2i["R@5"], "median_rank": t2i["median_rank"],
           "chance_R@1": t2i["chance"]["R@1"], "chance_R@5": t2i["chance"]["R@5"]}
    out.update(ambiguity(rows, txt @ img.T))
    for attr, labels, templates in (("colour", list(COLOURS), COLOUR_TEMPLATES), ("shape", list(SHAPES), SHAPE_TEMPLATES)):
        lab = label_embeddings(labels, encoder, templates)
        pred = np.argmax(img @ lab.T, axis=1)
        truth = [labels.index(r["objects"][0][attr]) for r in rows]
        out[f"{attr}_accuracy"] = float(np.mean(pred == np.array(truth)))
        out[f"{attr}_chance"] = 1.0 / len(labels)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print/write the results."""
    from omnidex.encoders.registry import build
    from omnidex.train.make_model import BUNDLED

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(BUNDLED), help="LiT model directory")
    p.add_argument("--data", default="build/model/synth", help="synthetic data (generated if missing)")
    p.add_argument("--out", default="bench/results/train", help="output folder")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = heldout(Path(args.data))
    trained = measure(build("lit", model=args.model), rows)
    untrained = measure(_untrained(out / "untrained", Path(args.model)), rows)
    record = json.loads((Path(args.model) / "TRAINING.json").read_text()) if (Path(args.model) / "TRAINING.json").exists() else {}
    res = {"model": args.model, "heldout_images": len(rows), "trained": trained, "untrained": untrained,
           "training": record, "targets": TARGETS, "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    _table(res)
    _plot(res, out / "train_bench.png")
    print(f"wrote {out / 'results.json'}")
    return 0


def _untrained(path: Path, model: Path):
    """An untrained tower of the same architecture as ``model``, as a baseline."""
    from omnidex.encoders.registry import build
    from omnidex.nets.lit import LitConfig, LitModel

    arch = LitConfig.from_dict(json.loads((model / "config.json").read_text())["config"])
    LitModel(arch, seed=123).save(path)
    return build("lit", model=str(path))


def _table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"offline visual model on {res['heldout_images']} unseen-combination images")
    for col in ("metric", "trained", "untrained", "chance", "target", "status"):
        t.add_column(col)
    tr, un = res["trained"], res["untrained"]
    for m in ("R@1", "R@5"):
        ok = tr[m] >= TARGETS[m]
        t.add_row(f"text->image {m}", f"{tr[m]:.3f}", f"{un[m]:.3f}", f"{tr['chance_' + m]:.3f}",
                  f">= {TARGETS[m]}", "[green]PASS[/]" if ok else "[red]FAIL[/]")
    t.add_row("median rank", str(tr["median_rank"]), str(un["median_rank"]), "", "", "")
    for m in ("R@1", "R@5"):
        t.add_row(f"semantic {m} (any image the caption is true of)", f"{tr['semantic_' + m]:.3f}",
                  f"{un['semantic_' + m]:.3f}", "", "", "info")
        t.add_row(f"ceiling of {m} (caption ambiguity)", f"{tr['ceiling_' + m]:.3f}", "", "", "", "info")
    for a in ("colour", "shape"):
        t.add_row(f"zero-shot {a} accuracy", f"{tr[a + '_accuracy']:.3f}", f"{un[a + '_accuracy']:.3f}",
                  f"{tr[a + '_chance']:.3f}", "", "info")
    Console().print(t)


def _plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["R@1", "R@5", "colour_accuracy", "shape_accuracy"]
    chance = [res["trained"]["chance_R@1"], res["trained"]["chance_R@5"], res["trained"]["colour_chance"],
              res["trained"]["shape_chance"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.27, [res["trained"][n] for n in names], 0.27, label="trained")
    ax.bar(x, [res["untrained"][n] for n in names], 0.27, label="untrained")
    ax.bar(x + 0.27, chance, 0.27, label="chance")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.set_title("unseen colour-shape combinations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
