"""``omnidex train``: read and check the pairs, train, export a model directory, say how it went."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import OmnidexError

VAL_SHARE = 0.05  # held out from the training pairs when no --val file is given
MIN_VAL = 16


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
    """Train a LiT image tower against the locked MiniLM on a pairs file.

    Args:
        args: argparse namespace: pairs, val, mode, out, steps, batch, lr, accumulate, seed, resume.
    Returns:
        0 on success.
    Raises:
        OmnidexError: unusable pairs file (too few good rows), or a resume without a checkpoint.
    """
    from rich.console import Console

    from .contrastive import TrainConfig, train
    from .lit import LitModel
    from .pairs import load_pairs

    con = Console(stderr=True)
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
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, accumulate=args.accumulate,
                      seed=args.seed, out_dir=out, warmup_steps=min(200, max(1, args.steps // 20)))
    con.print(f"training LiT on {len(train_pairs)} pairs ({len(val_pairs)} held out) for {args.steps} steps "
              f"of {args.batch} x {args.accumulate} -> {out}")
    result = train(LitModel(seed=args.seed), train_pairs, val_pairs, cfg, progress=True, resume=args.resume)
    last = next((h for h in reversed(result.history) if h.get("val_r1") is not None), {})
    summary = {"model": str(result.model_dir), "steps": len(result.history), "val_r1": last.get("val_r1"),
               "val_r5": last.get("val_r5"), "curves": str(out / "curves.png"),
               "similarity": str(out / "similarity.png")}
    print(json.dumps(summary, indent=2))
    con.print(f"use it: omnidex index FOLDER --clip lit:{result.model_dir}")
    return 0


def _show_problems(con, report) -> None:
    """Row-by-row problems of a pairs file (the first 20, then a count)."""
    for p in report.problems[:20]:
        con.print(f"[yellow]skipped[/] {p.source}:{p.row}: {p.reason}")
    if len(report.problems) > 20:
        con.print(f"[yellow]... and {len(report.problems) - 20} more rows skipped[/]")
