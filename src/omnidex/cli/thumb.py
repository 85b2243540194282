"""``omnidex thumb FILE --at T -o OUT``: save the frame shown at a time (e.g. a hit's frame_time)."""
from __future__ import annotations

import json

from .options import json_flag


def add_parser(sub) -> None:
    th = sub.add_parser("thumb", help="save the frame shown at a time (e.g. a hit's frame_time)")
    th.add_argument("file", help="video file")
    th.add_argument("--at", type=float, required=True, help="time in seconds")
    th.add_argument("-o", "--out", required=True, help="output image (.jpg, .png)")
    th.add_argument("--width", type=int, default=320, help="width in pixels")
    json_flag(th, 'print {"file", "at", "out"} as JSON')
    th.set_defaults(func=run)


def run(args) -> int:
    from ..media.contact import thumbnail

    out = thumbnail(args.file, args.at, args.out, width=args.width)
    print(json.dumps({"file": str(args.file), "at": args.at, "out": str(out)}, indent=2) if args.json else out)
    return 0
