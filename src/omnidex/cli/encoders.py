"""``omnidex encoders``: the encoders this installation knows (built in, or added by packages through
the ``omnidex.encoders`` entry-point group), what each embeds, its dimension and whether it can load
here. Nothing heavy is imported and no weights are loaded to tell."""
from __future__ import annotations

import json

from .options import json_flag


def add_parser(sub) -> None:
    p = sub.add_parser("encoders", help="list the encoders: what each embeds, dimension, whether it can load here")
    json_flag(p, "print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..encoders.registry import describe

    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("encoder", "embeds", "dim", "loads here", "from")
    for r in rows:
        why = "yes" if r["loadable"] else f"no: missing {', '.join(r['missing'])} (omnidex[{r['extra']}])"
        table.add_row(r["name"], ", ".join(r["modalities"]) or "?", str(r["dim"] or "per model"), why,
                      r["target"] if r["origin"] == "builtin" else f"{r['origin']}: {r['target']}")
    Console().print(table)
    return 0
