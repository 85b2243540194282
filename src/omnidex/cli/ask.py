"""Command lines of ``omnidex ask`` and ``omnidex caption``."""
from __future__ import annotations

import json
import sys

from ..config import DEFAULT_DB


def _llm_flags(p) -> None:
    p.add_argument("--db", default=str(DEFAULT_DB), help="database directory")
    p.add_argument("--llm-url", dest="llm_url", default=None,
                   help="OpenAI-compatible endpoint (env OMNIDEX_LLM_URL; default http://127.0.0.1:11434/v1, Ollama)")
    p.add_argument("--model", default=None,
                   help="model name on the server, or a local transformers directory (env OMNIDEX_LLM_MODEL)")
    p.add_argument("--api-key", dest="api_key", default=None, help="Bearer token (env OMNIDEX_LLM_API_KEY)")
    p.add_argument("--backend", choices=("auto", "openai", "transformers"), default=None,
                   help="auto: transformers when --model is a local directory, else the endpoint")
    p.add_argument("--timeout", type=float, default=None, help="seconds per network operation (default 120)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_ask_parser(sub) -> None:
    """Register ``omnidex ask`` on the CLI's subparsers (see :mod:`omnidex.cli`)."""
    a = sub.add_parser("ask", help="answer a question from the index with a vision-language model, citing times")
    a.add_argument("first", metavar="FILE_OR_QUESTION", help="the question, or a file to look in when QUESTION follows")
    a.add_argument("question", nargs="?", default=None, metavar="QUESTION", help="the question (after FILE)")
    a.add_argument("--top-k", "--top", dest="top_k", type=int, default=8, metavar="N",
                   help="moments retrieved as evidence (default 8; --top is the same)")
    a.add_argument("--max-frames", dest="max_frames", type=int, default=6, help="frames sent to the model at most")
    a.add_argument("--no-retry", dest="retry", action="store_false", help="do not ask again when citations are invalid")
    _llm_flags(a)
    a.set_defaults(func=main_ask)


def add_caption_parser(sub) -> None:
    """Register ``omnidex caption`` on the CLI's subparsers (see :mod:`omnidex.cli`)."""
    c = sub.add_parser("caption", help="caption indexed images and video shots; captions become searchable text")
    c.add_argument("paths", nargs="*", help="only files under these paths (default: all indexed images and videos)")
    c.add_argument("--prompt", default=None, help="instruction sent with each picture")
    _llm_flags(c)
    c.set_defaults(func=main_caption)


def _llm(args):
    from ..ask.backends import LLMConfig

    return LLMConfig.from_env(url=args.llm_url, model=args.model, api_key=args.api_key, backend=args.backend,
                              timeout_s=args.timeout)


def main_ask(args) -> int:
    """``omnidex ask [FILE] QUESTION``."""
    from ..api import Index
    from ..ask.answer import CitationError, ask

    file, question = (args.first, args.question) if args.question is not None else (None, args.first)
    try:
        ans = ask(Index.open(args.db), question, file=file, llm=_llm(args), top_k=args.top_k,
                  max_frames=args.max_frames, retry=args.retry)
    except CitationError as exc:
        if args.json:
            print(json.dumps({"error": str(exc), "answer": exc.answer, "problems": exc.problems}, indent=2))
        raise
    if args.json:
        print(json.dumps(ans.to_dict(), indent=2))
        return 0
    print(ans.text)
    print()
    shown = {i for c in ans.citations for i in c.evidence}
    for e in ans.evidence:
        if e.id in shown:
            snippet = (e.text[:90] + "…") if len(e.text) > 90 else e.text
            print(f"  {e.id} {e.path} {e.when()} {e.source}{': ' + snippet if snippet else ''}")
    return 0


def main_caption(args) -> int:
    """``omnidex caption [PATHS]``."""
    from ..api import Index
    from ..render import ProgressReporter
    from ..ask.captions import PROMPT, caption

    index = Index.open(args.db, read_only=False)  # an index must exist; captions are added to it
    with ProgressReporter(enabled=not args.json, label="captioning") as progress:
        done = caption(index, args.paths or None, llm=_llm(args), prompt=args.prompt or PROMPT, progress=progress)
    if args.json:
        print(json.dumps(done, indent=2))
    else:
        for d in done:
            where = f" [{d['start']:.1f}–{d['end']:.1f}s]" if d.get("end") else ""
            print(f"{d['path']}{where}: {d.get('caption') or 'error: ' + d.get('error', '')}", file=sys.stdout)
    return 0
