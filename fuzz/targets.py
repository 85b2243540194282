"""Fuzz targets: each takes arbitrary bytes and may only fail in the documented way.

A target returns normally or raises one of the errors its function documents (``ALLOWED``); any
other exception, a hang or a crash of the interpreter is a finding. Inputs that need a file are
written to one scratch file per process (``SCRATCH``), named with the suffix the reader expects.
"""
from __future__ import annotations

import os
import tempfile

SCRATCH = tempfile.mkdtemp(prefix="omnidex-fuzz-")
MAX_INPUT = 64 * 1024  # bytes a target looks at


def _file(data: bytes, name: str) -> str:
    path = os.path.join(SCRATCH, name)
    with open(path, "wb") as fh:
        fh.write(data[:MAX_INPUT])
    return path


def sniff_target(data: bytes) -> None:
    """Content sniffing of an upload or a file being indexed (magic bytes, text detection, PyAV probe)."""
    from omnidex.media.sniff import looks_like_text, sniff

    looks_like_text(data[:4096])
    kind = sniff(_file(data, "upload.bin"))
    assert kind in ("image", "video", "audio", "text", "series", "unknown"), kind


def mp4_boxes_target(data: bytes) -> None:
    """The ISO-BMFF top-level box walk probe uses to explain an MP4 that does not open."""
    from omnidex.media.pyav import moov_state, top_level_boxes

    path = _file(data, "clip.mp4")
    boxes = top_level_boxes(path)
    assert all(len(kind) == 4 for kind, _ in boxes)
    assert moov_state(path).startswith("MP4 index")


def isobmff_target(data: bytes) -> None:
    """The full ISO-BMFF box parser behind ``probe --boxes/--hex`` and the H.264/H.265 NAL readers: bytes
    may only ever become damage entries, and every box listed lies inside the file and its parent."""
    from omnidex.media import nal
    from omnidex.media.isobmff import MAX_BOXES, hexdump, parse_file

    path = _file(data, "boxes.mp4")
    size = min(len(data), MAX_INPUT)
    tree = parse_file(path)
    assert tree["size"] == size and tree["box_count"] <= MAX_BOXES + 1

    def inside(boxes, lo, hi):
        for b in boxes:
            assert lo <= b["offset"] and b["offset"] + b["header"] <= hi, b
            inside(b.get("children", []), b["offset"] + b["header"], min(b["offset"] + b["size"], hi))

    inside(tree["boxes"], 0, size)
    if size:
        dump = hexdump(path, data[0] * size // 256, 64, tree=tree)
        assert dump["segments"][0]["start"] == dump["offset"] and dump["segments"][-1]["end"] == dump["offset"] + dump["length"]
    for codec in ("h264", "hevc"):
        reader = nal.NalReader(codec, data[:64])
        reader.packet(data[64:])


def series_target(data: bytes) -> None:
    """The series readers: .npy header and payload, Parquet, CSV (format from the content)."""
    from omnidex.series.io import load_series

    series = load_series(_file(data, "series.dat"), max_rows=100_000)  # seeds hold each format's magic
    assert series is not None


def pairs_target(data: bytes) -> None:
    """The training pairs loader: CSV or JSONL of (path, caption), format by the first byte."""
    from omnidex.train.pairs import load_pairs

    name = "pairs.jsonl" if data[:1] in (b"{", b"[") else "pairs.csv"
    load_pairs(_file(data, name), min_pairs=1)


def range_target(data: bytes) -> None:
    """The HTTP Range header parser: a span inside the file, None, or RangeNotSatisfiable."""
    from omnidex.serve.security import RangeNotSatisfiable, parse_range

    size = int.from_bytes(data[:3].ljust(3, b"\0"), "big")
    header = data[3:].decode("latin-1")
    try:
        span = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if span is not None:
        start, end = span
        assert 0 <= start <= end < size, (header, size, span)


def _allowed():
    from omnidex.errors import OmnidexError

    return {"sniff": (OmnidexError,), "mp4_boxes": (OSError,), "isobmff": (), "series": (OmnidexError,),
            "pairs": (OmnidexError,), "range": ()}


TARGETS = {"sniff": sniff_target, "mp4_boxes": mp4_boxes_target, "isobmff": isobmff_target, "series": series_target,
           "pairs": pairs_target, "range": range_target}


def run_one(name: str, data: bytes) -> None:
    """Run target ``name`` on ``data``; documented errors are swallowed, anything else propagates."""
    try:
        TARGETS[name](data)
    except _allowed()[name]:
        pass
