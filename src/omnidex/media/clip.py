"""Export a moment of a video as a new file: stream copy when it can, frame-accurate always.

Modes (``export_clip(..., mode=...)``):

* ``copy`` -- every video packet is copied unchanged. Valid only when the start falls on a
  keyframe (within half a frame). The end may fall anywhere *in display order only if* the packets
  kept form a prefix of the stream in decode order that shows exactly the frames before the end:
  with B-frames, a frame shown before the end can depend on one shown after it, so a stream copy
  ends at the last such "clean cut" at or before the end (up to the B-frame depth, a few frames,
  early; the result says so).
* ``smart`` -- frame-accurate and near-lossless: the frames from the start to the first keyframe
  at/after it (the head) and, unless the end is a clean cut, the frames after the last clean cut
  (the tail, at most one GOP and usually a few frames) are re-encoded with the source's codec,
  profile, level, pixel format, colour tags and B-frame reorder depth; the keyframe-aligned
  middle is copied packet for packet. The parts are joined in one muxing pass (PyAV): every
  packet gets the PTS of the source frame it shows (the clip stays on the source's frame grid)
  and DTS are rebuilt for the joined stream.
  Parameter sets: H.264 parts are encoded with SPS/PPS ids the source does not use (x264
  ``sps-id``) and every SPS/PPS goes into the one ``avcC`` record, so the file stays a plain
  ``avc1`` stream with out-of-band parameter sets (what strict players expect). H.265 parts
  (x265 has no such option) carry their VPS/SPS/PPS in-band before every keyframe, the track is
  tagged ``hev1`` (in-band parameter sets allowed) in MP4/MOV, and a first copied CRA keyframe
  becomes a BLA (the splice NAL type HEVC defines), its skipped leading pictures being in the head.
  Other codecs (VP9, AV1, ...) fall back to ``reencode`` and the result says so.
* ``reencode`` -- the whole range is re-encoded (H.264 x264 veryfast CRF 18, H.265 sources to
  x265, VP9 for WebM output).
* ``auto`` -- ``copy`` when the start is on a keyframe and the end a clean cut, else ``smart``
  where supported, else ``reencode``.

Audio is re-encoded for exactly the span the video frames cover and both streams start at 0:
AAC in MP4/MOV (its encoder delay is cut by an edit list), Opus in Matroska/WebM (which records
Opus' pre-skip but not AAC's priming, so AAC there would start 1024 samples early). Subtitle,
data and attachment streams are left out. The output is written to a temporary name next to it
and renamed at the end: a failure never leaves a partial file.

A display rotation survives copy/smart in MP4/MOV; Matroska/WebM cannot record one, so there a
rotated source is re-encoded upright.
"""
from __future__ import annotations

import bisect
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .._require import require
from ..errors import MediaError, OmnidexError
from .sniff import is_cover_art
from .video import VideoInfo, probe_video

MODES = ("auto", "copy", "smart", "reencode")
SMART_CODECS = ("h264", "hevc")
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
WEBM_VIDEO_CODECS = ("vp8", "vp9", "av1")
PART_QUALITY = {"h264": 16, "hevc": 18}  # CRF of re-encoded heads/tails: visually lossless
REENCODE_QUALITY = {"h264": 18, "hevc": 20, "vp9": 31}
AUDIO_BITRATE = {"aac": "192k", "libopus": "128k"}
FFMPEG_HINT = "clip needs ffmpeg: apt-get install ffmpeg"
EPS = 1e-6  # seconds: tie-break for times that sit exactly half a frame from a cut

_X264_PROFILES = {"Baseline": "baseline", "Constrained Baseline": "baseline", "Main": "main",
                  "High": "high", "High 10": "high10", "High 4:2:2": "high422",
                  "High 4:4:4 Predictive": "high444"}
_X265_PROFILES = {"Main": "main", "Main 10": "main10", "Main Still Picture": "mainstillpicture"}
_HEVC_PARAMETER_SETS = (32, 33, 34)  # VPS, SPS, PPS NAL unit types
_HEVC_CRA, _HEVC_BLA_W_LP = 21, 16


@dataclass
class ClipResult:
    """What ``export_clip`` wrote."""

    path: str  # the output file
    start: float  # source time of the first frame in the clip (seconds)
    end: float  # source time where the last frame of the clip ends (seconds)
    duration: float  # video duration measured on the output file
    mode_used: str  # "copy" | "smart" | "reencode"
    reencoded_seconds: float  # video seconds re-encoded
    copied_seconds: float  # video seconds copied packet for packet
    seconds: float  # wall time of the export
    notes: list[str] = field(default_factory=list)  # clamps, fallbacks, rounding said in words

    def to_dict(self) -> dict:
        """JSON-ready dict (times rounded to the millisecond)."""
        d = asdict(self)
        for key in ("start", "end", "duration", "reencoded_seconds", "copied_seconds", "seconds"):
            d[key] = round(d[key], 3)
        return d


