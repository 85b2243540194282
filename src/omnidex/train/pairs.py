"""Media-caption pairs files (CSV, JSONL or a folder with sidecar captions), validated row by row.

Every bad row is reported (row number, file, reason) and skipped; the good rows are kept in order.
Reasons start with a short kind, so they can be counted:

- ``malformed line: ...`` (bad JSON, not an object, missing columns/keys, wrong types)
- ``empty caption``
- ``duplicate of row N`` (same resolved path and caption as an earlier row; the first is kept)
- ``missing file: PATH`` (``... (outside the root)`` when the path escapes it via ``..`` or is absolute)
- ``unreadable file: REASON`` (zero-byte, undecodable image, unknown type, ...)
- ``modality X, expected Y`` (the majority modality, or the one asked for, wins)
- ``no caption sidecar`` / ``caption sidecar without a media file`` (folders)
"""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError, OmnidexError

MODALITIES = ("image", "video", "audio", "text")
SIDECAR_SUFFIXES = (".txt", ".caption")
SHOW_PROBLEMS = 5  # problems quoted in the error raised when too few pairs remain


@dataclass(frozen=True)
class Pair:
    """One usable (media file, caption) pair."""

    path: Path
    caption: str
    modality: str  # "image" | "video" | "audio" | "text"


@dataclass(frozen=True)
class RowProblem:
    """Why one row was skipped."""

    row: int  # 1-based line number (CSV: the header is line 1; folders: index in sorted order)
    source: str  # the pairs file's name (folders: the media or sidecar file's relative path)
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.row}: {self.reason}"


@dataclass
class PairsReport:
    """The good pairs, the problems met, and how many rows were read."""

    pairs: list[Pair]
    problems: list[RowProblem]
    total_rows: int

    def summary(self) -> str:
        """One line: "N pairs from M rows; K problems (a missing file, b duplicate, ...)"."""
        line = f"{len(self.pairs)} pairs from {self.total_rows} rows"
        if not self.problems:
            return line + "; no problems"
        kinds = Counter(_kind(p.reason) for p in self.problems)
        detail = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        return f"{line}; {len(self.problems)} problems ({detail})"


def _kind(reason: str) -> str:
    """The kind of a reason: the text before its first colon, without row numbers."""
    head = reason.split(":", 1)[0]
    return "duplicate" if head.startswith("duplicate of row") else head


# ----------------------------------------------------------------------------- readers

def _csv_rows(path: Path):
    """Yield (row number, path or None, caption or None, problem or None) for a CSV file."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise OmnidexError(f"{path}: empty CSV file (expected a header with path,caption)") from None
        except csv.Error as exc:
            raise OmnidexError(f"{path}: unreadable CSV header: {exc}") from None
        names = [h.strip().lower() for h in header]
        if "path" not in names or "caption" not in names:
            raise OmnidexError(f"{path}: the CSV header must name the columns 'path' and 'caption' "
                               f"(found: {', '.join(header) or 'nothing'})")
        ip, ic = names.index("path"), names.index("caption")
        need = max(ip, ic) + 1
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, None, None, f"malformed line: {exc}"
                line = reader.line_num + 1
                continue
            start, line = line, reader.line_num + 1
            if not row or not any(cell.strip() for cell in row):
                continue  # blank line
            if len(row) < need:
                missing = [n for n, i in (("path", ip), ("caption", ic)) if i >= len(row)]
                yield start, None, None, f"malformed line: missing column {', '.join(missing)}"
                continue
            yield start, row[ip], row[ic], None


def _jsonl_rows(path: Path):
    """Yield (row number, path or None, caption or None, problem or None) for a JSONL file."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as exc:
                yield n, None, None, f"malformed line: bad JSON ({exc.msg} at column {getattr(exc, 'colno', '?')})"
                continue
            if not isinstance(obj, dict):
                yield n, None, None, f"malformed line: expected a JSON object, got {type(obj).__name__}"
                continue
            missing = [k for k in ("path", "caption") if k not in obj]
            if missing:
                yield n, None, None, f"malformed line: missing key {', '.join(missing)}"
                continue
            p, c = obj["path"], obj["caption"]
            if not isinstance(p, str) or not isinstance(c, str):
                bad = "path" if not isinstance(p, str) else "caption"
                yield n, None, None, f"malformed line: '{bad}' must be a string"
                continue
            yield n, p, c, None


