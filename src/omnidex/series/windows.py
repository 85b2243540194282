"""Cut the columns of a series file into overlapping windows located on its time axis."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .io import SeriesData


@dataclass
class Window:
    """One window of one column.

    Attributes:
        column: the column's name.
        i0 / i1: sample indices [i0, i1) in the column.
        start / end: the window's span in ``unit`` (time column values, or sample indices).
        unit: "s", the time column's name, or "sample".
        values: the raw samples (float64).
    """

    column: str
    i0: int
    i1: int
    start: float
    end: float
    unit: str
    values: np.ndarray


def window_starts(n: int, length: int, stride: int) -> list[int]:
    """Start indices of windows of ``length`` every ``stride`` samples; the last window ends at ``n``.

    A series shorter than ``length`` gives one window over all of it (when it has >= 4 samples).
    """
    if n < 4:
        return []
    if n <= length:
        return [0]
    starts = list(range(0, n - length + 1, max(1, stride)))
    if starts[-1] != n - length:  # cover the tail too
        starts.append(n - length)
    return starts


def cut_windows(data: SeriesData, length: int = 128, stride: int = 64, max_windows: int = 100_000) -> list[Window]:
    """Overlapping windows of every column of ``data``.

    Args:
        data: cleaned series.
        length: samples per window.
        stride: samples between window starts.
        max_windows: at most this many windows per file (evenly thinned beyond it).
    Returns:
        Windows, column by column in time order.
    """
    out: list[Window] = []
    n = data.length
    starts = window_starts(n, length, stride)
    if len(starts) * max(1, len(data.columns)) > max_windows:
        keep = max(1, max_windows // max(1, len(data.columns)))
        starts = [starts[int(i)] for i in np.linspace(0, len(starts) - 1, keep)]
    for name, vals in data.columns.items():
        for i0 in starts:
            i1 = min(n, i0 + length)
            start, end = _span(data, i0, i1)
            out.append(Window(name, i0, i1, start, end, data.unit, np.asarray(vals[i0:i1], dtype=np.float64)))
    return out


def _span(data: SeriesData, i0: int, i1: int) -> tuple[float, float]:
    if data.time is None:
        return float(i0), float(i1)
    return float(data.time[i0]), float(data.time[i1 - 1])
