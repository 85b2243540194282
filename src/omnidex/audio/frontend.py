"""The textbook audio front end: decode -> resample -> mono -> peak-normalise -> frames -> log-mel.

Every step is a small public function so each can be tested on known signals:

* ``resample``: polyphase windowed-sinc (``scipy.signal.resample_poly``, Kaiser window) to a common
  rate, 16 kHz by default; without SciPy, FFmpeg's swresample through PyAV.
* ``to_mono``: average of the channels.
* ``peak_normalise``: scale so the largest |sample| is 1 (amplitude in [-1, 1]); silence stays zero.
* ``frame_signal``: 25 ms windows every 10 ms (400 / 160 samples at 16 kHz). Padding rule: no centre
  padding, so a signal of N >= 400 samples gives ``1 + (N - 400) // 160`` frames (a trailing partial
  frame is dropped); 0 < N < 400 is zero-padded to one frame; N = 0 gives no frames.
* ``power_spectrum``: periodic Hann window, ``n_fft`` = 512 (the 400-sample frame zero-padded), |rFFT|^2.
* ``mel_filterbank``: ``n_mels`` = 64 triangular filters, HTK (2595 log10(1 + f/700)) or Slaney mel scale,
  between ``fmin`` and ``fmax`` (default Nyquist), each peaking at 1 (or area-normalised).
* ``log_mel``: natural log of the mel energies, floored at ``log_floor`` so silence is finite.

Files are decoded with :func:`omnidex.media.audio.load_audio`, which resamples and mixes down inside
FFmpeg (swresample, also windowed sinc) while decoding, so a long sound track never sits in memory at
its native rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16_000  # the common rate of the front end (Hz)


@dataclass(frozen=True)
class FrontendConfig:
    """Log-mel parameters (defaults: 16 kHz, 25 ms / 10 ms, 512-point FFT, 64 HTK mels, 0-8 kHz)."""

    sr: int = SR  # common sample rate every input is resampled to (Hz)
    win_s: float = 0.025  # frame (window) length in seconds: 400 samples at 16 kHz
    hop_s: float = 0.010  # hop between frame starts in seconds: 160 samples at 16 kHz
    n_fft: int = 512  # FFT size (>= window length; the frame is zero-padded)
    n_mels: int = 64  # mel bands
    fmin: float = 0.0  # lowest filter edge (Hz)
    fmax: float | None = None  # highest filter edge (Hz); None = Nyquist (sr / 2)
    mel_scale: str = "htk"  # "htk" or "slaney"
    mel_norm: str | None = None  # None (filters peak at 1) or "slaney" (equal area)
    log_floor: float = 1e-10  # mel energies below this are clamped before the log (silence stays finite)

    @property
    def win(self) -> int:
        """Window length in samples."""
        return int(round(self.win_s * self.sr))

    @property
    def hop(self) -> int:
        """Hop length in samples."""
        return int(round(self.hop_s * self.sr))


def n_frames(n_samples: int, win: int = 400, hop: int = 160) -> int:
    """Frames that :func:`frame_signal` makes of ``n_samples`` samples (see the padding rule above)."""
    if n_samples <= 0:
        return 0
    if n_samples < win:
        return 1
    return 1 + (n_samples - win) // hop


# ---------------------------------------------------------------- sample-level steps

def to_mono(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) samples -> (n,) float32, the mean of the channels."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n, channels), got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(samples: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    """Resample mono samples from ``sr_in`` to ``sr_out`` Hz with a polyphase windowed-sinc filter.

    Args:
        samples: (n,) float samples.
        sr_in: their rate (any positive integer: 8000, 22050, 44100, 48000, ...).
        sr_out: the target rate.
    Returns:
        float32 (round(n * sr_out / sr_in),) samples; the input itself when the rates match.
    Raises:
        ValueError: a non-positive rate.
    """
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    x = np.asarray(samples, dtype=np.float32)
    if sr_in == sr_out or x.size == 0:
        return x.astype(np.float32, copy=False)
    g = math.gcd(sr_in, sr_out)
    try:
        from scipy.signal import resample_poly
    except ImportError:  # pragma: no cover - scipy is normally present
        return _resample_av(x, sr_in, sr_out)
    y = resample_poly(x.astype(np.float64), sr_out // g, sr_in // g)
    return y.astype(np.float32)


def _resample_av(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """FFmpeg's swresample through PyAV (fallback when SciPy is missing)."""
    from .._require import require

    av = require("av", "video")
    frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = sr_in
    rs = av.AudioResampler(format="flt", layout="mono", rate=sr_out)
    out = [f.to_ndarray().reshape(-1) for f in rs.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def peak_normalise(samples: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Scale so the peak |sample| is 1 (the result lies in [-1, 1]); all-silent input stays zeros.

    Args:
        samples: (n,) float samples.
        eps: peaks at or below this count as silence (no division by ~0).
    Returns:
        float32 (n,) samples.
    """
    x = np.asarray(samples, dtype=np.float32)
    peak = float(np.abs(x).max(initial=0.0))
    if not np.isfinite(peak):
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        peak = float(np.abs(x).max(initial=0.0))
    if peak <= eps:
        return np.zeros_like(x, dtype=np.float32)
    return (x / peak).astype(np.float32)


def prepare(samples: np.ndarray, sr: int, cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Mono, resampled to ``cfg.sr`` and peak-normalised samples ready for framing."""
    return peak_normalise(resample(to_mono(samples), sr, cfg.sr))


# ---------------------------------------------------------------- frame-level steps

def frame_signal(samples: np.ndarray, win: int = 400, hop: int = 160) -> np.ndarray:
    """Cut (n,) samples into overlapping frames (no centre padding; see the module's padding rule).

    Returns:
        float32 (n_frames(n, win, hop), win) array (a strided view copied once).
    """
    x = np.asarray(samples, dtype=np.float32)
    count = n_frames(x.size, win, hop)
    if count == 0:
        return np.zeros((0, win), np.float32)
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    view = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    return np.ascontiguousarray(view[:count], dtype=np.float32)


def hann(win: int) -> np.ndarray:
    """Periodic Hann window of ``win`` samples (the DFT-even form used for spectral analysis)."""
    n = np.arange(win)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / win)).astype(np.float32)