@dataclass(frozen=True)
class _Packet:
    """One demuxed video packet (= one frame), times in stream ticks."""

    pts: int
    duration: int
    key: bool


@dataclass
class _Source:
    """The video being cut: facts and the packets around the requested range."""

    path: Path
    info: VideoInfo
    stream_index: int  # index of the video stream in the container
    tb: Fraction  # video stream time base
    packets: list[_Packet]  # decode order, from a keyframe at/before the start past the end
    container_start: float  # the container start time ffmpeg's -ss is relative to
    facts: dict  # ffprobe's description of the video stream
    has_audio: bool
    extradata: bytes  # the codec record (avcC/hvcC for MP4/MKV H.264/H.265)

    def seconds(self, ticks: int) -> float:
        """Stream ticks to seconds."""
        return float(ticks * self.tb)


@dataclass
class _Plan:
    """Which frames the clip shows and how each stretch is made."""

    frames: list[_Packet]  # the clip's frames in display order (all re-encoded in "reencode")
    head: list[_Packet]  # smart: re-encoded frames before the first keyframe (display order)
    middle: list[_Packet]  # copied packets (decode order)
    tail: list[_Packet]  # smart: re-encoded frames after the last clean cut (display order)
    mode: str
    notes: list[str] = field(default_factory=list)


@dataclass
class _Part:
    """A stretch of output packets: re-encoded bytes, or None for the next copied source packet."""

    packets: list[tuple[bytes | None, _Packet]]  # (data, timing in source ticks)
    extradata: bytes | None  # the codec record of the bitstream the part comes from


# ---------------------------------------------------------------------------------------------
# Public API


def export_clip(src: str | Path, start: float, end: float, out: str | Path, mode: str = "auto") -> ClipResult:
    """Cut [start, end) of a video into a new file, frame-accurately.

    Args:
        src: the video file.
        start: first second to keep (source presentation time, as search hits give it).
        end: second where the clip stops (clamped to the video's end, with a note).
        out: output file: .mp4, .m4v, .mov, .mkv or .webm.
        mode: "auto", "copy", "smart" or "reencode" (see the module docstring).
    Returns:
        A ClipResult describing what was cut and how.
    Raises:
        MediaError: missing or unreadable input, bad times, unusable output path, a copy that is
            not possible (start off a keyframe), or ffmpeg failing; the message names the file.
        OmnidexError: ffmpeg/ffprobe not installed.
        ValueError: unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use {', '.join(MODES)}")
    began = time.perf_counter()
    tools = _tools()
    src_path, out_path = _check_paths(Path(src), Path(out))
    info = probe_video(src_path)
    start, end, notes = _check_times(src_path, info, float(start), float(end))
    source = _load_source(src_path, info, start, end, tools)
    plan = _plan(source, start, end, mode, out_path.suffix.lower())
    plan.notes[:0] = notes
    tmp_out = out_path.with_name(f".{out_path.stem}.omnidex-partial{out_path.suffix}")
    try:
        _make(source, plan, tmp_out, tools)
        duration = probe_video(tmp_out).duration
        os.replace(tmp_out, out_path)
    finally:
        tmp_out.unlink(missing_ok=True)
    return _result(source, plan, out_path, duration, time.perf_counter() - began)


def main_clip(args) -> int:
    """``omnidex clip``: export a file or search hit's moment and print what was done.

    Args:
        args: argparse namespace with source, start, end, out, mode, json.
    Returns:
        0 on success.
    Raises:
        OmnidexError: bad source, times or output (the CLI turns it into exit code 2).
    """
    path, start, end = resolve_source(args.source, args.start, args.end)
    result = export_clip(path, start, end, args.out, mode=args.mode)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_summary(result))
    return 0


def resolve_source(source: str, start: float | None, end: float | None) -> tuple[Path, float, float]:
    """Turn the CLI's ``source`` (a video, a hit as JSON text, or a .json file of hits) into a cut.

    Args:
        source: video path, JSON object text, or path to a .json file holding a hit or a list.
        start: override of the hit's start (required for a plain video file).
        end: override of the hit's end (required for a plain video file).
    Returns:
        (video path, start, end).
    Raises:
        OmnidexError: unreadable JSON or a hit without a path; missing start/end.
        MediaError: the source file does not exist.
    """
    hit = _load_hit(source)
    if hit is None:
        path = Path(source)
        if not path.exists():
            raise MediaError(path, "no such file")
    else:
        if not isinstance(hit.get("path"), str):
            raise OmnidexError(f"hit has no 'path': {json.dumps(hit)[:200]}")
        path = Path(hit["path"])
        start = hit.get("start") if start is None else start
        end = hit.get("end") if end is None else end
    if start is None or end is None:
        raise OmnidexError(f"{path}: give --start and --end (seconds)")
    return path, float(start), float(end)


# ---------------------------------------------------------------------------------------------
# Inputs


def _tools() -> dict[str, str]:
    """Paths of ffmpeg and ffprobe, or OmnidexError naming the package."""
    found = {name: shutil.which(name) for name in ("ffmpeg", "ffprobe")}
    if not all(found.values()):
        raise OmnidexError(FFMPEG_HINT)
    return found


def _load_hit(source: str) -> dict | None:
    """The hit a JSON string or .json file holds (the first of a list); None for a media path."""
    text = source.strip()
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OmnidexError(f"source is not valid JSON: {exc}") from exc
    elif source.lower().endswith(".json"):
        path = Path(source)
        if not path.is_file():
            raise MediaError(path, "no such file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MediaError(path, f"not a JSON hit file: {exc}") from exc
    else:
        return None
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, dict):
        raise OmnidexError(f"{source[:200]}: expected a hit object or a non-empty list of hits")
    return data


def _check_paths(src: Path, out: Path) -> tuple[Path, Path]:
    """Validate the input file and the output path; return both resolved."""
    if not src.is_file():
        raise MediaError(src, "no such file")
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        kinds = ", ".join(sorted(OUTPUT_FORMATS))
        raise MediaError(out, f"unsupported output type {suffix or '(none)'!r}; use one of {kinds}")
    src, out = src.resolve(), out.resolve()
    if out == src:
        raise MediaError(out, "output is the input file; choose another name")
    if not out.parent.is_dir():
        raise MediaError(out, f"output folder {out.parent} does not exist")
    return src, out


def _check_times(path: Path, info: VideoInfo, start: float, end: float) -> tuple[float, float, list[str]]:
    """Validate [start, end) against the video; clamp the end to the video's end with a note."""
    notes: list[str] = []
    video_end = info.start_time + info.duration
    if start < 0:
        raise MediaError(path, f"start {start:g} s is negative")
    if end <= start:
        raise MediaError(path, f"end {end:g} s must be after start {start:g} s")
    if start >= video_end - 0.5 / info.fps:
        raise MediaError(path, f"start {start:g} s is beyond the end of the video ({video_end:.3f} s)")
    if end > video_end:
        notes.append(f"end {end:g} s clamped to the video's end {video_end:.3f} s")
        end = video_end
    return start, end, notes


