"""The ISO base media file format (MP4, MOV, M4A, 3GP, fragmented MP4) box by box, never trusting a size.

Written from ISO/IEC 14496-12 (boxes), 14496-14 (``esds``) and 14496-15 (``avcC``/``hvcC``). Every
box's size is checked against its parent and the file before anything inside it is read; a box that
runs past its parent, a size under 8 or beyond the file, a 64-bit size, a size of 0 (to the end), a
table whose count needs more bytes than its box holds, chunk offsets outside the file: each becomes
an entry under ``"damage"`` (or ``"notes"`` for the legal-but-unusual), and parsing goes on with what
can be trusted. Reads are capped (``MAX_FIELD_BYTES`` per box, ``MAX_TABLE_BYTES`` per sample table)
and so is the walk (``MAX_BOXES``, ``MAX_DEPTH``), so a hostile file costs bounded time and memory.

Only a missing or unreadable file raises (:class:`~omnidex.errors.MediaError`); bytes never do.
"""
from __future__ import annotations

import io
import os
import struct
import sys
from array import array
from pathlib import Path

from ..errors import MediaError
from . import nal

MAX_BOXES = 50_000  # boxes listed per file; past this the walk stops (reported)
MAX_DEPTH = 16
MAX_FIELD_BYTES = 1 << 16  # payload bytes read to decode an ordinary box's fields
MAX_TABLE_BYTES = 16 << 20  # payload bytes read of one sample table (stsz/stco/stts/...)
MAX_LISTED = 16  # entries of a list (brands, edits, first chunk offsets...) shown
MAX_HEX = 1 << 16  # bytes one --hex dump shows

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"mvex", b"moof", b"traf",
              b"mfra", b"udta", b"tref", b"sinf", b"schi", b"rinf", b"ipro", b"gmhd", b"ilst", b"meco",
              b"strk", b"strd", b"trgr", b"clip", b"matt", b"imap"}
VISUAL_ENTRIES = {b"avc1", b"avc2", b"avc3", b"avc4", b"hvc1", b"hev1", b"dvh1", b"dvhe", b"mp4v", b"encv",
                  b"vp08", b"vp09", b"av01", b"s263", b"jpeg", b"mjpa", b"mjpb", b"apcn", b"apch", b"apcs",
                  b"apco", b"ap4h", b"ap4x", b"png ", b"raw ", b"yuv2", b"2vuy"}
AUDIO_ENTRIES = {b"mp4a", b"enca", b"ac-3", b"ec-3", b"ac-4", b"Opus", b"fLaC", b"alac", b"samr", b"sawb",
                 b"sowt", b"twos", b"lpcm", b"ipcm", b"fpcm", b".mp3", b"mha1", b"mhm1", b"dtsc"}
FIRST_BOXES = {"ftyp", "styp", "moov", "free", "skip", "wide", "mdat", "pnot", "sidx", "moof", "uuid", "jP  "}
TABLES = {b"stts": 8, b"ctts": 8, b"stss": 4, b"stsc": 12, b"stco": 4, b"co64": 8, b"stps": 4, b"sdtp": 1}


