"""``omnidex probe FILE``: what a video player sees in a media file, learned by demuxing.

The container header gives the declared facts (format, codecs, sizes, rates, durations); one pass
over the packets (demux only, nothing decoded) measures what is really there: keyframe times,
B-frame reordering, open GOPs, frame-interval variation and the time the packets cover. At most
one frame per video stream is decoded, to read its display-matrix rotation.

Names follow ffprobe (``-show_format -show_streams``) where both have the fact: ``format_name``,
``codec`` (= ffprobe ``codec_name``), ``profile``, ``pix_fmt``, ``avg_frame_rate``... Where they
differ on purpose:

* ``rotation`` is the counter-clockwise angle in degrees, normalised to [0, 360), by which a
  player turns the coded picture for display. It is FFmpeg's ``av_display_rotation_get`` of the
  display matrix (what PyAV's ``VideoFrame.rotation`` returns), so it equals ffprobe's
  ``side_data_list[].rotation`` modulo 360 (ffprobe prints it in (-180, 180], e.g. -90 for 270).
  The legacy MP4 tag ``tags.rotate`` that old ffprobe versions print is clockwise:
  ``tags.rotate == (360 - rotation) % 360``.
* ``level`` is None where ffprobe prints -99 (unknown).
* ``sample_aspect_ratio`` is None where the file declares none (players assume square pixels);
  ``display_aspect_ratio`` is then width:height rather than absent.
* ``duration`` is the stream header's duration (None where the container has none per stream,
  as WebM); ``measured_duration`` is the time the stream's packets cover, always present.
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .._require import require
from ..errors import MediaError
from .sniff import AUDIO_BRANDS, is_cover_art, read_head
from . import pyav

VFR_TOLERANCE = 0.05  # frame intervals spreading more than this share of the median: variable frame rate
TRUNCATION_TOLERANCE = 0.25  # seconds the header may claim beyond the packets before "truncated"
# Container families that usually carry video: holding only audio there is worth a note.
VIDEO_FORMATS = {"mov", "mp4", "matroska", "avi", "flv", "asf"}
AUDIO_SUFFIXES = {".m4a", ".m4b", ".mka", ".weba", ".wma"}
ISO_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


@dataclass
class _StreamScan:
    """Facts about one stream gathered packet by packet, in decode order (times in ticks)."""

    default_duration: int  # ticks assumed for a packet that declares no duration
    packets: int = 0
    corrupt: int = 0  # packets the demuxer flagged as damaged (e.g. cut off by the end of the file)
    pts: list[int] = field(default_factory=list)  # timed, non-discarded packets
    keys: list[int] = field(default_factory=list)  # every keyframe packet, as ffprobe lists them
    start: int | None = None
    end: int | None = None
    reordered: bool = False  # a packet is presented before one decoded earlier: B-frames
    open_gop: bool = False  # a non-key packet after a keyframe is presented before it
    rotation: int | None = None
    _max_pts: int | None = None
    _last_key: int | None = None

    def add(self, packet) -> None:
        """Account for one demuxed packet (flush packets, without data, are ignored).

        Args:
            packet: a PyAV packet of this stream.
        """
        if not packet.size:
            return
        self.packets += 1
        self.corrupt += bool(packet.is_corrupt)
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None:
            return
        if packet.is_keyframe:
            self.keys.append(pts)
            self._last_key = pts
        elif self._last_key is not None and pts < self._last_key:
            self.open_gop = True
        if self._max_pts is not None and pts < self._max_pts:
            self.reordered = True
        self._max_pts = pts if self._max_pts is None else max(self._max_pts, pts)
        if packet.is_discard:
            return
        self.pts.append(pts)
        end = pts + (packet.duration or self.default_duration)
        self.start = pts if self.start is None else min(self.start, pts)
        self.end = end if self.end is None else max(self.end, end)


def probe_file(path: str | Path) -> dict:
    """Describe a media file as a player sees it: container, streams, GOP structure, damage.

    Args:
        path: a video or audio file.
    Returns:
        JSON-ready dict: {"file", "container": {...}, "streams": [{...}, ...], "problems": [str]};
        see the module docstring for the field conventions. Each problem starts with "damaged:"
        (the file is broken) or "note:" (odd but playable).
    Raises:
        MediaError: missing, empty or unreadable file, or an MP4 whose index (moov) is missing.
    """
    av = require("av", "video")
    head = read_head(path, 16)
    container = _open_container(av, path, head)
    with container:
        if not container.streams and head[4:8] in ISO_BMFF_BOXES:
            raise MediaError(path, f"{pyav.moov_state(path)}: it describes no tracks")
        scans, demux_error = _scan(container)
        info = {
            "file": str(path),
            "container": _container_info(container, path, scans),
            "streams": [_stream_info(s, scans[s.index]) for s in container.streams],
        }
    info["problems"] = _problems(info, path, demux_error)
    return info


def _open_container(av, path: str | Path, head: bytes):
    """Open with PyAV; an MP4 that will not open gets a reason about its index (moov atom)."""
    try:
        return av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many types
        detail = getattr(exc, "strerror", None) or str(exc)
        if head[4:8] in ISO_BMFF_BOXES:
            raise MediaError(path, f"{pyav.moov_state(path)} ({detail})") from exc
        raise MediaError(path, f"not a readable media container ({detail})") from exc


def _scan(container) -> tuple[dict[int, _StreamScan], str | None]:
    """Demux every packet once; decode the first keyframe of each video stream for its rotation."""
    scans = {s.index: _StreamScan(_default_duration(s)) for s in container.streams}
    errors: list[str] = []
    for packet in pyav.packets(container, list(container.streams), errors):
        scan = scans[packet.stream_index]
        scan.add(packet)
        stream = packet.stream
        if scan.rotation is None and packet.size and packet.is_keyframe and stream.type == "video":
            scan.rotation = 0 if is_cover_art(stream) else pyav.decode_rotation(stream, packet)
    return scans, (errors[0] if errors else None)


def _default_duration(stream) -> int:
    """Ticks of one frame (video) or zero, for packets that declare no duration."""
    if stream.type != "video" or not stream.time_base:
        return 0
    return max(1, round(1 / ((pyav.rate(stream) or 25.0) * float(stream.time_base))))


def _container_info(container, path: str | Path, scans: dict[int, _StreamScan]) -> dict:
    """Format-level facts, as ffprobe's ``-show_format``, plus the time all packets span."""
    return {
        "format_name": container.format.name,
        "format_long_name": container.format.long_name,
        "duration": _seconds(container.duration, Fraction(1, 1_000_000)),
        "measured_duration": _packet_span(container, scans),
        "start_time": _seconds(container.start_time, Fraction(1, 1_000_000)),
        "size": os.path.getsize(path),
        "bit_rate": container.bit_rate or None,
        "nb_streams": len(container.streams),
        "tags": {str(k): str(v) for k, v in container.metadata.items()},
    }


