"""Errors that name the file (or model) and the fix, so a user knows what to do next."""
from __future__ import annotations

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


class MissingExtra(OmnidexError):
    """An optional dependency is not installed; the message gives the pip command."""
