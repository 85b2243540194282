"""LiT with the roles swapped: a locked TEXT tower (the bundled MiniLM, 384-d) and a small trainable
image tower trained to land in MiniLM's sentence space: a residual CNN (``arch="cnn"``, the default)
or a small vision transformer (``arch="vit"``: patches, learned positional embeddings, a few
pre-norm attention blocks).

Because the text side is frozen, every caption is embedded once and cached; only the image tower,
its projection head and the temperature learn. The saved directory (``config.json`` +
``model.safetensors``) is what ``omnidex.encoders.lit.LitEncoder`` loads; ``omnidex.train`` trains it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .locked_text import TEXT_MODEL, LockedText
from .pretrained import CONFIG_FILE, WEIGHTS_FILE, read_pretrained, save_pretrained

FORMAT = "omnidex-lit"
VERSION = 2  # 1: CNN towers only; 2: config.arch ("cnn" | "vit"). CNN models are still written as 1.
ARCHS = ("cnn", "vit")


def open_image(source):
    """A PIL RGB image from a path or a PIL image."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return source.convert("RGB")
    with Image.open(source) as im:
        return im.convert("RGB")


@dataclass
class LitConfig:
    """Image-tower architecture and preprocessing.

    Attributes:
        input_size: square input side in pixels (images are squashed, not cropped, so left/right survive).
        widths: channels of the four residual stages.
        depths: residual blocks per stage.
        norm: "batch" or "group".
        embed_dim: output width (= the text tower's, 384 for MiniLM).
        text_model: the locked text tower (hub id of the bundled MiniLM, or a sentence-transformers dir).
        mean / std: per-channel normalisation of [0, 1] pixels.
        coord: append x/y coordinate channels to the input (position awareness: "on the left").
        scale_jitter: smallest crop side as a fraction of the image (training augmentation).
        shift_jitter: largest crop shift as a fraction of the image side.
        brightness_jitter / contrast_jitter: multiplicative jitter amplitude (training augmentation).
        init_temperature: starting softmax temperature.
        arch: image tower: "cnn" (residual CNN) or "vit" (vision transformer).
        patch: ViT patch side in pixels (input_size must be a multiple).
        vit_dim / vit_depth / vit_heads / vit_mlp: ViT width, blocks, attention heads, MLP width ratio.
    """

    input_size: int = 64
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 2, 1)
    norm: str = "batch"
    embed_dim: int = 384
    text_model: str = TEXT_MODEL
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.25, 0.25, 0.25)
    coord: bool = True
    scale_jitter: float = 0.85
    shift_jitter: float = 0.06
    brightness_jitter: float = 0.15
    contrast_jitter: float = 0.15
    init_temperature: float = 0.07
    arch: str = "cnn"
    patch: int = 8
    vit_dim: int = 192
    vit_depth: int = 4
    vit_heads: int = 3
    vit_mlp: float = 4.0

    @classmethod
    def from_dict(cls, d: dict) -> "LitConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("widths", "depths", "mean", "std"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(min(8, ch), ch)
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    raise ValueError(f"norm must be 'batch' or 'group', not {kind!r}")


