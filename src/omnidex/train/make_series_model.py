"""Build the bundled text->series model from scratch, seeded (``python -m omnidex.train.make_series_model``).

Generates captioned series (``synth``), fits the VQ codebook on the training windows, trains the
series tower against the locked MiniLM with the project's contrastive trainer, evaluates
text->series retrieval on held-out attribute combinations never seen in training, and writes
``src/omnidex/models/series-lit`` (config.json, fp16 model.safetensors, codebook.npz,
TRAINING.json). About 1-2 minutes on one CPU core.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

BUNDLED = Path(__file__).resolve().parent.parent / "models" / "series-lit"
SEED = 0
N_TRAIN = 16_000
N_HELDOUT = 600
STEPS = 1500
BATCH = 256
LR = 2e-3


def text_to_series_recall(model, heldout: list, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Text->series recall@k on held-out triples: each caption ranks every held-out window; a hit
    is a window of the caption's attribute combination. Chance is the exact probability a random
    ranking puts one of them in the top k, averaged over captions."""
    import math

    import torch

    series = [s for s, _, _ in heldout]
    caps = [c for _, c, _ in heldout]
    combos = [c for _, _, c in heldout]
    model.eval()
    with torch.no_grad():
        sv = model.encode_series(series)
        model.prepare_texts(caps)
        tv = model.embed_texts(caps).cpu().numpy()
    sims = tv @ sv.T
    rel = np.array([[a == b for b in combos] for a in combos])
    order = np.argsort(-sims, axis=1, kind="stable")
    ranked = np.take_along_axis(rel, order, axis=1)
    n = len(series)
    out = {}
    for k in ks:
        out[f"R@{k}"] = float(ranked[:, :k].any(axis=1).mean())
        m = rel.sum(axis=1)
        out[f"chance_R@{k}"] = float(np.mean([1 - math.comb(n - int(mi), k) / math.comb(n, k) for mi in m]))
    out["queries"] = n
    out["combinations"] = len(set(combos))
    return out


def build(out: Path, work: Path, steps: int = STEPS, n_train: int = N_TRAIN, seed: int = SEED,
          threads: int = 1) -> dict:
    """Generate, fit the codebook, train, evaluate on unseen combinations, export; returns the record."""
    import torch

    from .contrastive import TrainConfig, train
    from ..series.model import SeriesLitModel, load_series_lit
    from ..series.synth import generate, split_combos
    from ..series.vq import shapes, train_codebook

    t0 = time.perf_counter()
    torch.set_num_threads(threads)  # one thread: small GEMMs gain nothing from two, and never oversubscribe
    train_combos, held_combos = split_combos(seed=seed)
    train_set = generate(n_train, train_combos, seed=seed)
    held = generate(N_HELDOUT, held_combos, seed=seed + 1)
    codebook = train_codebook(shapes([s for s, _, _ in train_set[:4000]], 128), k=32, seed=seed)
    model = SeriesLitModel(codebook, seed=seed)
    cfg = TrainConfig(steps=steps, batch_size=BATCH, lr=LR, warmup_steps=max(1, steps // 25), seed=seed,
                      out_dir=work / "run", checkpoint_every=0, eval_every=max(100, steps // 5),
                      device="cpu", plots=False)
    pairs = [(s, c) for s, c, _ in train_set]
    val = [(s, c) for s, c, _ in held]
    result = train(model, pairs, val, cfg, progress=True)
    if out.exists():
        shutil.rmtree(out)
    load_series_lit(result.model_dir).save(out, half=True)
    final = load_series_lit(out)  # measure what ships (fp16 weights)
    metrics = text_to_series_recall(final, held)
    last = next(h for h in reversed(result.history) if h.get("val_r1") is not None)
    record = {"seed": seed, "n_train": n_train, "n_heldout": N_HELDOUT, "steps": steps, "batch": BATCH, "lr": LR,
              "train_combinations": len(train_combos), "heldout_combinations": [c.canonical() for c in held_combos],
              "heldout_text_to_series": metrics,
              "heldout_series_to_caption_r1": last["val_r1"], "heldout_series_to_caption_r5": last["val_r5"],
              "parameters": sum(p.numel() for p in final.trainable_parameters()),
              "wall_s": round(time.perf_counter() - t0, 1),
              "bytes": sum(f.stat().st_size for f in out.iterdir() if f.is_file())}
    (out / "TRAINING.json").write_text(json.dumps(record, indent=2))
    return record


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(BUNDLED), help="where the model goes")
    p.add_argument("--work", default="build/series-model", help="scratch folder (training run)")
    p.add_argument("--steps", type=int, default=STEPS, help="optimiser steps")
    p.add_argument("--n-train", dest="n_train", type=int, default=N_TRAIN, help="generated training series")
    p.add_argument("--seed", type=int, default=SEED, help="random seed")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    record = build(Path(args.out), Path(args.work), args.steps, args.n_train, args.seed, args.threads)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
