"""The folders a user indexed, recorded next to the tables (``roots.json``).

The server treats each as a root: files under it may be served and indexed through the API. A
folder is recorded only when it was given to ``Index.add`` itself (a file records nothing, so
indexing one file never opens its folder). Object-store databases record nothing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOTS_FILE = "roots.json"
MAX_ROOTS = 1000  # the newest folders kept


def record_roots(db, paths) -> None:
    """Add the folders among ``paths`` (real paths) to the database's record; errors are ignored."""
    if "://" in str(db):
        return
    folders = [os.path.realpath(os.path.expanduser(str(p))) for p in paths]
    folders = [f for f in folders if os.path.isdir(f)]
    if not folders:
        return
    known = read_roots(db)
    merged = list(dict.fromkeys(known + folders))[-MAX_ROOTS:]
    if merged == known:
        return
    target = Path(db) / ROOTS_FILE
    tmp = target.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(merged, indent=0), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass


def read_roots(db) -> list[str]:
    """The recorded folders (absolute real paths), oldest first; [] when none or unreadable."""
    if "://" in str(db):
        return []
    try:
        data = json.loads((Path(db) / ROOTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [p for p in data if isinstance(p, str) and os.path.isabs(p)] if isinstance(data, list) else []