def _packet_span(container, scans: dict[int, _StreamScan]) -> float:
    """Seconds from the earliest packet of any stream to the end of the latest one (0 when none)."""
    spans = [(float(scan.start * s.time_base), float(scan.end * s.time_base))
             for s in container.streams if (scan := scans[s.index]).pts]
    if not spans:
        return 0.0
    return _round(max(end for _, end in spans) - min(start for start, _ in spans))


def _stream_info(stream, scan: _StreamScan) -> dict:
    """One stream's header facts plus what its packets showed."""
    tb = stream.time_base
    cc = _codec_context(stream)
    info = {
        "index": stream.index,
        "type": stream.type,
        "codec": pyav.codec_name(cc) if cc is not None else None,
        "profile": getattr(stream, "profile", None),
        "level": _level(cc),
        "time_base": _ratio(tb, "/"),
        "start_time": _seconds(stream.start_time, tb),
        "duration": _seconds(stream.duration, tb),
        "measured_duration": _seconds((scan.end - scan.start) if scan.pts else 0, tb),
        "bit_rate": (cc.bit_rate or None) if cc is not None else None,
        "nb_frames": stream.frames or None,
        "nb_packets": scan.packets,
        "corrupt_packets": scan.corrupt,
        "language": stream.language,
        "cover_art": is_cover_art(stream),
        "tags": {str(k): str(v) for k, v in stream.metadata.items()},
    }
    if stream.type == "video" and cc is not None:
        info.update(_video_info(stream, cc, scan))
    elif stream.type == "audio" and cc is not None:
        info.update(_audio_info(cc))
    return info


