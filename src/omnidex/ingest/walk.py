"""Find the files to index under the given roots, and hash them."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator


def iter_files(roots: list[Path], exclude: list[Path], follow_symlinks: bool, hidden: bool
               ) -> Iterator[tuple[Path, str]]:
    """Yield (absolute path, problem) for every file under ``roots``; problem is '' when fine.

    Args:
        roots: files or folders.
        exclude: folders never entered (the database itself).
        follow_symlinks: descend into / read through symbolic links.
        hidden: include dot-files and dot-folders.
    """
    excluded = {p.resolve() for p in exclude}
    for root in roots:
        root = Path(os.path.abspath(root))
        if not root.exists() and not root.is_symlink():
            yield root, "no such file or folder"
        elif root.is_file() or (root.is_symlink() and not root.is_dir()):
            yield root, _problem(root, follow_symlinks)
        else:
            yield from _walk(root, excluded, follow_symlinks, hidden)


def _walk(root: Path, excluded: set[Path], follow: bool, hidden: bool) -> Iterator[tuple[Path, str]]:
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow, onerror=errors.append):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (hidden or not d.startswith("."))
                             and (here / d).resolve() not in excluded)
        for name in sorted(filenames):
            if hidden or not name.startswith("."):
                p = here / name
                yield p, _problem(p, follow)
    for err in errors:
        yield Path(err.filename or root), f"cannot list folder: {err.strerror}"


def _problem(p: Path, follow: bool) -> str:
    if p.is_symlink() and not follow:
        return "symbolic link (use --follow-symlinks to index its target)"
    if not p.exists():
        return "broken symbolic link"
    if not p.is_file():
        return "not a regular file"
    return ""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
