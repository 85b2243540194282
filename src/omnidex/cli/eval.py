"""``omnidex eval``: retrieval evaluation of an encoder on pairs, or of an index on labelled queries."""
from __future__ import annotations

from .options import json_flag, top_k_flag


def add_parser(sub) -> None:
    ev = sub.add_parser("eval", help="retrieval evaluation of an encoder on pairs, or of an index on queries")
    ev.add_argument("pairs", nargs="?", default=None, help="pairs file (.csv/.jsonl) or folder")
    ev.add_argument("--clip", default=None, help="encoder: CLIP/SigLIP dir or hub id, or lit:DIR")
    ev.add_argument("--against", default=None, help="a second encoder to compare with (before/after)")
    ev.add_argument("--index", default=None, help="evaluate this index (database directory) ...")
    ev.add_argument("--queries", default=None, help="... against this queries file with relevant items/moments")
    top_k_flag(ev, 10, "hits fetched per query (--index)")
    ev.add_argument("--iou", type=float, default=0.5, help="temporal IoU that makes a moment relevant (--index)")
    ev.add_argument("--out", default=None, help="also write the results as JSON here")
    ev.add_argument("--slice", default=None, metavar="FIELD",
                    help="R@k per value of this metadata field of the pairs/queries file (CSV column or JSONL key; "
                         "dots reach inside, e.g. objects.0.colour), with 95%% bootstrap intervals, the "
                         "best-worst gap and a plot")
    ev.add_argument("--slice-plot", dest="slice_plot", default=None,
                    help="where the slice plot goes (default: beside --out, else ./slices-FIELD.png)")
    ev.add_argument("--plot-embeddings", dest="plot_embeddings", default=None, metavar="OUT",
                    help="draw images and captions in 2-D (OUT/embeddings.png) and 3-D (OUT/embeddings_3d.html, "
                         "self-contained) with lines between pairs; with --against, both encoders (before/after)")
    json_flag(ev)
    ev.set_defaults(func=run)


def run(args) -> int:
    from ..train.evaluate import main_eval

    return main_eval(args)
