"""Text->series LiT: a small 1-D CNN series tower trained to land in the locked MiniLM sentence space.

Input of the tower: the window z-normalised and resampled to ``input_length`` samples, its
amplitude spectrum, and the histogram of its VQ tokens (the codebook is saved with the model). The
model follows the contrastive trainer's interface (``trainable_parameters``, ``embed``, ``save``,
``load_image`` as the Batcher's cached loader), so ``omnidex.train.contrastive.train`` trains it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nets.locked_text import LockedText
from ..nets.pretrained import read_pretrained, save_pretrained
from .vq import Codebook, shapes

FORMAT = "omnidex-series-lit"
VERSION = 1
CODEBOOK_FILE = "codebook.npz"


@dataclass
class SeriesLitConfig:
    """Series-tower architecture.

    Attributes:
        input_length: samples the window is resampled to.
        hidden: width of the MLP's hidden layers.
        embed_dim: output width (MiniLM: 384).
        text_model: the locked text tower (the bundled MiniLM's hub id or a sentence-transformers dir).
        codebook_k: VQ codewords (histogram input width).
        init_temperature: starting softmax temperature.
    """

    input_length: int = 128
    hidden: int = 512
    embed_dim: int = 384
    text_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    codebook_k: int = 32
    init_temperature: float = 0.07

    @classmethod
    def from_dict(cls, d: dict) -> "SeriesLitConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class SeriesTower(nn.Module):
    """z-normalised shape (n, L) + VQ histogram (n, k) -> (n, embed_dim).

    Input features: the shape itself (where things happen: "spike then decay"), its log
    amplitude spectrum (periodicity and noise, shift-invariant) and the token histogram (which
    local shapes occur), through LayerNorm and a 3-layer GELU MLP. An MLP keeps training to a
    few minutes on 2 CPU cores; 1-D CNNs of similar quality were several times slower here.
    """

    def __init__(self, cfg: SeriesLitConfig):
        super().__init__()
        feat = cfg.input_length + (cfg.input_length // 2 + 1) + cfg.codebook_k
        self.net = nn.Sequential(nn.LayerNorm(feat), nn.Linear(feat, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.embed_dim))

    def forward(self, z: torch.Tensor, hist: torch.Tensor) -> torch.Tensor:
        spec = torch.log1p(torch.fft.rfft(z, dim=-1).abs())
        return self.net(torch.cat([z, spec, hist], dim=1))


class SeriesLitModel(LockedText, nn.Module):
    """Locked-text contrastive model for series: ``embed(batch)`` -> (series_emb, MiniLM text_emb).

    Args:
        codebook: the VQ codebook whose token histogram feeds the tower.
        cfg: architecture.
        seed: weight initialisation seed (None: the current torch RNG).
    """

    def __init__(self, codebook: Codebook, cfg: SeriesLitConfig | None = None, seed: int | None = 0):
        super().__init__()
        self.cfg = cfg or SeriesLitConfig(codebook_k=codebook.k)
        if self.cfg.codebook_k != codebook.k:
            raise ValueError(f"codebook has {codebook.k} codewords, config expects {self.cfg.codebook_k}")
        self.codebook = codebook
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.tower = SeriesTower(self.cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / self.cfg.init_temperature)))
        self._init_locked_text()  # MiniLM, locked: text_tower / prepare_texts / embed_texts

    # ---- inputs
    def features(self, windows: list) -> torch.Tensor:
        """Raw windows -> float32 (n, L + k): z-normalised resampled shape, then the VQ histogram."""
        z = shapes(windows, self.cfg.input_length)
        h = self.codebook.histogram(self.codebook.encode(z))
        return torch.from_numpy(np.concatenate([z, h], axis=1).astype(np.float32))

    def load_image(self, source) -> torch.Tensor:
        """The trainer's cached loader: one raw window (array) -> its feature row."""
        return self.features([np.asarray(source, dtype=np.float64)])[0]

    def embed_series(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, L + k) features -> (n, embed_dim) unit rows."""
        feats = feats.to(self.logit_scale.device).float()
        L = self.cfg.input_length
        return F.normalize(self.tower(feats[:, :L], feats[:, L:]).float(), dim=-1)

    def embed(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(series_emb, text_emb) of a trainer batch (``batch.images`` holds feature rows)."""
        feats = batch.images if isinstance(batch.images, torch.Tensor) else torch.stack(list(batch.images))
        return self.embed_series(feats), self.embed_texts(batch.captions)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The series tower and the temperature; MiniLM is not a member."""
        return list(self.tower.parameters()) + [self.logit_scale]

    @torch.no_grad()
    def encode_series(self, windows: list, batch_size: int = 512) -> np.ndarray:
        """Inference: raw windows -> float32 (n, embed_dim) unit rows."""
        was = self.training
        self.eval()
        try:
            out = [self.embed_series(self.features(windows[i:i + batch_size])).cpu()
                   for i in range(0, len(windows), batch_size)]
        finally:
            self.train(was)
        return torch.cat(out).numpy() if out else np.zeros((0, self.cfg.embed_dim), np.float32)

    # ---- export
    def save(self, directory: str | Path, half: bool = False) -> Path:
        """Write config.json, model.safetensors (fp16 when ``half``) and codebook.npz."""
        n_params = sum(p.numel() for p in self.trainable_parameters())
        meta = {"config": asdict(self.cfg), "parameters": n_params,
                "temperature": float(1.0 / self.logit_scale.detach().exp()), "codebook": self.codebook.fingerprint}
        out = save_pretrained(self, directory, FORMAT, VERSION, meta, half)
        self.codebook.save(out / CODEBOOK_FILE)
        return out


def load_series_lit(directory: str | Path, device: str = "cpu") -> SeriesLitModel:
    """Read a directory written by :meth:`SeriesLitModel.save` into an eval-mode model.

    Raises:
        FileNotFoundError / ValueError: missing files or not a series-LiT directory.
    """
    meta, state = read_pretrained(directory, FORMAT, VERSION, "series-LiT", extra_files=(CODEBOOK_FILE,))
    model = SeriesLitModel(Codebook.load(Path(directory) / CODEBOOK_FILE), SeriesLitConfig.from_dict(meta["config"]),
                           seed=None)
    model.load_state_dict(state)
    return model.to(device).eval()