def _load_source(path: Path, info: VideoInfo, start: float, end: float, tools: dict) -> _Source:
    """Probe the stream facts and demux the packets covering [start, end)."""
    av = require("av", "video")
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = next(s for s in container.streams.video if not is_cover_art(s))
        tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        packets = _scan_range(container, stream, tb, info, start, end)
        has_audio = bool(container.streams.audio)
        container_start = (container.start_time or 0) / 1_000_000
        index = stream.index
        extradata = bytes(stream.codec_context.extradata or b"")
    facts = _ffprobe_stream(path, index, tools)
    return _Source(path, info, index, tb, packets, container_start, facts, has_audio, extradata)


def _scan_range(container, stream, tb: Fraction, info: VideoInfo, start: float, end: float) -> list[_Packet]:
    """Demux (no decoding) from a keyframe at/before ``start`` until past the GOP holding ``end``.

    Seeks, and retries further back when the demuxer lands after the start (seek by DTS).
    """
    half = 0.5 / info.fps
    for back in (0.0, 2 * info.mean_gop + 1.0, float("inf")):
        target = start - back
        packets = _demux_from(container, stream, tb, target, end, half)
        if packets and packets[0].key and float(packets[0].pts * tb) <= start - half + EPS:
            return packets
        if target <= info.start_time:
            break
    if packets:
        return packets
    raise MediaError(info.path, f"no video packets around {start:g} s")


def _demux_from(container, stream, tb: Fraction, target: float, end: float, half: float) -> list[_Packet]:
    """Packets in decode order from the keyframe at/before ``target`` to the first trailing
    picture after a keyframe at/after ``end`` (so leading pictures of that keyframe are in)."""
    container.seek(int(target / tb) if target > 0 else 0, stream=stream, backward=True, any_frame=False)
    default = max(1, round(1 / (float(stream.average_rate or 25) * tb)))
    packets: list[_Packet] = []
    last_key: int | None = None
    for packet in container.demux(stream):
        if packet.pts is None or not packet.size:
            continue
        if not packets and not packet.is_keyframe:
            continue
        pts = packet.pts
        packets.append(_Packet(pts, packet.duration or default, bool(packet.is_keyframe)))
        if packet.is_keyframe and float(pts * tb) >= end - half - EPS and last_key is None:
            last_key = pts
        elif last_key is not None and pts > last_key:
            break
    return packets


def _run(cmd: list[str], path: Path) -> str:
    """Run ffmpeg/ffprobe; return its stdout, or raise MediaError with the end of its stderr."""
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-600:]
        raise MediaError(path, f"{Path(cmd[0]).name} failed: {err or f'exit code {proc.returncode}'}")
    return proc.stdout.decode(errors="replace")


def _ffprobe_stream(path: Path, index: int, tools: dict) -> dict:
    """ffprobe's JSON description of one stream (profile, pix_fmt, colour tags...)."""
    out = _run([tools["ffprobe"], "-v", "error", "-select_streams", str(index), "-show_streams",
                "-of", "json", str(path)], path)
    streams = json.loads(out or "{}").get("streams") or [{}]
    return streams[0]


