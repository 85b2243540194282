"""``omnidex probe FILE --boxes / --packets / --hex OFFSET[:LEN]``: inside the file, printed or as JSON.

The box tree comes from :mod:`omnidex.media.isobmff`, the packets from :mod:`omnidex.media.packets`;
this module only chooses what to show and prints it.
"""
from __future__ import annotations

import json

from ..errors import MediaError
from .isobmff import FIRST_BOXES, hexdump, parse_file
from .packets import read_packets

DEFAULT_HEX = 256


def parse_hex_spec(path, spec: str) -> tuple[int, int]:
    """``OFFSET[:LEN]`` (decimal or 0x-hex; a negative offset counts from the end) as (offset, length)."""
    head, _, tail = spec.partition(":")
    try:
        offset = int(head, 0)
        length = int(tail, 0) if tail else DEFAULT_HEX
    except ValueError:
        raise MediaError(path, f"--hex wants OFFSET[:LEN] in bytes (e.g. 0x20:64), not {spec!r}") from None
    if length <= 0:
        raise MediaError(path, f"--hex length must be positive, not {length}")
    return offset, length


def inside(path, boxes: bool = False, packets: bool = False, hex_spec: str | None = None) -> dict:
    """What ``--boxes``/``--packets``/``--hex`` asked for, as one JSON-ready dict.

    Raises:
        MediaError: unreadable file, --boxes on a file that is not ISO-BMFF, a bad --hex spec.
    """
    out: dict = {"file": str(path)}
    tree = None
    if boxes or hex_spec is not None:
        tree = parse_file(path)
        if boxes and (not tree["boxes"] or tree["boxes"][0]["type"] not in FIRST_BOXES):
            why = (f"it starts with {tree['boxes'][0]['type']!r}, not a box an MP4 starts with" if tree["boxes"]
                   else tree["damage"][0]["problem"] if tree["damage"] else "no boxes")
            raise MediaError(path, f"not an ISO-BMFF (MP4/MOV/M4A/3GP) file: {why}")
    if boxes:
        out["boxes"] = {k: v for k, v in tree.items() if k != "file"}
    if packets:
        out["packets"] = {k: v for k, v in read_packets(path).items() if k != "file"}
    if hex_spec is not None:
        offset, length = parse_hex_spec(path, hex_spec)
        out["hex"] = {k: v for k, v in hexdump(path, offset, length, tree=tree).items() if k != "file"}
    return out


def main_inside(args) -> int:
    """CLI entry: print :func:`inside` as JSON (``--json``) or as text."""
    info = inside(args.file, boxes=args.boxes, packets=args.packets, hex_spec=args.hex)
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if "boxes" in info:
        render_boxes(console, info["boxes"])
    if "packets" in info:
        render_packets(console, info["packets"])
    if "hex" in info:
        render_hex(console, info["hex"])
    return 0


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        shown = ", ".join(_value(x) for x in v[:8])
        return f"[{shown}{', ...' if len(v) > 8 else ''}]"
    if isinstance(v, dict):
        keep = ("profile", "level", "width", "height", "sps_id", "pps_id", "bytes", "first_chunk", "samples_per_chunk",
                "segment_duration", "media_time", "rate")
        return "{" + " ".join(f"{k}={_value(x)}" for k, x in v.items() if k in keep) + "}"
    return str(v)


def _fields_line(fields: dict) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v is not None and v != [] and k != "hex")


def render_boxes(console, tree: dict) -> None:
    """The tree, one box a line: offset, size, type, fields; then tracks, fragments, damage."""
    from rich.markup import escape

    console.print(f"[bold]{tree['size']:,} bytes, {tree['box_count']} boxes[/]   (offset  size  type  fields)")

    def walk(boxes, depth):
        for b in boxes:
            flag = " [red](truncated)[/]" if b.get("truncated") else ""
            fields = escape(_fields_line(b.get("fields", {})))
            console.print(f"{b['offset']:>10} {b['size']:>10}  {'  ' * depth}[bold]{escape(b['type'])}[/]{flag}  {fields}")
            walk(b.get("children", []), depth + 1)

    walk(tree["boxes"], 0)
    for t in tree["tracks"]:
        console.print("track " + escape(_fields_line({k: v for k, v in t.items() if k != "path"})))
    if tree["fragments"]["moof_count"]:
        f = tree["fragments"]
        console.print(f"fragmented: {f['moof_count']} moof, samples per track {f['samples_per_track']}")
    for d in tree["damage"]:
        console.print(f"[red]damaged at {d['offset']} ({escape(d['path'] or 'top level')}): {escape(d['problem'])}[/]")
    for d in tree["notes"]:
        console.print(f"[yellow]note at {d['offset']} ({escape(d['path'] or 'top level')}): {escape(d['problem'])}[/]")


def render_packets(console, listing: dict) -> None:
    """One packet a line in decode order: stream, pts/dts seconds, size, K, picture type, NAL units."""
    for s in listing["streams"]:
        console.print(f"stream #{s['index']}: {s['type']} {s['codec']} time base {s['time_base']}"
                      + (f", NAL units {s['nal_format']}" if "nal_format" in s else ""))
    console.print(f"{'#':>6} {'st':>2} {'pts_time':>10} {'dts_time':>10} {'size':>8} {'pos':>10} K type  NAL units")
    for i, p in enumerate(listing["packets"]):
        fmt = lambda t: "-" if t is None else f"{t:.4f}"  # noqa: E731
        units = " ".join(p.get("nal_units", []))
        err = f"  ! {p['nal_error']}" if p.get("nal_error") else ""
        console.print(f"{i:>6} {p['stream']:>2} {fmt(p['pts_time']):>10} {fmt(p['dts_time']):>10} {p['size']:>8} "
                      f"{p['pos'] if p['pos'] is not None else '-':>10} {'K' if p['keyframe'] else '.'} "
                      f"{p.get('picture_type') or '':4}  {units}{err}", markup=False)
    if listing["capped"]:
        console.print(f"[yellow]listing capped at {len(listing['packets'])} packets[/]")
    if listing["demux_error"]:
        console.print(f"[red]demuxing stopped: {listing['demux_error']}[/]", markup=True)


def render_hex(console, dump: dict) -> None:
    """Classic hex dump, each row named by the box its first byte belongs to; box boundaries listed."""
    for seg in dump["segments"]:
        console.print(f"bytes {seg['start']}..{seg['end'] - 1}: {seg['path']} {seg['part']}".rstrip(), markup=False)
    for r in dump["rows"]:
        console.print(f"{r['offset']:08x}  {r['hex']:<47}  |{r['ascii']:<16}|  {r['path']}", markup=False)
