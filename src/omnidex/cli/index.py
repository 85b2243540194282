"""``omnidex index PATHS``: index files and folders (incremental)."""
from __future__ import annotations

import json
import os
import sys

from ..config import DEFAULT_CLIP
from .options import db_flag, json_flag


def add_parser(sub) -> None:
    ix = sub.add_parser("index", help="index files and folders (incremental)")
    ix.add_argument("paths", nargs="+", help="files or folders")
    db_flag(ix)
    ix.add_argument("--clip", default=DEFAULT_CLIP, help="CLIP/SigLIP hub id or local dir; 'none' to disable")
    ix.add_argument("--clap", default=None, help="sound encoder: CLAP hub id or local dir (e.g. laion/clap-htsat-unfused), "
                    "audio-lit:DIR, or 'none' to disable sound search (default: the bundled offline model)")
    ix.add_argument("--whisper", default="tiny.en", help="Whisper size or dir (tiny.en is bundled)")
    ix.add_argument("--fps", type=float, default=0.5, help="video frames sampled per second")
    ix.add_argument("--no-speech", action="store_true", help="do not transcribe sound")
    ix.add_argument("--no-shots", action="store_true", help="sample video frames on a fixed grid, no shot detection")
    ix.add_argument("--no-ocr", action="store_true", help="do not read text in images/frames")
    ix.add_argument("--ocr-faint", choices=("auto", "all"), default=None,
                    help="read pictures again for faint text: where the first reading looks faint, or read "
                         "nothing and the faint-text trigger marks faint words (auto, default; $OMNIDEX_OCR_FAINT; "
                         "$OMNIDEX_OCR_TRIGGER=0 turns the trigger off), or every picture (all: ~1.3 CPU-s more "
                         "a picture, 20x slower OCR)")
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
    json_flag(ix, "print the report as JSON")
    ix.set_defaults(func=run)


def run(args) -> int:
    from ..api import Index
    from ..render import ProgressReporter, print_report

    try:
        with ProgressReporter(enabled=not args.json) as progress:
            report = Index(args.db, _config(args)).add(
                args.paths, prune=args.prune, progress=progress,
                log=lambda msg: print(f"omnidex: {msg}", file=sys.stderr, flush=True))
    except OSError as exc:  # disk full or write permission lost: one line, the committed batches stay
        from ..errors import write_fault

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


def _config(args):
    """The ingest configuration the flags ask for."""
    from ..config import IndexConfig
    from ..encoders.fastpath import parse_runtimes

    clap = (args.clap or "").lower()
    return IndexConfig(clip_model=None if args.clip.lower() == "none" else args.clip,
                       whisper_model=args.whisper, frame_fps=args.fps, speech=not args.no_speech,
                       shots=not args.no_shots, ocr=not args.no_ocr, follow_symlinks=args.follow_symlinks,
                       ocr_faint=args.ocr_faint or os.environ.get("OMNIDEX_OCR_FAINT") or "auto",
                       video_model=args.video_model, sound=clap != "none",
                       clap_model=None if clap in ("", "none") else args.clap,
                       engine="ray" if args.ray_address else args.engine, ray_address=args.ray_address,
                       runtimes=parse_runtimes(args.runtimes))
