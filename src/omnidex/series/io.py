"""Read numeric series from CSV/TSV, Parquet and ``.npy`` files, cleaned, with reasons for what was dropped.

Every problem names the file: an empty table, no numeric column, a header that claims more rows
than the file holds, ragged rows (padded or cut), missing values (interpolated; a column that is
mostly missing is dropped).
"""
from __future__ import annotations

import csv
import io
import math
import re
import tokenize
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..media.series_detect import MISSING, column_kinds, is_date, split_rows

MAX_MISSING = 0.5  # a column with more missing values than this share is dropped
TIME_NAMES = re.compile(r"^(t|ts|time|times|timestamp|date|datetime|day|days|hour|hours|sec|secs|"
                        r"seconds|time_s|t_s|time_sec|index|step|year|month|minute|minutes)$", re.I)
SECOND_NAMES = re.compile(r"^(sec|secs|seconds|time_s|t_s|time_sec)$", re.I)


@dataclass
class SeriesData:
    """The numeric columns of one file, on one shared axis.

    Attributes:
        columns: name -> float64 values (cleaned: no NaN).
        time: the time column's values (float64, seconds for dates), or None (sample indices).
        unit: unit of ``time``: "epoch_s" for dates (seconds since 1970, UTC), "s" for a seconds
            column, the time column's name otherwise, or "sample".
        notes: what was cleaned or dropped, for the ingest report.
    """

    columns: dict[str, np.ndarray]
    time: np.ndarray | None = None
    unit: str = "sample"
    notes: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Samples per column."""
        return len(next(iter(self.columns.values()))) if self.columns else 0


def load_series(path: str | Path, max_rows: int = 10_000_000) -> SeriesData:
    """Read and clean the numeric series of ``path`` (format from its content: NPY, Parquet, else CSV).

    Args:
        path: the file.
        max_rows: longest series read (longer tables are cut, and the note says so).
    Returns:
        SeriesData with at least one column.
    Raises:
        MediaError: unreadable, empty, or no numeric data; the message names the file.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x93NUMPY"):
        data = _read_npy(path, max_rows)
    elif magic.startswith(b"PAR1"):
        data = _read_parquet(path, max_rows)
    else:
        data = _read_csv(path, max_rows)
    return _clean(path, data)


def _read_npy(path: Path, max_rows: int) -> SeriesData:
    """1-D array: one series; 2-D: one series per column. The header's shape is checked against the file size."""
    _check_npy_header(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise MediaError(path, f"not a readable numeric .npy array ({exc}); object arrays are refused") from exc
    except OSError as exc:
        raise MediaError(path, f"cannot read .npy: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise MediaError(path, f".npy holds {arr.dtype} values, not numbers")
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise MediaError(path, f".npy array of shape {arr.shape}: need a non-empty 1-D series or a 2-D (samples, columns) table")
    notes = []
    if arr.shape[0] > max_rows:
        notes.append(f"cut to the first {max_rows} of {arr.shape[0]} samples")
        arr = arr[:max_rows]
    table = np.asarray(arr, dtype=np.float64)
    cols = {"value": table} if table.ndim == 1 else {f"col{j}": table[:, j] for j in range(table.shape[1])}
    return SeriesData(cols, notes=notes)


def _check_npy_header(path: Path) -> None:
    """Refuse an .npy whose header claims more data than the file holds (or absurd shapes)."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            version = fmt.read_magic(fh)
            shape, _, dtype = (fmt.read_array_header_1_0(fh) if version == (1, 0)
                               else fmt.read_array_header_2_0(fh))
            offset = fh.tell()
    except (ValueError, OSError, SyntaxError, tokenize.TokenError) as exc:  # NumPy tokenizes the header text
        raise MediaError(path, f"broken .npy header: {exc}") from exc
    if dtype.hasobject:
        raise MediaError(path, ".npy holds Python objects, not numbers (refused: loading would need pickle)")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise MediaError(path, f".npy header claims shape {shape} ({need} bytes of data) but the file "
                               f"holds only {have} bytes: truncated or forged")


def _read_parquet(path: Path, max_rows: int) -> SeriesData:
    """Numeric columns of a Parquet file (a timestamp or time-named column becomes the axis)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        n = pf.metadata.num_rows
        if n > max_rows:
            raise MediaError(path, f"Parquet metadata claims {n} rows, more than the {max_rows}-row limit")
        table = pf.read()
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for broken files
        raise MediaError(path, f"cannot read Parquet: {exc}") from exc
    try:
        return _parquet_columns(pa, table)
    except pa.ArrowException as exc:  # e.g. timestamps out of range
        raise MediaError(path, f"cannot convert Parquet columns to numbers: {exc}") from exc


def _parquet_columns(pa, table) -> SeriesData:
    """The numeric columns and time axis of a read Parquet table."""
    cols, time, unit, notes = {}, None, "sample", []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            if time is None:
                time, unit = _epoch_seconds(col), "epoch_s"
        elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
            vals = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)  # ints past 2**53 round
            if time is None and TIME_NAMES.match(name) and _increasing(vals):
                time, unit = vals, ("s" if SECOND_NAMES.match(name) else name)
            else:
                cols[name] = vals
        else:
            notes.append(f"column '{name}' ({col.type}) is not numeric: ignored")
    return SeriesData(cols, time, unit, notes)


def _epoch_seconds(col) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = pc.cast(col, pa.timestamp("us", tz=getattr(col.type, "tz", None)))
    return pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) / 1e6


