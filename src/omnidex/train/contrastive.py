"""The contrastive training core: CLIP-style symmetric InfoNCE, a deterministic batcher, and a
resumable training loop with warm-up + cosine learning rate, gradient accumulation and AMP on CUDA.

The loop drives any model that follows :class:`ContrastiveModel` (see ``lit.py`` for the LiT model).
Determinism: the data order and every augmentation draw are a pure function of ``(seed, step)``, and
the checkpoint carries the optimizer and all RNG states, so a resumed run ends on the same weights
as an uninterrupted one (on the same device and thread count).
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from ..nets.lit import open_image

CHECKPOINT = "checkpoint.pt"
MAX_TICK_LABELS = 16


# --------------------------------------------------------------------------- loss and schedule

def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over the in-batch similarity matrix.

    Args:
        image_emb: (n, d) image embeddings (normalised here again, so raw rows are fine).
        text_emb: (n, d) text embeddings; row i is the caption of image i.
        logit_scale: scalar tensor, log of the inverse temperature.
    Returns:
        Scalar: mean of the image->text and text->image cross-entropies with the diagonal as targets.
    """
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale.float().exp() * img @ txt.t()
    targets = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


def cosine_schedule(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``total``.

    Args:
        step: 0-based optimizer step.
        total: total optimizer steps.
        warmup: warm-up steps (0 = none).
    Returns:
        Multiplier in [0, 1].
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / span))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- config and protocol

@dataclass
class TrainConfig:
    """Training options.

    Attributes:
        steps: optimizer steps.
        batch_size: pairs per micro-batch (the in-batch negatives come from one micro-batch).
        lr: peak learning rate (AdamW).
        weight_decay: AdamW decay for matrices/kernels (never biases, norms or logit_scale).
        warmup_steps: linear warm-up steps before the cosine decay.
        accumulate: micro-batches per optimizer step (gradient accumulation).
        seed: seeds the weights' RNG, the data order and augmentation.
        out_dir: where checkpoint.pt, history.json, curves.png, similarity.png and model/ go.
        checkpoint_every: write checkpoint.pt every this many steps (0 = only at the end).
        eval_every: held-out recall every this many steps (0 = only at the end).
        amp: mixed precision; None = auto (True only on CUDA).
        max_logit_scale: the inverse temperature is clamped to at most this.
        init_temperature: starting temperature (logit_scale = log(1 / init_temperature)).
        device: "auto" (cuda if available), "cpu", "cuda", ...
        eval_batch_size: images per forward pass when evaluating.
        save_model: export ``out_dir/model`` with ``model.save`` at the end.
        plots: write curves.png and similarity.png at the end.
        max_seconds: a wall-clock training budget (None = none): the run stops when it is spent, and
            after the warm-up steps the cosine decay follows the larger of step / steps and
            elapsed / max_seconds, so it reaches 0 in time (set ``steps`` as an upper bound). For
            equal-time comparisons; such a run is not exactly resumable.
    """

    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    accumulate: int = 1
    seed: int = 0
    out_dir: str | Path = "runs/lit"
    checkpoint_every: int = 200
    eval_every: int = 100
    amp: bool | None = None
    max_logit_scale: float = 100.0
    init_temperature: float = 0.07
    device: str = "auto"
    eval_batch_size: int = 256
    save_model: bool = True
    plots: bool = True
    max_seconds: float | None = None


