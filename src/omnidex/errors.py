"""Errors that name the file (or model) and the fix, so a user knows what to do next."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path


class OmnidexError(Exception):
    """Base class of every error omnidex raises on purpose."""


class MediaError(OmnidexError):
    """A file could not be read or decoded; the message names the file and the reason.

    Args:
        path: the offending file.
        reason: short human-readable cause ("zero-byte file", "truncated MP4: ...").
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class EncoderUnavailable(OmnidexError):
    """An encoder's weights or package cannot be had; the message says how to get them."""


class StoreMismatch(OmnidexError):
    """A table was built with another encoder than the one asked for."""


class NoIndex(OmnidexError):
    """Nothing is indexed at a database path a command only reads (nothing is created there).

    Args:
        path: the database directory or URI asked for.
    """

    def __init__(self, path):
        self.path = str(path)
        super().__init__(f"no index at {self.path} (run omnidex index FILES --db {self.path} first)")


class MissingExtra(OmnidexError):
    """An optional dependency is not installed; the message gives the pip command."""


_PHRASES = {"no space left on device": errno.ENOSPC, "disk quota exceeded": errno.EDQUOT,
            "permission denied": errno.EACCES, "read-only file system": errno.EROFS,
            "operation not permitted": errno.EPERM}  # the OS's words for the errors write_fault knows


def _os_code(exc: OSError) -> int | None:
    """The errno of an OSError, or, for an I/O error of the Rust storage layer (Lance), which has
    none, the one its text gives: ``"... (os error 28)"`` or the OS's words for it."""
    if exc.errno is not None:
        return exc.errno
    text = str(exc).lower()
    found = re.search(r"\(os error (\d+)\)", text)
    if found:
        return int(found.group(1))
    return next((code for phrase, code in _PHRASES.items() if phrase in text), None)


def write_fault(exc: BaseException, db: str | Path) -> str | None:
    """What to tell the user when writing the index failed because the disk filled or write
    permission went away, or None for any other failure (which is then reported as it is).

    Used by ``omnidex index`` and by the server's index jobs, so both say the same thing. The
    store commits in journaled batches, so the message can promise that what was committed stays.

    Args:
        exc: the exception that ended the ingest (an ``OSError`` to be recognised, see :func:`_os_code`).
        db: the index (database) folder, named in the message.
    Returns:
        One line: the cause, the folder, what to do, and that the next run finishes the rest.
    """
    if not isinstance(exc, OSError):
        return None
    code = _os_code(exc)
    kept = "files committed before it stay indexed and searchable; index again to finish"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding the index ({db}) is full: free some space; {kept}"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        cause = exc.strerror or os.strerror(code).lower()
        where = f" ({exc.filename}: {cause})" if exc.filename and str(exc.filename) != str(db) else f" ({cause})"
        return (f"permission to write was lost in the index folder {db}{where}: restore it "
                f"(e.g. chmod -R u+w {db}); {kept}")
    return None