# ---------------------------------------------------------------------------------------------
# Planning


def _plan(source: _Source, start: float, end: float, mode: str, suffix: str) -> _Plan:
    """Choose the frames and the mode; split the frames into head, copied middle and tail."""
    frames = _select_frames(source, start, end)
    no_copy = _copy_impossible(source, suffix)
    if mode == "copy":
        if no_copy:
            raise MediaError(source.path, f"--mode copy impossible: {no_copy}; use --mode reencode")
        if not frames[0].key:
            raise MediaError(source.path, _not_on_keyframe(source, frames[0]))
    if mode in ("auto", "copy") and frames[0].key and not no_copy:
        middle, rest = _clean_prefix(source, frames, frames[0].pts)
        if mode == "copy" or not rest:
            notes = [f"stream copy ends at the last clean cut, {len(rest)} frame(s) before the "
                     f"requested end (B-frames); --mode smart cuts exactly"] if rest else []
            return _Plan(frames[: len(frames) - len(rest)], [], middle, [], "copy", notes)
    if mode == "reencode":
        return _Plan(frames, [], [], [], "reencode")
    why = no_copy or _smart_impossible(source)
    if why:
        return _Plan(frames, [], [], [], "reencode", [f"{why}: re-encoded"])
    return _smart_plan(source, frames)


def _copy_impossible(source: _Source, suffix: str) -> str:
    """Why the source's packets cannot go into a ``suffix`` file ("" when they can)."""
    codec, rotation = source.info.codec, source.info.rotation
    if suffix == ".webm" and codec not in WEBM_VIDEO_CODECS:
        return f"{codec} video cannot be stream-copied into WebM"
    if rotation and OUTPUT_FORMATS[suffix] not in ("mp4", "mov"):
        return f"{suffix} cannot carry the video's {rotation}° display rotation (MP4/MOV can)"
    return ""


def _smart_impossible(source: _Source) -> str:
    """Why a smart cut cannot join re-encoded parts to this source ("" when it can)."""
    codec = source.info.codec
    if codec not in SMART_CODECS:
        return f"smart cut supports H.264/H.265 only, not {codec}"
    if source.extradata[:1] != b"\x01":
        return f"smart cut needs an avcC/hvcC codec record, which this {codec} stream lacks (MPEG-TS?)"
    return ""


def _select_frames(source: _Source, start: float, end: float) -> list[_Packet]:
    """Frames of [start, end) in display order: each frame counts where it is nearest in time."""
    half = 0.5 / source.info.fps
    frames = sorted(source.packets, key=lambda p: p.pts)
    chosen = [p for p in frames if start - half + EPS <= source.seconds(p.pts) < end - half + EPS]
    if not chosen:
        raise MediaError(source.path, f"no video frame between {start:g} s and {end:g} s")
    return chosen


def _not_on_keyframe(source: _Source, first: _Packet) -> str:
    """Error text for a stream copy asked to start off a keyframe, naming the keyframes around."""
    keys = sorted(source.seconds(p.pts) for p in source.packets if p.key)
    t = source.seconds(first.pts)
    i = bisect.bisect_left(keys, t)
    around = [f"{k:.3f} s" for k in keys[max(0, i - 1): i + 1]]
    return (f"--mode copy needs the start on a keyframe; {t:.3f} s is not (nearest keyframes: "
            f"{', '.join(around)}); start there or use --mode smart")


def _clean_prefix(source: _Source, frames: list[_Packet], key_pts: int) -> tuple[list[_Packet], list[_Packet]]:
    """Split the clip's frames from keyframe ``key_pts`` on into a stream-copyable part and the rest.

    The copyable part is the longest run of packets in decode order, starting at that keyframe
    (leading pictures shown before it left out), that shows exactly the first frames of the run:
    every later packet is shown after all of them, and none is shown after the clip's last frame.

    Returns:
        (packets to copy in decode order, the remaining clip frames in display order).
    """
    last = frames[-1].pts
    start = next(i for i, p in enumerate(source.packets) if p.pts == key_pts)
    run = [p for p in source.packets[start:] if p.pts >= key_pts]
    later_min = [0] * (len(run) + 1)
    later_min[-1] = 1 << 62
    for i in range(len(run) - 1, -1, -1):
        later_min[i] = min(run[i].pts, later_min[i + 1])
    best, top = 0, -1
    for i, packet in enumerate(run):
        top = max(top, packet.pts)
        if top > last:
            break
        if top < later_min[i + 1]:
            best = i + 1
    copied = run[:best]
    cut = max((p.pts for p in copied), default=key_pts - 1)
    return copied, [f for f in frames if f.pts > cut]


