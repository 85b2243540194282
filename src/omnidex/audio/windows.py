"""Cut a sound track into overlapping windows for the ``sound`` space, skipping digital silence."""
from __future__ import annotations

from pathlib import Path

import numpy as np

SILENCE_PEAK = 1e-4  # a window whose |sample| never exceeds this (-80 dBFS) is digital silence
MIN_WINDOW_S = 0.25  # a track shorter than this is not embedded


def sound_windows(samples: np.ndarray, sr: int, window_s: float = 3.0, hop_s: float | None = None,
                  silence: float = SILENCE_PEAK) -> list[tuple[float, float, np.ndarray]]:
    """Overlapping windows of a mono track.

    Windows start every ``hop_s`` (default half a window); when the last regular window ends more than
    half a hop before the end, one more window is aligned to the end, so the tail is covered. A track
    shorter than one window is one window. Windows of digital silence are skipped.

    Args:
        samples: (n,) float32 mono samples.
        sr: their rate.
        window_s: window length in seconds.
        hop_s: hop between window starts (seconds); None = ``window_s / 2``.
        silence: peak level at or below which a window is skipped.
    Returns:
        [(start s, end s, samples view)], in time order.
    """
    x = np.asarray(samples, dtype=np.float32)
    n, win = x.size, max(1, int(round(window_s * sr)))
    hop = max(1, int(round((hop_s if hop_s else window_s / 2) * sr)))
    if n < MIN_WINDOW_S * sr:
        return []
    starts = list(range(0, max(1, n - win + 1), hop)) if n >= win else [0]
    if n > win and starts[-1] + win < n - hop // 2:
        starts.append(n - win)
    out = []
    for a in starts:
        seg = x[a:a + win]
        if float(np.abs(seg).max(initial=0.0)) > silence:
            out.append((a / sr, min(n, a + win) / sr, seg))
    return out


def sound_pieces(path: str | Path, cfg, models) -> tuple[list, str]:
    """A file's sound windows as ``Piece("sound", ...)`` with samples at the sound encoder's rate.

    Never raises for a bad track: the note says why nothing was embedded.

    Args:
        path: audio or video file.
        cfg: IndexConfig (``sound``, ``sound_window_s``).
        models: the ingest's Models (its ``sound`` encoder decides the sample rate).
    Returns:
        (pieces, note).
    """
    from ..errors import MediaError
    from ..types import Piece
    from ..media.audio import load_audio

    enc = models.encoder("sound") if getattr(cfg, "sound", False) else None
    if enc is None:
        return [], ""
    try:
        samples = load_audio(path, sr=enc.sample_rate)
    except MediaError as exc:
        return [], f"sound not embedded: {exc.reason}"
    wins = sound_windows(samples, enc.sample_rate, getattr(cfg, "sound_window_s", 3.0))
    pieces = [Piece("sound", a, b, "s", audio=seg) for a, b, seg in wins]
    return pieces, (f"sound: {len(pieces)} windows" if pieces else "sound: silent")