class ResBlock(nn.Module):
    """Pre-activation-free basic residual block: conv3x3-norm-ReLU-conv3x3-norm + (projected) skip."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = _norm(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = _norm(norm, cout)
        nn.init.zeros_(self.n2.weight)  # each block starts as identity: stable early training
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _norm(norm, cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        y = F.relu(self.n1(self.conv1(x)))
        return F.relu(self.n2(self.conv2(y)) + self.skip(x))


class ImageTower(nn.Module):
    """ResNet-ish CNN for 32-128 px images -> ``embed_dim`` vectors.

    stem conv3x3/2 -> 4 stages (first at stem resolution, then /2 each) -> two poolings:
    global average (what) and a 2x2 grid of a 1x1-reduced map (where: left/right, top/bottom) ->
    LayerNorm -> Linear(-> hidden) -> GELU -> Linear(-> embed_dim).
    """

    def __init__(self, cfg: LitConfig):
        super().__init__()
        w = list(cfg.widths)
        cin = 3 + (2 if cfg.coord else 0)
        self.coord = cfg.coord
        self.stem = nn.Sequential(nn.Conv2d(cin, w[0], 3, 2, 1, bias=False), _norm(cfg.norm, w[0]), nn.ReLU())
        stages, prev = [], w[0]
        for i, (ch, depth) in enumerate(zip(w, cfg.depths)):
            blocks = [ResBlock(prev, ch, 1 if i == 0 else 2, cfg.norm)]
            blocks += [ResBlock(ch, ch, 1, cfg.norm) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            prev = ch
        self.stages = nn.Sequential(*stages)
        self.where = nn.Conv2d(prev, prev // 4, 1)
        feat = prev + 4 * (prev // 4)
        hidden = max(cfg.embed_dim, feat)
        self.head = nn.Sequential(nn.LayerNorm(feat), nn.Linear(feat, hidden), nn.GELU(),
                                  nn.Linear(hidden, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coord:
            n, _, h, w = x.shape
            ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
            xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
            x = torch.cat([x, xs, ys], dim=1)
        # channels-last (NHWC) is the layout oneDNN's CPU convolutions prefer: ~17 % faster training steps
        f = self.stages(self.stem(x.contiguous(memory_format=torch.channels_last)))
        what = f.mean(dim=(2, 3))
        where = F.adaptive_avg_pool2d(self.where(f), 2).flatten(1)
        return self.head(torch.cat([what, where], dim=1))


class ViTBlock(nn.Module):
    """Pre-norm transformer block: x + MHSA(LN(x)), then x + MLP(LN(x)) (GELU)."""

    def __init__(self, dim: int, heads: int, mlp: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"vit_dim {dim} is not divisible by vit_heads {heads}")
        self.heads = heads
        self.n1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.n2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.n1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)  # (n, heads, t, d/heads)
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.mlp(self.n2(x))


class ViTTower(nn.Module):
    """Vision transformer for 32-128 px images -> ``embed_dim`` vectors.

    Patchify with a stride-``patch`` convolution (a linear map of each patch) -> prepend a CLS token
    -> add learned positional embeddings (one per patch position, so "on the left" is learnable) ->
    ``vit_depth`` pre-norm blocks -> final LayerNorm -> [CLS, mean of patch tokens] -> the same
    MLP head as the CNN.
    """

    def __init__(self, cfg: LitConfig):
        super().__init__()
        if cfg.input_size % cfg.patch:
            raise ValueError(f"input_size {cfg.input_size} is not a multiple of patch {cfg.patch}")
        d = cfg.vit_dim
        self.grid = cfg.input_size // cfg.patch
        self.patchify = nn.Conv2d(3, d, cfg.patch, cfg.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, 1 + self.grid * self.grid, d) * 0.02)
        self.blocks = nn.Sequential(*[ViTBlock(d, cfg.vit_heads, cfg.vit_mlp) for _ in range(cfg.vit_depth)])
        self.norm = nn.LayerNorm(d)
        hidden = max(cfg.embed_dim, 2 * d)
        self.head = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, hidden), nn.GELU(),
                                  nn.Linear(hidden, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patchify(x).flatten(2).transpose(1, 2)  # (n, grid*grid, d)
        t = torch.cat([self.cls.expand(p.shape[0], -1, -1), p], dim=1) + self.pos
        t = self.norm(self.blocks(t))
        return self.head(torch.cat([t[:, 0], t[:, 1:].mean(dim=1)], dim=1))


def build_tower(cfg: LitConfig) -> nn.Module:
    """The image tower ``cfg.arch`` names."""
    if cfg.arch == "cnn":
        return ImageTower(cfg)
    if cfg.arch == "vit":
        return ViTTower(cfg)
    raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {cfg.arch!r}")


class LitModel(LockedText, nn.Module):
    """Locked-text contrastive model: ``embed(batch)`` -> (image_emb, cached MiniLM text_emb), both unit rows.

    Args:
        cfg: architecture/preprocessing (default: 64 px, ~2.2 M parameters).
        seed: weight initialisation seed (None: use the current torch RNG).
    """

    def __init__(self, cfg: LitConfig | None = None, seed: int | None = 0):
        super().__init__()
        self.cfg = cfg or LitConfig()
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.image = build_tower(self.cfg)
        else:
            self.image = build_tower(self.cfg)
        self.image.to(memory_format=torch.channels_last)  # weights in the layout the input gets (see forward)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / self.cfg.init_temperature)))
        self.register_buffer("pixel_mean", torch.tensor(self.cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(self.cfg.std).view(1, 3, 1, 1), persistent=False)
        self._init_locked_text()  # MiniLM, locked: text_tower / prepare_texts / embed_texts

    # ---- images (trainable)
    def load_image(self, source: Any) -> torch.Tensor:
        """Path or PIL -> uint8 (3, S, S) tensor, squashed to the input size (the Batcher caches these)."""
        from PIL import Image

        im = open_image(source)
        s = self.cfg.input_size
        if im.size != (s, s):
            im = im.resize((s, s), Image.BICUBIC, reducing_gap=3.0)
        return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()

    def _pixels(self, images) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            images = torch.stack([self.load_image(im) for im in images])
        x = images.to(self.logit_scale.device)
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()

    def augment(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Semantics-preserving jitter on [0,1] pixels: small zoom/shift and brightness/contrast. No flips."""
        c, n = self.cfg, x.shape[0]
        g = torch.Generator().manual_seed(int(seed) % (2**63))
        u = torch.rand(n, 5, generator=g).to(x.device)
        scale = c.scale_jitter + (1.0 - c.scale_jitter) * u[:, 0]
        room = torch.clamp(1.0 - scale, max=c.shift_jitter * 2)  # keeps the object's side of the frame
        tx, ty = (u[:, 1] * 2 - 1) * room, (u[:, 2] * 2 - 1) * room
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = scale, scale, tx, ty
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        bright = 1 + (u[:, 3] * 2 - 1) * c.brightness_jitter
        contrast = 1 + (u[:, 4] * 2 - 1) * c.contrast_jitter
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast.view(n, 1, 1, 1) + mean * bright.view(n, 1, 1, 1)
        return x.clamp(0, 1)

    def embed_images(self, images) -> torch.Tensor:
        """PIL list or uint8/float (n,3,H,W) tensor -> (n, 384) unit rows (augmented only in training mode)."""
        x = self._pixels(images)
        if x.shape[-1] != self.cfg.input_size or x.shape[-2] != self.cfg.input_size:
            x = F.interpolate(x, size=(self.cfg.input_size,) * 2, mode="bilinear", antialias=True)
        return F.normalize(self.image((x - self.pixel_mean) / self.pixel_std).float(), dim=-1)

    def embed(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(image_emb, text_emb) of a batch (``images``, ``captions``, ``seed``, e.g. ``train.contrastive.Batch``);
        training mode applies ``augment`` seeded by ``batch.seed``."""
        x = self._pixels(batch.images)
        if self.training:
            x = self.augment(x, batch.seed)
        return self.embed_images(x), self.embed_texts(batch.captions)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Image tower (incl. projection head) and logit_scale; MiniLM is not a member at all."""
        return list(self.image.parameters()) + [self.logit_scale]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    @torch.no_grad()
    def encode_images(self, images: list, batch_size: int = 64) -> np.ndarray:
        """Inference: PIL images -> float32 (n, 384) unit rows (eval mode, no augmentation)."""
        was = self.training
        self.eval()
        try:
            out = [self.embed_images(images[i:i + batch_size]).cpu() for i in range(0, len(images), batch_size)]
        finally:
            self.train(was)
        if not out:
            return np.zeros((0, self.cfg.embed_dim), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    # ---- export
    def save(self, directory: str | Path, half: bool = False) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (image tower + logit_scale; fp16 when ``half``).

        Returns:
            The directory, loadable with ``load_lit`` or ``build("lit", model=dir)``.
        """
        arch = "lit-vit" if self.cfg.arch == "vit" else "lit-resnet-coord"
        meta = {"architecture": arch,
                "config": asdict(self.cfg), "input_size": self.cfg.input_size, "text_model": self.cfg.text_model,
                "embed_dim": self.cfg.embed_dim, "mean": list(self.cfg.mean), "std": list(self.cfg.std),
                "temperature": float(1.0 / self.logit_scale.detach().exp()), "parameters": self.num_parameters()}
        return save_pretrained(self, directory, FORMAT, 1 if self.cfg.arch == "cnn" else VERSION, meta, half)


def load_lit(directory: str | Path, device: str = "cpu") -> LitModel:
    """Read a directory written by ``LitModel.save`` into an eval-mode model.

    Raises:
        FileNotFoundError / ValueError: missing files or not a LiT directory.
    """
    meta, state = read_pretrained(directory, FORMAT, VERSION, "LiT")
    model = LitModel(LitConfig.from_dict(meta["config"]), seed=None)
    model.load_state_dict(state)
    return model.to(device).eval()


__all__ = ["LitConfig", "LitModel", "ImageTower", "ViTTower", "build_tower", "load_lit", "open_image", "CONFIG_FILE", "WEIGHTS_FILE"]
