"""Decode any audio (or the audio track of a video) to mono float32 at a fixed rate with PyAV."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._require import require
from ..errors import MediaError
from .sniff import read_head

MIN_SECONDS = 0.01  # a decode that yields less than this is treated as a failure


def load_audio(path: str | Path, sr: int = 16000) -> np.ndarray:
    """Decode the first audio stream of ``path`` to mono float32 samples at ``sr`` Hz.

    Any container/codec FFmpeg knows works (WAV, MP3, FLAC, Ogg Vorbis/Opus, M4A/AAC, and the
    audio track of MP4/MKV/WebM videos), at any input rate and channel count. A truncated or
    partly corrupt file gives the audio decoded up to the damage.

    Args:
        path: media file.
        sr: output sample rate in Hz.
    Returns:
        1-D float32 array in [-1, 1].
    Raises:
        MediaError: no audio stream, or nothing decodable.
    """
    av = require("av", "video")
    read_head(path, 16)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many types
        raise MediaError(path, f"cannot open media: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise MediaError(path, "no audio stream")
        chunks, error = _decode_resampled(av, container, container.streams.audio[0], sr)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size < MIN_SECONDS * sr:
        reason = f"corrupt or truncated audio: {error}" if error else "audio stream decoded to no samples"
        raise MediaError(path, reason)
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


def _decode_resampled(av, container, stream, sr: int) -> tuple[list[np.ndarray], str | None]:
    """Demux + decode + resample one stream; stop at the first demux error, skip bad packets.

    Returns:
        (list of float32 mono chunks, first error message or None).
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
    chunks: list[np.ndarray] = []
    error: str | None = None
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - truncated file: keep what we have
            error = error or str(exc)
            break
        try:
            frames = packet.decode()  # packet.dts None = flush packet at the end
        except Exception as exc:  # noqa: BLE001 - one corrupt packet: skip it
            error = error or str(exc)
            continue
        for frame in frames:
            frame.pts = None  # let the resampler follow sample counts, not gappy timestamps
            chunks.extend(_to_mono(f) for f in resampler.resample(frame))
    try:
        chunks.extend(_to_mono(f) for f in resampler.resample(None))
    except Exception as exc:  # noqa: BLE001
        error = error or str(exc)
    return [c for c in chunks if c.size], error


def _to_mono(frame) -> np.ndarray:
    """A packed-float mono AudioFrame as a 1-D float32 array (a copy)."""
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1).copy()


def has_audio(path: str | Path) -> bool:
    """Whether ``path`` opens as media with at least one audio stream.

    Args:
        path: media file.
    Returns:
        True when an audio stream exists; False for no audio or an unreadable file.
    """
    av = require("av", "video")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.streams.audio)
    except Exception:  # noqa: BLE001 - unreadable counts as "no audio"
        return False
