"""``omnidex train``: read and check the pairs, train, export a model directory, say how it went."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import OmnidexError

VAL_SHARE = 0.05  # held out from the training pairs when no --val file is given
MIN_VAL = 16
DEFAULT_LR = {"lit": 2e-3, "projections": 1e-3, "lora": 1e-4, "last": 2e-5, "full": 1e-5}  # when --lr is not given


def split_pairs(pairs: list, val_share: float = VAL_SHARE, seed: int = 0) -> tuple[list, list]:
    """Deterministic train/validation split; every caption of one file lands on the same side.

    Args:
        pairs: Pair-like objects (``.path``, ``.caption``).
        val_share: share of files held out (at least ``MIN_VAL`` files when there are enough).
        seed: shuffling seed.
    Returns:
        (train, val) lists of pairs.
    """
    import numpy as np

    files = sorted({str(p.path) for p in pairs})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    n_val = min(len(files) // 2, max(MIN_VAL, int(round(val_share * len(files)))))
    held = {files[i] for i in order[:n_val]}
    return [p for p in pairs if str(p.path) not in held], [p for p in pairs if str(p.path) in held]


def main_train(args) -> int:
    """Train on a pairs file: a LiT image tower against the locked MiniLM (``--mode lit``), or fine-tune
    the CLIP/SigLIP checkpoint ``--base`` (``--mode full | last | projections | lora``).

    Args:
        args: argparse namespace: pairs, val, mode, out, steps, batch, lr, accumulate, seed, resume,
            and for fine-tuning base, lora_rank, last_blocks.
    Returns:
        0 on success.
    Raises:
        OmnidexError: unusable pairs file (too few good rows), a resume without a checkpoint, or a
            fine-tuning mode without a usable ``--base``.
    """
    if getattr(args, "task", "contrastive") == "rerank":  # the search reranker (issue 14, item 5)
        from .rerank_run import main_rerank

        return main_rerank(args)
    if not args.pairs or not args.out:
        raise OmnidexError("omnidex train needs PAIRS and --out (or --task rerank)")
    from rich.console import Console

    from .contrastive import TrainConfig, train
    from .pairs import load_pairs

    con = Console(stderr=True)
    mode = getattr(args, "mode", "lit") or "lit"
    base = getattr(args, "base", None)
    if mode != "lit" and not base:
        raise OmnidexError(f"--mode {mode} fine-tunes a CLIP model: pass --base DIR (a CLIP/SigLIP directory or hub id)")
    report = load_pairs(args.pairs, modality="image")
    _show_problems(con, report)
    if args.val:
        val_report = load_pairs(args.val, modality="image")
        _show_problems(con, val_report)
        train_pairs, val_pairs = report.pairs, val_report.pairs
    else:
        train_pairs, val_pairs = split_pairs(report.pairs, seed=args.seed)
    out = Path(args.out)
    if args.resume and not (out / "checkpoint.pt").exists():
        raise OmnidexError(f"{out}: nothing to resume (no checkpoint.pt); run without --resume")
    lr = args.lr if args.lr is not None else DEFAULT_LR[mode]
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch, lr=lr, accumulate=args.accumulate,
                      seed=args.seed, out_dir=out, warmup_steps=min(200, max(1, args.steps // 20)))
    weights = None
    balance = getattr(args, "balance", None)
    if balance:
        from collections import Counter

        from .slices import balance_weights, pair_values

        values = pair_values(args.pairs, balance, train_pairs)
        weights = balance_weights(values)
        counts = Counter(values)
        con.print(f"--balance {balance}: re-sampling so each of {len(counts)} values gets an equal share "
                  f"(training shares were " + ", ".join(f"{v} {n / len(values):.0%}" for v, n in
                                                       counts.most_common()) + ")")
    model = _build_model(args, mode, base)
    what = f"LiT ({model.cfg.arch})" if mode == "lit" else f"{base} ({mode}, {model.num_parameters():,} trainable parameters)"
    con.print(f"training {what} on {len(train_pairs)} pairs ({len(val_pairs)} held out) for {args.steps} steps "
              f"of {args.batch} x {args.accumulate}, peak lr {lr:g} -> {out}")
    result = train(model, train_pairs, val_pairs, cfg, progress=True, resume=args.resume, weights=weights)
    last = next((h for h in reversed(result.history) if h.get("val_r1") is not None), {})
    summary = {"model": str(result.model_dir), "steps": len(result.history), "val_r1": last.get("val_r1"),
               "val_r5": last.get("val_r5"), "curves": str(out / "curves.png"),
               "similarity": str(out / "similarity.png")}
    print(json.dumps(summary, indent=2))
    spec = f"lit:{result.model_dir}" if mode == "lit" else str(result.model_dir)
    con.print(f"use it: omnidex index FOLDER --clip {spec}")
    return 0


def _build_model(args, mode: str, base: str | None):
    """The model ``--mode`` asks for: LiT, or the ``--base`` checkpoint wrapped for fine-tuning."""
    arch = getattr(args, "arch", None) or "cnn"
    if mode == "lit":
        from ..nets.lit import LitConfig, LitModel

        size = int(getattr(args, "image_size", None) or 64)
        try:
            return LitModel(LitConfig(arch=arch, input_size=size), seed=args.seed)
        except ValueError as exc:
            raise OmnidexError(f"--arch {arch} --image-size {size}: {exc}") from exc
    if arch != "cnn":
        raise OmnidexError(f"--arch {arch} applies to --mode lit (the fine-tuned CLIP keeps its own towers)")
    from .finetune import ClipFinetune

    try:
        return ClipFinetune(base, mode=mode, last_blocks=getattr(args, "last_blocks", 2),
                            lora_rank=getattr(args, "lora_rank", 8), seed=args.seed)
    except (ValueError, OSError) as exc:
        raise OmnidexError(f"--base {base}: cannot fine-tune it ({exc})") from exc


def _show_problems(con, report) -> None:
    """Row-by-row problems of a pairs file (the first 20, then a count)."""
    for p in report.problems[:20]:
        con.print(f"[yellow]skipped[/] {p.source}:{p.row}: {p.reason}")
    if len(report.problems) > 20:
        con.print(f"[yellow]... and {len(report.problems) - 20} more rows skipped[/]")
