"""Find the timestamp citations in an answer and check each one against the evidence.

Accepted forms inside square brackets: ``[12.5s]``, ``[00:12]``, ``[00:12.5–00:18]``,
``[1:02:05]``, ``[12s-18s]``, several separated by commas or semicolons, optionally after a file
name (``[talk.mp4 00:12–00:18]``), and evidence ids (``[E3]``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TOLERANCE_S = 1.0  # a cited time this close to an evidence span still counts as in it
_TIME = r"(?:\d+:)?\d{1,2}:\d{2}(?:\.\d+)?|\d+(?:\.\d+)?\s*s(?:ec)?"
_ITEM = re.compile(rf"^(?:(?P<file>\S.*?)\s*[@,]?\s+)?(?P<a>{_TIME})(?:\s*(?:-|–|—|to)\s*(?P<b>{_TIME}))?$", re.I)
_ID = re.compile(r"^E(\d+)$", re.I)
_BRACKET = re.compile(r"\[([^\[\]\n]{1,120})\]")


@dataclass
class Citation:
    """One cited time span (or evidence id) and the evidence it points at."""

    label: str  # as written in the answer, e.g. "00:12–00:18"
    start: float | None = None  # seconds (None for an id citation)
    end: float | None = None
    file: str = ""  # a file name written in the citation, if any
    ids: tuple[str, ...] = ()  # evidence ids cited directly ("E3")
    evidence: list[str] = field(default_factory=list)  # ids of the evidence it matches
    paths: list[str] = field(default_factory=list)  # the files of that evidence

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"label": self.label, "start": self.start, "end": self.end, "file": self.file,
                "evidence": self.evidence, "paths": self.paths}


def seconds(text: str) -> float:
    """``12.5s`` / ``00:12.5`` / ``1:02:05`` -> seconds."""
    t = text.strip().lower().removesuffix("sec").removesuffix("s").strip()
    total = 0.0
    for part in t.split(":"):
        total = total * 60 + float(part)
    return total


def find(answer: str) -> list[Citation]:
    """Every citation in ``answer``, in order; brackets holding no time or id are not citations."""
    out = []
    for m in _BRACKET.finditer(answer):
        for piece in re.split(r"[;,]\s*(?=\S)", m.group(1)):
            piece = piece.strip()
            if (i := _ID.match(piece)) is not None:
                out.append(Citation(piece, ids=(f"E{int(i.group(1))}",)))
            elif (t := _ITEM.match(piece)) is not None:
                a = seconds(t.group("a"))
                b = seconds(t.group("b")) if t.group("b") else a
                out.append(Citation(piece, min(a, b), max(a, b), file=(t.group("file") or "").strip()))
    return out


def check(cites: list[Citation], evidence: list, durations: dict[str, float],
          tol: float = TOLERANCE_S) -> list[str]:
    """Match citations to evidence (filling ``evidence``/``paths``); return the problems found.

    A time citation must lie inside the cited (or any) media file's duration and overlap a timed
    piece of evidence of that file; an id must name an evidence item. When the evidence has
    times, an answer must cite at least one.

    Args:
        cites: from :func:`find`.
        evidence: the :class:`~omnidex.ask.evidence.Evidence` list shown to the model.
        durations: path -> seconds of the media files in the evidence.
        tol: slack in seconds around evidence spans.
    Returns:
        Human-readable problems; empty when every citation holds.
    """
    problems = []
    timed = [e for e in evidence if e.unit == "s"]
    by_id = {e.id: e for e in evidence}
    for c in cites:
        if c.ids:
            found = [by_id[i] for i in c.ids if i in by_id]
            if not found:
                problems.append(f"[{c.label}] names no evidence item (there are E1–E{len(evidence)})")
            c.evidence, c.paths = [e.id for e in found], sorted({e.path for e in found})
            continue
        pool = [e for e in timed if not c.file or Path(e.path).name == Path(c.file).name] or timed
        if not pool:
            problems.append(f"[{c.label}] cites a time, but no evidence has times")
            continue
        longest = max((durations.get(e.path, 0.0) for e in pool), default=0.0)
        if longest > 0 and c.end > longest + tol:
            names = ", ".join(sorted({Path(e.path).name for e in pool}))
            problems.append(f"[{c.label}] cites {c.end:g}s, outside the video ({names} lasts {longest:.1f}s)")
            continue
        hit = [e for e in pool if e.start - tol <= c.end and c.start <= e.end + tol]
        if not hit:
            problems.append(f"[{c.label}] is not a time in the evidence")
            continue
        c.evidence, c.paths = [e.id for e in hit], sorted({e.path for e in hit})
    if timed and not cites:
        problems.append("the answer cites no evidence: put the times it relies on in brackets, e.g. "
                        f"{timed[0].when()}")
    return problems


__all__ = ["Citation", "find", "check", "seconds"]
