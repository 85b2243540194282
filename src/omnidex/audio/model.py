"""The offline audio-text model: a small 1-D CNN over log-mel frames trained LiT-style to land in the
(locked) MiniLM sentence space, so sounds are searchable with MiniLM text.

The sound tower treats the 64 mel bands as channels and convolves over time (cheap on 2 cores, and it
keeps absolute pitch, which "high-pitched" needs). It pools three ways: the mean and standard
deviation over time (what, and how steady) and a *modulation spectrum* (|FFT over time| of a reduced
feature map, pooled into bands up to 12.5 Hz: how fast it repeats - beeps, ticks, sirens, claps).

It implements the contrastive trainer's interface (``omnidex.train.contrastive.train``):
``trainable_parameters()``, ``embed(batch)``, ``save(dir)``, ``load_image(source)`` (here: a clip ->
log-mel tensor, cached by the Batcher) and ``prepare_texts`` (captions embedded once by MiniLM).
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

from ..nets.locked_text import TEXT_MODEL, LockedText
from ..nets.pretrained import read_pretrained, save_pretrained
from .frontend import FrontendConfig, load_log_mel, log_mel

FORMAT = "omnidex-audio-lit"
VERSION = 1


@dataclass
class AudioLitConfig:
    """Sound-tower architecture and front end.

    Attributes:
        sr / n_mels / fmin / fmax: log-mel front end (25 ms Hann frames every 10 ms, 512-point FFT).
        widths: channels of the four temporal conv stages (input pooled to 50 frames/s; 25, 12.5 after).
        mod_channels / mod_bands: reduced channels and pooled frequency bands of the modulation spectrum.
        embed_dim: output width (= MiniLM's 384).
        text_model: the locked text tower.
        time_mask: largest share of frames masked in training (augmentation).
        init_temperature: starting softmax temperature.
    """

    sr: int = 16_000
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    widths: tuple[int, ...] = (64, 96, 128, 192)
    mod_channels: int = 32
    mod_bands: int = 12
    embed_dim: int = 384
    text_model: str = TEXT_MODEL
    time_mask: float = 0.15
    init_temperature: float = 0.07

    @property
    def frontend(self) -> FrontendConfig:
        return FrontendConfig(sr=self.sr, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)

    @classmethod
    def from_dict(cls, d: dict) -> "AudioLitConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "widths" in known:
            known["widths"] = tuple(known["widths"])
        return cls(**known)


def _conv(cin: int, cout: int, k: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU())


class SoundTower(nn.Module):
    """(n, n_mels, frames) log-mel -> (n, embed_dim)."""

    def __init__(self, cfg: AudioLitConfig):
        super().__init__()
        w = list(cfg.widths)
        self.inorm = nn.BatchNorm1d(cfg.n_mels)
        self.stem = _conv(cfg.n_mels, w[0], 3, 1)  # at 50 frames/s (the 100 frames/s input is pooled by 2)
        self.s1 = _conv(w[0], w[1], 3, 2)  # 25 frames/s
        self.s2 = _conv(w[1], w[2], 3, 2)  # 12.5 frames/s
        self.s3 = _conv(w[2], w[3], 5, 1)  # receptive field ~0.5 s (a spoken word, a beep and its gap)
        self.mod = nn.Conv1d(w[1], cfg.mod_channels, 1)
        self.mod_bands = cfg.mod_bands
        feat = 2 * w[3] + cfg.mod_channels * cfg.mod_bands
        hidden = max(cfg.embed_dim, 512)
        self.head = nn.Sequential(nn.LayerNorm(feat), nn.Linear(feat, hidden), nn.GELU(),
                                  nn.Linear(hidden, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inorm(x)
        if x.shape[2] >= 2:
            x = F.avg_pool1d(x, 2, ceil_mode=True)
        h1 = self.s1(self.stem(x))
        h3 = self.s3(self.s2(h1))
        what = h3.mean(dim=2)
        steady = h3.std(dim=2, correction=0) if h3.shape[2] > 1 else torch.zeros_like(what)
        m = self.mod(h1)  # 25 frames/s: modulation frequencies up to 12.5 Hz
        spec = torch.fft.rfft(m - m.mean(dim=2, keepdim=True), dim=2).abs() / math.sqrt(m.shape[2])
        rhythm = F.adaptive_avg_pool1d(spec, self.mod_bands).flatten(1)
        return self.head(torch.cat([what, steady, rhythm], dim=1))


class AudioLitModel(LockedText, nn.Module):
    """Locked-text contrastive model: ``embed(batch)`` -> (sound_emb, cached MiniLM text_emb), unit rows.

    Args:
        cfg: architecture/front end.
        seed: weight initialisation seed (None: the current torch RNG).
    """

    def __init__(self, cfg: AudioLitConfig | None = None, seed: int | None = 0):
        super().__init__()
        self.cfg = cfg or AudioLitConfig()
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.sound = SoundTower(self.cfg)
        else:
            self.sound = SoundTower(self.cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / self.cfg.init_temperature)))
        self._init_locked_text()  # MiniLM, locked: text_tower / prepare_texts / embed_texts

    # ---- sound (trainable)
    def features(self, samples: np.ndarray, sr: int | None = None) -> torch.Tensor:
        """Samples (any rate, mono or (n, channels)) -> (n_mels, frames) float32 log-mel tensor."""
        mel = log_mel(samples, sr or self.cfg.sr, self.cfg.frontend)
        return torch.from_numpy(np.ascontiguousarray(mel.T))

    def features_batch(self, clips: list[np.ndarray], sr: int | None = None) -> list[torch.Tensor]:
        """:meth:`features` of many equal-length clips at once (the training set)."""
        from .frontend import log_mel_batch

        mels = log_mel_batch(clips, sr or self.cfg.sr, self.cfg.frontend)
        return [torch.from_numpy(np.ascontiguousarray(m.T)) for m in mels]

    def load_image(self, source: Any) -> torch.Tensor:
        """The trainer's cached loader: a clip (samples at ``cfg.sr``), a path or a ready tensor -> log-mel."""
        if isinstance(source, torch.Tensor):
            return source
        if isinstance(source, (str, Path)):
            return torch.from_numpy(np.ascontiguousarray(load_log_mel(source, self.cfg.frontend).T))
        return self.features(np.asarray(source))

    def augment(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Circular time shift and one masked stretch of frames per clip (no pitch change)."""
        g = torch.Generator().manual_seed(int(seed) % (2**63))
        n, _, t = x.shape
        shifts = torch.randint(0, t, (n,), generator=g)
        widths = (torch.rand(n, generator=g) * self.cfg.time_mask * t).long()
        starts = (torch.rand(n, generator=g) * t).long()
        out = torch.stack([torch.roll(x[i], int(shifts[i]), dims=1) for i in range(n)])
        floor = out.amin(dim=(1, 2), keepdim=True)
        for i in range(n):
            a, b = int(starts[i]), min(t, int(starts[i] + widths[i]))
            out[i, :, a:b] = floor[i]
        return out

    def embed_sounds(self, mels) -> torch.Tensor:
        """(n, n_mels, frames) log-mel tensor -> (n, 384) unit rows."""
        x = mels.to(self.logit_scale.device).float()
        return F.normalize(self.sound(x).float(), dim=-1)

    def embed(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(sound_emb, text_emb) of a trainer batch; training mode applies ``augment``."""
        x = batch.images if isinstance(batch.images, torch.Tensor) else torch.stack(
            [self.load_image(s) for s in batch.images])
        x = x.float()
        if self.training:
            x = self.augment(x, batch.seed)
        return self.embed_sounds(x), self.embed_texts(batch.captions)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Sound tower (incl. projection head) and logit_scale; MiniLM is not a member at all."""
        return list(self.sound.parameters()) + [self.logit_scale]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    @torch.no_grad()
    def encode_clips(self, clips: list[np.ndarray], sr: int | None = None, batch_size: int = 32) -> np.ndarray:
        """Inference: clips (each (n,) samples at ``sr``) -> float32 (n, 384) unit rows.

        Clips of different lengths are batched by equal frame count (no padding changes a result).
        """
        was = self.training
        self.eval()
        try:
            mels = [self.features(c, sr) for c in clips]
            out = np.zeros((len(mels), self.cfg.embed_dim), np.float32)
            by_len: dict[int, list[int]] = {}
            for i, m in enumerate(mels):
                by_len.setdefault(m.shape[1], []).append(i)
            for idx in by_len.values():
                for s in range(0, len(idx), batch_size):
                    part = idx[s:s + batch_size]
                    out[part] = self.embed_sounds(torch.stack([mels[i] for i in part])).cpu().numpy()
        finally:
            self.train(was)
        return out

    # ---- export
    def save(self, directory: str | Path, half: bool = False) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (fp16 weights when ``half``)."""
        meta = {"architecture": "audio-lit-cnn1d-mod",
                "config": asdict(self.cfg), "embed_dim": self.cfg.embed_dim, "sample_rate": self.cfg.sr,
                "text_model": self.cfg.text_model, "temperature": float(1.0 / self.logit_scale.detach().exp()),
                "parameters": self.num_parameters()}
        return save_pretrained(self, directory, FORMAT, VERSION, meta, half)


def load_audio_lit(directory: str | Path, device: str = "cpu") -> AudioLitModel:
    """Read a directory written by ``AudioLitModel.save`` into an eval-mode model.

    Raises:
        FileNotFoundError / ValueError: missing files or not an audio-lit directory.
    """
    meta, state = read_pretrained(directory, FORMAT, VERSION, "audio-lit")
    model = AudioLitModel(AudioLitConfig.from_dict(meta["config"]), seed=None)
    model.load_state_dict(state)
    return model.to(device).eval()


__all__ = ["AudioLitConfig", "AudioLitModel", "SoundTower", "load_audio_lit"]
