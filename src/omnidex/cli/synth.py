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
    json_flag(sy, "print the summary as JSON (no progress bar)")
    sy.set_defaults(func=run)


def run(args) -> int:
    if not args.json:
        from ..train.synth import main_synth

        return main_synth(args)
    from ..train.synth import generate

    result = generate(args.out, n_train=args.n_train, n_heldout=args.n_heldout, seed=args.seed, size=args.size,
                      videos=args.videos)
    print(json.dumps(result, indent=2, default=str))
    return 0