def _codec_context(stream):
    """The stream's codec context, or None for streams without one (attachments, some data)."""
    try:
        return stream.codec_context
    except Exception:  # noqa: BLE001 - PyAV raises for streams it has no decoder for
        return None


def _level(cc) -> int | None:
    """Codec level, None where FFmpeg does not know it (it says -99)."""
    level = getattr(cc, "level", None) if cc is not None else None
    return level if level is not None and level >= 0 else None


def _video_info(stream, cc, scan: _StreamScan) -> dict:
    """Picture facts, frame rates, rotation and (unless cover art) the GOP summary."""
    sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio
    dar = Fraction(cc.width * (sar or 1), cc.height) if cc.width and cc.height else None
    info = {
        "pix_fmt": cc.pix_fmt,
        "width": cc.width,
        "height": cc.height,
        "sample_aspect_ratio": _ratio(sar, ":"),
        "display_aspect_ratio": _ratio(dar, ":"),
        "avg_frame_rate": _ratio(stream.average_rate, "/"),
        "avg_fps": _float(stream.average_rate),
        "r_frame_rate": _ratio(stream.base_rate, "/"),
        "r_fps": _float(stream.base_rate),
        "has_b_frames": getattr(cc, "reorder_depth", int(bool(cc.has_b_frames))),
        "rotation": scan.rotation or 0,
    }
    if not is_cover_art(stream):
        info["gop"] = _gop_info(scan, stream.time_base, info["has_b_frames"])
    return info


def _audio_info(cc) -> dict:
    """Sampling facts of an audio stream."""
    return {
        "sample_fmt": cc.format.name if cc.format else None,
        "sample_rate": cc.sample_rate or None,
        "channels": cc.channels or None,
        "channel_layout": cc.layout.name if cc.layout else None,
    }


def _gop_info(scan: _StreamScan, tb: Fraction, reorder_depth: int) -> dict:
    """Keyframe spacing, B-frames, open GOPs and frame-rate variation of a video stream.

    GOP lengths run from each keyframe to the next, the last one to the end of the stream, so the
    mean interval is the duration divided by the number of keyframes.
    """
    keys = [_seconds(k, tb) for k in scan.keys]
    ends = sorted(keys) + ([_seconds(scan.end, tb)] if scan.end is not None else [])
    gops = [b - a for a, b in zip(ends, ends[1:])]  # the last GOP runs to the end of the stream
    intervals = _frame_intervals(scan.pts)
    return {
        "keyframe_times": keys,
        "keyframes": len(keys),
        "mean_interval": _round(statistics.fmean(gops)) if gops else None,
        "max_interval": _round(max(gops)) if gops else None,
        "fixed_interval": _is_fixed(gops, intervals, tb),
        "b_frames": scan.reordered or reorder_depth > 0,
        "open_gop": scan.open_gop,
        "variable_frame_rate": _is_variable(intervals),
        "min_frame_interval": _seconds(min(intervals), tb) if intervals else None,
        "max_frame_interval": _seconds(max(intervals), tb) if intervals else None,
    }


def _frame_intervals(pts: list[int]) -> list[int]:
    """Ticks between consecutive frames in presentation order."""
    ordered = sorted(set(pts))
    return [b - a for a, b in zip(ordered, ordered[1:])]


def _is_variable(intervals: list[int]) -> bool:
    """Whether frame intervals spread by more than two ticks and ``VFR_TOLERANCE`` of the median."""
    if len(intervals) < 2:
        return False
    spread = max(intervals) - min(intervals)
    return spread > max(2, VFR_TOLERANCE * statistics.median(intervals))