def _smart_plan(source: _Source, frames: list[_Packet]) -> _Plan:
    """Head up to the first keyframe, copied middle, tail after the last clean cut."""
    key = next((f for f in frames if f.key), None)
    if key is None:
        return _Plan(frames, [], [], [], "reencode", ["no keyframe inside the range: re-encoded"])
    head = [f for f in frames if f.pts < key.pts]
    middle, tail = _clean_prefix(source, frames, key.pts)
    mode = "smart" if head or tail else "copy"
    return _Plan(frames, head, middle, tail, mode)


# ---------------------------------------------------------------------------------------------
# Making the file


def _make(source: _Source, plan: _Plan, tmp_out: Path, tools: dict) -> None:
    """Write the clip to ``tmp_out``: the video by plan, then the audio re-encoded for its span."""
    suffix = tmp_out.suffix.lower()
    with tempfile.TemporaryDirectory(prefix=".omnidex-clip-", dir=tmp_out.parent) as tmp:
        if plan.mode == "reencode":
            video = Path(tmp) / ("video.webm" if suffix == ".webm" else "video.mp4")
            _encode(source, plan.frames, video, _reencode_args(source, suffix), tools, upright=True)
        else:
            # MP4 keeps the DTS we set (Matroska stores none) for the codecs that reorder frames
            video = Path(tmp) / ("video.mp4" if source.info.codec in ("h264", "hevc", "vp9", "av1") else "video.mkv")
            _assemble(source, plan, video, Path(tmp), tools)
        _mux(source, plan, video, tmp_out, tools)


def _mux(source: _Source, plan: _Plan, video: Path, out: Path, tools: dict) -> None:
    """Final ffmpeg pass: the clip's video copied, the source audio re-encoded for the same span."""
    fmt = OUTPUT_FORMATS[out.suffix.lower()]
    first, last = plan.frames[0], plan.frames[-1]
    t0 = source.seconds(first.pts)
    span = source.seconds(last.pts + last.duration) - t0
    inputs = ["-i", str(video)]
    args = ["-map", "0:v:0", "-c:v", "copy"]
    if source.info.codec == "hevc" and fmt in ("mp4", "mov"):
        # hev1: parameter sets (also) in-band, as a smart cut has them; else hvc1, which Apple wants
        args += ["-tag:v", "hev1" if plan.mode == "smart" else "hvc1"]
    if source.has_audio:
        inputs += ["-ss", f"{t0 - source.container_start:.6f}", "-t", f"{span:.6f}", "-i", str(source.path)]
        codec = "libopus" if fmt in ("webm", "matroska") else "aac"  # Matroska signals Opus' delay, not AAC's
        args += ["-map", "1:a:0", "-c:a", codec, "-b:a", AUDIO_BITRATE[codec]]
        args += ["-aac_coder", "fast"] if codec == "aac" else []  # 3-4x faster than twoloop; fine at 192k
    faststart = ["-movflags", "+faststart"] if fmt in ("mp4", "mov") else []
    _run([tools["ffmpeg"], "-v", "error", "-nostdin", "-y", *inputs, *args, "-sn", "-dn", "-map_metadata", "-1",
          "-map_chapters", "-1", *faststart, "-f", fmt, str(out)], source.path)


def _encode(source: _Source, frames: list[_Packet], out: Path, codec_args: list[str], tools: dict,
            upright: bool = False) -> None:
    """Re-encode exactly ``frames`` (consecutive, display order) of the source, video only.

    ``upright``: turn the pictures by the display rotation (a whole clip); else keep them as
    coded (a part joined to copied packets, which the container's rotation turns).
    """
    fmt = OUTPUT_FORMATS.get(out.suffix.lower(), "matroska")
    cmd = [tools["ffmpeg"], "-v", "error", "-nostdin", "-y", *_seek_args(source, frames[0]),
           *([] if upright else ["-noautorotate"]), "-i", str(source.path),
           "-map", f"0:{source.stream_index}", "-frames:v", str(len(frames)), "-fps_mode", "passthrough",
           "-an", "-sn", "-dn", *codec_args, *_pix_fmt_args(source), "-f", fmt, str(out)]
    _run(cmd, source.path)


def _seek_args(source: _Source, first: _Packet) -> list[str]:
    """``-ss`` that makes ffmpeg's first decoded frame exactly ``first`` (a quarter frame early)."""
    t = source.seconds(first.pts) - source.container_start - 0.25 / source.info.fps
    return ["-ss", f"{max(0.0, t):.6f}"]


def _reencode_args(source: _Source, suffix: str) -> list[str]:
    """Encoder options for a full re-encode into a container of type ``suffix``."""
    if suffix == ".webm":
        return ["-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "5", "-row-mt", "1",
                "-crf", str(REENCODE_QUALITY["vp9"]), "-b:v", "0"]
    if source.info.codec == "hevc":
        return ["-c:v", "libx265", "-preset", "veryfast", "-crf", str(REENCODE_QUALITY["hevc"]),
                "-x265-params", "log-level=error"]
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(REENCODE_QUALITY["h264"])]