def power_spectrum(frames: np.ndarray, n_fft: int = 512) -> np.ndarray:
    """|rFFT|^2 of Hann-windowed frames, zero-padded to ``n_fft``: (n_frames, n_fft // 2 + 1) float32."""
    frames = np.asarray(frames, dtype=np.float32)
    win = frames.shape[1]
    if win > n_fft:
        raise ValueError(f"frame length {win} is longer than n_fft {n_fft}")
    spec = np.fft.rfft(frames * hann(win)[None, :], n=n_fft, axis=1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def hz_to_mel(hz, scale: str = "htk"):
    """Hertz -> mel on the HTK (2595 log10(1 + f/700)) or Slaney (linear < 1 kHz, log above) scale."""
    f = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if scale == "slaney":
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, f / f_sp)
    raise ValueError(f"mel scale must be 'htk' or 'slaney', not {scale!r}")


def mel_to_hz(mel, scale: str = "htk"):
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if scale == "slaney":
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)
    raise ValueError(f"mel scale must be 'htk' or 'slaney', not {scale!r}")


def mel_edges(cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """The ``n_mels + 2`` filter corner frequencies (Hz), equally spaced in mel from fmin to fmax."""
    fmax = cfg.sr / 2.0 if cfg.fmax is None else float(cfg.fmax)
    if not 0.0 <= cfg.fmin < fmax <= cfg.sr / 2.0:
        raise ValueError(f"need 0 <= fmin < fmax <= sr/2, got fmin={cfg.fmin}, fmax={fmax}, sr={cfg.sr}")
    lo, hi = hz_to_mel(cfg.fmin, cfg.mel_scale), hz_to_mel(fmax, cfg.mel_scale)
    return mel_to_hz(np.linspace(lo, hi, cfg.n_mels + 2), cfg.mel_scale)


def triangles(freqs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Triangular filter responses (n_mels, len(freqs)) at ``freqs`` Hz for corner frequencies ``edges``."""
    f = np.asarray(freqs, dtype=np.float64)[None, :]
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (f - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - f) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down))


def mel_filterbank(cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular mel filters over the rFFT bins."""
    edges = mel_edges(cfg)
    fb = triangles(np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sr), edges)
    if cfg.mel_norm == "slaney":
        fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif cfg.mel_norm is not None:
        raise ValueError(f"mel_norm must be None or 'slaney', not {cfg.mel_norm!r}")
    return fb.astype(np.float32)


def band_of(freq_hz: float, cfg: FrontendConfig = FrontendConfig()) -> int:
    """Index of the mel band whose triangle responds most to ``freq_hz`` (the band containing it)."""
    return int(np.argmax(triangles(np.array([freq_hz]), mel_edges(cfg))[:, 0]))


# ---------------------------------------------------------------- whole pipeline

def log_mel(samples: np.ndarray, sr: int = SR, cfg: FrontendConfig = FrontendConfig(),
            normalise: bool = True) -> np.ndarray:
    """Samples at any rate -> log-mel features (n_frames, n_mels) float32.

    Args:
        samples: (n,) or (n, channels) samples.
        sr: their sample rate.
        cfg: front-end parameters.
        normalise: peak-normalise first (the textbook step; False keeps absolute level).
    Returns:
        ``log(max(mel_energy, cfg.log_floor))`` per frame and band; (0, n_mels) for empty input.
    """
    x = resample(to_mono(samples), sr, cfg.sr)
    if normalise:
        x = peak_normalise(x)
    frames = frame_signal(x, cfg.win, cfg.hop)
    if len(frames) == 0:
        return np.zeros((0, cfg.n_mels), np.float32)
    mel = power_spectrum(frames, cfg.n_fft) @ _filterbank(cfg).T
    return np.log(np.maximum(mel, cfg.log_floor)).astype(np.float32)


def log_mel_batch(clips: list[np.ndarray], sr: int = SR, cfg: FrontendConfig = FrontendConfig(),
                  chunk: int = 128) -> np.ndarray:
    """:func:`log_mel` of many equal-length mono clips at once (one FFT per chunk): (n, frames, n_mels).

    Raises:
        ValueError: clips of different lengths.
    """
    xs = [prepare(c, sr, cfg) for c in clips]
    if len({len(x) for x in xs}) > 1:
        raise ValueError("log_mel_batch needs clips of equal length")
    if not xs:
        return np.zeros((0, 0, cfg.n_mels), np.float32)
    count, fb, window = n_frames(len(xs[0]), cfg.win, cfg.hop), _filterbank(cfg), hann(cfg.win)
    out = []
    for i in range(0, len(xs), chunk):
        frames = np.stack([frame_signal(x, cfg.win, cfg.hop) for x in xs[i:i + chunk]])
        spec = np.fft.rfft(frames * window, n=cfg.n_fft, axis=2)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32).reshape(-1, spec.shape[2])
        mel = (power @ fb.T).reshape(len(frames), count, cfg.n_mels)  # one 2-D GEMM (a batched one is slow)
        out.append(np.log(np.maximum(mel, cfg.log_floor)).astype(np.float32))
    return np.concatenate(out).reshape(len(xs), count, cfg.n_mels)


_FB_CACHE: dict[FrontendConfig, np.ndarray] = {}


def _filterbank(cfg: FrontendConfig) -> np.ndarray:
    if cfg not in _FB_CACHE:
        _FB_CACHE[cfg] = mel_filterbank(cfg)
    return _FB_CACHE[cfg]


def load(path: str | Path, sr: int = SR) -> np.ndarray:
    """Decode a file's first audio stream to mono float32 at ``sr`` Hz, peak-normalised to [-1, 1].

    Raises:
        MediaError: zero-byte, unreadable, no audio stream, or nothing decodable (names the file).
    """
    from ..media.audio import load_audio

    return peak_normalise(load_audio(path, sr=sr))


def load_log_mel(path: str | Path, cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """A file's log-mel features (decode at ``cfg.sr``, mono, peak-normalise, frame, mel, log)."""
    return log_mel(load(path, cfg.sr), cfg.sr, cfg, normalise=False)


__all__ = ["FrontendConfig", "SR", "n_frames", "to_mono", "resample", "peak_normalise", "prepare",
           "frame_signal", "hann", "power_spectrum", "hz_to_mel", "mel_to_hz", "mel_filterbank",
           "band_of", "log_mel", "log_mel_batch", "load", "load_log_mel"]
