"""``omnidex search``: ranked moments for a text, picture, sound, clip, series or arithmetic query."""
from __future__ import annotations

import json
import sys

from .options import db_flag, json_flag, top_k_flag


def add_parser(sub) -> None:
    se = sub.add_parser("search", help="search the index",
                        description="Search the index. A plain text query (no --image/--audio/--video/--series/"
                                    "--part/--in/--imagine/--runtime) is sent to an `omnidex serve` of the SAME index "
                                    "when one runs on this machine (loopback, no token, models ready): its models are "
                                    "already warm. The answer says so on stderr; --local searches here instead. A "
                                    "server for any other index is never used.")
    se.add_argument("query", nargs="?", default=None,
                    help="text query, or arithmetic over quoted texts and files: \"zebra.jpg - 'stripes' + 0.5*'spots'\"")
    se.add_argument("--part", dest="parts", action="append", default=None, metavar="KIND:VALUE[:WEIGHT]",
                    help="weighted query part, repeatable: --part 'text:a red car:0.7' --part image:a.jpg:0.3")
    se.add_argument("--image", help="query image file")
    se.add_argument("--audio", help="query audio file (transcribed, and matched against indexed sounds)")
    se.add_argument("--video", help="query video clip: where it occurs in indexed videos, near-duplicates")
    se.add_argument("--series", help="windows shaped like this series: FILE[:COLUMN[:START:END]] (CSV, Parquet, .npy)")
    se.add_argument("--in", dest="in_path", default=None, help="search within this one file")
    top_k_flag(se, 10, "number of moments")
    se.add_argument("--modality", default="", help="comma list: image,video,audio,text,speech,ocr")
    se.add_argument("--path", dest="path_glob", default=None, help="only paths matching this glob")
    db_flag(se)
    se.add_argument("--runtime", dest="runtimes", action="append", default=None, metavar="query=RUNTIME",
                    help="how CLIP's query text tower runs: auto (default: ONNX Runtime fp32 where installed), "
                         "torch, onnx or onnx-int8. MiniLM and the bundled models' text towers follow "
                         "OMNIDEX_TEXT_RUNTIME=auto|onnx|torch (auto: ONNX Runtime + tokenizers, exported once "
                         "and cached, so a text search imports no torch; torch: the sentence-transformers path, "
                         "which also turns CLIP's auto to torch)")
    from .generate import add_imagine_flags

    add_imagine_flags(se)
    json_flag(se, "print hits as JSON")
    se.add_argument("--local", action="store_true",
                    help="search in this process even when an `omnidex serve` of this index is running")
    se.set_defaults(func=run)


def run(args) -> int:
    from ..config import IndexConfig
    from ..encoders.fastpath import parse_runtimes
    from . import open_index

    if not query_within_caps(args):
        return 2
    served = via_server(args)
    if served is not None:
        return show(args, served, None)
    index = open_index(args.db, IndexConfig(runtimes=parse_runtimes(args.runtimes)))
    imagined = None
    if args.imagine:  # the text and a picture generated for it, fused like an arithmetic query
        from .generate import imagine

        picture, imagined = imagine(args)
        args.parts = [*(args.parts or []), ("text", args.imagine, 1.0), ("image", picture, 1.0)]
    hits = index.search(args.query, image=args.image, audio=args.audio, video=args.video,
                        top_k=args.top_k, modality=args.modality, path_glob=args.path_glob,
                        in_path=args.in_path, parts=args.parts, series=args.series)
    explanation = index.last_explanation  # set for arithmetic and weighted queries only
    if imagined is not None:
        explanation = {**explanation, "imagined": imagined}
    return show(args, hits, explanation)


def show(args, hits, explanation) -> int:
    """Print hits (a table, or JSON with ``--json``)."""
    if args.json:
        found = [h.to_dict() for h in hits]
        print(json.dumps({"query": explanation, "hits": found} if explanation else found, indent=2))
        return 0
    from ..render import print_hits

    if explanation:
        from ..search.algebra import describe

        print(describe(explanation))
    print_hits(hits, (explanation or {}).get("expression") or args.query or args.image or args.audio or args.video
               or args.series)
    return 0


def query_within_caps(args) -> bool:
    """Whether the query text and every ``--part`` are within :data:`omnidex.caps.MAX_QUERY_CHARS`
    (the HTTP API's and MCP's cap); says which is not, before any model or table is opened."""
    from ..caps import check_query

    try:
        for text in [args.query, getattr(args, "imagine", None), *(args.parts or [])]:
            check_query(text)
    except ValueError as exc:
        print(f"omnidex: error: {exc} (the same cap as the HTTP API and MCP; shorten it)", file=sys.stderr)
        return False
    return True


def via_server(args):
    """The hits of a running ``omnidex serve`` of this same index for a plain text query, or None
    (search here): see :mod:`omnidex.serve.discovery`."""
    import os

    plain = args.query and not (args.image or args.audio or args.video or args.series or args.parts or args.in_path
                                or getattr(args, "imagine", None) or args.runtimes)
    if (not plain or args.local or os.environ.get("OMNIDEX_NO_SERVER", "") in ("1", "true", "yes")
            or not 1 <= args.top_k <= 200):
        return None
    from pathlib import Path

    if not Path(args.db).is_dir():
        return None  # the local path says "no index at ..."
    from ..errors import OmnidexError
    from ..search.algebra import query_terms

    try:
        if query_terms(args.query) is not None:
            return None  # arithmetic (it may name files of this machine, which a server never reads)
    except (OmnidexError, ValueError):
        return None  # the local path says what is wrong with it
    from ..serve import discovery

    url = discovery.find(args.db)
    if url is None:
        return None
    try:
        found = discovery.search(url, args.query, args.top_k, args.modality, args.path_glob)
    except (OSError, ValueError, KeyError) as exc:
        print(f"omnidex: the server at {url} did not answer ({type(exc).__name__}); searching here", file=sys.stderr)
        return None
    from dataclasses import fields

    from ..types import Hit

    names = {f.name for f in fields(Hit)}
    hits = [Hit(**{k: v for k, v in h.items() if k in names}) for h in found]
    print(f"omnidex: answered by `omnidex serve` of this index at {url} (--local to search here)", file=sys.stderr)
    return hits