@runtime_checkable
class ContrastiveModel(Protocol):
    """What ``train`` drives. A ``torch.nn.Module`` that also provides:

    Attributes:
        logit_scale: scalar ``nn.Parameter`` (log inverse temperature).
    Optional hooks: ``load_image(source) -> tensor | PIL`` (the Batcher's loader, cached) and
    ``prepare_texts(captions)`` (e.g. precompute a locked text tower once per caption).
    """

    logit_scale: torch.nn.Parameter

    def trainable_parameters(self) -> Iterable[torch.nn.Parameter]:
        """The parameters the optimizer updates."""
        ...

    def embed(self, batch: "Batch") -> tuple[torch.Tensor, torch.Tensor]:
        """(image_emb, text_emb), both (n, d) and L2-normalised; augments only in training mode."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict, strict: bool = True): ...

    def save(self, directory: str | Path) -> Path:
        """Export a model directory the matching encoder can load."""
        ...


# --------------------------------------------------------------------------- data

@dataclass
class Batch:
    """One micro-batch.

    Attributes:
        images: list of PIL images, or a stacked uint8/float tensor (n, c, h, w) when the loader gives tensors.
        captions: n captions, caption i belongs to image i.
        seed: per-batch seed for augmentation (a pure function of the run seed, step and micro-batch).
        indices: positions in the Batcher's pair list.
    """

    images: Any
    captions: list[str]
    seed: int = 0
    indices: list[int] = field(default_factory=list)


def _pair_fields(pair) -> tuple[Any, str]:
    if isinstance(pair, (tuple, list)):
        return pair[0], str(pair[1])
    return pair.path, str(pair.caption)


class Batcher:
    """Deterministic batches over (image, caption) pairs.

    The sample order is the concatenation of per-epoch permutations, each seeded by ``(seed, epoch)``,
    so micro-batch ``k`` is always the same pairs whatever happened before (exact resume).

    Args:
        pairs: objects with ``.path`` and ``.caption`` (e.g. ``pairs.Pair``) or ``(path_or_PIL, caption)`` tuples.
        batch_size: pairs per micro-batch (capped at the number of pairs).
        seed: run seed.
        loader: ``source -> image`` (PIL or tensor); default opens an RGB PIL image.
        cache: keep loaded images in memory.
        weights: optional sampling weight per pair (e.g. ``slices.balance_weights``): each epoch is
            then ``len(pairs)`` draws with replacement in proportion to the weights (re-sampling),
            still a pure function of ``(seed, epoch)``.
    """

    def __init__(self, pairs: Sequence, batch_size: int, seed: int = 0,
                 loader: Callable[[Any], Any] | None = None, cache: bool = True,
                 weights: Sequence[float] | None = None):
        fields = [_pair_fields(p) for p in pairs]
        if not fields:
            raise ValueError("no pairs to batch")
        self.sources = [f[0] for f in fields]
        self.captions = [f[1] for f in fields]
        self.batch_size = max(1, min(int(batch_size), len(fields)))
        self.seed = int(seed)
        self.loader = loader or open_image
        self._cache: dict[int, Any] | None = {} if cache else None
        self._perms: dict[int, np.ndarray] = {}
        self.weights = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(fields),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"weights must be {len(fields)} finite non-negative numbers with a positive sum")
            self.weights = w / w.sum()

    def __len__(self) -> int:
        return len(self.sources)

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            rng = np.random.default_rng([self.seed, epoch])
            self._perms[epoch] = (rng.permutation(len(self)) if self.weights is None
                                  else rng.choice(len(self), size=len(self), replace=True, p=self.weights))
        return self._perms[epoch]

    def _image(self, i: int):
        if self._cache is None:
            return self.loader(self.sources[i])
        if i not in self._cache:
            self._cache[i] = self.loader(self.sources[i])
        return self._cache[i]

    def make(self, indices: list[int], seed: int = 0) -> Batch:
        """The batch of the given pair positions."""
        images = [self._image(i) for i in indices]
        if images and isinstance(images[0], torch.Tensor):
            images = torch.stack(images)
        return Batch(images, [self.captions[i] for i in indices], seed, list(indices))

    def batch(self, k: int) -> Batch:
        """Micro-batch number ``k`` (0-based) of the endless shuffled stream."""
        n, start = len(self), k * self.batch_size
        idx = []
        for pos in range(start, start + self.batch_size):
            idx.append(int(self._perm(pos // n)[pos % n]))
        seed = int(np.random.default_rng([self.seed, 7919, k]).integers(0, 2**62))
        return self.make(idx, seed)

    def sequential(self, batch_size: int | None = None) -> Iterator[Batch]:
        """All pairs once, in order (evaluation)."""
        size = batch_size or self.batch_size
        for s in range(0, len(self), size):
            yield self.make(list(range(s, min(len(self), s + size))))


# --------------------------------------------------------------------------- evaluation

@torch.no_grad()
def embed_all(model, batcher: Batcher, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(image_emb, text_emb) of every pair, model in eval mode (no augmentation)."""
    was = model.training
    model.eval()
    imgs, txts = [], []
    try:
        for b in batcher.sequential(batch_size):
            i, t = model.embed(b)
            imgs.append(i.float().cpu())
            txts.append(t.float().cpu())
    finally:
        model.train(was)
    return torch.cat(imgs), torch.cat(txts)


