"""Probe videos from their packets and sample frames with the cheapest decode strategy.

Cost model (unit: one decoded frame; demuxing, which reads but does not decode, is free):

* ``keyframes`` -- decode only the keyframe nearest each sample time, nothing else
  (``skip_frame="NONKEY"``; non-key packets are never sent to the decoder). Cost: one frame per
  distinct keyframe used. Usable only when every sample time has a keyframe within half a sample
  interval, i.e. keyframes are at least about as dense as the wanted samples.
* ``seek`` -- per sample, seek to the keyframe at or before it and decode forward to it; when the
  previous sample is already past that keyframe, keep decoding forward instead of seeking.
  Cost: sum of (t - max(keyframe_before(t), previous t)) * fps + 1, plus ``SEEK_OVERHEAD`` per
  seek; on average about ``mean_gop * fps / 2`` frames per sample.
* ``decode`` -- decode every frame up to the last sample time, frame-threaded. Cost: that many
  frames times ``SEQUENTIAL_FRAME_COST`` (a threaded sequential decode is cheaper per frame than
  the restart-after-seek decodes, so "seek" must save a real share of the frames to win).

``choose_strategy`` picks the cheapest usable one (ties favour keyframes, then seek).
"""
from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .._require import require
from ..errors import MediaError
from . import pyav
from .sniff import read_head

STRATEGIES = ("keyframes", "seek", "decode")
SEEK_OVERHEAD = 3.0  # decoded-frame equivalents per seek (flush, index lookup, re-reading data)
SEQUENTIAL_FRAME_COST = 0.85  # cost of one frame in a frame-threaded sequential decode


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, learned from headers and packet demuxing (no decoding but one frame)."""

    path: str  # the file
    duration: float  # seconds covered by the video packets (first PTS to last PTS + duration)
    fps: float  # average frame rate
    width: int  # coded width in pixels (before rotation)
    height: int  # coded height in pixels (before rotation)
    codec: str  # FFmpeg decoder name: "h264", "hevc", "vp9", "av1", ...
    n_frames: int  # number of video packets (= frames for all common codecs)
    keyframe_times: tuple[float, ...]  # PTS in seconds of every keyframe packet, sorted
    has_audio: bool  # the container also has an audio stream
    rotation: int  # counter-clockwise degrees to rotate frames for display (0, 90, 180, 270)
    start_time: float = 0.0  # PTS in seconds of the first video packet
    declared_duration: float = 0.0  # duration the container header claims (0 when unknown): more than `duration` means truncated

    @property
    def mean_gop(self) -> float:
        """Mean seconds between keyframes (the whole duration when there is one keyframe)."""
        return self.duration / max(1, len(self.keyframe_times))


@dataclass
class Frame:
    """One sampled video frame."""

    t: float  # real presentation time of the decoded frame, in seconds
    image: object  # PIL.Image.Image, RGB, rotated upright, longest side <= max_side


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's stream facts and keyframe times by demuxing its packets.

    Args:
        path: video file (MP4/MOV, MKV/WebM, AVI, ...).
    Returns:
        A VideoInfo.
    Raises:
        MediaError: unreadable, no video stream, or truncated/corrupt container.
    """
    av = require("av", "video")
    head = read_head(path, 16)
    container = pyav.open_container(av, path, head)
    with container:
        stream = pyav.video_stream(path, container)
        times, key_times, end, rotation = _scan_packets(container, stream)
        if not times:
            raise MediaError(path, "truncated or corrupt video: no video packets could be read")
        start = min(times)
        duration = max(end - start, 0.0)
        fps = pyav.rate(stream) or (len(times) / duration if duration > 0 else 25.0)
        cc = stream.codec_context
        return VideoInfo(
            path=str(path), duration=duration, fps=fps, width=cc.width, height=cc.height,
            codec=pyav.codec_name(cc), n_frames=len(times), keyframe_times=tuple(sorted(key_times)),
            has_audio=bool(container.streams.audio), rotation=rotation, start_time=start,
            declared_duration=(container.duration or 0) / 1_000_000,
        )


def _scan_packets(container, stream) -> tuple[list[float], list[float], float, int]:
    """Demux the video stream: packet times, keyframe times, end time, rotation of frame one."""
    tb = float(stream.time_base)
    default_dur = 1.0 / (pyav.rate(stream) or 25.0)
    times: list[float] = []
    keys: list[float] = []
    end, rotation = 0.0, None
    for packet in pyav.packets(container, stream, []):
        if packet.pts is None or packet.size == 0:
            continue
        t = packet.pts * tb
        times.append(t)
        end = max(end, t + (packet.duration * tb if packet.duration else default_dur))
        if packet.is_keyframe:
            keys.append(t)
            if rotation is None:
                rotation = pyav.decode_rotation(stream, packet)
    return times, keys, end, rotation or 0


