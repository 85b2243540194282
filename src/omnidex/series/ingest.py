"""Series files in the ingest pipeline: file -> windows (pieces) -> rows of the series spaces."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import IndexConfig
from ..errors import MediaError

SPACES = ("series", "series_text")  # shape + VQ space (query by example), text->series space


MIN_LENGTH, MAX_LENGTH = 64, 1024  # shapes are compared at the window length, clamped to this range


def series_encoder(space: str, cfg: IndexConfig):
    """The encoder of a series space for an ingest configuration (built once by the registry)."""
    from ..encoders.registry import build

    if space == "series":
        length = min(max(cfg.series_window, MIN_LENGTH), MAX_LENGTH)
        return build("series-shape", length=length, word=min(cfg.sax_word, length), alphabet=cfg.sax_alphabet)
    return build("series-lit", model="bundled")


def window_label(start: float, end: float, unit: str) -> str:
    """Human form of a window's span: "samples 0-128", "2026-01-01T00:00:00..2026-01-06T07:00:00",
    "s 3.5-9", "day 10-137"."""
    if unit == "sample":
        return f"samples {int(start)}-{int(end)}"
    if unit == "epoch_s":
        from datetime import datetime, timezone

        iso = [datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None).isoformat() for t in (start, end)]
        return f"{iso[0]}..{iso[1]}"
    return f"{unit} {start:.6g}-{end:.6g}"


def extract_series_file(path: Path, cfg: IndexConfig, models):
    """Series file -> one piece per window of every numeric column, with its SAX word.

    Returns:
        The pieces, or None when series indexing is off and the file is a text table (index it as text).
    Raises:
        MediaError: nothing numeric to index, or series indexing is off/unavailable.
    """
    from ..types import Extracted, Piece
    from .io import load_series
    from .windows import cut_windows

    if not cfg.series:
        with open(path, "rb") as fh:
            binary = fh.read(8).startswith((b"\x93NUMPY", b"PAR1"))
        if binary:
            raise MediaError(path, "time series indexing is off (IndexConfig.series=False)")
        return None  # not for the series spaces: the ingest indexes a numeric table as a document then
    enc = models.encoder("series")
    if enc is None:
        raise MediaError(path, "time series encoder unavailable: " + "; ".join(models.notices[-1:]))
    data = load_series(path, max_rows=cfg.series_max_rows)
    wins = cut_windows(data, cfg.series_window, cfg.series_stride)
    if not wins:
        raise MediaError(path, f"series too short to window ({data.length} samples; need at least 4)")
    words = enc.sax_words([w.values for w in wins])
    pieces = [Piece("series", w.start, w.end, w.unit, values=w.values,
                    text=f"column={w.column} window={window_label(w.start, w.end, w.unit)} sax={word}")
              for w, word in zip(wins, words)]
    note = f"series: {len(data.columns)} columns x {data.length} samples -> {len(pieces)} windows"
    info = {"series": {"columns": list(data.columns), "samples": data.length, "unit": data.unit,
                       "window": cfg.series_window, "stride": cfg.series_stride}}
    return Extracted(pieces, note="; ".join([note] + data.notes), info=info)


def series_rows(pieces: list, base: dict, models, make_rows) -> dict[str, list[dict]]:
    """Rows per series space for the series pieces of one file.

    Args:
        pieces: pieces with ``values``.
        base: provenance shared by every row.
        models: encoders (``encoder("series")`` / ``encoder("series_text")``; unavailable ones are skipped).
        make_rows: ``(pieces, vectors, base) -> rows`` (the ingest's row builder).
    Returns:
        space -> rows.
    """
    out: dict[str, list[dict]] = {}
    windows = [np.asarray(p.values, dtype=np.float64) for p in pieces]
    for space in SPACES:
        enc = models.encoder(space)
        if enc is not None and pieces:
            out[space] = make_rows(pieces, enc.encode_series(windows), base)
    return out
