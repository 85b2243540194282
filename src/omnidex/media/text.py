"""Read text files robustly and cut them into overlapping, structure-aware chunks."""
from __future__ import annotations

import bisect
import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from .sniff import looks_like_text, read_head

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_BLOCK_SPLIT = re.compile(r"\n[ \t]*\n\s*")  # a blank line (plus any whitespace) separates blocks
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)", re.M)  # ATX markdown heading line
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002]+[\"'\u201d\u2019)\]]*\s+|\n")


def read_text(path: str | Path, max_bytes: int = 50_000_000) -> str:
    """Read a text file: UTF-8 (with or without BOM), UTF-16/32 with BOM, else latin-1.

    Line endings are normalised to "\\n". Files longer than ``max_bytes`` are cut at that many
    bytes (at a character boundary) rather than refused, so huge logs still get indexed.

    Args:
        path: the file.
        max_bytes: read at most this many bytes.
    Returns:
        The decoded text.
    Raises:
        MediaError: zero-byte, unreadable, or binary (NUL bytes, not decodable).
    """
    read_head(path, 16)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes)
            truncated = bool(fh.read(1))
    except OSError as exc:
        raise MediaError(path, f"cannot read file: {exc}") from exc
    if not looks_like_text(data[:65536], hinted=True):
        raise MediaError(path, "binary file, not text")
    text = _decode(data, final=not truncated)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, final: bool) -> str:
    """Decode with the BOM's encoding, else strict UTF-8, else latin-1."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return codecs.getincrementaldecoder(enc)("replace").decode(data, final=final)
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=final)
    except UnicodeDecodeError:
        return data.decode("latin-1")


@dataclass(frozen=True)
class TextChunk:
    """A contiguous span of a document; ``text == document[start_char:end_char]``."""

    text: str  # the chunk's text, verbatim from the document
    start_char: int  # offset of the first character in the document
    end_char: int  # offset one past the last character
    line_start: int  # 1-based line of the first character
    line_end: int  # 1-based line of the last character


def chunk_text(text: str, max_chars: int = 800, overlap: int = 120) -> list[TextChunk]:
    """Cut ``text`` into chunks of at most ``max_chars`` characters that follow its structure.

    Blocks are split at blank lines and markdown headings (a heading starts a new chunk), long
    blocks at sentence ends, long sentences between words. Blocks are packed greedily; each chunk
    after the first repeats up to ``overlap`` characters of its predecessor, starting at a word
    (preferably sentence) boundary. No overlap is added across a heading.

    Args:
        text: the document.
        max_chars: hard upper bound on a chunk's length.
        overlap: characters of context repeated from the previous chunk.
    Returns:
        Chunks in document order with character offsets and 1-based line numbers.
    """
    if max_chars <= 0 or not 0 <= overlap < max_chars:
        raise ValueError("need max_chars > 0 and 0 <= overlap < max_chars")
    pieces = [p for b in _blocks(text) for p in _split_piece(text, b, max_chars)]
    spans = _pack(text, pieces, max_chars, overlap)
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    return [
        TextChunk(text[s:e], s, e, bisect.bisect_left(newlines, s) + 1, bisect.bisect_left(newlines, e - 1) + 1)
        for s, e in spans
    ]


def _blocks(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_heading) spans of paragraphs and heading lines, whitespace trimmed."""
    cuts = {0, len(text)}
    for m in _BLOCK_SPLIT.finditer(text):
        cuts.update((m.start(), m.end()))
    for m in _HEADING.finditer(text):
        cuts.add(m.start())
        eol = text.find("\n", m.start())
        cuts.add(len(text) if eol < 0 else eol)
    bounds = sorted(cuts)
    out = []
    for a, b in zip(bounds, bounds[1:]):
        s, e = _trim(text, a, b)
        if s < e:
            out.append((s, e, bool(_HEADING.match(text, s))))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) to exclude surrounding whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_piece(text: str, block: tuple[int, int, bool], max_chars: int) -> list[tuple[int, int, bool]]:
    """Split a block longer than ``max_chars`` at sentence ends, then between words."""
    start, end, heading = block
    if end - start <= max_chars:
        return [block]
    sentences, pos = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        sentences.append((pos, m.end()))
        pos = m.end()
    sentences.append((pos, end))
    out = []
    for a, b in sentences:
        a, b = _trim(text, a, b)
        if a < b:
            out.extend((s, e, heading and not out) for s, e in _split_words(text, a, b, max_chars))
    return out


def _split_words(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split [start, end) into spans of at most ``max_chars``, cutting at whitespace if possible."""
    out = []
    while end - start > max_chars:
        cut = start + max_chars
        space = max(text.rfind(" ", start + 1, cut + 1), text.rfind("\n", start + 1, cut + 1))
        if space > start:
            cut = space  # the cut character is whitespace; the next span skips it
        s, e = _trim(text, start, cut)
        out.append((s, e))
        start, _ = _trim(text, cut, end)
    if start < end:
        out.append((start, end))
    return out


def _pack(text: str, pieces: list[tuple[int, int, bool]], max_chars: int, overlap: int) -> list[tuple[int, int]]:
    """Greedily join pieces into spans of at most ``max_chars``, with overlap between spans."""
    spans: list[tuple[int, int]] = []
    cur: list[int] | None = None  # [start, end] of the chunk being built
    for s, e, heading in pieces:
        if cur is not None and not heading and e - cur[0] <= max_chars:
            cur[1] = e
            continue
        if cur is not None:
            spans.append((cur[0], cur[1]))
        start = s
        if spans and overlap and not heading:
            start = _overlap_start(text, spans[-1], s, e, max_chars, overlap)
        cur = [start, e]
    if cur is not None:
        spans.append((cur[0], cur[1]))
    return spans


def _overlap_start(text: str, prev: tuple[int, int], s: int, e: int, max_chars: int, overlap: int) -> int:
    """Where a chunk starting with piece [s, e) should begin to repeat the end of ``prev``."""
    room = min(overlap, max_chars - (e - s))
    lo = max(prev[0] + 1, prev[1] - room)
    if room <= 0 or lo >= prev[1]:
        return s
    window = text[lo:prev[1]]
    for m in _SENTENCE_END.finditer(window):  # prefer a sentence start inside the window
        if lo + m.end() < prev[1]:
            return lo + m.end()
    if lo > 0 and not text[lo - 1].isspace():
        nxt = re.search(r"\s\S", window)
        if nxt is None:
            return s
        lo += nxt.start() + 1
    return lo if lo < prev[1] else s