def sample_times(info: VideoInfo, fps: float) -> list[float]:
    """Sample times every ``1/fps`` s from the first frame (at least one).

    Args:
        info: probed video.
        fps: samples per second.
    Returns:
        Absolute times in seconds.
    """
    if fps <= 0:
        raise ValueError("fps must be > 0")
    n = max(1, int(math.floor(info.duration * fps - 1e-9)) + 1)
    return [info.start_time + i / fps for i in range(n)]


def _nearest(sorted_times: tuple[float, ...], t: float) -> float:
    """The value of ``sorted_times`` closest to ``t``."""
    i = bisect.bisect_left(sorted_times, t)
    cands = sorted_times[max(0, i - 1): i + 1]
    return min(cands, key=lambda k: abs(k - t))


def _before(sorted_times: tuple[float, ...], t: float, eps: float) -> float:
    """The last value of ``sorted_times`` at or before ``t + eps`` (the first value if none)."""
    i = bisect.bisect_right(sorted_times, t + eps)
    return sorted_times[max(0, i - 1)]


def estimate_costs(info: VideoInfo, fps: float) -> dict[str, float]:
    """Decoded-frame cost of each strategy for sampling ``fps`` frames per second.

    Args:
        info: probed video.
        fps: samples per second.
    Returns:
        {"keyframes": cost or inf when keyframes are too sparse, "seek": cost, "decode": cost}.
    """
    targets = sample_times(info, fps)
    keys = info.keyframe_times or (info.start_time,)
    half_frame = 0.5 / info.fps
    tol = 0.5 / fps + half_frame
    dense = all(abs(_nearest(keys, t) - t) <= tol for t in targets)
    key_cost = float(len({_nearest(keys, t) for t in targets})) if dense else math.inf
    seek_cost, pos = 0.0, -math.inf
    for t in targets:
        kf = _before(keys, t, half_frame)
        if kf > pos + half_frame:
            seek_cost += SEEK_OVERHEAD
        seek_cost += max(0.0, t - max(kf, pos)) * info.fps + 1
        pos = t
    frames_to_last = min(float(info.n_frames), (targets[-1] - info.start_time) * info.fps + 1)
    decode_cost = SEQUENTIAL_FRAME_COST * frames_to_last
    return {"keyframes": key_cost, "seek": seek_cost, "decode": decode_cost}


def choose_strategy(info: VideoInfo, fps: float) -> str:
    """Pick "keyframes", "seek" or "decode": the cheapest that meets the sampling need.

    Args:
        info: probed video (its keyframe times drive the estimate).
        fps: wanted samples per second.
    Returns:
        The strategy name; see the module docstring for the cost model.
    """
    costs = estimate_costs(info, fps)
    return min(STRATEGIES, key=lambda s: (costs[s], STRATEGIES.index(s)))


def sample_frames(
    path: str | Path,
    fps: float = 0.5,
    max_frames: int | None = None,
    strategy: str = "auto",
    max_side: int = 512,
    info: VideoInfo | None = None,
    stats: dict | None = None,
    on_frame: Callable | None = None,
) -> tuple[str, list[Frame]]:
    """Sample frames about every ``1/fps`` seconds, decoding as little as possible.

    Args:
        path: video file.
        fps: samples per second (lowered so at most ``max_frames`` samples span the video).
        max_frames: cap on the number of frames returned.
        strategy: "auto", "keyframes", "seek" or "decode".
        max_side: downscale so the longest side is at most this many pixels.
        info: a VideoInfo from probe_video, to avoid probing twice.
        stats: if given, filled with {"decoded": frames decoded, "targets": n, "errors": [...],
            "decode_s": seconds waiting on the decoder}.
        on_frame: called with each Frame as soon as it is converted, while decoding goes on (a
            consumer can embed it meanwhile); the returned frames are the same objects.
    Returns:
        (strategy used, frames in time order; the first is near the start).
    Raises:
        MediaError: not a readable video, or no frame could be decoded.
    """
    av = require("av", "video")
    info = info or probe_video(path)
    if max_frames is not None and max_frames >= 1 and info.duration * fps + 1 > max_frames:
        fps = max_frames / info.duration if max_frames > 1 and info.duration > 0 else 1e-6
    if strategy == "auto":
        strategy = choose_strategy(info, fps)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use auto, {', '.join(STRATEGIES)}")
    targets = sample_times(info, fps)[: max_frames or None]
    sampler = {"keyframes": _sample_keyframes, "seek": _sample_seek, "decode": _sample_decode}[strategy]
    errors: list[str] = []
    with pyav.open_container(av, path) as container:
        stream = pyav.video_stream(path, container)
        convert = Converter(max_side, pyav.sar(stream), on_frame)
        frames, decoded = sampler(container, stream, info, targets, convert, errors)
    if stats is not None:
        stats.update(decoded=decoded, targets=len(targets), errors=errors, decode_s=convert.wait_s)
    if not frames:
        raise MediaError(path, f"no video frame could be decoded ({'; '.join(errors[:2]) or 'empty stream'})")
    return strategy, frames


