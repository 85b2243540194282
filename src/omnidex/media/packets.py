"""Packets as a demuxer hands them to a decoder, with the NAL units inside H.264/H.265 packets.

``omnidex probe FILE --packets`` and the web page's GOP strip read this: PyAV demuxes (nothing is
decoded) and :mod:`omnidex.media.nal` reads each video packet's NAL units and slice types. Numbers
follow ffprobe ``-show_packets``: ``pts``/``dts`` in the stream's time base, ``size`` in bytes, ``pos``
the byte offset in the file, ``keyframe`` the container's flag (ffprobe's ``K`` in ``flags``); the
``picture_type`` of an H.264/H.265 packet is its first slice's type, what ffprobe ``-show_frames``
reports as ``pict_type`` once that packet is decoded.
"""
from __future__ import annotations

from pathlib import Path

from .._require import require
from ..errors import MediaError
from .nal import NalReader

MAX_PACKETS = 200_000  # packets listed per call; more is reported as "capped"
NAL_CODECS = {"h264", "hevc"}


def read_packets(path: str | Path, stream: int | None = None, limit: int = MAX_PACKETS) -> dict:
    """Every packet of a file (or of one stream) in decode order.

    Args:
        path: a media file PyAV can open.
        stream: index of the one stream to list (default: all).
        limit: most packets listed (at most MAX_PACKETS).
    Returns:
        {"file", "streams": [{"index", "type", "codec", "time_base", "nal_format"}], "packets": [{"stream",
        "pts", "dts", "duration", "pts_time", "dts_time", "size", "pos", "keyframe", "corrupt",
        "nal_units"?, "slice_types"?, "picture_type"?, "irap"?, "nal_error"?}], "capped": bool,
        "demux_error": str or None}.
    Raises:
        MediaError: the file cannot be opened, or ``stream`` is not one of its streams.
    """
    av = require("av", "video")
    limit = max(0, min(limit, MAX_PACKETS))
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many types
        raise MediaError(path, f"not a readable media container ({getattr(exc, 'strerror', None) or exc})") from exc
    with container:
        streams = list(container.streams)
        if stream is not None:
            if not 0 <= stream < len(streams):
                raise MediaError(path, f"no stream {stream} (the file has {len(streams)})")
            streams = [streams[stream]]
        readers: dict[int, NalReader] = {}
        infos = []
        for s in streams:
            codec = s.codec_context.name if s.codec_context else None
            info = {"index": s.index, "type": s.type, "codec": codec, "time_base": str(s.time_base)}
            if codec in NAL_CODECS:
                extradata = bytes(s.codec_context.extradata or b"")
                readers[s.index] = reader = NalReader(codec, extradata)
                info["nal_format"] = (f"length-prefixed ({reader.length_size} bytes)" if reader.length_size
                                      else "Annex B")
            infos.append(info)
        packets, capped, error = [], False, None
        demux = container.demux(streams)
        while True:
            try:
                pkt = next(demux)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - truncated/corrupt container ends the listing
                error = str(exc)
                break
            if not pkt.size:
                continue  # flush packet
            if len(packets) >= limit:
                capped = True
                break
            tb = pkt.time_base
            row = {"stream": pkt.stream_index, "pts": pkt.pts, "dts": pkt.dts, "duration": pkt.duration,
                   "pts_time": None if pkt.pts is None else round(float(pkt.pts * tb), 6),
                   "dts_time": None if pkt.dts is None else round(float(pkt.dts * tb), 6),
                   "size": pkt.size, "pos": pkt.pos if pkt.pos is not None and pkt.pos >= 0 else None,
                   "keyframe": bool(pkt.is_keyframe), "corrupt": bool(pkt.is_corrupt)}
            reader = readers.get(pkt.stream_index)
            if reader is not None:
                units = reader.packet(bytes(pkt))
                row.update(nal_units=units["nal_units"], slice_types=units["slice_types"],
                           picture_type=units["picture_type"], irap=units["irap"])
                if "error" in units:
                    row["nal_error"] = units["error"]
            packets.append(row)
    return {"file": str(path), "streams": infos, "packets": packets, "capped": capped, "demux_error": error}


def gop_strip(path: str | Path, max_frames: int = 600) -> dict:
    """The first video stream's frames in presentation order with type, size and keyframe flag.

    Args:
        path: a video file.
        max_frames: frames returned (the first ones in decode order; at most MAX_PACKETS).
    Returns:
        {"file", "stream", "codec", "frames": [{"pts_time", "type", "size", "key"}], "capped", "total_bytes",
        "counts": {"I": n, "P": n, "B": n, "?": n}}; "type" is I/P/B from the slice headers for
        H.264/H.265 and "?" for other codecs (only the keyframe flag is known without decoding).
    Raises:
        MediaError: unreadable file, or no video stream.
    """
    av = require("av", "video")
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            video = next((s.index for s in c.streams if s.type == "video"), None)
    except Exception as exc:  # noqa: BLE001
        raise MediaError(path, f"not a readable media container ({exc})") from exc
    if video is None:
        raise MediaError(path, "no video stream")
    listing = read_packets(path, stream=video, limit=max(1, min(max_frames, MAX_PACKETS)))
    frames = []
    for p in listing["packets"]:
        kind = p.get("picture_type")
        kind = {"SI": "I", "SP": "P"}.get(kind, kind) if kind else "?"
        when = p["pts_time"] if p["pts_time"] is not None else p["dts_time"]
        frames.append({"pts_time": when, "type": kind, "size": p["size"], "key": p["keyframe"]})
    frames.sort(key=lambda f: (f["pts_time"] is None, f["pts_time"] or 0.0))
    counts = {k: sum(f["type"] == k for f in frames) for k in ("I", "P", "B", "?")}
    stream = listing["streams"][0]
    return {"file": str(path), "stream": video, "codec": stream["codec"], "frames": frames,
            "capped": listing["capped"], "total_bytes": sum(f["size"] for f in frames), "counts": counts}