def _pix_fmt_args(source: _Source) -> list[str]:
    """Keep the source pixel format and colour tags when the encoder can."""
    facts = source.facts
    args = ["-pix_fmt", facts.get("pix_fmt") or "yuv420p"]
    for key, option in (("color_range", "-color_range"), ("color_space", "-colorspace"),
                        ("color_transfer", "-color_trc"), ("color_primaries", "-color_primaries")):
        value = facts.get(key)
        if value and value != "unknown":
            args += [option, value]
    return args


def _assemble(source: _Source, plan: _Plan, out: Path, tmp: Path, tools: dict) -> None:
    """Write the video-only clip: encoded head, copied middle, encoded tail, one muxing pass."""
    codec = source.info.codec
    parts: list[_Part] = []
    ids = _free_h264_ids(source) if codec == "h264" and (plan.head or plan.tail) else []
    for name, frames in (("head", plan.head), ("middle", None), ("tail", plan.tail)):
        if frames is None and plan.middle:
            parts.append(_Part([(None, p) for p in plan.middle], None))
        elif frames:
            encoded = tmp / f"{name}.mkv"
            _encode(source, frames, encoded, _part_codec_args(source, ids.pop(0) if ids else None), tools)
            parts.append(_read_part(source, encoded, frames, name))
    _write_parts(source, plan, parts, out)


def _part_codec_args(source: _Source, sps_id: int | None) -> list[str]:
    """x264/x265 options making a head/tail joinable to the source's bitstream.

    Same profile and level, and B-frames giving the same reorder depth as the source (up to 2):
    Matroska stores no DTS, so readers derive them from the depth the first frames declare.
    """
    profile, level = source.facts.get("profile", ""), source.facts.get("level")
    reorder = int(source.facts.get("has_b_frames") or 0)
    bframes = reorder if reorder < 2 else 3  # x264/x265 with B-pyramid: 3 B-frames reorder 2 deep
    if source.info.codec == "h264":
        params = [f"sps-id={sps_id}"] + ([f"level={level / 10:g}"] if level and level > 0 else [])
        prof = _X264_PROFILES.get(profile)
        return ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(PART_QUALITY["h264"]), "-bf", str(bframes),
                *(["-profile:v", prof] if prof else []), "-x264-params", ":".join(params)]
    params = ["log-level=error", f"bframes={bframes}", "open-gop=0", "repeat-headers=0"]
    if level and level > 0:
        params.append(f"level-idc={level / 30:g}")
    prof = _X265_PROFILES.get(profile)
    return ["-c:v", "libx265", "-preset", "veryfast", "-crf", str(PART_QUALITY["hevc"]),
            *(["-profile:v", prof] if prof else []), "-x265-params", ":".join(params)]


def _read_part(source: _Source, path: Path, frames: list[_Packet], name: str) -> _Part:
    """Packets of an encoded part (decode order), each given the timing of the source frame it
    encodes: the k-th in display order is ``frames[k]``."""
    av = require("av", "video")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extradata = bytes(stream.codec_context.extradata or b"")
        data = [(bytes(p), bool(p.is_keyframe), p.pts) for p in container.demux(stream) if p.size]
    if len(data) != len(frames) or len({pts for _, _, pts in data}) != len(data):
        raise MediaError(source.path, f"re-encoding the {name} gave {len(data)} frames, expected {len(frames)}")
    rank = {pts: k for k, pts in enumerate(sorted(pts for _, _, pts in data))}
    packets = []
    for blob, key, pts in data:
        frame = frames[rank[pts]]
        packets.append((blob, _Packet(frame.pts, frame.duration, key)))
    return _Part(packets, extradata)


def _write_parts(source: _Source, plan: _Plan, parts: list[_Part], out: Path) -> None:
    """Mux the parts' packets into ``out`` with clip-relative timestamps and a joint codec record."""
    av = require("av", "video")
    rewrite = _bitstream_rewriter(source, parts)
    timings = _timings(parts)
    with av.open(str(source.path), metadata_errors="ignore") as inp, av.open(str(out), "w") as dst:
        template = inp.streams[source.stream_index]
        stream = dst.add_stream_from_template(template)
        stream.codec_context.extradata = rewrite.extradata
        copied = _copied_packets(inp, template, plan.middle)
        offset = plan.frames[0].pts
        for k, part in enumerate(parts):
            for i, (blob, timing) in enumerate(part.packets):
                packet = av.Packet(rewrite(k, blob if blob is not None else next(copied), timing.key, first=i == 0))
                pts, dts = timings[k][i]
                packet.pts, packet.dts = pts - offset, dts - offset
                packet.duration, packet.is_keyframe = timing.duration, timing.key
                packet.time_base, packet.stream = template.time_base, stream
                dst.mux(packet)