def to_frame(frame, max_side: int, sar: float) -> Frame:
    """Convert a decoded VideoFrame to a Frame: scaled in FFmpeg, then rotated upright."""
    w, h = frame.width * max(sar, 1.0), frame.height / min(sar, 1.0)
    scale = min(1.0, max_side / max(w, h))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    image = frame.to_image(width=tw, height=th, interpolation="AREA")
    rotation = int(round(frame.rotation)) % 360
    if rotation:
        Image = require("PIL.Image", "image")
        op = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
        image = image.transpose(op[rotation]) if rotation in op else image.rotate(rotation, expand=True)
    return Frame(float(frame.time), image)


class Converter:
    """Decoded VideoFrame -> Frame with one reused single-thread FFmpeg scaler (a new scaler per
    frame, as ``to_image(width=...)`` builds, costs about twice as much CPU at 1080p).

    Args:
        max_side: longest side of the converted frames.
        sar: the stream's sample aspect ratio (frames are scaled to their display shape).
        on_frame: called with each converted Frame.
    """

    def __init__(self, max_side: int, sar: float = 1.0, on_frame: Callable | None = None):
        from av.video.reformatter import VideoReformatter

        self.max_side, self.sar, self.on_frame = max_side, sar, on_frame
        self._scaler = VideoReformatter()
        self.wait_s = 0.0  # seconds spent waiting on the decoder, filled by ``timed``

    def __call__(self, vframe) -> Frame:
        w, h = vframe.width * max(self.sar, 1.0), vframe.height / min(self.sar, 1.0)
        scale = min(1.0, self.max_side / max(w, h))
        size = max(1, round(w * scale)), max(1, round(h * scale))
        small = self._scaler.reformat(vframe, size[0], size[1], "rgb24", interpolation="AREA", threads=1)
        frame = to_frame(small, self.max_side, 1.0)  # keeps time and rotation; nothing left to scale
        if self.on_frame is not None:
            self.on_frame(frame)
        return frame

    def timed(self, frames: Iterator) -> Iterator:
        """Yield from ``frames``, adding the seconds spent waiting for each to ``wait_s``."""
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            self.wait_s += time.perf_counter() - t0
            if frame is None:
                return
            yield frame


def _sample_keyframes(container, stream, info, targets, convert, errors) -> tuple[list[Frame], int]:
    """Decode only the keyframes nearest the targets; other packets never reach the decoder."""
    keys = info.keyframe_times or (info.start_time,)
    wanted = {round(_nearest(keys, t), 6) for t in targets}
    tb = float(stream.time_base)
    stream.codec_context.skip_frame = "NONKEY"

    def keep(packet) -> bool:
        return packet.is_keyframe and packet.pts is not None and round(packet.pts * tb, 6) in wanted

    out: list[Frame] = []
    decoded = 0
    for frame in convert.timed(pyav.frames(container, stream, errors, keep)):
        decoded += 1
        if frame.time is not None:
            out.append(convert(frame))
        if len(out) == len(wanted):
            break
    return sorted(out, key=lambda f: f.t), decoded


def _sample_decode(container, stream, info, targets, convert, errors) -> tuple[list[Frame], int]:
    """Decode every frame up to the last target; keep the first frame at or after each target."""
    stream.thread_type = "AUTO"
    half = 0.5 / info.fps
    out: list[Frame] = []
    decoded, i = 0, 0
    for frame in convert.timed(pyav.frames(container, stream, errors)):
        decoded += 1
        t = frame.time
        if t is None or t < targets[i] - half:
            continue
        out.append(convert(frame))
        while i < len(targets) and targets[i] - half <= t:
            i += 1
        if i == len(targets):
            break
    return out, decoded


def _sample_seek(container, stream, info, targets, convert, errors) -> tuple[list[Frame], int]:
    """Seek to the keyframe before each target (unless already past it) and decode forward."""
    keys = info.keyframe_times or (info.start_time,)
    half = 0.5 / info.fps
    tb = stream.time_base
    out: list[Frame] = []
    decoded, pos, frames = 0, -math.inf, iter(())
    for t in targets:
        if t <= pos + half:
            continue  # the last frame kept already covers this target
        if _before(keys, t, half) > pos + half:
            try:
                container.seek(int(math.floor(t / tb)), stream=stream, backward=True)
            except Exception as exc:  # noqa: BLE001 - unseekable: fall through to forward decode
                errors.append(f"seek failed: {exc}")
            frames = convert.timed(pyav.frames(container, stream, errors))
        for frame in frames:
            decoded += 1
            if frame.time is not None and frame.time >= t - half:
                out.append(convert(frame))
                pos = frame.time
                break
        else:
            break  # end of stream (or damage) before this target
    return out, decoded
