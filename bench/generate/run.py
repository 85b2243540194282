"""Seconds per picture of ``omnidex generate`` on CPU with the tiny random diffusers pipeline.

Run from the repository root::

    python -m bench.generate.run --out bench/results/generate          # make bench-generate
    python -m bench.generate.run --out /tmp/gen --reps 3                # quicker

The pipeline (:func:`omnidex.gen.tiny.build_tiny_pipeline`: a 2-block UNet, 4-level VAE, 2-layer
CLIP text tower, byte-level tokenizer; 5.5 MB) is built from configs, saved and loaded back by folder,
as a user's pipeline folder would be. For each (size, steps) it draws ``reps`` pictures after one
warm-up, each with its own seed, through :func:`omnidex.gen.generate` (the path the CLI uses) and
records per picture the wall time and the process CPU time. Torch runs on one thread by default
(``--threads``): on a shared machine, CPU seconds of one thread are the stable measure (several threads
spin while they wait for each other, which counts as CPU time). Medians are quoted. The numbers are the cost of the diffusers code
path itself at toy scale, not of a real model (a real Stable Diffusion pipeline is not available offline
here; docs/generate.md says what to expect from one).

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/generate.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

CASES = ((64, 1), (64, 4), (64, 20), (256, 4), (256, 20))


def run(out: Path, reps: int, threads: int = 1) -> dict:
    import torch

    torch.set_num_threads(threads)  # one thread: CPU seconds that do not count other threads' spin-waiting

    from omnidex.gen import generate
    from omnidex.gen.diffusion import load_pipeline
    from omnidex.gen.tiny import build_tiny_pipeline

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pipe_dir = str(build_tiny_pipeline(Path(tmp) / "pipe"))
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_pipeline(pipe_dir)
        load_s = time.perf_counter() - t0
        rows = []
        for size, steps in CASES:
            generate("warm up", model=pipe_dir, seed=0, steps=steps, width=size, height=size)
            wall, cpu = [], []
            for i in range(reps):
                w0, c0 = time.perf_counter(), time.process_time()
                g = generate(f"a red circle number {i}", model=pipe_dir, seed=i + 1, steps=steps, width=size,
                             height=size)
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
                assert g.image.size == (size, size)
            rows.append({"size": size, "steps": steps, "reps": reps, "wall_s_median": round(statistics.median(wall), 4),
                         "cpu_s_median": round(statistics.median(cpu), 4),
                         "cpu_s_per_step": round(statistics.median(cpu) / steps, 4)})
            print(rows[-1], flush=True)
    result = {"pipeline": "omnidex.gen.tiny (random StableDiffusionPipeline from configs)",
              "torch_threads": torch.get_num_threads(), "cores_visible": os.cpu_count(),
              "build_s": round(build_s, 3), "load_s": round(load_s, 3), "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| size | steps | median CPU s / picture | median wall s / picture | CPU s / step |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['size']}x{r['size']} | {r['steps']} | {r['cpu_s_median']:.3f} | {r['wall_s_median']:.3f} | "
              f"{r['cpu_s_per_step']:.4f} |" for r in rows]
    lines.append(f"\n{reps} pictures per row after a warm-up; torch threads {result['torch_threads']}; "
                 f"pipeline load {load_s:.2f} s.")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    _plot(rows, out / "generate.png")
    return result


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for size in sorted({r["size"] for r in rows}):
        rs = [r for r in rows if r["size"] == size]
        ax.plot([r["steps"] for r in rs], [r["cpu_s_median"] for r in rs], marker="o", label=f"{size}x{size}")
    ax.set_xlabel("denoising steps")
    ax.set_ylabel("median CPU s per picture")
    ax.set_title("omnidex generate, tiny random SD pipeline, CPU")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results/generate")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()
    run(Path(args.out), args.reps, args.threads)


if __name__ == "__main__":
    main()
