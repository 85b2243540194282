"""PyAV helpers shared by the media modules: open a container (naming what is wrong with a broken
MP4 index), pick the video stream, read its rate and pixel aspect, demux packets and decode frames
without letting one bad packet end the file, and the canonical codec name.

Everything here takes PyAV objects; nothing imports PyAV at module import time.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Callable, Iterator

from ..errors import MediaError
from .sniff import is_cover_art


def open_container(av, path, head: bytes = b""):
    """av.open with errors turned into MediaError (an MP4 that will not open: what is wrong with its index)."""
    try:
        return av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many types
        if head[4:8] in (b"ftyp", b"mdat", b"moov", b"free", b"wide"):
            raise MediaError(path, f"{moov_state(path)} ({getattr(exc, 'strerror', None) or exc})") from exc
        raise MediaError(path, f"cannot open video: {exc}") from exc


def video_stream(path, container):
    """The first real video stream (cover art excluded), else MediaError."""
    for stream in container.streams.video:
        if not is_cover_art(stream):
            return stream
    raise MediaError(path, "no video stream")


def rate(stream) -> float:
    """Average frame rate of a stream as a float (0 when unknown)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) < 1000:
            return float(rate)
    return 0.0


def decode_rotation(stream, packet) -> int:
    """Decode one keyframe packet to read the display-matrix rotation (0 when absent)."""
    try:
        frames = list(packet.decode()) + list(stream.codec_context.decode(None))
    except Exception:  # noqa: BLE001 - rotation is best effort
        return 0
    return int(round(frames[0].rotation)) % 360 if frames else 0


def packets(container, stream, errors: list[str]) -> Iterator:
    """Demux one stream; a demux error (truncated file) ends the iteration and is recorded."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt container
            errors.append(str(exc))
            return
        yield packet


def frames(container, stream, errors: list[str], keep: Callable | None = None) -> Iterator:
    """Decode frames packet by packet; skip packets that fail (recorded) or that ``keep`` rejects."""
    for packet in packets(container, stream, errors):
        if keep is not None and packet.size and not keep(packet):
            continue
        try:
            frames = packet.decode()
        except Exception as exc:  # noqa: BLE001 - corrupt packet: skip it
            errors.append(str(exc))
            continue
        yield from frames


def frames_between(av, path, t0: float, t1: float, errors: list[str], samples: int = 0,
                   keep_keys: bool = False) -> Iterator:
    """Decoded frames of ``path``'s video whose time lies in [t0, t1] (seeking near ``t0`` first;
    an unseekable file is decoded from its start), as ``(time, frame)``.

    Args:
        av: the PyAV module.
        t0, t1: the stretch in seconds.
        errors: collects what went wrong (a failed seek, bad packets).
        samples: when > 0, only the first frame at or after each of this many evenly spaced times
            (memory stays bounded for long stretches).
        keep_keys: with ``samples``, key frames are kept as well.
    """
    import numpy as np

    wanted = np.linspace(t0, t1, samples) if samples > 0 else None
    with open_container(av, path) as container:
        stream = video_stream(path, container)
        stream.thread_type = "AUTO"
        if t0 > 0:
            try:
                container.seek(int(max(0.0, t0) / float(stream.time_base)), stream=stream, backward=True)
            except Exception as exc:  # noqa: BLE001 - unseekable: decode from the start
                errors.append(str(exc))
        k = 0
        for frame in frames(container, stream, errors):
            t = frame.time
            if t is None or t < t0 - 1e-3:
                continue
            if t > t1 + 1e-3:
                break
            if wanted is not None:
                if (k >= len(wanted) or t < wanted[k] - 1e-4) and not (keep_keys and frame.key_frame):
                    continue
                while k < len(wanted) and wanted[k] <= t + 1e-4:
                    k += 1
            yield t, frame


def sar(stream) -> float:
    """Sample (pixel) aspect ratio of a stream, 1.0 when unknown."""
    sar = stream.sample_aspect_ratio
    return float(sar) if sar and float(sar) > 0 else 1.0


def moov_state(path: str | Path) -> str:
    """Why an MP4 cannot be opened, from its top-level boxes: index missing, cut off or corrupt."""
    boxes = top_level_boxes(path)
    moov = [complete for kind, complete in boxes if kind == b"moov"]
    if not moov:
        return ("MP4 index (moov atom) is missing: the file was probably cut off before its index "
                "was written (interrupted download or unfinished recording)")
    if not moov[0]:
        return "MP4 index (moov atom) is cut off: the file is truncated"
    return "MP4 index (moov atom) is corrupt"


def top_level_boxes(path: str | Path) -> list[tuple[bytes, bool]]:
    """(type, whether the file holds all of it) for each top-level ISO-BMFF box, until one is bogus."""
    total = os.path.getsize(path)
    boxes: list[tuple[bytes, bool]] = []
    pos = 0
    with open(path, "rb") as fh:
        while pos + 8 <= total:
            fh.seek(pos)
            header = fh.read(16)
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1 and len(header) == 16:
                size = struct.unpack(">Q", header[8:16])[0]
            elif size == 0:
                size = total - pos
            if size < 8:
                break
            boxes.append((kind, pos + size <= total))
            pos += size
    return boxes


def codec_name(codec_context) -> str:
    """Canonical codec name ("av1", not the decoder "libdav1d")."""
    codec = codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name
