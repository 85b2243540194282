"""``omnidex duplicates``: indexed videos that are near-duplicates of, or inside, other videos."""
from __future__ import annotations

import json

from .options import db_flag, json_flag


def add_parser(sub) -> None:
    du = sub.add_parser("duplicates", help="indexed videos that are near-duplicates of, or inside, other videos")
    db_flag(du)
    du.add_argument("--min-score", type=float, default=0.5, help="least match score kept (0-1)")
    json_flag(du)
    du.set_defaults(func=run)


def run(args) -> int:
    from ..render import ProgressReporter, print_duplicates
    from . import open_index

    index = open_index(args.db)
    with ProgressReporter(enabled=not args.json, label="comparing") as progress:
        found = index.duplicates(min_score=args.min_score, progress=progress)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print_duplicates(found)
    return 0
