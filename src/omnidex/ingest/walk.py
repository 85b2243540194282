"""Find the files to index under the given roots, and hash them."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

from ..gen.provenance import CHUNK_KEY, SIDECAR_SUFFIX


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
        names = set(filenames)
        for name in sorted(filenames):
            if hidden or not name.startswith("."):
                p = here / name
                yield p, _problem(p, follow) or _sidecar(p, names)
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


def _sidecar(p: Path, names: set[str]) -> str:
    """Why ``p`` is not a document of its own: the provenance sidecar ``out.png.json`` that
    ``omnidex generate`` wrote beside ``out.png`` (read with the picture); '' otherwise."""
    if not p.name.endswith(SIDECAR_SUFFIX) or p.name[: -len(SIDECAR_SUFFIX)] not in names:
        return ""
    try:
        if p.stat().st_size > 1 << 20:
            return ""
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if isinstance(data, dict) and set(data) == {CHUNK_KEY}:
        return f"provenance sidecar of {p.name[: -len(SIDECAR_SUFFIX)]} (indexed with the picture)"
    return ""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
