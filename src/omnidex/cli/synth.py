"""``omnidex synth OUT``: a synthetic image-caption data set with an unseen-combination split."""
from __future__ import annotations

import json

from .options import json_flag


def add_parser(sub) -> None:
    sy = sub.add_parser("synth", help="generate a synthetic image-caption data set (unseen-combination split)")
    sy.add_argument("out", help="output folder")
    sy.add_argument("--n-train", dest="n_train", type=int, default=5000, help="training images")
    sy.add_argument("--n-heldout", dest="n_heldout", type=int, default=500, help="held-out images (unseen combinations)")
    sy.add_argument("--seed", type=int, default=0, help="random seed")
    sy.add_argument("--size", type=int, default=64, help="image side in pixels")
    sy.add_argument("--videos", type=int, default=0, help="also write this many short captioned videos")
    sy.add_argument("--skew", default=None, metavar="FIELD=VALUE:SHARE",
                    help="skew the training split: a share SHARE of its images have FIELD == VALUE, e.g. "
                         "background=plain-dark:0.02 (fields: background, kind, objects.0.colour, ...); "
                         "the held-out split keeps the natural mix")
    json_flag(sy, "print the summary as JSON (no progress bar)")
    from .generate import add_synth_flags

    add_synth_flags(sy)  # --generator: pictures from diffusers / an image endpoint (omnidex.gen.synth)
    sy.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "generator", None):
        from .generate import run_synth

        return run_synth(args)
    if args.skew:
        from ..errors import OmnidexError
        from ..train.synth import parse_skew

        try:
            parse_skew(args.skew)
        except ValueError as exc:
            raise OmnidexError(str(exc)) from exc
    if not args.json:
        from ..train.synth import main_synth

        return main_synth(args)
    from ..train.synth import generate

    result = generate(args.out, n_train=args.n_train, n_heldout=args.n_heldout, seed=args.seed, size=args.size,
                      videos=args.videos, skew=args.skew)
    print(json.dumps(result, indent=2, default=str))
    return 0