def _folder_rows(folder: Path):
    """Yield (row, source, absolute path, caption or None, problem) for a folder of sidecar captions."""
    media, sidecars = [], set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            (sidecars.add(p) if p.suffix.lower() in SIDECAR_SUFFIXES else media.append(p))
    media.sort()
    used = set()
    row = 0
    for p in media:
        row += 1
        rel = p.relative_to(folder).as_posix()
        options = (p.with_suffix(".txt"), p.with_suffix(".caption"),
                   p.with_name(p.name + ".txt"), p.with_name(p.name + ".caption"))
        side = next((s for s in options if s in sidecars), None)
        if side is None:
            yield row, rel, p, None, f"no caption sidecar ({p.stem}.txt or {p.stem}.caption)"
            continue
        used.add(side)
        try:
            caption = side.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            yield row, rel, p, None, f"unreadable file: caption sidecar {side.name}: {exc.strerror or exc}"
            continue
        yield row, rel, p, caption, None
    for side in sorted(sidecars - used):
        row += 1
        yield row, side.relative_to(folder).as_posix(), side, None, "caption sidecar without a media file"


# ----------------------------------------------------------------------------- checks

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _quick_image_ok(path: str) -> bool:
    """Cheap structural check of a PNG (IHDR first, IEND last) or JPEG (SOI ... EOI): catches
    truncated files without decoding. False means "not sure": PIL's verify() decides then."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if len(head) < 16:
                return False
            fh.seek(-12, os.SEEK_END)
            tail = fh.read(12)
    except OSError:
        return False
    if head.startswith(_PNG_SIG):
        return head[12:16] == b"IHDR" and tail == _PNG_END
    if head.startswith(b"\xff\xd8\xff"):
        return tail.endswith(b"\xff\xd9")
    return False


def _check_file(path: str, verify_images: bool) -> tuple[str | None, str | None]:
    """(modality, None) for a usable file, or (None, reason)."""
    from ..media.sniff import sniff

    if "\0" in path:  # no file system takes it (open() would raise ValueError)
        return None, "unreadable file: the path holds a NUL character"
    try:
        kind = sniff(path)
    except MediaError as exc:
        if exc.reason == "file not found":
            return None, f"missing file: {path}"
        return None, f"unreadable file: {exc.reason}"
    if kind not in MODALITIES:
        return None, "unreadable file: unrecognised file type"
    if kind == "image" and (verify_images or not _quick_image_ok(path)):
        try:
            from PIL import Image

            with Image.open(path) as im:
                im.verify()
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
            return None, f"unreadable file: image does not decode ({type(exc).__name__}: {exc})"
    return kind, None


def _escapes(raw: str) -> bool:
    """Whether a row's path is absolute or climbs out of the root with ``..``."""
    if os.path.isabs(raw):
        return True
    depth = 0
    for part in raw.replace("\\", "/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def load_pairs(source: str | Path, *, root: Path | None = None, min_pairs: int = 2,
               modality: str | None = None, verify_images: bool = False) -> PairsReport:
    """Read and validate a pairs file (.csv, .jsonl) or a folder with sidecar captions.

    Args:
        source: a ``.csv`` with a header naming ``path`` and ``caption`` (other columns ignored),
            a ``.jsonl`` of objects with ``path`` and ``caption``, or a folder where ``foo.png``
            has its caption in ``foo.txt`` or ``foo.caption``.
        root: folder that relative paths resolve against (default: the pairs file's folder).
        min_pairs: fewer good rows than this raises OmnidexError.
        modality: keep only this modality ("image", "video", "audio", "text"); default: the
            majority modality of the good rows.
        verify_images: run PIL's ``verify()`` (chunk CRCs) on every image; by default PNG and
            JPEG files only get a structural check (header and end marker, which catches
            truncation) and other images, or ones failing it, get ``verify()``. About 5x faster.
    Returns:
        A PairsReport with the good pairs (in file order), the problems and the row count.
    Raises:
        OmnidexError: unknown source type, unreadable file or header, or fewer than ``min_pairs``
            good rows (the message names the file, the counts and the first problems).
    """
    source = Path(source)
    if modality is not None and modality not in MODALITIES:
        raise OmnidexError(f"unknown modality {modality!r}; use one of {', '.join(MODALITIES)}")
    if not source.exists():
        raise OmnidexError(f"{source}: pairs file or folder not found")
    problems: list[RowProblem] = []
    candidates: list[tuple[int, str, str, str, bool]] = []  # row, source name, path, caption, escapes root
    seen: dict[tuple[str, str], int] = {}
    total = 0

    def accept(row: int, name: str, path: str, caption: str, escapes: bool) -> None:
        caption = caption.strip()
        if not caption:
            problems.append(RowProblem(row, name, "empty caption"))
            return
        path = os.path.normpath(path)
        key = (path, caption)
        if key in seen:
            problems.append(RowProblem(row, name, f"duplicate of row {seen[key]}"))
            return
        seen[key] = row
        candidates.append((row, name, path, caption, escapes))

    if source.is_dir():
        for row, name, path, caption, problem in _folder_rows(source):
            total += 1
            if problem is not None:
                problems.append(RowProblem(row, name, problem))
            else:
                accept(row, name, str(path), caption, False)
    else:
        suffix = source.suffix.lower()
        if suffix == ".csv":
            rows = _csv_rows(source)
        elif suffix in (".jsonl", ".ndjson"):
            rows = _jsonl_rows(source)
        else:
            raise OmnidexError(f"{source}: unsupported pairs file (use .csv, .jsonl or a folder of sidecar captions)")
        base = str(Path(root) if root is not None else source.parent)
        try:
            for row, raw, caption, problem in rows:
                total += 1
                if problem is not None:
                    problems.append(RowProblem(row, source.name, problem))
                    continue
                raw = raw.strip()
                if not raw:
                    problems.append(RowProblem(row, source.name, "malformed line: empty path"))
                    continue
                accept(row, source.name, os.path.join(base, raw), caption, _escapes(raw))
        except OSError as exc:
            raise OmnidexError(f"{source}: cannot read pairs file: {exc}") from exc

    checked: dict[str, tuple[str | None, str | None]] = {}
    good: list[tuple[int, str, str, str, str]] = []
    for row, name, path, caption, escapes in candidates:
        if path not in checked:
            checked[path] = _check_file(path, verify_images)
        kind, reason = checked[path]
        if reason is not None:
            if escapes and reason.startswith("missing file"):
                reason += " (outside the root)"
            problems.append(RowProblem(row, name, reason))
        else:
            good.append((row, name, path, caption, kind))

    expected = modality
    if expected is None and good:
        expected = Counter(g[4] for g in good).most_common(1)[0][0]
    pairs = []
    as_path: dict[str, Path] = {}  # one Path object per file: many rows often share a file
    for row, name, path, caption, kind in good:
        if kind != expected:
            problems.append(RowProblem(row, name, f"modality {kind}, expected {expected}"))
        else:
            p = as_path.get(path)
            if p is None:
                p = as_path[path] = Path(path)
            pairs.append(Pair(p, caption, kind))
    problems.sort(key=lambda p: p.row)
    report = PairsReport(pairs=pairs, problems=problems, total_rows=total)
    if len(pairs) < min_pairs:
        shown = "; ".join(str(p) for p in problems[:SHOW_PROBLEMS])
        more = f" (and {len(problems) - SHOW_PROBLEMS} more)" if len(problems) > SHOW_PROBLEMS else ""
        raise OmnidexError(f"{source}: only {len(pairs)} usable pairs of {total} rows (need at least {min_pairs}); "
                           f"{len(problems)} problems" + (f": {shown}{more}" if problems else ""))
    return report
