"""Command line: ``omnidex index``, ``search``, ``serve``, ``mcp`` and the other commands.

One module per command. Start-up stays light: only argparse and the command modules load to build
the parser (``omnidex --help`` imports no numpy, rich, LanceDB or torch); a command imports what
it needs inside its ``run``.

How to add a command ``omnidex NAME``:

1. Write ``src/omnidex/cli/NAME.py`` with ``add_parser(sub)``: it calls ``sub.add_parser("NAME",
   help=...)``, adds the flags (the shared ones from :mod:`omnidex.cli.options`: ``--db``,
   ``--top-k``/``--top``, ``--json``) and ends with ``p.set_defaults(func=run)``. ``run(args) -> int``
   does the work and returns the exit status; heavy imports go inside it.
2. Add ``"omnidex.cli.NAME:add_parser"`` to :data:`COMMANDS` (the order is the order in ``--help``).
   A command whose code lives elsewhere registers the same way from its own module
   (``omnidex.serve.app:add_serve_parser``).
3. A command that only reads an index opens it with ``open_index(args.db)`` (read-only; a missing
   index is "no index at PATH" and exit 2, nothing created). Raise :class:`omnidex.errors.OmnidexError`
   for a user's mistake: :func:`main` prints ``omnidex: error: ...`` and exits 2. Test it in
   tests/test_cli.py.

Exit statuses: 0 done, 1 a failure (named on stderr), 2 bad arguments or no index, 130
interrupted, 141 the reader of stdout went away (``omnidex search ... | head -1``; no traceback).
"""
from __future__ import annotations

import argparse
import os
import sys

# "module:function" that registers a subcommand on the parser's subparsers, in --help order.
COMMANDS = (
    "omnidex.cli.index:add_parser",
    "omnidex.cli.search:add_parser",
    "omnidex.cli.stats:add_parser",
    "omnidex.cli.encoders:add_parser",
    "omnidex.cli.duplicates:add_parser",
    "omnidex.cli.synth:add_parser",
    "omnidex.cli.train:add_parser",
    "omnidex.cli.eval:add_parser",
    "omnidex.cli.classify:add_parser",
    "omnidex.cli.probe:add_parser",
    "omnidex.cli.clip:add_parser",
    "omnidex.cli.contact:add_parser",
    "omnidex.cli.thumb:add_parser",
    "omnidex.cli.generate:add_parser",
    "omnidex.serve.app:add_serve_parser",
    "omnidex.serve.mcp_server:add_mcp_parser",
    "omnidex.cli.ask:add_ask_parser",
    "omnidex.cli.ask:add_caption_parser",
)
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a program stopped by a closed pipe


class _Version(argparse.Action):
    """``--version``: read from the installed package's metadata when asked (pyproject.toml is the one source)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .. import __version__

        print(f"omnidex {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``omnidex`` parser with every command of :data:`COMMANDS`."""
    import importlib

    p = argparse.ArgumentParser(prog="omnidex", description="One local index for every modality.")
    p.add_argument("--version", action=_Version, help="show the version and exit")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for entry in COMMANDS:
        module, attr = entry.split(":")
        getattr(importlib.import_module(module), attr)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``omnidex`` command (and ``python -m omnidex``)."""
    args = build_parser().parse_args(argv)
    from ..errors import OmnidexError

    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return status
    except OmnidexError as exc:
        print(f"omnidex: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a descriptor (tests capture it)
        pass


def open_index(db, config=None):
    """The index at ``db`` opened read-only, for commands that only read.

    Raises:
        omnidex.errors.NoIndex: nothing is indexed at ``db`` (nothing is created there).
    """
    from ..api import Index

    return Index.open(db, config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