def parse_file(path: str | Path) -> dict:
    """The box tree of an ISO-BMFF file with each known box's fields, tracks summarised, damage listed.

    Args:
        path: an MP4/MOV/M4A/3GP file (fragmented or not).
    Returns:
        {"file", "size", "boxes": [box...], "tracks": [...], "fragments": {...}, "damage": [...],
        "notes": [...]}. A box is {"type", "offset", "size", "header", "path", "fields"?,
        "children"?, "truncated"?}; a damage or note entry is {"offset", "path", "problem"}.
    Raises:
        MediaError: the file is missing or cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            out = _Parser(fh, size).run()
    except OSError as exc:
        raise MediaError(path, f"cannot read: {exc.strerror or exc}") from exc
    return {"file": str(path), **out}


def parse_bytes(data: bytes) -> dict:
    """:func:`parse_file` of bytes in memory (same result without ``"file"``); never raises."""
    return _Parser(io.BytesIO(data), len(data)).run()


class _Parser:
    def __init__(self, fh, size: int):
        self.fh = fh
        self.size = size
        self.count = 0
        self.damage: list[dict] = []
        self.notes: list[dict] = []
        self.stopped = False

    # -- reporting -------------------------------------------------------------------------------
    def _damage(self, offset: int, path: str, problem: str) -> None:
        if len(self.damage) < 1000:
            self.damage.append({"offset": offset, "path": path, "problem": problem})

    def _note(self, offset: int, path: str, problem: str) -> None:
        if len(self.notes) < 1000:
            self.notes.append({"offset": offset, "path": path, "problem": problem})

    def _read(self, offset: int, n: int) -> bytes:
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        self.fh.seek(offset)
        return self.fh.read(n)

    # -- the walk --------------------------------------------------------------------------------
    def run(self) -> dict:
        if self.size < 8:
            self._damage(0, "", f"{self.size} bytes: too short for one box (8-byte header)")
        boxes = self._walk(0, self.size, 0, "", top=True)
        if boxes and boxes[0]["type"] not in FIRST_BOXES:
            self._note(0, "", f"first box is {boxes[0]['type']!r}, not ftyp: maybe not an ISO-BMFF file")
        tracks = _tracks(boxes)
        self._check_offsets(boxes, tracks)
        self._check_fragments(boxes)
        if boxes and not any(b["type"] == "moov" for b in boxes):
            self._damage(self.size, "", "no moov box: the index a player needs is missing")
        return {"size": self.size, "boxes": boxes, "tracks": tracks, "fragments": _fragments(boxes),
                "damage": self.damage, "notes": self.notes, "box_count": self.count}

    def _walk(self, start: int, end: int, depth: int, parent: str, top: bool = False) -> list[dict]:
        """Boxes laid end to end in [start, end); stops at the first header that cannot be trusted."""
        boxes: list[dict] = []
        seen: dict[str, int] = {}
        pos = start
        while pos < end and not self.stopped:
            left = end - pos
            where = parent or "(top)"
            if left < 8:
                tail = self._read(pos, left)
                if any(tail):
                    self._damage(pos, where, f"{left} stray byte(s) where a box header (8 bytes) should start")
                else:
                    self._note(pos, where, f"{left} zero byte(s) of padding after the last box")
                break
            header = self._read(pos, min(16, left))
            size, raw = struct.unpack(">I4s", header[:8])
            kind = raw.decode("latin-1")
            if parent.rsplit("/", 1)[-1] == "ilst" and raw[:2] == b"\0\0":
                kind = f"key{int.from_bytes(raw, 'big')}"  # an item of a 'keys' table: its 1-based key index
            elif not all(32 <= c < 127 or c == 0xA9 for c in raw):  # (c) starts QuickTime tag names
                self._damage(pos, where, f"bytes {raw.hex()} at offset {pos} are not a box type: "
                                         "the size of the box before is wrong or the data is corrupt")
                break
            head = 8
            if size == 1:
                if len(header) < 16:
                    self._damage(pos, where, f"{kind}: 64-bit size cut off by the end of "
                                             + ("the file" if end == self.size else parent))
                    break
                size = struct.unpack(">Q", header[8:16])[0]
                head = 16
                if size < 16:
                    self._damage(pos, where, f"{kind}: 64-bit size {size} is smaller than its own header")
                    break
                if size < 1 << 32:
                    self._note(pos, where, f"{kind}: 64-bit size {size} where 32 bits would do")
            elif size == 0:
                size = left
                if not top:
                    self._damage(pos, where, f"{kind}: size 0 (to the end of the file) inside {parent}")
                else:
                    self._note(pos, where, f"{kind}: size 0, runs to the end of the file ({size} bytes)")
            elif size < 8:
                self._damage(pos, where, f"{kind}: size {size} is smaller than a box header")
                break
            if raw == b"uuid":
                head += 16
            i = seen.get(kind, 0)
            seen[kind] = i + 1
            path = f"{parent}/{kind}" if parent else kind
            path += f"[{i}]" if i else ""
            self.count += 1
            if self.count > MAX_BOXES:
                self._damage(pos, path, f"more than {MAX_BOXES} boxes: the rest is not listed")
                self.stopped = True
                break
            box = {"type": kind, "offset": pos, "size": size, "header": head, "path": path}
            avail = min(size, left)
            if size > left:
                box["truncated"] = True
                if pos + size > self.size:
                    self._damage(pos, path, f"{kind}: claims {size} bytes, {self.size - pos} left in the file: "
                                            "the file is cut off")
                else:
                    self._damage(pos, path, f"{kind}: claims {size} bytes, {left} left in {parent}: "
                                            "the box overruns its parent")
            if head > avail:
                self._damage(pos, path, f"{kind}: header ({head} bytes) cut off")
                break
            self._body(box, pos + head, pos + avail, depth)
            boxes.append(box)
            pos += size
        return boxes

    def _children(self, box: dict, start: int, end: int, depth: int) -> None:
        if depth + 1 >= MAX_DEPTH:
            self._damage(box["offset"], box["path"], f"boxes nested deeper than {MAX_DEPTH}: not followed")
            return
        box["children"] = self._walk(start, end, depth + 1, box["path"])

    def _body(self, box: dict, start: int, end: int, depth: int) -> None:
        raw = box["type"].encode("latin-1")
        n = end - start
        if raw in CONTAINERS or box["path"].rsplit("/", 2)[-2:-1] == ["ilst"]:  # an ilst item holds data boxes
            self._children(box, start, end, depth)
            return
        if raw == b"mdat":
            box["fields"] = {"data_start": start, "data_end": end, "bytes": n}
            return
        if raw in (b"free", b"skip", b"wide"):
            return
        if raw == b"meta":
            # ISO: a full box (4 bytes version/flags) then boxes; QuickTime: boxes at once
            probe = self._read(start, 8)
            skip = 0 if probe[4:8] in (b"hdlr", b"keys", b"ilst", b"mhdr") else 4
            self._children(box, start + skip, end, depth)
            return
        if raw == b"stsd":
            self._stsd(box, start, end, depth)
            return
        if raw in VISUAL_ENTRIES or raw in AUDIO_ENTRIES:
            try:
                self._sample_entry(box, self._read(start, min(n, 128)), start, end, depth)
            except (struct.error, IndexError, ValueError) as exc:
                self._damage(box["offset"], box["path"], f"{box['type']}: ends early or holds nonsense ({exc})")
            return
        if raw == b"dref":
            if n >= 8:
                box["fields"] = {"entry_count": struct.unpack(">I", self._read(start + 4, 4))[0]}
                self._children(box, start + 8, end, depth)
            return
        if raw in TABLES or raw in (b"stsz", b"stz2", b"trun"):
            data = self._read(start, min(n, MAX_TABLE_BYTES))
            if n > MAX_TABLE_BYTES:
                self._note(box["offset"], box["path"], f"{box['type']}: {n} bytes; only the first "
                                                       f"{MAX_TABLE_BYTES} summarised")
        else:
            data = self._read(start, min(n, MAX_FIELD_BYTES))
        parser = _FIELDS.get(raw)
        if parser is None:
            return
        try:
            fields = parser(data, box, self)
        except (struct.error, IndexError, ValueError, nal.NalError) as exc:
            self._damage(box["offset"], box["path"], f"{box['type']}: ends early or holds nonsense ({exc})")
            return
        if fields is not None:
            box["fields"] = fields

    def _stsd(self, box: dict, start: int, end: int, depth: int) -> None:
        head = self._read(start, 8)
        if len(head) < 8:
            self._damage(box["offset"], box["path"], "stsd: shorter than its 8-byte header")
            return
        count = struct.unpack(">I", head[4:8])[0]
        box["fields"] = {"entry_count": count}
        entries = self._walk(start + 8, end, depth + 1, box["path"])
        if len(entries) != count:
            self._damage(box["offset"], box["path"], f"stsd: says {count} sample entries, holds {len(entries)}")
        box["children"] = entries

    def _sample_entry(self, box: dict, data: bytes, start: int, end: int, depth: int) -> None:
        """A visual or audio sample entry: its fixed fields, then its boxes (avcC, hvcC, esds, pasp...)."""
        raw = box["type"].encode("latin-1")
        if raw in VISUAL_ENTRIES:
            if len(data) < 78:
                raise ValueError("visual sample entry shorter than 78 bytes")
            width, height = struct.unpack(">HH", data[24:28])
            name_len = min(data[42], 31)
            fields = {"data_reference_index": struct.unpack(">H", data[6:8])[0], "width": width, "height": height,
                      "compressor": data[43:43 + name_len].decode("latin-1"), "depth": struct.unpack(">H", data[74:76])[0]}
            box["fields"] = fields
            self._children(box, start + 78, end, depth)
        if raw in AUDIO_ENTRIES:
            if len(data) < 28:
                raise ValueError("audio sample entry shorter than 28 bytes")
            version = struct.unpack(">H", data[8:10])[0]
            fields = {"data_reference_index": struct.unpack(">H", data[6:8])[0],
                      "channels": struct.unpack(">H", data[16:18])[0],
                      "sample_size": struct.unpack(">H", data[18:20])[0],
                      "sample_rate": struct.unpack(">I", data[24:28])[0] >> 16}
            extra = {1: 16, 2: 36}.get(version, 0)  # QuickTime sound description v1/v2
            if version:
                fields["quicktime_version"] = version
            box["fields"] = fields
            self._children(box, start + 28 + extra, end, depth)

    # -- cross-checks ----------------------------------------------------------------------------
    def _check_offsets(self, boxes: list[dict], tracks: list[dict]) -> None:
        mdats = [(b["offset"], b["offset"] + b["size"]) for b in boxes if b["type"] == "mdat"]
        for t in tracks:
            lo, hi = t.get("chunk_offset_min"), t.get("chunk_offset_max")
            if lo is None:
                continue
            if hi >= self.size:
                self._damage(hi, t["path"], f"track {t.get('track_id')}: chunk offsets reach {hi}, past the end "
                                            f"of the file ({self.size} bytes): samples are missing")
            elif mdats and not any(a <= lo and hi < b for a, b in mdats):
                self._note(lo, t["path"], f"track {t.get('track_id')}: chunk offsets {lo}..{hi} are not all inside "
                                          "one mdat box")
            elif not mdats:
                self._damage(lo, t["path"], f"track {t.get('track_id')}: chunk offsets point at media data but "
                                            "the file has no mdat box")


    def _check_fragments(self, boxes: list[dict]) -> None:
        """Each trun's sample bytes (from its data_offset and sizes) must lie inside the file and one mdat."""
        mdats = [(b["offset"], b["offset"] + b["size"]) for b in boxes if b["type"] == "mdat"]
        for moof in (b for b in boxes if b["type"] == "moof"):
            for n, traf in enumerate(find(moof.get("children", []), "traf")):
                kids = traf.get("children", [])
                tfhd = _first(kids, "tfhd")
                if "base_data_offset" not in tfhd and not tfhd.get("default_base_is_moof") and n:
                    continue  # base is where the previous traf's data ended: not followed
                base = tfhd.get("base_data_offset", moof["offset"])
                for trun in find(kids, "trun")[:1]:
                    f = trun.get("fields", {})
                    size = f.get("total_bytes")
                    if size is None and tfhd.get("default_sample_size") is not None:
                        size = tfhd["default_sample_size"] * f.get("sample_count", 0)
                    if "data_offset" not in f or size is None:
                        continue
                    lo, hi = base + f["data_offset"], base + f["data_offset"] + size
                    if lo < 0 or hi > self.size:
                        self._damage(trun["offset"], trun["path"], f"trun: samples at {lo}..{hi} reach past the file "
                                                                   f"({self.size} bytes)")
                    elif size and not any(a <= lo and hi <= b for a, b in mdats):
                        self._damage(trun["offset"], trun["path"], f"trun: samples at {lo}..{hi} are not inside one "
                                                                   "mdat box (they overlap other boxes)")