def _is_fixed(gops: list[float], intervals: list[int], tb: Fraction) -> bool:
    """Whether keyframes come at a fixed spacing, within one frame (the last GOP may be shorter)."""
    frame = float(statistics.median(intervals) * tb) if intervals else 0.0
    inner = gops[:-1]
    return not inner or (max(inner) - min(inner) <= frame * 1.5 and gops[-1] <= max(inner) + frame * 1.5)


def _problems(info: dict, path: str | Path, demux_error: str | None) -> list[str]:
    """Plain-English list of what is broken ("damaged: ...") or odd ("note: ...")."""
    streams = info["streams"]
    problems: list[str] = []
    if demux_error:
        problems.append(f"damaged: reading packets failed mid-file ({demux_error}); the rest is unreadable")
    problems += _truncation(info)
    if not streams:
        problems.append("damaged: no streams: there is nothing to play")
    problems += _audio_only(info, path)
    for s in streams:
        problems += _stream_problems(s)
    return problems


def _truncation(info: dict) -> list[str]:
    """A header that declares more time than the packets cover means the file was cut short."""
    declared, covered = info["container"]["duration"], info["container"]["measured_duration"]
    if declared is None or declared - covered <= TRUNCATION_TOLERANCE:
        return []
    return [f"damaged: truncated: the header declares {declared:.2f} s but the packets cover only "
            f"{covered:.2f} s (file cut short)"]


def _audio_only(info: dict, path: str | Path) -> list[str]:
    """Note a video container (MP4, MKV, ...) that holds only audio."""
    streams = info["streams"]
    if not any(s["type"] == "audio" for s in streams):
        return []
    if any(s["type"] == "video" and not s["cover_art"] for s in streams):
        return []
    families = set(info["container"]["format_name"].split(","))
    brand = info["container"]["tags"].get("major_brand", "").encode()
    if not families & VIDEO_FORMATS or brand in AUDIO_BRANDS or Path(path).suffix.lower() in AUDIO_SUFFIXES:
        return []
    kind = "MP4" if "mp4" in families else info["container"]["format_long_name"]
    return [f"note: audio-only {kind}: no video stream, a player shows no picture"]


def _stream_problems(s: dict) -> list[str]:
    """Zero duration, corrupt packets, cover art, variable frame rate and rotation of one stream."""
    name = f"stream #{s['index']} ({s['type']})"
    out = []
    if s["type"] in ("video", "audio") and not s["cover_art"] and not s["measured_duration"]:
        out.append(f"damaged: {name} has zero duration ({s['nb_packets']} packets)")
    if s["corrupt_packets"]:
        out.append(f"damaged: {name} has {s['corrupt_packets']} packet(s) flagged corrupt by the demuxer")
    if s["cover_art"]:
        out.append(f"note: {name} is cover art (an attached picture), not video")
    gop = s.get("gop") or {}
    if gop.get("variable_frame_rate"):
        out.append(f"note: {name} has a variable frame rate (frame intervals "
                   f"{gop['min_frame_interval'] * 1000:.1f}-{gop['max_frame_interval'] * 1000:.1f} ms)")
    if s.get("rotation"):
        out.append(f"note: {name} has rotation metadata: displayed turned {s['rotation']} degrees "
                   f"counter-clockwise ({_shown_size(s)})")
    return out


def _shown_size(s: dict) -> str:
    """'coded WxH, shown HxW' for a rotated stream."""
    w, h = s["width"], s["height"]
    if s["rotation"] % 180 == 90:
        w, h = h, w
    return f"coded {s['width']}x{s['height']}, shown {w}x{h}"


def _seconds(ticks: int | None, tb) -> float | None:
    """Ticks in time base ``tb`` as seconds rounded to microseconds (None stays None)."""
    if ticks is None or not tb:
        return None
    return _round(float(ticks * tb))


def _round(x: float) -> float:
    """Round to microseconds, as ffprobe prints times."""
    return round(x, 6)


