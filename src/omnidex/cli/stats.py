"""``omnidex stats``: what the index holds (files, vector spaces, their encoders and search method)."""
from __future__ import annotations

import json

from .options import db_flag, json_flag


def add_parser(sub) -> None:
    st = sub.add_parser("stats", help="what the index holds")
    db_flag(st)
    json_flag(st, "print JSON instead of a table")
    st.set_defaults(func=run)


def run(args) -> int:
    from . import open_index

    stats = open_index(args.db).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        from ..render import print_stats

        print_stats(stats)
    return 0
