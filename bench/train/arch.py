"""CNN vs ViT image towers at equal training time (part of ``make bench-train``).

Both LiT towers (``omnidex train --arch cnn`` / ``--arch vit``, same locked MiniLM, same data, seed,
batch and learning-rate schedule) get the same wall-clock budget (``TrainConfig.max_seconds``: each
run stops when its budget is spent, its cosine schedule decaying to 0 on time). Reported on the held-out synthetic split (main object an unseen colour-shape pair):
text->image R@1/R@5 over the whole split, training images/s and inference images/s (encode the
split), and the actual training seconds (the load on a shared machine moves them).

    python -m bench.train.arch [--seconds 120] [--out bench/results/train]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

ARCHS = ("cnn", "vit")
_TEXT_CACHE: dict = {}  # the locked MiniLM's caption vectors, shared by every tower here (embedded once)


def tower(arch: str, size: int, seed: int):
    from omnidex.nets.lit import LitConfig, LitModel

    if arch == "cnn":  # the bundled model's widths
        model = LitModel(LitConfig(input_size=size, widths=(24, 48, 96, 192)), seed=seed)
    else:
        model = LitModel(LitConfig(input_size=size, arch="vit", patch=8, vit_dim=128, vit_depth=4, vit_heads=4),
                         seed=seed)
    model._text_cache = _TEXT_CACHE
    return model


def compare(data: Path, out: Path, seconds: float, batch: int = 64, seed: int = 0) -> dict:
    """Train each architecture for about ``seconds`` and measure it on ``data/heldout.jsonl``."""
    from PIL import Image

    from omnidex.encoders.registry import build
    from omnidex.train.contrastive import TrainConfig, train
    from omnidex.train.evaluate import retrieval_metrics
    from omnidex.train.pairs import load_pairs

    pairs = load_pairs(data / "train.jsonl", modality="image").pairs
    held = [json.loads(x) for x in (data / "heldout.jsonl").read_text().splitlines() if x.strip()]
    size = json.loads((data / "meta.json").read_text())["size"]
    images = [Image.open(data / r["path"]).convert("RGB") for r in held]
    res: dict = {"budget_s": seconds, "batch": batch, "image_size": size, "train_images": len(pairs),
                 "heldout_images": len(held), "archs": {}}
    for arch in ARCHS:
        model = tower(arch, size, seed)
        model.prepare_texts(sorted({str(p.caption) for p in pairs}))  # embedded once, outside the budget
        cfg = TrainConfig(steps=100_000, max_seconds=seconds, batch_size=batch, lr=2e-3 if arch == "cnn" else 1e-3, seed=seed,
                          warmup_steps=10, out_dir=out / f"arch-{arch}", checkpoint_every=0,
                          eval_every=0, plots=False, device="cpu")
        t0 = time.perf_counter()
        result = train(model, pairs, None, cfg, progress=False)
        train_s = time.perf_counter() - t0
        enc = build("lit", model=str(result.model_dir))  # what search loads
        enc.encode_image(images[:8])  # warm
        t1 = time.perf_counter()
        img = enc.encode_image(images)
        enc_s = time.perf_counter() - t1
        txt = enc.encode_text([r["caption"] for r in held])
        t2i = retrieval_metrics(img, txt)["text_to_item"]
        cfg_json = json.loads((result.model_dir / "config.json").read_text())
        steps = len(result.history)
        res["archs"][arch] = {
            "steps": steps, "train_s": round(train_s, 1), "parameters": model.num_parameters(),
            "train_images_per_s": round(statistics.median(h["images_per_s"] for h in result.history), 1),
            "encode_images_per_s": round(len(images) / enc_s, 1), "R@1": t2i["R@1"], "R@5": t2i["R@5"],
            "chance_R@1": t2i["chance"]["R@1"], "chance_R@5": t2i["chance"]["R@5"],
            "saved_architecture": cfg_json["architecture"], "saved_version": cfg_json["version"],
            "final_loss": float(np.mean([h["loss"] for h in result.history[-10:]]))}
        print(f"{arch}: {steps} steps in {train_s:.0f} s, R@1 {t2i['R@1']:.3f} R@5 {t2i['R@5']:.3f}", flush=True)
    return res


def table(res: dict) -> str:
    lines = [f"CNN vs ViT LiT towers at equal training time (~{res['budget_s']:.0f} s each, batch {res['batch']}, "
             f"{res['image_size']} px, {res['train_images']} training images; held-out: {res['heldout_images']} "
             "images of unseen colour-shape pairs)", "",
             "| tower | parameters | steps | train s | train img/s | encode img/s | R@1 | R@5 | chance R@5 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arch, r in res["archs"].items():
        lines.append(f"| {arch} ({r['saved_architecture']}, v{r['saved_version']}) | {r['parameters']:,} | {r['steps']} | "
                     f"{r['train_s']} | {r['train_images_per_s']} | {r['encode_images_per_s']} | {r['R@1']:.3f} | "
                     f"{r['R@5']:.3f} | {r['chance_R@5']:.3f} |")
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = list(res["archs"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(2)
    for j, a in enumerate(archs):
        r = res["archs"][a]
        axes[0].bar(x + (j - 0.5) * 0.38, [r["R@1"], r["R@5"]], 0.38, label=f"{a} ({r['steps']} steps)")
        axes[1].bar(x + (j - 0.5) * 0.38, [r["train_images_per_s"], r["encode_images_per_s"]], 0.38, label=a)
    axes[0].set_xticks(x, ["R@1", "R@5"])
    axes[0].set(ylim=(0, 1), title=f"held-out text->image, ~{res['budget_s']:.0f} s training each")
    axes[1].set_xticks(x, ["train img/s", "encode img/s"])
    axes[1].set(title="throughput (CPU)")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from omnidex.train.synth import generate

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=120.0, help="training budget per tower")
    p.add_argument("--data", default="build/arch", help="synthetic data (generated when missing)")
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--out", default="bench/results/train")
    args = p.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (data / "meta.json").exists():
        generate(data, n_train=args.n_train, n_heldout=500, seed=0, size=args.size)
    res = compare(data, out, args.seconds)
    (out / "arch.json").write_text(json.dumps(res, indent=2))
    (out / "arch_table.md").write_text(table(res))
    plot(res, out / "arch.png")
    print(table(res))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
