"""CLIP ViT-B/32 image embedding: images/s including JPEG decode, every contender on the same files in one run.

Model: a random-initialised CLIP with the real ViT-B/32 image tower
(``omnidex.encoders.clip.save_random_clip_b32``; random weights cost exactly what trained ones do).
Images: N photo-like 640x480 JPEGs (gradients, shapes, blur, sensor noise), generated once.
Each contender turns the list of file paths into unit vectors, decoding included:

* ``omnidex torch`` / ``omnidex onnx`` / ``omnidex onnx-int8``: ``CLIP(dir, runtime=...).encode_image(paths)``
  (reduced-scale JPEG decode, NumPy preprocessing, next batch prepared in a thread, batches of 32);
* ``transformers loop``: what a user writes: ``Image.open`` -> ``CLIPProcessor`` ->
  ``model.get_image_features`` one image at a time (the baseline of the ratios), and the same batched by 32;
* ``sentence-transformers``: its CLIPModel module over the same directory, ``encode(images, batch_size=32)``.

Runs are interleaved (every contender once, then again, ``--repeats`` times) and medians reported,
with the cosine agreement of each contender's vectors with omnidex torch fp32 on the same images.
The physical limit: the image tower's FLOPs counted from its architecture (a multiply-add = 2 FLOPs)
against the fp32 GFLOP/s a large torch matmul achieves on this machine. A second plot: img/s against
batch size (1..64) for the omnidex runtimes.

Run: ``python -m bench.clip.run --out bench/results/clip`` (``--quick``: a 1-layer tower, 8 images).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

import omnidex  # noqa: F401 - sets the OpenMP wait policy before torch loads

BASELINE = "transformers loop"
RUNTIMES = ("torch", "onnx", "onnx-int8")
TARGETS = {"fp32": 10.0, "fast": 20.0}  # img/s incl. decode on 2 cores (issue 7)


def photo(seed: int, size: tuple[int, int] = (640, 480)):
    """A photo-like RGB image: a sky-to-ground gradient, shapes, a little blur and sensor noise."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    w, h = size
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    base = rng.integers(0, 256, 3) * (1 - t) + rng.integers(0, 256, 3) * t + rng.normal(0, 6, (h, w, 3))
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(6, 20))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(-100, w)), int(rng.integers(-100, h))
        box = (x0, y0, x0 + int(rng.integers(20, 300)), y0 + int(rng.integers(20, 300)))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([tuple(int(v) for v in rng.integers(0, max(w, h), 2)) for _ in range(5)], fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    noisy = np.asarray(im, np.float32) + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_images(folder: Path, n: int) -> list[Path]:
    """``n`` JPEGs (quality 90) in ``folder``, written once and reused."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo{i:04d}.jpg" for i in range(n)]
    for i, p in enumerate(paths):
        if not p.exists():
            photo(i).save(p, quality=90)
    return paths


def model_dir(cache: Path, layers: int) -> Path:
    """The random-init ViT-B/32 CLIP (``layers`` image layers), saved once under ``cache``."""
    from omnidex.encoders.clip import save_random_clip_b32

    path = cache / f"clip-b32-random-L{layers}-seed0"
    if not (path / "model.safetensors").exists():
        save_random_clip_b32(path, seed=0, layers=layers)
    return path


def tower_flops(vision, projection_dim: int) -> dict:
    """Multiply-adds of one image through a ViT image tower and its projection, from the architecture.

    Counted: patch embedding, q/k/v/out projections, attention scores and weighted sum, MLP, final
    projection; LayerNorm, softmax, GELU and biases (under 1%) are left out. FLOPs = 2 x MACs.
    """
    d, m, layers = vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers
    patches = (vision.image_size // vision.patch_size) ** 2
    tokens = patches + 1
    per_layer = 4 * d * d * tokens + 2 * d * m * tokens + 2 * tokens * tokens * d
    macs = patches * 3 * vision.patch_size ** 2 * d + layers * per_layer + d * projection_dim
    return {"macs": macs, "gflops": 2 * macs / 1e9, "tokens": tokens,
            "convention": "FLOPs = 2 x multiply-adds; patch embedding, attention, MLP and projections "
                          "counted; LayerNorm/softmax/GELU/biases (<1%) not"}


def matmul_gflops(n: int = 3072, repeats: int = 3) -> list[float]:
    """Achieved fp32 GFLOP/s of ``repeats`` n x n torch matmuls on all threads (after one warm-up)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        rates.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return rates


def _unit(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def transformers_contenders(directory: Path) -> dict:
    """The plain transformers code a user writes: one image at a time, and batched by 32."""
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(directory)).eval()
    processor = CLIPProcessor.from_pretrained(str(directory))

    def loop(paths):
        out = []
        with torch.no_grad():
            for p in paths:
                inputs = processor(images=Image.open(p), return_tensors="pt")
                out.append(model.get_image_features(**inputs).pooler_output[0].numpy())
        return _unit(out)

    def batched(paths):
        out = []
        with torch.no_grad():
            for i in range(0, len(paths), 32):
                inputs = processor(images=[Image.open(p) for p in paths[i:i + 32]], return_tensors="pt")
                out.append(model.get_image_features(**inputs).pooler_output.numpy())
        return _unit(np.concatenate(out))

    return {BASELINE: loop, "transformers batch 32": batched}


def sentence_transformers_contender(directory: Path) -> dict:
    """sentence-transformers' CLIPModel module over the same directory (absent when not installed)."""
    try:
        from PIL import Image
        from sentence_transformers import SentenceTransformer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from sentence_transformers.models import CLIPModel
    except ImportError as exc:
        print(f"sentence-transformers skipped: {exc}", file=sys.stderr)
        return {}
    st = SentenceTransformer(modules=[CLIPModel(str(directory))], device="cpu")

    def encode(paths):
        images = [Image.open(p) for p in paths]
        return _unit(st.encode(images, batch_size=32, convert_to_numpy=True, show_progress_bar=False))

    return {"sentence-transformers": encode}


def omnidex_contenders(directory: Path) -> tuple[dict, dict, dict]:
    """omnidex's encoder in each runtime: (contenders, encoders, setup seconds incl. any export)."""
    from omnidex.encoders.clip import CLIP

    fns, encoders, setup = {}, {}, {}
    for runtime in RUNTIMES:
        t0 = time.perf_counter()
        enc = CLIP(str(directory), runtime=runtime)
        setup[runtime] = round(time.perf_counter() - t0, 1)
        if enc.runtime != runtime:
            print(f"omnidex {runtime}: {enc.runtime_notice}", file=sys.stderr)
            continue
        encoders[runtime] = enc
        fns[f"omnidex {runtime}"] = enc.encode_image
    return fns, encoders, setup


def measure(contenders: dict, paths: list, repeats: int, matmul_n: int) -> tuple[dict, dict, list]:
    """Interleaved timing: every contender over all ``paths``, ``repeats`` rounds, each round opened by
    the matmul that measures the machine's fp32 limit at that moment.

    Returns:
        (name -> img/s of each round, name -> vectors of the last round, matmul GFLOP/s of every try).
    """
    for fn in contenders.values():  # warm-up: first-call allocations, lazy imports
        fn(paths[:2])
    runs, vectors, gflops = {k: [] for k in contenders}, {}, []
    for r in range(repeats):
        gflops += matmul_gflops(matmul_n)
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            vectors[name] = fn(paths)
            runs[name].append(len(paths) / (time.perf_counter() - t0))
            print(f"  round {r + 1}/{repeats} {name:24s} {runs[name][-1]:7.2f} img/s", flush=True)
    return runs, vectors, gflops


def batch_scaling(encoders: dict, paths: list, sizes, repeats: int) -> dict:
    """img/s (median of ``repeats``, interleaved) of ``encode_image(paths)`` at each batch size per runtime."""
    runs = {rt: {bs: [] for bs in sizes} for rt in encoders}
    for _ in range(repeats):
        for bs in sizes:
            for rt, enc in encoders.items():
                enc.batch_size = bs
                t0 = time.perf_counter()
                enc.encode_image(paths)
                runs[rt][bs].append(len(paths) / (time.perf_counter() - t0))
    for enc in encoders.values():
        enc.batch_size = 32
    return {rt: {str(bs): round(statistics.median(v), 2) for bs, v in by.items()} for rt, by in runs.items()}


def summarise(runs: dict, vectors: dict) -> dict:
    """Median img/s, ratio to the transformers loop, cosine with omnidex torch fp32 per contender."""
    ref = vectors.get("omnidex torch")
    base = statistics.median(runs[BASELINE]) if BASELINE in runs else None
    out = {}
    for name, r in runs.items():
        med = statistics.median(r)
        row = {"img_s": round(med, 2), "best": round(max(r), 2), "runs": [round(x, 2) for x in r],
               "vs_transformers_loop": round(med / base, 2) if base else None}
        if ref is not None:
            cos = np.sum(vectors[name] * ref, axis=1)
            row["cosine_vs_fp32"] = {"mean": round(float(cos.mean()), 6), "min": round(float(cos.min()), 6)}
        out[name] = row
    return out


def plot_throughput(results: dict, out: Path) -> Path:
    """Horizontal bars of median img/s (whiskers: slowest..fastest round) with the fp32 peak and targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["contenders"]
    names = list(rows)
    med = [rows[n]["img_s"] for n in names]
    lo = [m - min(rows[n]["runs"]) for n, m in zip(names, med)]
    hi = [max(rows[n]["runs"]) - m for n, m in zip(names, med)]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.8))
    ax.barh(names, med, xerr=[lo, hi], color=["C0" if n.startswith("omnidex") else "C7" for n in names])
    peak = results["limit"]["peak_img_s"]
    ax.axvline(peak, color="C3", ls="--", label=f"fp32 peak {peak:.1f} img/s (matmul GFLOP/s / GFLOPs per image)")
    for i, v in enumerate(TARGETS.values()):
        ax.axvline(v, color="0.5", ls=":", lw=1, label="targets: fp32 10, fast path 20 img/s" if i == 0 else None)
    ax.invert_yaxis()
    ax.set_xlabel("images / s, JPEG decode included")
    ax.set_title(textwrap.fill(results["title"], 90), fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = out / "throughput.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_scaling(results: dict, out: Path) -> Path:
    """img/s against batch size per omnidex runtime, with the fp32 peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for rt, by in results["batch_scaling"].items():
        sizes = [int(b) for b in by]
        ax.plot(sizes, list(by.values()), marker="o", label=f"omnidex {rt}")
    ax.axhline(results["limit"]["peak_img_s"], color="C3", ls="--", label="fp32 peak")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s, decode included")
    ax.set_title("CLIP image tower: batch size scaling", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "batch_scaling.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def table(results: dict) -> str:
    """The Markdown table: one heading line, then one row per contender."""
    lim = results["limit"]
    lines = [f"# {results['title']}", "",
             "| contender | img/s (median) | best round | rounds | x transformers loop | cosine vs fp32 mean / min |",
             "|---|---:|---:|---|---:|---|"]
    for name, r in results["contenders"].items():
        cos = r.get("cosine_vs_fp32", {})
        lines.append(f"| {name} | {r['img_s']:.2f} | {r['best']:.2f} | {', '.join(f'{x:.1f}' for x in r['runs'])} | "
                     f"{r['vs_transformers_loop'] or '-'} | {cos.get('mean', '-')} / {cos.get('min', '-')} |")
    lines += ["", f"Physical limit (fp32): {lim['gflops_per_image']:.2f} GFLOPs per image "
              f"(2 x multiply-adds) at {lim['matmul_gflops']:.0f} GFLOP/s (best {lim['matmul_n']}^2 torch matmul, "
              f"{lim['threads']} threads) = **{lim['peak_img_s']:.1f} img/s**; int8 weights can pass it."]
    scaling = results["batch_scaling"]
    if scaling:
        sizes = list(next(iter(scaling.values())))
        lines += ["", "| batch | " + " | ".join(f"omnidex {rt}" for rt in scaling) + " |",
                  "|---:|" + "---:|" * len(scaling)]
        lines += [f"| {bs} | " + " | ".join(f"{scaling[rt][bs]:.2f}" for rt in scaling) + " |" for bs in sizes]
    return "\n".join(lines) + "\n"


def machine() -> dict:
    """Cores, CPU model and library versions of this run."""
    import onnxruntime
    import torch
    import transformers

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu": cpu, "load_avg_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "onnxruntime": onnxruntime.__version__, "transformers": transformers.__version__}


def run(out: Path, quick: bool, n: int | None, repeats: int | None, cache: Path) -> dict:
    """The whole benchmark; writes results.json, table.md and the plots into ``out``."""
    layers, n = (1, n or 8) if quick else (12, n or 256)
    repeats = repeats or (1 if quick else 3)
    sizes = (1, 8) if quick else (1, 4, 16, 32, 64)
    directory, paths = model_dir(cache, layers), make_images(cache / "photos", n)
    contenders, encoders, setup = omnidex_contenders(directory)
    contenders.update(transformers_contenders(directory))
    contenders.update(sentence_transformers_contender(directory))
    info = machine()
    matmul_n = 1024 if quick else 3072
    runs, vectors, gflops = measure(contenders, paths, repeats, matmul_n)
    scaling = batch_scaling(encoders, paths[:8 if quick else 64], sizes, repeats)
    cfg = encoders["torch"]._model.config
    flops = tower_flops(cfg.vision_config, cfg.projection_dim)
    arch = "ViT-B/32" if layers == 12 else f"ViT-B/32 with {layers} layers (quick)"
    results = {
        "title": f"CLIP {arch} image embedding, random-init weights: images/s incl. JPEG decode, "
                 f"{n} photos 640x480, median of {repeats} interleaved rounds, {info['cores']} cores",
        "quick": quick, "images": {"n": n, "size": "640x480", "format": "JPEG q90"}, "machine": info,
        "model": {"arch": arch, "dir": str(directory), **flops}, "setup_s": setup,
        "limit": {"gflops_per_image": flops["gflops"], "matmul_gflops": max(gflops),
                  "matmul_median": statistics.median(gflops), "matmul_n": matmul_n, "threads": info["torch_threads"],
                  "peak_img_s": max(gflops) / flops["gflops"]},
        "contenders": summarise(runs, vectors), "batch_scaling": scaling,
    }
    results["targets"] = {"fp32 >= 10 img/s": results["contenders"]["omnidex torch"]["img_s"] >= TARGETS["fp32"],
                          "fast path >= 20 img/s": max(results["contenders"].get(f"omnidex {rt}", {}).get("img_s", 0)
                                                        for rt in RUNTIMES[1:]) >= TARGETS["fast"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "table.md").write_text(table(results))
    plot_throughput(results, out)
    plot_scaling(results, out)
    return results


def main(argv=None) -> int:
    from omnidex.encoders.fastpath import cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results/clip", help="results folder")
    ap.add_argument("--quick", action="store_true", help="smoke run: a 1-layer tower, 8 images, one round")
    ap.add_argument("--n", type=int, default=None, help="images (default 256; quick 8)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3; quick 1)")
    ap.add_argument("--cache", default=None, help="where the model and photos are kept (default omnidex cache/bench)")
    args = ap.parse_args(argv)
    cache = Path(args.cache) if args.cache else cache_dir() / "bench"
    results = run(Path(args.out), args.quick, args.n, args.repeats, cache)
    print(table(results))
    print(json.dumps({k: results[k] for k in ("limit", "targets")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