# ---------------------------------------------------------------------------------------------- box fields


def _full(data: bytes) -> tuple[int, int]:
    if len(data) < 4:
        raise ValueError("full box shorter than its version and flags")
    return data[0], int.from_bytes(data[1:4], "big")


def _u(data: bytes, fmt: str, pos: int):
    return struct.unpack_from(">" + fmt, data, pos)


def _ftyp(data, box, p):
    if len(data) < 8:
        raise ValueError("shorter than 8 bytes")
    brands = [data[i:i + 4].decode("latin-1") for i in range(8, len(data) - 3, 4)]
    return {"major_brand": data[:4].decode("latin-1"), "minor_version": _u(data, "I", 4)[0],
            "compatible_brands": brands[:MAX_LISTED * 4]}


def _mvhd(data, box, p):
    version, _ = _full(data)
    if version == 1:
        created, modified, timescale, duration = _u(data, "QQIQ", 4)
        rest = 32
    else:
        created, modified, timescale, duration = _u(data, "IIII", 4)
        rest = 20
    out = {"version": version, "timescale": timescale, "duration": duration,
           "seconds": round(duration / timescale, 6) if timescale else None, "created": _mac_time(created),
           "modified": _mac_time(modified)}
    if len(data) >= rest + 80:
        out["next_track_id"] = _u(data, "I", rest + 76)[0]
    if not timescale:
        p._damage(box["offset"], box["path"], "mvhd: timescale 0")
    return out


