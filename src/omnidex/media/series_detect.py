"""Is a text file a table of numbers (a time series) rather than a document? Decided on its head.

Rule: the lines split into the same number of fields by one delimiter (comma, semicolon, tab,
pipe or whitespace for one-column files), there are at least ``MIN_ROWS`` data rows after an
optional header, and at least half of the columns that are not a time/date column are numeric
in at least 90 % of their non-empty cells. Anything else stays a text document.
"""
from __future__ import annotations

import re

MIN_ROWS = 8
NUMERIC_SHARE = 0.9  # cells of a column that must parse as numbers for it to count as numeric
MOSTLY = 0.5  # share of (non-time) columns that must be numeric
DELIMITERS = (",", ";", "\t", "|")
MISSING = {"", "na", "nan", "null", "none", "n/a", "-", "?"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def is_number(cell: str) -> bool:
    """A cell that parses as a float (thousand separators and missing markers are not numbers)."""
    try:
        float(cell)
        return True
    except ValueError:
        return False


def is_date(cell: str) -> bool:
    """An ISO-8601 date or date-time cell."""
    return bool(_DATE.match(cell.strip()))


def split_rows(lines: list[str]) -> tuple[str | None, list[list[str]]]:
    """(delimiter, rows) for the delimiter that splits the lines most consistently (None: one column)."""
    best, best_rows, best_score = None, [[ln.strip()] for ln in lines], 0.0
    for d in DELIMITERS:
        rows = [[c.strip().strip('"') for c in ln.split(d)] for ln in lines]
        widths = [len(r) for r in rows]
        mode = max(set(widths), key=widths.count)
        share = widths.count(mode) / len(widths)
        if mode >= 2 and share >= 0.8 and share * mode > best_score:
            best, best_rows, best_score = d, rows, share * mode
    return best, best_rows


def column_kinds(rows: list[list[str]]) -> list[str]:
    """"number", "date" or "other" per column of data rows (missing cells ignored)."""
    width = max(len(r) for r in rows)
    kinds = []
    for j in range(width):
        cells = [r[j] for r in rows if j < len(r) and r[j].lower() not in MISSING]
        if not cells:
            kinds.append("other")
        elif sum(is_number(c) for c in cells) >= NUMERIC_SHARE * len(cells):
            kinds.append("number")
        elif sum(is_date(c) for c in cells) >= NUMERIC_SHARE * len(cells):
            kinds.append("date")
        else:
            kinds.append("other")
    return kinds


def text_is_series(head: bytes) -> bool:
    """Whether the leading bytes of a text file are a numeric table (see the module rule).

    Args:
        head: the first bytes of the file (a last, cut line is ignored).
    Returns:
        True for a time series table.
    """
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(head) >= 8192 and lines:
        lines = lines[:-1]  # the head may end mid-line
    if len(lines) < MIN_ROWS:
        return False
    _, rows = split_rows(lines)
    first_kinds = column_kinds(rows[:1])
    data = rows[1:] if "number" not in first_kinds and "date" not in first_kinds else rows
    if len(data) < MIN_ROWS:
        return False
    kinds = column_kinds(data)
    values = [k for k in kinds if k != "date"]
    return kinds.count("number") >= 1 and kinds.count("number") >= MOSTLY * len(values)
