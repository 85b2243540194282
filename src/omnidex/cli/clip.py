"""``omnidex clip SOURCE -o OUT``: export a moment of a video (stream copy when it can)."""
from __future__ import annotations

from .options import json_flag


def add_parser(sub) -> None:
    cl = sub.add_parser("clip", help="export a moment of a video (stream copy when it can)")
    cl.add_argument("source", help="video file, or a hit as JSON from `search --json`")
    cl.add_argument("--start", type=float, default=None, help="start second (default: the hit's)")
    cl.add_argument("--end", type=float, default=None, help="end second (default: the hit's)")
    cl.add_argument("-o", "--out", required=True, help="output file (.mp4, .mkv, ...)")
    cl.add_argument("--mode", choices=("auto", "copy", "smart", "reencode"), default="auto",
                    help="auto: copy when the cut falls on keyframes, else re-encode only partial GOPs")
    json_flag(cl, "print what was done as JSON")
    cl.set_defaults(func=run)


def run(args) -> int:
    from ..media.clip import main_clip

    return main_clip(args)
