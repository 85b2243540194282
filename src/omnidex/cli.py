"""Command line: ``omnidex index``, ``search``, ``serve``, ``mcp`` and the other commands.

Only argparse is imported at start-up; models, LanceDB and rich load when a command runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .config import DEFAULT_CLIP, DEFAULT_DB


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="omnidex", description="One local index for every modality.")
    p.add_argument("--version", action="version", version="omnidex 0.1.0")
    sub = p.add_subparsers(dest="cmd", required=True)
    ix = sub.add_parser("index", help="index files and folders (incremental)")
    ix.add_argument("paths", nargs="+", help="files or folders")
    ix.add_argument("--db", default=str(DEFAULT_DB), help="database directory (default ./omnidex-data)")
    ix.add_argument("--clip", default=DEFAULT_CLIP, help="CLIP/SigLIP hub id or local dir; 'none' to disable")
    ix.add_argument("--clap", default=None, help="sound encoder: CLAP hub id or local dir (e.g. laion/clap-htsat-unfused), "
                    "audio-lit:DIR, or 'none' to disable sound search (default: the bundled offline model)")
    ix.add_argument("--whisper", default="tiny.en", help="Whisper size or dir (tiny.en is bundled)")
    ix.add_argument("--fps", type=float, default=0.5, help="video frames sampled per second")
    ix.add_argument("--no-speech", action="store_true", help="do not transcribe sound")
    ix.add_argument("--no-shots", action="store_true", help="sample video frames on a fixed grid, no shot detection")
    ix.add_argument("--no-ocr", action="store_true", help="do not read text in images/frames")
    ix.add_argument("--prune", action="store_true", help="remove rows of deleted files")
    ix.add_argument("--follow-symlinks", action="store_true", help="index the targets of symlinks")
    ix.add_argument("--video-model", dest="video_model", default=None,
                    help="X-CLIP or VideoMAE dir / hub id: one vector per shot in the 'video' space")
    ix.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="where decoding and encoding run: this process, or a Ray Data pipeline (extra 'ray')")
    ix.add_argument("--address", dest="ray_address", default=None,
                    help="Ray cluster to join ('auto' or ray://head:10001; implies --engine ray); default a local Ray")
    ix.add_argument("--runtime", dest="runtimes", action="append", default=None, metavar="SPACE=RUNTIME",
                    help="how an encoder runs, repeatable: visual=torch (fp32, default), visual=onnx (ONNX "
                         "Runtime fp32) or visual=onnx-int8 (int8 weights, fastest on CPU) for CLIP's image "
                         "tower; query=auto|torch|onnx|onnx-int8 for its text tower; vectors stay in the same space")
    ix.add_argument("--json", action="store_true", help="print the report as JSON")
    se = sub.add_parser("search", help="search the index")
    se.add_argument("query", nargs="?", default=None,
                    help="text query, or arithmetic over quoted texts and files: \"zebra.jpg - 'stripes' + 0.5*'spots'\"")
    se.add_argument("--part", dest="parts", action="append", default=None, metavar="KIND:VALUE[:WEIGHT]",
                    help="weighted query part, repeatable: --part 'text:a red car:0.7' --part image:a.jpg:0.3")
    se.add_argument("--image", help="query image file")
    se.add_argument("--audio", help="query audio file (transcribed, and matched against indexed sounds)")
    se.add_argument("--video", help="query video clip: where it occurs in indexed videos, near-duplicates")
    se.add_argument("--series", help="windows shaped like this series: FILE[:COLUMN[:START:END]] (CSV, Parquet, .npy)")
    se.add_argument("--in", dest="in_path", default=None, help="search within this one file")
    se.add_argument("--top", type=int, default=10, help="number of moments")
    se.add_argument("--modality", default="", help="comma list: image,video,audio,text,speech,ocr")
    se.add_argument("--path", dest="path_glob", default=None, help="only paths matching this glob")
    se.add_argument("--db", default=str(DEFAULT_DB), help="database directory")
    se.add_argument("--runtime", dest="runtimes", action="append", default=None, metavar="query=RUNTIME",
                    help="how the query text tower runs: auto (default: ONNX Runtime fp32 where installed), "
                         "torch, onnx or onnx-int8")
    se.add_argument("--json", action="store_true", help="print hits as JSON")
    st = sub.add_parser("stats", help="what the index holds")
    st.add_argument("--db", default=str(DEFAULT_DB), help="database directory")
    du = sub.add_parser("duplicates", help="indexed videos that are near-duplicates of, or inside, other videos")
    du.add_argument("--db", default=str(DEFAULT_DB), help="database directory")
    du.add_argument("--min-score", type=float, default=0.5, help="least match score kept (0-1)")
    du.add_argument("--json", action="store_true", help="print JSON")
    sy = sub.add_parser("synth", help="generate a synthetic image-caption data set (unseen-combination split)")
    sy.add_argument("out", help="output folder")
    sy.add_argument("--n-train", dest="n_train", type=int, default=5000, help="training images")
    sy.add_argument("--n-heldout", dest="n_heldout", type=int, default=500, help="held-out images (unseen combinations)")
    sy.add_argument("--seed", type=int, default=0, help="random seed")
    sy.add_argument("--size", type=int, default=64, help="image side in pixels")
    sy.add_argument("--videos", type=int, default=0, help="also write this many short captioned videos")
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
    ev = sub.add_parser("eval", help="retrieval evaluation of an encoder on pairs, or of an index on queries")
    ev.add_argument("pairs", nargs="?", default=None, help="pairs file (.csv/.jsonl) or folder")
    ev.add_argument("--clip", default=None, help="encoder: CLIP/SigLIP dir or hub id, or lit:DIR")
    ev.add_argument("--against", default=None, help="a second encoder to compare with (before/after)")
    ev.add_argument("--index", default=None, help="evaluate this index (database directory) ...")
    ev.add_argument("--queries", default=None, help="... against this queries file with relevant items/moments")
    ev.add_argument("--top-k", dest="top_k", type=int, default=10, help="hits fetched per query (--index)")
    ev.add_argument("--iou", type=float, default=0.5, help="temporal IoU that makes a moment relevant (--index)")
    ev.add_argument("--out", default=None, help="also write the results as JSON here")
    ev.add_argument("--json", action="store_true", help="print JSON")
    cf = sub.add_parser("classify", help="zero-shot classification of images and videos")
    cf.add_argument("files", nargs="+", help="image or video files")
    cf.add_argument("--labels", required=True, help='comma list ("cat,dog,pizza") or @file with one label per line')
    cf.add_argument("--template", action="append", default=None, help="prompt template with {} (repeatable)")
    cf.add_argument("--clip", default=None, help="encoder: CLIP/SigLIP dir or hub id, or lit:DIR")
    cf.add_argument("--top", type=int, default=3, help="labels shown per file")
    cf.add_argument("--json", action="store_true", help="print JSON")
    pr = sub.add_parser("probe", help="what a player sees in a media file: streams, GOP, damage")
    pr.add_argument("file", help="video or audio file")
    pr.add_argument("--json", action="store_true", help="print JSON")
    cl = sub.add_parser("clip", help="export a moment of a video (stream copy when it can)")
    cl.add_argument("source", help="video file, or a hit as JSON from `search --json`")
    cl.add_argument("--start", type=float, default=None, help="start second (default: the hit's)")
    cl.add_argument("--end", type=float, default=None, help="end second (default: the hit's)")
    cl.add_argument("-o", "--out", required=True, help="output file (.mp4, .mkv, ...)")
    cl.add_argument("--mode", choices=("auto", "copy", "smart", "reencode"), default="auto",
                    help="auto: copy when the cut falls on keyframes, else re-encode only partial GOPs")
    cl.add_argument("--json", action="store_true", help="print what was done as JSON")
    co = sub.add_parser("contact", help="PNG contact sheet of a video's shots with their times")
    co.add_argument("file", help="video file")
    co.add_argument("-o", "--out", default=None, help="output PNG (default FILE.contact.png)")
    co.add_argument("--cols", type=int, default=5, help="thumbnails per row")
    co.add_argument("--width", type=int, default=240, help="thumbnail width in pixels")
    th = sub.add_parser("thumb", help="save the frame shown at a time (e.g. a hit's frame_time)")
    th.add_argument("file", help="video file")
    th.add_argument("--at", type=float, required=True, help="time in seconds")
    th.add_argument("-o", "--out", required=True, help="output image (.jpg, .png)")
    th.add_argument("--width", type=int, default=320, help="width in pixels")
    from .serve.app import add_serve_parser
    from .serve.mcp_server import add_mcp_parser

    from .ask.cli import add_ask_parsers

    add_serve_parser(sub)
    add_mcp_parser(sub)
    add_ask_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``omnidex`` command."""
    args = _parser().parse_args(argv)
    from .errors import OmnidexError

    try:
        return {"index": _index, "search": _search, "stats": _stats, "probe": _probe, "clip": _clip,
                "contact": _contact, "thumb": _thumb, "duplicates": _duplicates, "synth": _synth, "train": _train,
                "eval": _eval, "classify": _classify, "serve": _serve, "mcp": _mcp,
                "ask": _ask, "caption": _caption}[args.cmd](args)
    except OmnidexError as exc:
        print(f"omnidex: error: {exc}", file=sys.stderr)
        return 2