def _ratio(value, sep: str) -> str | None:
    """A Fraction as 'num/den' or 'num:den' (None when unknown or zero)."""
    if not value:
        return None
    value = Fraction(value)
    return f"{value.numerator}{sep}{value.denominator}"


def _float(value) -> float | None:
    """A rate as a float rounded to 6 places (None when unknown or zero)."""
    return _round(float(value)) if value else None


def main_probe(args) -> int:
    """``omnidex probe FILE [--json]``: print the probe as JSON or as a human summary.

    Args:
        args: argparse namespace with ``file`` and ``json``; ``boxes``, ``packets`` and ``hex`` show the
            inside of the file instead (``omnidex.media.inside``).
    Returns:
        0 (errors raise MediaError, which the CLI turns into exit code 2).
    """
    if getattr(args, "boxes", False) or getattr(args, "packets", False) or getattr(args, "hex", None) is not None:
        from .inside import main_inside

        return main_inside(args)
    info = probe_file(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        render(info)
    return 0


def render(info: dict) -> None:
    """Print a compact summary of ``probe_file``'s result with rich: container, streams, GOP, problems.

    Args:
        info: a dict from probe_file.
    """
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    c = info["container"]
    console.print(f"[bold]{escape(info['file'])}[/]: {c['format_name']}, {_fmt_s(c['duration'])}, "
                  f"{c['size']:,} bytes, {_fmt_rate(c['bit_rate']) or '? kb/s'}")
    console.print(_stream_table(info["streams"]))
    for s in info["streams"]:
        if "gop" in s:
            console.print(f"GOP #{s['index']}: {_gop_line(s['gop'])}")
    for problem in info["problems"]:
        console.print(f"[{'red' if problem.startswith('damaged') else 'yellow'}]{escape(problem)}[/]")


def _stream_table(streams: list[dict]):
    """A rich Table with one row per stream."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("#", "type", "codec", "details", "duration", "bit rate"):
        table.add_column(col)
    for s in streams:
        kind = s["type"] + (f" ({s['language']})" if s["language"] not in (None, "und") else "")
        codec = " ".join(x for x in (s["codec"] or "?", s["profile"]) if x)
        table.add_row(str(s["index"]), kind, codec, _details(s), _fmt_s(s["measured_duration"]),
                      _fmt_rate(s["bit_rate"]))
    return table


def _details(s: dict) -> str:
    """Type-specific one-liner: picture size/format/rate or sample rate/layout."""
    if s["type"] == "video":
        parts = [f"{s['width']}x{s['height']}", s["pix_fmt"] or ""]
        parts += ["cover art"] if s["cover_art"] else [f"{s['avg_fps'] or 0:.5g} fps"]
        parts += [f"rot {s['rotation']}"] if s["rotation"] else []
        return " ".join(p for p in parts if p)
    if s["type"] == "audio":
        return f"{s['sample_rate'] or '?'} Hz {s['channel_layout'] or s['channels'] or ''}".strip()
    return ""


def _gop_line(gop: dict) -> str:
    """'N keyframes every X s (max Y s), B-frames, closed GOP, constant frame rate'."""
    every = (f" every {gop['mean_interval']:.2f} s (max {gop['max_interval']:.2f} s"
             f"{', fixed' if gop['fixed_interval'] else ', varying'})") if gop["mean_interval"] else ""
    return ", ".join([
        f"{gop['keyframes']} keyframe{'' if gop['keyframes'] == 1 else 's'}{every}",
        "B-frames" if gop["b_frames"] else "no B-frames",
        "open GOP" if gop["open_gop"] else "closed GOP",
        "variable frame rate" if gop["variable_frame_rate"] else "constant frame rate",
    ])


def _fmt_s(seconds: float | None) -> str:
    """Seconds as '3.04 s' ('?' when unknown)."""
    return "?" if seconds is None else f"{seconds:.2f} s"


def _fmt_rate(bit_rate: int | None) -> str:
    """Bits per second as '39.6 kb/s' ('' when unknown)."""
    return "" if not bit_rate else f"{bit_rate / 1000:.1f} kb/s"