def _mac_time(seconds: int) -> str | None:
    """Seconds since 1904-01-01 UTC as an ISO date (None when 0)."""
    if not seconds:
        return None
    import datetime as dt

    try:
        return (dt.datetime(1904, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()
    except OverflowError:
        return None


def _tkhd(data, box, p):
    version, flags = _full(data)
    if version == 1:
        _c, _m, track_id, _r, duration = _u(data, "QQIIQ", 4)
        rest = 36
    else:
        _c, _m, track_id, _r, duration = _u(data, "IIIII", 4)
        rest = 24
    # reserved(8) layer(2) alternate_group(2) volume(2) reserved(2) matrix(36) width(4) height(4)
    width, height = _u(data, "II", rest + 52)
    return {"version": version, "enabled": bool(flags & 1), "track_id": track_id, "duration": duration,
            "width": round(width / 65536, 3), "height": round(height / 65536, 3),
            "volume": round(_u(data, "H", rest + 12)[0] / 256, 3)}


def _mdhd(data, box, p):
    version, _ = _full(data)
    if version == 1:
        _c, _m, timescale, duration = _u(data, "QQIQ", 4)
        rest = 32
    else:
        _c, _m, timescale, duration = _u(data, "IIII", 4)
        rest = 20
    lang = _u(data, "H", rest)[0]
    code = "".join(chr(((lang >> s) & 0x1F) + 0x60) for s in (10, 5, 0)) if lang else None
    if not timescale:
        p._damage(box["offset"], box["path"], "mdhd: timescale 0")
    return {"version": version, "timescale": timescale, "duration": duration,
            "seconds": round(duration / timescale, 6) if timescale else None, "language": code}


def _hdlr(data, box, p):
    _full(data)
    if len(data) < 24:
        raise ValueError("shorter than 24 bytes")
    name = data[24:24 + 256].split(b"\0")[0]
    if name[:1] and name[0] == len(name) - 1:  # QuickTime: a Pascal string
        name = name[1:]
    return {"handler_type": data[8:12].decode("latin-1"), "name": name.decode("utf-8", "replace")}


def _words(data: bytes, pos: int, count: int, size: int) -> array:
    """``count`` big-endian unsigned integers of ``size`` bytes (4 or 8) from ``pos``."""
    arr = array("I" if size == 4 else "Q")
    if arr.itemsize != size:  # platforms where I is 8 bytes, or Q missing: fall back to struct
        return array("q", struct.unpack_from(f">{count}{'I' if size == 4 else 'Q'}", data, pos))
    arr.frombytes(data[pos:pos + count * size])
    if sys.byteorder == "little":
        arr.byteswap()
    return arr


def _counted(data: bytes, box: dict, p: _Parser, entry: int, head: int = 8) -> tuple[int, int]:
    """(declared entry count, entries the bytes read hold); a count the box cannot hold is damage."""
    _full(data)
    if len(data) < head:
        raise ValueError(f"shorter than its {head}-byte header")
    count = _u(data, "I", head - 4)[0]
    room = (box["size"] - box["header"] - head) // entry
    held = (len(data) - head) // entry
    if count > room:
        p._damage(box["offset"], box["path"], f"{box['type']}: says {count} entries, room for {max(room, 0)}")
    return count, min(count, held)


def _stts(data, box, p):
    count, held = _counted(data, box, p, 8)
    w = _words(data, 8, held * 2, 4)
    counts, deltas = w[0::2], w[1::2]
    distinct = sorted(set(deltas))
    return {"entry_count": count, "sample_count": sum(counts), "total_duration": sum(c * d for c, d in zip(counts, deltas)),
            "sample_deltas": distinct[:MAX_LISTED], "distinct_deltas": len(distinct)}


def _ctts(data, box, p):
    version = data[0] if data else 0
    count, held = _counted(data, box, p, 8)
    w = _words(data, 8, held * 2, 4)
    counts = w[0::2]
    offsets = [o - (1 << 32) if version and o >= 1 << 31 else o for o in w[1::2]]
    return {"version": version, "entry_count": count, "sample_count": sum(counts),
            "min_offset": min(offsets, default=None), "max_offset": max(offsets, default=None)}


def _stss(data, box, p):
    count, held = _counted(data, box, p, 4)
    w = _words(data, 8, held, 4)
    return {"entry_count": count, "first_samples": list(w[:MAX_LISTED])}


def _stsc(data, box, p):
    count, held = _counted(data, box, p, 12)
    w = _words(data, 8, held * 3, 4)
    entries = [{"first_chunk": w[i], "samples_per_chunk": w[i + 1], "sample_description_index": w[i + 2]}
               for i in range(0, min(held, MAX_LISTED) * 3, 3)]
    return {"entry_count": count, "entries": entries}


def _stco(data, box, p):
    size = 8 if box["type"] == "co64" else 4
    count, held = _counted(data, box, p, size)
    w = _words(data, 8, held, size)
    return {"entry_count": count, "first_offsets": list(w[:MAX_LISTED]), "min_offset": min(w, default=None),
            "max_offset": max(w, default=None)}


def _stsz(data, box, p):
    _full(data)
    if len(data) < 12:
        raise ValueError("shorter than 12 bytes")
    sample_size, count = _u(data, "II", 4)
    out = {"sample_size": sample_size, "sample_count": count}
    if sample_size == 0:
        room = (box["size"] - box["header"] - 12) // 4
        if count > room:
            p._damage(box["offset"], box["path"], f"stsz: says {count} sample sizes, room for {max(room, 0)}")
        w = _words(data, 12, min(count, (len(data) - 12) // 4), 4)
        out.update(total_bytes=sum(w), min_size=min(w, default=None), max_size=max(w, default=None))
    else:
        out["total_bytes"] = sample_size * count
    return out


def _stz2(data, box, p):
    _full(data)
    field_size = data[7]
    count = _u(data, "I", 8)[0]
    if field_size not in (4, 8, 16):
        p._damage(box["offset"], box["path"], f"stz2: field size {field_size} (4, 8 or 16 allowed)")
    elif count * field_size > (box["size"] - box["header"] - 12) * 8:
        p._damage(box["offset"], box["path"], f"stz2: says {count} sample sizes, too many for the box")
    return {"field_size": field_size, "sample_count": count}


def _elst(data, box, p):
    version, _ = _full(data)
    entry = 20 if version == 1 else 12
    count, held = _counted(data, box, p, entry)
    edits = []
    for i in range(min(held, MAX_LISTED)):
        if version == 1:
            duration, media_time, rate_int, rate_frac = _u(data, "Qqhh", 8 + i * entry)
        else:
            duration, media_time, rate_int, rate_frac = _u(data, "Iihh", 8 + i * entry)
        edits.append({"segment_duration": duration, "media_time": media_time, "rate": rate_int + rate_frac / 65536,
                      "empty": media_time == -1})
    return {"version": version, "entry_count": count, "edits": edits}


def _mfhd(data, box, p):
    _full(data)
    return {"sequence_number": _u(data, "I", 4)[0]}


def _tfhd(data, box, p):
    _, flags = _full(data)
    out = {"flags": flags, "track_id": _u(data, "I", 4)[0], "default_base_is_moof": bool(flags & 0x20000),
           "duration_is_empty": bool(flags & 0x10000)}
    pos = 8
    for bit, name, fmt in ((0x1, "base_data_offset", "Q"), (0x2, "sample_description_index", "I"),
                           (0x8, "default_sample_duration", "I"), (0x10, "default_sample_size", "I"),
                           (0x20, "default_sample_flags", "I")):
        if flags & bit:
            out[name] = _u(data, fmt, pos)[0]
            pos += struct.calcsize(fmt)
    return out


def _tfdt(data, box, p):
    version, _ = _full(data)
    return {"version": version, "base_media_decode_time": _u(data, "Q" if version == 1 else "I", 4)[0]}


TRUN_FIELDS = ((0x100, "duration"), (0x200, "size"), (0x400, "flags"), (0x800, "composition_offset"))


def _trun(data, box, p):
    version, flags = _full(data)
    count = _u(data, "I", 4)[0]
    out = {"version": version, "flags": flags, "sample_count": count}
    pos = 8
    if flags & 0x1:
        out["data_offset"] = _u(data, "i", pos)[0]
        pos += 4
    if flags & 0x4:
        out["first_sample_flags"] = _u(data, "I", pos)[0]
        pos += 4
    present = [name for bit, name in TRUN_FIELDS if flags & bit]
    out["per_sample"] = present
    per = 4 * len(present)
    room = (box["size"] - box["header"] - pos) // per if per else count
    if count > room:
        p._damage(box["offset"], box["path"], f"trun: says {count} samples, room for {max(room, 0)}")
    held = min(count, (len(data) - pos) // per) if per else 0
    if per and held:
        w = _words(data, pos, held * len(present), 4)
        cols = {name: w[i::len(present)] for i, name in enumerate(present)}
        if "size" in cols:
            out["total_bytes"] = sum(cols["size"])
        if "duration" in cols:
            out["total_duration"] = sum(cols["duration"])
        if "flags" in cols:
            out["sync_samples"] = sum(1 for f in cols["flags"] if not f & 0x10000)
    return out


def _mehd(data, box, p):
    version, _ = _full(data)
    return {"fragment_duration": _u(data, "Q" if version == 1 else "I", 4)[0]}


def _trex(data, box, p):
    _full(data)
    track_id, sdi, duration, size, flags = _u(data, "IIIII", 4)
    return {"track_id": track_id, "default_sample_description_index": sdi, "default_sample_duration": duration,
            "default_sample_size": size, "default_sample_flags": flags}


def _sidx(data, box, p):
    version, _ = _full(data)
    ref_id, timescale = _u(data, "II", 4)
    pos = 12
    ept, first = _u(data, "QQ" if version else "II", pos)
    pos += 16 if version else 8
    count = _u(data, "H", pos + 2)[0]
    if count * 12 > box["size"] - box["header"] - pos - 4:
        p._damage(box["offset"], box["path"], f"sidx: says {count} references, too many for the box")
    return {"reference_id": ref_id, "timescale": timescale, "earliest_presentation_time": ept,
            "first_offset": first, "reference_count": count}


def _avcc(data, box, p):
    out = nal.avcc(data)
    if "error" in out:
        p._damage(box["offset"], box["path"], out["error"])
    return out


def _hvcc(data, box, p):
    out = nal.hvcc(data)
    if "error" in out:
        p._damage(box["offset"], box["path"], out["error"])
    return out


def _esds(data, box, p):
    """ES_Descriptor -> DecoderConfigDescriptor (object type, bit rates) -> AudioSpecificConfig (14496-1/-3)."""
    _full(data)
    out: dict = {}
    pos, end = 4, len(data)
    for _ in range(16):  # descriptors visited
        if pos + 2 > end:
            break
        tag = data[pos]
        pos += 1
        length = 0
        for _ in range(4):  # expandable size: 7 bits a byte
            b = data[pos]
            pos += 1
            length = (length << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        body_end = min(pos + length, end)
        if tag == 3:  # ES_Descriptor: ES_ID(2) flags(1) [dependsOn(2)] [URL] [OCR_ES_Id(2)]
            flags = data[pos + 2]
            pos += 3 + (2 if flags & 0x80 else 0)
            if flags & 0x40:
                pos += 1 + data[pos]
            pos += 2 if flags & 0x20 else 0
            continue  # its sub-descriptors follow
        if tag == 4:  # DecoderConfigDescriptor
            out["object_type"] = data[pos]
            out["stream_type"] = data[pos + 1] >> 2
            out["max_bitrate"], out["avg_bitrate"] = _u(data, "II", pos + 5)
            pos += 13
            continue
        if tag == 5 and pos + 2 <= end:  # DecoderSpecificInfo: AudioSpecificConfig
            bits = int.from_bytes(data[pos:pos + 2], "big")
            aot, freq_index, channels = bits >> 11, (bits >> 7) & 0xF, (bits >> 3) & 0xF
            rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]
            out.update(audio_object_type=aot, sample_rate=rates[freq_index] if freq_index < len(rates) else None,
                       channel_config=channels)
        pos = body_end
    return out


_FIELDS = {b"ftyp": _ftyp, b"styp": _ftyp, b"mvhd": _mvhd, b"tkhd": _tkhd, b"mdhd": _mdhd, b"hdlr": _hdlr,
           b"stts": _stts, b"ctts": _ctts, b"stss": _stss, b"stps": _stss, b"stsc": _stsc, b"stco": _stco,
           b"co64": _stco, b"stsz": _stsz, b"stz2": _stz2, b"elst": _elst, b"mfhd": _mfhd, b"tfhd": _tfhd,
           b"tfdt": _tfdt, b"trun": _trun, b"mehd": _mehd, b"trex": _trex, b"sidx": _sidx, b"avcC": _avcc,
           b"hvcC": _hvcc, b"esds": _esds}


# ---------------------------------------------------------------------------------------------- summaries


def find(boxes: list[dict], kind: str) -> list[dict]:
    """Every box of type ``kind`` in the tree, depth first."""
    out = []
    for b in boxes:
        if b["type"] == kind:
            out.append(b)
        out.extend(find(b.get("children", []), kind))
    return out


def _first(boxes: list[dict], kind: str) -> dict:
    found = find(boxes, kind)
    return found[0].get("fields", {}) if found else {}


def _tracks(boxes: list[dict]) -> list[dict]:
    """One line of facts per ``trak``: id, handler, codec, timescale, duration, samples, keyframes, edits."""
    out = []
    for trak in find(boxes, "trak"):
        kids = trak.get("children", [])
        tkhd, mdhd, hdlr = _first(kids, "tkhd"), _first(kids, "mdhd"), _first(kids, "hdlr")
        stsd = find(kids, "stsd")
        entry = stsd[0].get("children", [{}])[0] if stsd and stsd[0].get("children") else {}
        stsz, stz2, stss = _first(kids, "stsz"), _first(kids, "stz2"), _first(kids, "stss")
        stco = _first(kids, "stco") or _first(kids, "co64")
        elst = _first(kids, "elst")
        t = {"path": trak["path"], "track_id": tkhd.get("track_id"), "handler": hdlr.get("handler_type"),
             "codec": entry.get("type"), "timescale": mdhd.get("timescale"), "seconds": mdhd.get("seconds"),
             "samples": stsz.get("sample_count", stz2.get("sample_count")),
             "sync_samples": stss.get("entry_count"),  # None: every sample is a sync sample
             "chunks": stco.get("entry_count"), "edits": elst.get("entry_count", 0),
             "chunk_offset_min": stco.get("min_offset"), "chunk_offset_max": stco.get("max_offset")}
        ef = entry.get("fields", {})
        if "width" in ef:
            t["width"], t["height"] = ef["width"], ef["height"]
        config = next((c.get("fields", {}) for c in entry.get("children", []) if c["type"] in ("avcC", "hvcC")), None)
        if config:
            t["profile"], t["level"] = config.get("profile"), config.get("level")
        if "sample_rate" in ef:
            t["sample_rate"], t["channels"] = ef["sample_rate"], ef["channels"]
        out.append(t)
    return out


def _fragments(boxes: list[dict]) -> dict:
    """Fragmented MP4: number of moof boxes and samples per track id across their truns."""
    moofs = [b for b in boxes if b["type"] == "moof"]
    per_track: dict[int, int] = {}
    for moof in moofs:
        for traf in find(moof.get("children", []), "traf"):
            kids = traf.get("children", [])
            track = _first(kids, "tfhd").get("track_id")
            samples = sum(r.get("fields", {}).get("sample_count", 0) for r in find(kids, "trun"))
            per_track[track] = per_track.get(track, 0) + samples
    return {"moof_count": len(moofs), "samples_per_track": {str(k): v for k, v in per_track.items()}}


# ---------------------------------------------------------------------------------------------- hex dump


def box_at(boxes: list[dict], offset: int) -> tuple[dict | None, str]:
    """(deepest box holding byte ``offset``, "header"/"payload"); (None, "") outside every box."""
    best, part = None, ""
    level = boxes
    while level:
        for b in level:
            if b["offset"] <= offset < b["offset"] + b["size"]:
                best = b
                part = "header" if offset < b["offset"] + b["header"] else "payload"
                level = b.get("children", []) if part == "payload" else []
                break
        else:
            break
    return best, part


def _next_boundary(boxes: list[dict], box: dict | None, part: str, pos: int) -> int:
    """The first offset after ``pos`` where the (box, part) that holds ``pos`` changes."""
    if box is None:
        later = [b["offset"] for b in boxes if b["offset"] > pos]
        return min(later, default=1 << 62)
    end = box["offset"] + box["size"]
    if part == "header":
        return box["offset"] + box["header"]
    later = [c["offset"] for c in box.get("children", []) if c["offset"] > pos]
    return max(pos + 1, min(later + [end]))


def hexdump(path: str | Path, offset: int, length: int = 256, tree: dict | None = None) -> dict:
    """Bytes ``offset..offset+length`` of a file, 16 a row, each row and run of bytes named by its box.

    Args:
        path: the file.
        offset: first byte (negative: from the end).
        length: bytes to show (capped at MAX_HEX).
        tree: parse_file's result when already at hand.
    Returns:
        {"file", "offset", "length", "segments": [{"start", "end", "path", "part"}], "rows": [{"offset",
        "hex", "ascii", "path"}]}.
    Raises:
        MediaError: unreadable file, or an offset outside it.
    """
    tree = tree or parse_file(path)
    size = tree["size"]
    if offset < 0:
        offset += size
    if not 0 <= offset < size:
        raise MediaError(path, f"offset {offset} is outside the file ({size} bytes)")
    length = max(1, min(length, MAX_HEX, size - offset))
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    segments: list[dict] = []
    pos, stop = offset, offset + len(data)
    while pos < stop:
        box, part = box_at(tree["boxes"], pos)
        end = min(stop, _next_boundary(tree["boxes"], box, part, pos))
        name = box["path"] if box else "(outside any box)"
        segments.append({"start": pos, "end": end, "path": name, "part": part})
        pos = end
    rows = []
    for r in range(0, len(data), 16):
        chunk = data[r:r + 16]
        box, part = box_at(tree["boxes"], offset + r)
        rows.append({"offset": offset + r, "hex": " ".join(f"{b:02x}" for b in chunk),
                     "ascii": "".join(chr(b) if 32 <= b < 127 else "." for b in chunk),
                     "path": (box["path"] + (" (header)" if part == "header" else "")) if box else "(outside any box)"})
    return {"file": str(path), "offset": offset, "length": len(data), "segments": segments, "rows": rows}