def _ask(args) -> int:
    from .ask.cli import main_ask

    return main_ask(args)


def _caption(args) -> int:
    from .ask.cli import main_caption

    return main_caption(args)


def _serve(args) -> int:
    from .serve.app import main_serve

    return main_serve(args)


def _mcp(args) -> int:
    from .serve.mcp_server import main_mcp

    return main_mcp(args)


def _index(args) -> int:
    from .api import Index
    from .config import IndexConfig
    from .encoders.fastpath import parse_runtimes
    from .render import ProgressReporter, print_report

    cfg = IndexConfig(clip_model=None if args.clip.lower() == "none" else args.clip,
                      whisper_model=args.whisper, frame_fps=args.fps, speech=not args.no_speech,
                      shots=not args.no_shots,
                      ocr=not args.no_ocr, follow_symlinks=args.follow_symlinks, video_model=args.video_model,
                      sound=(args.clap or "").lower() != "none",
                      clap_model=None if (args.clap or "").lower() in ("", "none") else args.clap,
                      engine="ray" if args.ray_address else args.engine, ray_address=args.ray_address,
                      runtimes=parse_runtimes(args.runtimes))
    try:
        with ProgressReporter(enabled=not args.json) as progress:
            report = Index(args.db, cfg).add(args.paths, prune=args.prune, progress=progress,
                                             log=lambda msg: print(f"omnidex: {msg}", file=sys.stderr, flush=True))
    except OSError as exc:  # disk full or write permission lost: one line, the committed batches stay
        from .errors import write_fault

        said = write_fault(exc, os.path.abspath(os.path.expanduser(args.db)))
        if said is None:
            raise
        print(f"omnidex: error: {said}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report)
    return 130 if report.interrupted else 0


def _search(args) -> int:
    from .api import Index
    from .config import IndexConfig
    from .encoders.fastpath import parse_runtimes
    from .render import print_hits

    if not _query_within_caps(args):
        return 2
    index = Index(args.db, IndexConfig(runtimes=parse_runtimes(args.runtimes)))
    hits = index.search(args.query, image=args.image, audio=args.audio, video=args.video,
                        top_k=args.top, modality=args.modality, path_glob=args.path_glob,
                        in_path=args.in_path, parts=args.parts, series=args.series)
    explanation = index.last_explanation  # set for arithmetic and weighted queries only
    if args.json:
        found = [h.to_dict() for h in hits]
        print(json.dumps({"query": explanation, "hits": found} if explanation else found, indent=2))
    else:
        if explanation:
            from .search.algebra import describe

            print(describe(explanation))
        print_hits(hits, (explanation or {}).get("expression") or args.query or args.image or args.audio or args.video
                   or args.series)
    return 0


def _query_within_caps(args) -> bool:
    """Whether the query text and every ``--part`` are within :data:`omnidex.caps.MAX_QUERY_CHARS`
    (the HTTP API's and MCP's cap); says which is not, before any model or table is opened."""
    from .caps import check_query

    try:
        for text in [args.query, *(args.parts or [])]:
            check_query(text)
    except ValueError as exc:
        print(f"omnidex: error: {exc} (the same cap as the HTTP API and MCP; shorten it)", file=sys.stderr)
        return False
    return True


def _stats(args) -> int:
    from .api import Index

    print(json.dumps(Index(args.db).stats(), indent=2))
    return 0


def _duplicates(args) -> int:
    from .api import Index
    from .render import ProgressReporter, print_duplicates

    with ProgressReporter(enabled=not args.json, label="comparing") as progress:
        found = Index(args.db).duplicates(min_score=args.min_score, progress=progress)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print_duplicates(found)
    return 0


def _synth(args) -> int:
    from .train.synth import main_synth

    return main_synth(args)


def _train(args) -> int:
    from .train.run import main_train

    return main_train(args)


def _eval(args) -> int:
    from .train.evaluate import main_eval

    return main_eval(args)


def _classify(args) -> int:
    from .classify import main_classify

    return main_classify(args)


def _probe(args) -> int:
    from .media.probe import main_probe

    return main_probe(args)


def _clip(args) -> int:
    from .media.clip import main_clip

    return main_clip(args)


def _contact(args) -> int:
    from .media.contact import main_contact

    return main_contact(args)


def _thumb(args) -> int:
    from .media.contact import thumbnail

    print(thumbnail(args.file, args.at, args.out, width=args.width))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
