"""``omnidex train --task rerank``: generate and index libraries, train both rerankers, save them.

    omnidex train --task rerank --out runs/rerank [--libraries 4] [--minutes 20]

writes ``OUT/`` (the cross-attention reranker) and ``OUT/linear/`` (the learned linear fusion),
each with model.safetensors, config.json, TRAINING.json, and OUT/curves.png.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..search.rerank_model import Tokens
from . import rerank as R
from .rerank_data import library_pools

MEDIUM_SEED0, SMALL_SEED0 = 200, 100  # training seeds (1 and 2 are the benchmark's)


def training_libraries(n: int) -> list[tuple[str, int]]:
    """``n + 1`` small libraries and ``n`` medium ones, as (size, seed); the last medium one validates."""
    return [("small", SMALL_SEED0 + i) for i in range(n + 1)] + [("medium", MEDIUM_SEED0 + i) for i in range(n)]


def collect(cache: Path, libs: list[tuple[str, int]], say) -> tuple[list[dict], list[dict], float]:
    """(training pools, validation pools, seconds): the last library validates."""
    t0 = time.perf_counter()
    pools = [library_pools(cache, seed, size, progress=say) for size, seed in libs]
    return [p for ps in pools[:-1] for p in ps], pools[-1], time.perf_counter() - t0


def fit(name: str, cfg: dict, data: dict, minutes: float, say) -> tuple[object, dict, list[dict]]:
    """Train one model, calibrate it on the validation pools; returns (model, config, history)."""
    t0 = time.perf_counter()
    model, hist = R.train_model(cfg, data["train"], data["val"], data.get("table"), minutes=minutes,
                                epochs=cfg["epochs"])
    logits = R.predict(model, data["val"])
    a, b = R.platt(*R.top1(data["val"], logits))  # p(the top hit is the exact moment)
    cfg = dict(cfg, calibration=[a, b], train_seconds=round(time.perf_counter() - t0, 1))
    probs = [1.0 / (1.0 + np.exp(-(a * z + b))) for z in logits]
    t, acc = R.best_threshold(data["val_pools"], probs)
    cfg.update(val=R.rank_metrics(data["val_pools"], probs, t), threshold_val=t)
    say(f"{name}: {len(hist)} epochs in {cfg['train_seconds']} s; validation {cfg['val']}")
    return model, cfg, hist


def latency_ms(model_dir: Path, pools: list[dict], n: int = 20) -> float:
    """Median wall time of rescoring one pool (up to 50 candidates) with the saved model."""
    from ..search.rerank_model import LearnedReranker

    rr = LearnedReranker(model_dir)
    big = sorted(pools, key=lambda p: -len(p["hits"]))[:n]
    times = []
    for p in big:
        t0 = time.perf_counter()
        rr.probabilities(p["text"], p["hits"], p.get("context"))
        times.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(times)), 2)


def train_rerank(out: Path, cache: Path, libraries: int = 4, minutes: float = 20.0, say=print) -> dict:
    """Collect pools, train the linear fusion and the cross-attention reranker, save both.

    Args:
        out: model folder (the linear fusion goes to ``out/linear``).
        cache: where libraries, indexes and pools are cached.
        libraries: medium generated libraries (and one more small ones).
        minutes: training time cap per model.
        say: progress messages.
    Returns:
        The training summary (also in ``out/TRAINING.json``).
    """
    from ..search.rerank_net import build  # noqa: F401 - torch present before the long collection

    libs = training_libraries(libraries)
    train_pools, val_pools, collect_s = collect(cache, libs, say)
    table, tok_file = R.embedding_table(R.XATTN["embed_dim"])
    tokens = Tokens(str(tok_file))
    data = {"train": R.encode_pools(tokens, train_pools, R.TRAIN_TOP), "val": R.encode_pools(tokens, val_pools),
            "val_pools": [p for p in val_pools if p["hits"]], "table": table}
    lin_data = {**data, "train": [_feats_only(e) for e in data["train"]], "val": [_feats_only(e) for e in data["val"]]}
    base = R.rank_metrics(data["val_pools"], [np.asarray([h["score"] for h in p["hits"]]) for p in data["val_pools"]])
    seen = R.signals_seen(train_pools)
    lin, lin_cfg, lin_hist = fit("linear", dict(R.LINEAR, name="linear-fusion", signals_seen=seen), lin_data, minutes, say)
    xat, x_cfg, x_hist = fit("xattn", dict(R.XATTN, name="xattn-rerank", vocab=int(table.shape[0]), signals_seen=seen),
                             data, minutes, say)
    summary = {"libraries": [f"{s}:{seed}" for s, seed in libs], "validation_library": f"{libs[-1][0]}:{libs[-1][1]}",
               "train_queries": len(data["train"]), "val_queries": len(data["val"]), "collect_seconds": round(collect_s, 1),
               "noisy_or_val": base, "linear": lin_cfg, "xattn": x_cfg}
    sizes = {"linear": R.save_model(lin, lin_cfg, out / "linear", None, {**summary, "history": lin_hist}),
             "xattn": R.save_model(xat, x_cfg, out, tok_file, {**summary, "history": x_hist})}
    summary.update(bytes=sizes, curves=R.plot_curves({"linear": lin_hist, "xattn": x_hist}, out),
                   latency_ms_50={"xattn": latency_ms(out, val_pools), "linear": latency_ms(out / "linear", val_pools)})
    (out / "TRAINING.json").write_text(json.dumps({**summary, "history": x_hist, "history_linear": lin_hist}, indent=1))
    return summary


def _feats_only(e: dict) -> dict:
    return {"feats": e["feats"], "label": e["label"], "grade": e["grade"]}


def main_rerank(args) -> int:
    """CLI entry: ``omnidex train --task rerank``."""
    from rich.console import Console

    from .._env import cache_dir

    con = Console(stderr=True)
    out = Path(args.out or "runs/rerank")
    cache = Path(getattr(args, "cache", None) or cache_dir() / "rerank")
    t0 = time.perf_counter()
    summary = train_rerank(out, cache, args.libraries, args.minutes, say=lambda m: con.print(m))
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({k: summary[k] for k in ("libraries", "total_seconds", "bytes", "latency_ms_50")}, indent=1))
    con.print(f"wrote {out} (cross-attention) and {out / 'linear'} (linear fusion); curves in {out / 'curves.png'}")
    return 0