def _copied_packets(container, stream, middle: list[_Packet]) -> Iterator[bytes]:
    """The source bytes of the packets to copy, in decode order, demuxed as they are needed."""
    if not middle:
        return
    container.seek(middle[0].pts, stream=stream, backward=True, any_frame=False)
    wanted = iter(middle)
    expected = next(wanted)
    for packet in container.demux(stream):
        if packet.size and packet.pts == expected.pts:
            yield bytes(packet)
            expected = next(wanted, None)
            if expected is None:
                return
    at = float(expected.pts * stream.time_base)
    raise MediaError(container.name, f"the packet at {at:.3f} s could not be re-read")


def _timings(parts: list[_Part]) -> list[list[tuple[int, int]]]:
    """(pts, dts) in source ticks for every output packet, per part.

    PTS are the source frames' own. DTS are rebuilt for the whole joined stream: the i-th packet
    in decode order gets the i-th smallest PTS less the smallest delay keeping DTS <= PTS. That is
    strictly increasing across the joins (the parts' reorder delays differ) and makes MP4's
    duration come out right.
    """
    pts = [timing.pts for part in parts for _, timing in part.packets]
    ordered = sorted(pts)
    delay = max(0, max(o - p for o, p in zip(ordered, pts)))
    dts = iter(o - delay for o in ordered)
    return [[(timing.pts, next(dts)) for _, timing in part.packets] for part in parts]


# ---------------------------------------------------------------------------------------------
# Bitstream joining (H.264 / H.265 in length-prefixed form, as MP4 and Matroska store them)


@dataclass
class _Rewrite:
    """The joint codec record and, per part, how its packets are rewritten to fit it."""

    extradata: bytes
    per_part: list[Callable[[bytes, bool, bool], bytes]]

    def __call__(self, part: int, data: bytes, key: bool, first: bool) -> bytes:
        """Rewrite one packet of part number ``part``."""
        return self.per_part[part](data, key, first)


def _identity(data: bytes, key: bool, first: bool) -> bytes:
    """Leave a packet as it is."""
    return data


def _bitstream_rewriter(source: _Source, parts: list[_Part]) -> _Rewrite:
    """How to make the parts one stream: the copied source alone needs nothing."""
    if all(p.extradata is None for p in parts):
        return _Rewrite(source.extradata, [_identity] * len(parts))
    records = [p.extradata if p.extradata is not None else source.extradata for p in parts]
    if source.info.codec == "h264":
        return _join_h264(source.extradata, records)
    return _join_hevc(source.extradata, records, [p.extradata is None for p in parts])


def _join_h264(source_record: bytes, records: list[bytes]) -> _Rewrite:
    """One avcC with the source's and every part's SPS/PPS (their ids differ); 4-byte lengths."""
    merged = _parse_avcc(source_record)
    for record in records:
        other = _parse_avcc(record)
        merged["sps"] += [s for s in other["sps"] if s not in merged["sps"]]
        merged["pps"] += [p for p in other["pps"] if p not in merged["pps"]]
        merged["level"] = max(merged["level"], other["level"])
    per_part = [_repacker(_parse_avcc(r)["size_len"]) for r in records]
    merged["size_len"] = 4
    return _Rewrite(_build_avcc(merged), per_part)


def _repacker(size_len: int) -> Callable[[bytes, bool, bool], bytes]:
    """Rewrite packets with ``size_len``-byte NAL lengths to 4-byte lengths."""
    if size_len == 4:
        return _identity
    return lambda data, key, first: _join_nals(_split_nals(data, size_len))


def _join_hevc(source_record: bytes, records: list[bytes], copied: list[bool]) -> _Rewrite:
    """The source's hvcC for the track (its profile, level and reorder depth describe most of the
    clip); each part's VPS/SPS/PPS in-band before each of its keyframes."""
    per_part = []
    for record, is_copy in zip(records, copied):
        size_len, nals = _parse_hvcc(record)
        sets = [n for n in nals if _hevc_type(n) in _HEVC_PARAMETER_SETS]
        per_part.append(_hevc_inband(size_len, sets, splice=is_copy))
    return _Rewrite(_hvcc_for_inband(source_record), per_part)


def _hevc_inband(size_len: int, sets: list[bytes], splice: bool) -> Callable[[bytes, bool, bool], bytes]:
    """Packet rewriter: parameter sets before keyframes; a spliced-in CRA becomes a BLA."""

    def rewrite(data: bytes, key: bool, first: bool) -> bytes:
        nals = _split_nals(data, size_len)
        if key and not any(_hevc_type(n) in _HEVC_PARAMETER_SETS for n in nals):
            nals = sets + nals
        if splice and first:
            nals = [_cra_to_bla(n) for n in nals]
        return _join_nals(nals)

    return rewrite


def _hevc_type(nal: bytes) -> int:
    """HEVC NAL unit type."""
    return (nal[0] >> 1) & 0x3F


def _cra_to_bla(nal: bytes) -> bytes:
    """A CRA slice relabelled BLA_W_LP (same slice syntax; starts a new coded video sequence)."""
    if not nal or _hevc_type(nal) != _HEVC_CRA:
        return nal
    return bytes([(nal[0] & 0x81) | (_HEVC_BLA_W_LP << 1)]) + nal[1:]


