"""``omnidex classify FILES --labels ...``: zero-shot labels for images and videos."""
from __future__ import annotations

from .options import json_flag, top_k_flag


def add_parser(sub) -> None:
    cf = sub.add_parser("classify", help="zero-shot classification of images and videos")
    cf.add_argument("files", nargs="+", help="image or video files")
    cf.add_argument("--labels", required=True, help='comma list ("cat,dog,pizza") or @file with one label per line')
    cf.add_argument("--template", action="append", default=None, help="prompt template with {} (repeatable)")
    cf.add_argument("--clip", default=None, help="encoder: CLIP/SigLIP dir or hub id, or lit:DIR")
    top_k_flag(cf, 3, "labels shown per file", dest="top")  # omnidex.classify.main_classify reads args.top
    json_flag(cf)
    cf.set_defaults(func=run)


def run(args) -> int:
    from ..classify import main_classify

    return main_classify(args)