def retrieval_recall(image_emb: torch.Tensor, text_emb: torch.Tensor, captions: list[str],
                     ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Image->text recall@k against the set of distinct captions (duplicates count once).

    Args:
        image_emb: (n, d) normalised.
        text_emb: (n, d) normalised; row i is the embedding of captions[i].
        captions: n captions.
        ks: cut-offs.
    Returns:
        ``{"r1": ..., "r5": ..., "chance_r1": 1 / distinct}``.
    """
    uniq: dict[str, int] = {}
    rows = []
    for i, c in enumerate(captions):
        if c not in uniq:
            uniq[c] = len(uniq)
            rows.append(i)
    gallery = text_emb[rows]
    target = torch.tensor([uniq[c] for c in captions])
    sims = image_emb @ gallery.t()
    order = sims.argsort(dim=1, descending=True)
    rank = (order == target[:, None]).float().argmax(dim=1)
    out = {f"r{k}": float((rank < k).float().mean()) for k in ks}
    out["chance_r1"] = 1.0 / len(uniq)
    return out


# --------------------------------------------------------------------------- training loop

@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        history: one dict per step: step, loss, temperature, lr, images_per_s, val_r1, val_r5 (None off eval steps).
        out_dir: the run directory.
        model_dir: the exported model directory (None if not saved).
    """

    history: list[dict]
    out_dir: Path
    model_dir: Path | None = None


def _images_only(pairs: Sequence) -> list:
    """Keep image pairs (``Pair.modality`` other than "image", e.g. video, is not trained on here)."""
    return [p for p in pairs if getattr(p, "modality", "image") in ("image", None)]


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _param_groups(params: Iterable[torch.nn.Parameter], weight_decay: float) -> list[dict]:
    decay, no_decay, seen = [], [], set()
    for p in params:
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 else no_decay).append(p)  # biases, norm scales, logit_scale: no decay
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, model, opt, scaler, step: int, history: list, cfg: TrainConfig) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "scaler": scaler.state_dict() if scaler is not None else None,
             "rng": _rng_state(), "history": history, "config": _jsonable(asdict(cfg))}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _jsonable(d: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by ``train`` (our own file: full unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=False)


class _Progress:
    """A rich progress bar with loss / temperature / images/s, or nothing."""

    def __init__(self, enabled: bool, total: int, start: int):
        self.bar = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]}  T {task.fields[temp]}  "
                                       "{task.fields[ips]} img/s  {task.fields[val]}"),
                            TimeRemainingColumn())
        self.bar.start()
        self.task = self.bar.add_task("train", total=total, completed=start, loss="-", temp="-", ips="-", val="")

    def update(self, rec: dict, val: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=rec["step"], loss=f"{rec['loss']:.3f}",
                            temp=f"{rec['temperature']:.4f}", ips=f"{rec['images_per_s']:.0f}", val=val)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def train(model, train_pairs: Sequence, val_pairs: Sequence | None, cfg: TrainConfig, progress: bool = True,
          resume: bool = False, stop_after: int | None = None,
          weights: Sequence[float] | None = None) -> TrainResult:
    """Train ``model`` contrastively on (image, caption) pairs.

    Args:
        model: a :class:`ContrastiveModel` (``torch.nn.Module``).
        train_pairs: ``Pair``-like objects (``.path``, ``.caption``) or ``(path_or_PIL, caption)`` tuples;
            pairs whose ``.modality`` is not "image" are skipped.
        val_pairs: held-out pairs for recall@1/5 (image->distinct captions); None/empty skips evaluation.
        cfg: options.
        progress: show a rich progress bar.
        resume: continue from ``cfg.out_dir/checkpoint.pt`` (model, optimizer, step, RNG, history).
        stop_after: stop after this step without the end-of-run outputs (simulates an interruption; tests).
        weights: optional sampling weight per training pair (re-sampling, e.g. ``--balance FIELD``).
    Returns:
        TrainResult(history, out_dir, model_dir).
    """
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = _device(cfg)
    use_amp = (device.type == "cuda") if cfg.amp is None else bool(cfg.amp and device.type == "cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)

    model.to(device)
    if weights is not None:
        if len(weights) != len(train_pairs):
            raise ValueError(f"{len(weights)} weights for {len(train_pairs)} training pairs")
        keep = [i for i, p in enumerate(train_pairs) if getattr(p, "modality", "image") in ("image", None)]
        weights = [weights[i] for i in keep]
    train_pairs, val_pairs = _images_only(train_pairs), _images_only(val_pairs or [])
    loader = getattr(model, "load_image", None)
    batcher = Batcher(train_pairs, cfg.batch_size, cfg.seed, loader=loader, weights=weights)
    val = Batcher(val_pairs, cfg.eval_batch_size, cfg.seed, loader=loader) if val_pairs else None
    prepare = getattr(model, "prepare_texts", None)
    if prepare is not None:
        captions = sorted(set(batcher.captions) | set(val.captions if val else []))
        if progress:
            print(f"embedding {len(captions)} distinct captions with the locked text tower ...", flush=True)
        prepare(captions)

    max_scale = math.log(cfg.max_logit_scale)
    opt = torch.optim.AdamW(_param_groups(model.trainable_parameters(), cfg.weight_decay), lr=cfg.lr,
                            betas=(0.9, 0.98), eps=1e-6)
    scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
    history: list[dict] = []
    start = 0
    ckpt_path = out / CHECKPOINT
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"no checkpoint to resume at {ckpt_path}")
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start, history = int(state["step"]), list(state["history"])
        _set_rng_state(state["rng"])

    bar = _Progress(progress, cfg.steps, start)
    model.train()
    last_val = ""
    t_begin = time.perf_counter()
    try:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            if cfg.max_seconds:  # warm-up by steps, then cosine decay over the larger of time and steps spent
                spent = (t0 - t_begin) / cfg.max_seconds
                if spent >= 1.0 and step > start:
                    break
                if step < cfg.warmup_steps:
                    mult = (step + 1) / cfg.warmup_steps
                else:
                    mult = 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(spent, step / cfg.steps))))
                lr = cfg.lr * mult
            else:
                lr = cfg.lr * cosine_schedule(step, cfg.steps, cfg.warmup_steps)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            total = 0.0
            n_img = 0
            for micro in range(cfg.accumulate):
                batch = batcher.batch(step * cfg.accumulate + micro)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    img, txt = model.embed(batch)
                loss = clip_loss(img, txt, model.logit_scale) / cfg.accumulate
                (scaler.scale(loss) if scaler is not None else loss).backward()
                total += float(loss.detach())
                n_img += len(batch.captions)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, max_scale)
            dt = time.perf_counter() - t0
            rec = {"step": step + 1, "loss": total, "temperature": float(1.0 / model.logit_scale.detach().exp()),
                   "lr": lr, "images_per_s": n_img / max(dt, 1e-9), "val_r1": None, "val_r5": None}
            done = step + 1
            if val is not None and ((cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.steps):
                ie, te = embed_all(model, val, cfg.eval_batch_size)
                r = retrieval_recall(ie, te, val.captions)
                rec["val_r1"], rec["val_r5"] = r["r1"], r["r5"]
                last_val = f"R@1 {r['r1']:.2f}"
            history.append(rec)
            bar.update(rec, last_val)
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done != cfg.steps:
                _save_checkpoint(ckpt_path, model, opt, scaler, done, history, cfg)
            if stop_after is not None and done >= stop_after and done != cfg.steps:
                return TrainResult(history, out)
    finally:
        bar.close()

    if history and val is not None and history[-1]["val_r1"] is None:  # stopped by max_seconds
        ie, te = embed_all(model, val, cfg.eval_batch_size)
        r = retrieval_recall(ie, te, val.captions)
        history[-1]["val_r1"], history[-1]["val_r5"] = r["r1"], r["r5"]
    _save_checkpoint(ckpt_path, model, opt, scaler, cfg.steps, history, cfg)
    (out / "history.json").write_text(json.dumps({"config": _jsonable(asdict(cfg)), "history": history}, indent=1))
    model_dir = model.save(out / "model") if cfg.save_model else None
    if cfg.plots:
        plot_curves(history, out / "curves.png")
        if val is not None:
            plot_similarity(model, val, out / "similarity.png")
    return TrainResult(history, out, Path(model_dir) if model_dir else None)


# --------------------------------------------------------------------------- plots

def plot_curves(history: list[dict], path: str | Path) -> Path:
    """Loss, temperature and held-out recall against step, as one PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot(steps, [h["loss"] for h in history], lw=0.8)
    axes[0].set(title="contrastive loss", xlabel="step")
    axes[1].plot(steps, [h["temperature"] for h in history], color="tab:orange")
    axes[1].set(title="temperature", xlabel="step", yscale="log")
    ev = [h for h in history if h.get("val_r1") is not None]
    if ev:
        axes[2].plot([h["step"] for h in ev], [h["val_r1"] for h in ev], "o-", label="R@1")
        axes[2].plot([h["step"] for h in ev], [h["val_r5"] for h in ev], "s-", label="R@5")
        axes[2].legend()
    axes[2].set(title="held-out image->text recall", xlabel="step", ylim=(0, 1.02))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


@torch.no_grad()
def plot_similarity(model, val: Batcher, path: str | Path, max_items: int = MAX_TICK_LABELS) -> Path:
    """Cosine-similarity matrix of one held-out batch (distinct captions first); the diagonal holds true pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen, idx = set(), []
    for i, c in enumerate(val.captions):
        if c not in seen:
            seen.add(c)
            idx.append(i)
        if len(idx) >= max_items:
            break
    if len(idx) < min(max_items, len(val)):
        idx += [i for i in range(len(val)) if i not in idx][:max_items - len(idx)]
    was = model.training
    model.eval()
    try:
        img, txt = model.embed(val.make(idx))
    finally:
        model.train(was)
    sims = (img.float() @ txt.float().t()).cpu().numpy()
    n = len(idx)
    fig, ax = plt.subplots(figsize=(2 + 0.55 * n, 1.5 + 0.45 * n))
    im = ax.imshow(sims, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set(xlabel="captions", ylabel="images", title="held-out cosine similarity (diagonal = true pairs)")
    if n <= MAX_TICK_LABELS:
        labels = [val.captions[i][:40] for i in idx]
        ax.set_xticks(range(n), labels, rotation=70, ha="right", fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
