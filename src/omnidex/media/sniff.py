"""Decide what a file is from its content (magic bytes, then a container probe), not its name."""
from __future__ import annotations

import codecs
import os
from pathlib import Path

from .._require import require
from ..errors import MediaError

HEAD_BYTES = 8192
# Extensions that hint "this is text" when the bytes are not valid UTF-8 (read_text falls back to latin-1).
TEXT_HINT_EXTENSIONS = {".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".log", ".json", ".srt", ".vtt"}
# ISO-BMFF major brands that mean "audio only" when the container cannot be probed.
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)
IMAGE_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}


def read_head(path: str | Path, n: int = HEAD_BYTES) -> bytes:
    """Read the first ``n`` bytes of ``path``, turning OS errors into MediaError.

    Args:
        path: file to read.
        n: how many bytes at most.
    Returns:
        The bytes read (never empty).
    """
    try:
        if os.path.isdir(path):
            raise MediaError(path, "is a directory, not a file")
        with open(path, "rb") as fh:
            head = fh.read(n)
    except PermissionError as exc:
        raise MediaError(path, f"permission denied (cannot read file: {exc.strerror})") from exc
    except FileNotFoundError as exc:
        raise MediaError(path, "file not found") from exc
    except OSError as exc:
        raise MediaError(path, f"cannot read file: {exc}") from exc
    if not head:
        raise MediaError(path, "zero-byte file")
    return head


def sniff(path: str | Path) -> str:
    """Classify a file as "image", "video", "audio", "text", "series" or "unknown" from its content.

    Magic bytes decide images and simple audio formats; containers that can hold either audio or
    video (MP4/MOV, Matroska/WebM, Ogg, AVI, MPEG-TS, FLV, ASF) are probed with PyAV, and a file
    with a real video stream (not cover art) is "video".

    Args:
        path: the file.
    Returns:
        One of "image", "video", "audio", "text", "series" (.npy, Parquet, numeric CSV), "unknown".
    Raises:
        MediaError: zero-byte, missing or unreadable file.
    """
    head = read_head(path)
    if head.startswith((b"\x93NUMPY", b"PAR1")):  # NumPy .npy array, Parquet table
        return "series"
    if head.startswith(_TEXT_BOMS):  # before magic: a UTF-16 BOM looks like an MPEG frame sync
        return "text" if looks_like_text(head) else "unknown"
    kind = _magic_kind(head)
    if kind == "container":
        return _probe_kind(path, head)
    if kind is not None:
        return kind
    if looks_like_text(head, Path(path).suffix.lower() in TEXT_HINT_EXTENSIONS):
        from .series_detect import text_is_series

        return "series" if text_is_series(head) else "text"  # a table of mostly numeric columns is a series
    return "unknown"


def _magic_kind(head: bytes) -> str | None:
    """Kind from the leading bytes: a kind, "container" (needs a probe) or None."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")):
        return "image"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "image"
    if head[:2] == b"BM" and len(head) >= 26 and head[6:10] == b"\x00\x00\x00\x00":
        return "image"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "image", b"WAVE": "audio", b"AVI ": "video"}.get(head[8:12], "container")
    if head.startswith((b"fLaC", b"ID3", b"#!AMR", b"MAC ")) or _is_mpeg_audio(head):
        return "audio"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in IMAGE_BRANDS:
        return "image"
    if _is_container(head):
        return "container"
    return None


def _is_mpeg_audio(head: bytes) -> bool:
    """MPEG audio (MP3) or ADTS AAC frame sync at offset 0, confirmed by a second frame sync."""
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    layer, version = (head[1] >> 1) & 0x3, (head[1] >> 3) & 0x3
    if version == 1:  # reserved
        return False
    if layer == 0:  # ADTS AAC: 0xFFF1 / 0xFFF9
        return (head[1] & 0xF6) == 0xF0
    bitrate_idx, sr_idx = head[2] >> 4, (head[2] >> 2) & 0x3
    return bitrate_idx not in (0, 15) and sr_idx != 3


def _is_container(head: bytes) -> bool:
    """True for containers that may hold video or only audio."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return True
    if head.startswith((b"\x1a\x45\xdf\xa3", b"OggS", b"FLV\x01", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")):
        return True
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return True  # MPEG-PS / MPEG-1 video
    return len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47  # MPEG-TS


def _probe_kind(path: str | Path, head: bytes) -> str:
    """Open a container with PyAV: a non-cover-art video stream makes it "video"."""
    av = require("av", "video")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = [s for s in container.streams.video if not is_cover_art(s)]
            if video:
                return "video"
            if container.streams.audio:
                return "audio"
            return "unknown"
    except Exception:  # noqa: BLE001 - FFmpeg raises many types; fall back to the header
        return _fallback_container_kind(path, head)


def is_cover_art(stream) -> bool:
    """Whether a video stream is an attached picture (album art in MP3/M4A/FLAC), not video.

    Args:
        stream: a PyAV stream.
    Returns:
        True for cover art.
    """
    try:
        return bool(stream.disposition & stream.disposition.__class__.attached_pic)
    except Exception:  # noqa: BLE001 - older PyAV without dispositions
        return False


def _fallback_container_kind(path: str | Path, head: bytes) -> str:
    """Best guess for a container PyAV cannot open (e.g. an MP4 whose index was cut off)."""
    suffix = Path(path).suffix.lower()
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "audio" if head[8:12] in AUDIO_BRANDS else "video"
    if head.startswith(b"OggS"):
        return "video" if b"theora" in head[:512] else "audio"
    if suffix in (".m4a", ".mka", ".weba", ".opus", ".oga", ".ogg", ".wma"):
        return "audio"
    return "video"


def looks_like_text(head: bytes, hinted: bool = False) -> bool:
    """Whether bytes look like text: UTF-16/32 with BOM, or UTF-8 without NULs or control noise.

    Args:
        head: the leading bytes of a file (may end mid-character).
        hinted: the extension says text; then latin-1 text without NULs also counts.
    Returns:
        True when the bytes are text.
    """
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return _decodes(head, enc)
    if b"\x00" in head:
        return False
    if _decodes(head, "utf-8"):
        return _control_ratio(head.decode("utf-8", errors="ignore")) < 0.05
    return hinted and _control_ratio(head.decode("latin-1")) < 0.05


def _decodes(data: bytes, encoding: str) -> bool:
    """Strict incremental decode that tolerates a character cut at the end of ``data``."""
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _control_ratio(text: str) -> float:
    """Fraction of characters that are C0/C1 controls other than ordinary whitespace."""
    if not text:
        return 0.0
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f\x0b\x1b") or 0x7F <= ord(ch) < 0xA0)
    return bad / len(text)
