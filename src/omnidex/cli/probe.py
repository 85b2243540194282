"""``omnidex probe FILE``: what a player sees in a media file (streams, GOP, damage)."""
from __future__ import annotations

from .options import json_flag


def add_parser(sub) -> None:
    pr = sub.add_parser("probe", help="what a player sees in a media file: streams, GOP, damage")
    pr.add_argument("file", help="video or audio file")
    json_flag(pr)
    pr.set_defaults(func=run)


def run(args) -> int:
    from ..media.probe import main_probe

    return main_probe(args)
