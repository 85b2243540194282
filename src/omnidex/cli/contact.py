"""``omnidex contact FILE``: a PNG contact sheet of a video's shots with their times."""
from __future__ import annotations

import json

from .options import json_flag


def add_parser(sub) -> None:
    co = sub.add_parser("contact", help="PNG contact sheet of a video's shots with their times")
    co.add_argument("file", help="video file")
    co.add_argument("-o", "--out", default=None, help="output PNG (default FILE.contact.png)")
    co.add_argument("--cols", type=int, default=5, help="thumbnails per row")
    co.add_argument("--width", type=int, default=240, help="thumbnail width in pixels")
    json_flag(co, 'print {"file", "out"} as JSON')
    co.set_defaults(func=run)


def run(args) -> int:
    if not args.json:
        from ..media.contact import main_contact

        return main_contact(args)
    from pathlib import Path

    from ..media.contact import contact_sheet

    out = Path(args.out) if args.out else Path(f"{Path(args.file).stem}.contact.png")
    written = contact_sheet(args.file, out, cols=args.cols, width=args.width)
    print(json.dumps({"file": str(args.file), "out": str(written)}, indent=2))
    return 0