def _read_csv(path: Path, max_rows: int) -> SeriesData:
    """A delimited text table: header optional, one date or time-named column becomes the axis."""
    from ..media.text import read_text

    text = read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise MediaError(path, "empty table: no data rows")
    delim, _ = split_rows(lines[:200])
    rows = list(csv.reader(io.StringIO("\n".join(lines[: max_rows + 1])), delimiter=delim or "\x1f"))
    rows = [[c.strip() for c in r] for r in rows]
    notes = [f"cut to the first {max_rows} rows"] if len(lines) > max_rows + 1 else []
    header_kinds = column_kinds(rows[:1])
    has_header = "number" not in header_kinds and "date" not in header_kinds
    header, data = (rows[0], rows[1:]) if has_header else ([], rows)
    if not data:
        raise MediaError(path, "empty table: a header but no data rows")
    width = len(header) if header else _modal_width(data)
    ragged = sum(1 for r in data if len(r) != width)
    if ragged:
        notes.append(f"{ragged} ragged rows padded with missing values or cut to {width} fields")
    data = [(r + [""] * width)[:width] for r in data]
    names = [(header[j] if j < len(header) and header[j] else f"col{j}") for j in range(width)]
    return _columns_from_cells(names, data, notes)


def _modal_width(rows: list[list[str]]) -> int:
    widths = [len(r) for r in rows]
    return max(set(widths), key=widths.count)


def _columns_from_cells(names: list[str], data: list[list[str]], notes: list[str]) -> SeriesData:
    kinds = column_kinds(data)
    cols, time, unit = {}, None, "sample"
    for j, (name, kind) in enumerate(zip(names, kinds)):
        cells = [r[j] for r in data]
        if kind == "date" and time is None:
            time, unit = np.array([_parse_date(c) for c in cells]), "epoch_s"
        elif kind == "number":
            vals = np.array([_to_float(c) for c in cells])
            if time is None and TIME_NAMES.match(name) and _increasing(vals):
                time, unit = vals, ("s" if SECOND_NAMES.match(name) else name)
            else:
                cols[name] = vals
        else:
            notes.append(f"column '{name}' is not numeric: ignored")
    return SeriesData(cols, time, unit, notes)


def _to_float(cell: str) -> float:
    if cell.lower() in MISSING:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        return math.nan


def _parse_date(cell: str) -> float:
    if not is_date(cell):
        return math.nan
    try:
        dt = datetime.fromisoformat(cell.strip().replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()  # naive dates are UTC


def _increasing(vals: np.ndarray) -> bool:
    v = vals[np.isfinite(vals)]
    return v.size >= 2 and bool(np.all(np.diff(v) > 0))


def _clean(path: Path, data: SeriesData) -> SeriesData:
    """Interpolate missing values, drop mostly-missing or constant-NaN columns; refuse an empty result."""
    kept: dict[str, np.ndarray] = {}
    for name, vals in data.columns.items():
        vals = np.asarray(vals, dtype=np.float64)
        bad = ~np.isfinite(vals)
        if bad.mean() > MAX_MISSING:
            data.notes.append(f"column '{name}' dropped: {bad.mean():.0%} of its values are missing or not finite")
            continue
        if bad.any():
            idx = np.arange(vals.size)
            vals = vals.copy()
            vals[bad] = np.interp(idx[bad], idx[~bad], vals[~bad])
            data.notes.append(f"column '{name}': {int(bad.sum())} missing values interpolated")
        kept[name] = vals
    if data.time is not None:
        t = np.asarray(data.time, dtype=np.float64)
        ok = np.isfinite(t)
        if ok.sum() >= 2:
            idx = np.arange(t.size)
            data.time = np.interp(idx, idx[ok], t[ok])
        else:
            data.time, data.unit = None, "sample"
            data.notes.append("time column unusable: sample indices used")
    if not kept:
        why = "; ".join(data.notes) or "no numeric columns"
        raise MediaError(path, f"no numeric series to index ({why})")
    data.columns = kept
    return data