def _split_nals(data: bytes, size_len: int) -> list[bytes]:
    """NAL units of a length-prefixed packet."""
    nals, i = [], 0
    while i + size_len <= len(data):
        n = int.from_bytes(data[i: i + size_len], "big")
        i += size_len
        nals.append(data[i: i + n])
        i += n
    return nals


def _join_nals(nals: Sequence[bytes]) -> bytes:
    """A packet of NAL units with 4-byte big-endian lengths."""
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def _parse_avcc(record: bytes) -> dict:
    """Fields of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3)."""
    if len(record) < 7 or record[0] != 1:
        raise OmnidexError("H.264 stream has no avcC record")
    out = {"profile": record[1], "compat": record[2], "level": record[3], "size_len": (record[4] & 3) + 1}
    i = 5
    for key, mask in (("sps", 0x1F), ("pps", 0xFF)):
        count, i = record[i] & mask, i + 1
        out[key] = []
        for _ in range(count):
            n = int.from_bytes(record[i: i + 2], "big")
            out[key].append(record[i + 2: i + 2 + n])
            i += 2 + n
    out["ext"] = record[i:]  # chroma format / bit depth / SPS extensions (High profiles)
    return out


def _build_avcc(fields: dict) -> bytes:
    """Serialise ``_parse_avcc``'s fields."""
    body = bytearray([1, fields["profile"], fields["compat"], fields["level"], 0xFC | (fields["size_len"] - 1),
                      0xE0 | len(fields["sps"])])
    for nal in fields["sps"]:
        body += len(nal).to_bytes(2, "big") + nal
    body.append(len(fields["pps"]))
    for nal in fields["pps"]:
        body += len(nal).to_bytes(2, "big") + nal
    return bytes(body + fields["ext"])


def _parse_hvcc(record: bytes) -> tuple[int, list[bytes]]:
    """(NAL length size, NAL units) of an HEVCDecoderConfigurationRecord."""
    if len(record) < 23 or record[0] != 1:
        raise OmnidexError("H.265 stream has no hvcC record")
    nals, i = [], 23
    for _ in range(record[22]):
        count, i = int.from_bytes(record[i + 1: i + 3], "big"), i + 3
        for _ in range(count):
            n = int.from_bytes(record[i: i + 2], "big")
            nals.append(record[i + 2: i + 2 + n])
            i += 2 + n
    return (record[21] & 3) + 1, nals


def _hvcc_for_inband(record: bytes) -> bytes:
    """hvcC with 4-byte NAL lengths and array_completeness 0 (more parameter sets come in-band)."""
    out = bytearray(record)
    out[21] |= 3
    i = 23
    for _ in range(out[22]):
        out[i] &= 0x7F
        count, i = int.from_bytes(out[i + 1: i + 3], "big"), i + 3
        for _ in range(count):
            i += 2 + int.from_bytes(out[i: i + 2], "big")
    return bytes(out)


def _free_h264_ids(source: _Source) -> list[int]:
    """Two SPS/PPS ids (1-31) the source's avcC does not use, for the head and the tail."""
    fields = _parse_avcc(source.extradata)
    used = {_ue_at(nal, 4) for nal in fields["sps"]} | {_ue_at(nal, 1) for nal in fields["pps"]}
    return [i for i in range(1, 32) if i not in used][:2]


def _ue_at(nal: bytes, byte: int) -> int:
    """The Exp-Golomb ue(v) value that starts at byte ``byte`` of a NAL unit (EPBs removed)."""
    raw = nal[:byte + 8].replace(b"\x00\x00\x03", b"\x00\x00")
    bits = "".join(f"{b:08b}" for b in raw[byte:])
    zeros = len(bits) - len(bits.lstrip("0"))
    return int(bits[zeros: 2 * zeros + 1], 2) - 1


# ---------------------------------------------------------------------------------------------
# Reporting


def _result(source: _Source, plan: _Plan, out: Path, duration: float, wall: float) -> ClipResult:
    """The ClipResult of a finished export."""
    def span(frames: list[_Packet]) -> float:
        return source.seconds(sum(f.duration for f in frames))

    first, last = plan.frames[0], plan.frames[-1]
    reencoded = span(plan.frames) if plan.mode == "reencode" else span(plan.head) + span(plan.tail)
    return ClipResult(
        path=str(out), start=source.seconds(first.pts), end=source.seconds(last.pts + last.duration),
        duration=duration, mode_used=plan.mode, reencoded_seconds=reencoded,
        copied_seconds=span(plan.middle), seconds=wall, notes=plan.notes,
    )


def _summary(result: ClipResult) -> str:
    """One line: what was written, from where, how."""
    line = (f"{result.path}: {result.start:.3f}–{result.end:.3f} s ({result.duration:.3f} s) by {result.mode_used}, "
            f"{result.copied_seconds:.2f} s copied, {result.reencoded_seconds:.2f} s re-encoded, "
            f"in {result.seconds:.2f} s")
    return line + "".join(f"; {note}" for note in result.notes)
