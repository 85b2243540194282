"""Flags several commands share, spelled and explained the same way everywhere."""
from __future__ import annotations

from ..config import DEFAULT_DB


def db_flag(p, help: str = "database directory (default ./omnidex-data)") -> None:
    """``--db DIR``."""
    p.add_argument("--db", default=str(DEFAULT_DB), help=help)


def top_k_flag(p, default: int, help: str, dest: str = "top_k") -> None:
    """``--top-k N`` (``--top`` is the same flag, kept for older scripts)."""
    p.add_argument("--top-k", "--top", dest=dest, type=int, default=default, metavar="N",
                   help=f"{help} (default {default}; --top is the same)")


def json_flag(p, help: str = "print JSON") -> None:
    """``--json``: machine-readable output on stdout instead of tables."""
    p.add_argument("--json", action="store_true", help=help)
