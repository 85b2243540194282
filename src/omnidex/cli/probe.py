"""``omnidex probe FILE``: what a player sees in a media file (streams, GOP, damage)."""
from __future__ import annotations

from .options import json_flag


def add_parser(sub) -> None:
    pr = sub.add_parser("probe", help="what a player sees in a media file: streams, GOP, damage")
    pr.add_argument("file", help="video or audio file")
    json_flag(pr)
    pr.add_argument("--boxes", action="store_true", help="the ISO-BMFF (MP4/MOV) box tree: offset, size, type, fields")
    pr.add_argument("--packets", action="store_true",
                    help="every packet: pts, dts, size, keyframe; H.264/H.265 NAL unit and slice types")
    pr.add_argument("--hex", metavar="OFFSET[:LEN]", default=None,
                    help="dump LEN bytes (default 256) from OFFSET (0x.. ok, negative from the end) with their box")
    pr.set_defaults(func=run)


def run(args) -> int:
    from ..media.probe import main_probe

    return main_probe(args)
