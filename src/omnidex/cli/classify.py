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
    cf.add_argument("--truth", default=None, help="CSV/JSONL with path and the true label: report accuracy")
    cf.add_argument("--label-field", dest="label_field", default="label",
                    help="the truth file's label field (dots reach inside JSONL values, e.g. objects.0.shape)")
    cf.add_argument("--slice", default=None, metavar="FIELD",
                    help="accuracy per value of this truth-file field, with bootstrap intervals, the gap and a plot")
    cf.add_argument("--slice-plot", dest="slice_plot", default=None,
                    help="where the slice plot goes (default ./classify-slices-FIELD.png)")
    json_flag(cf)
    cf.set_defaults(func=run)


def run(args) -> int:
    from ..classify import main_classify

    return main_classify(args)
