"""``omnidex train``: contrastive training of an image-text encoder, or of the search reranker."""
from __future__ import annotations


def add_parser(sub) -> None:
    tr = sub.add_parser("train", help="contrastive training of an image-text encoder on caption pairs")
    tr.add_argument("pairs", nargs="?", default=None,
                    help="pairs file (.csv/.jsonl with path,caption) or a folder with sidecar captions")
    tr.add_argument("--task", choices=("contrastive", "rerank"), default="contrastive",
                    help="contrastive: an image-text encoder on PAIRS; rerank: the search reranker on "
                         "libraries omnidex generates itself (no PAIRS)")
    tr.add_argument("--libraries", type=int, default=4, help="--task rerank: medium libraries (and one more small ones)")
    tr.add_argument("--minutes", type=float, default=20.0, help="--task rerank: training time cap per model")
    tr.add_argument("--cache", default=None, help="--task rerank: library/index/pool cache (default: omnidex cache)")
    tr.add_argument("--val", default=None, help="held-out pairs file (default: 5%% of the training pairs)")
    tr.add_argument("--mode", choices=("lit", "full", "last", "projections", "lora"), default="lit",
                    help="lit: train an image tower against the locked MiniLM; full / last / projections / lora: "
                         "fine-tune the --base CLIP (all weights / last blocks + norms + projections / "
                         "projections only / LoRA on attention q,v, merged on save)")
    tr.add_argument("--arch", choices=("cnn", "vit"), default="cnn",
                    help="--mode lit image tower: cnn (residual CNN) or vit (vision transformer: 8 px patches, "
                         "positional embeddings, 4 blocks)")
    tr.add_argument("--image-size", dest="image_size", type=int, default=64, help="--mode lit input side in pixels")
    tr.add_argument("--balance", default=None, metavar="FIELD",
                    help="re-sample so every value of this metadata field of PAIRS (a CSV column or JSONL key; "
                         "dots reach inside, e.g. objects.0.colour) gets an equal share of the training draws")
    tr.add_argument("--base", default=None, help="CLIP/SigLIP directory or hub id to fine-tune (modes other than lit)")
    tr.add_argument("--lora-rank", dest="lora_rank", type=int, default=8, help="LoRA rank (--mode lora)")
    tr.add_argument("--last-blocks", dest="last_blocks", type=int, default=2,
                    help="transformer layers per tower that train (--mode last)")
    tr.add_argument("--out", default=None, help="output model directory (required for contrastive training)")
    tr.add_argument("--steps", type=int, default=2000, help="optimiser steps")
    tr.add_argument("--batch", type=int, default=128, help="batch size")
    tr.add_argument("--lr", type=float, default=None,
                    help="peak learning rate (default by mode: lit 2e-3, projections 1e-3, lora 1e-4, last 2e-5, full 1e-5)")
    tr.add_argument("--accumulate", type=int, default=1, help="gradient accumulation steps")
    tr.add_argument("--seed", type=int, default=0, help="random seed")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    tr.set_defaults(func=run)


def run(args) -> int:  # prints a JSON summary on stdout (progress on stderr)
    from ..train.run import main_train

    return main_train(args)
