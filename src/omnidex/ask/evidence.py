"""Gather the evidence for a question from the index: moments, their transcript/OCR/caption lines
and frames, each with its file and time span."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import MediaError, OmnidexError
from ..store import sql_str
from ..types import format_time

PAD_S = 2.0  # text rows this close around a moment belong to its evidence
TEXT_COLS = ["id", "path", "kind", "source", "start", "end", "at", "unit", "text"]


@dataclass
class Evidence:
    """One piece of evidence shown to the model.

    Attributes:
        id: "E1", "E2", ... in prompt order.
        path: the file.
        source: speech | ocr | caption | chunk | frame | image.
        start, end: seconds (unit "s"), line numbers (unit "line") or 0 (unit "none").
        unit: "s" | "line" | "none".
        text: the words (text evidence).
        image: a PIL image (frames and images), None for text.
        at: the instant a frame was taken (seconds).
        kind: the file kind (video, audio, image, text).
    """

    id: str
    path: str
    source: str
    start: float
    end: float
    unit: str
    text: str = ""
    image: object = None
    at: float | None = None
    kind: str = ""

    def when(self) -> str:
        """The time label the model is asked to cite: ``[00:12.5]`` or ``[00:12.0–00:18.0]``."""
        if self.unit == "s":
            if self.at is not None and self.source == "frame":
                return f"[{clock(self.at)}]"
            return f"[{clock(self.start)}–{clock(self.end)}]" if self.end > self.start else f"[{clock(self.start)}]"
        if self.unit == "line":
            return f"(lines {int(self.start)}–{int(self.end)})"
        return ""

    def to_dict(self) -> dict:
        """JSON-ready (without the image pixels)."""
        return {"id": self.id, "path": self.path, "source": self.source, "start": self.start, "end": self.end,
                "unit": self.unit, "text": self.text, "at": self.at, "kind": self.kind,
                "has_image": self.image is not None}


def clock(t: float) -> str:
    """Seconds -> ``MM:SS.s`` (``H:MM:SS.s`` past an hour), the form evidence is labelled with."""
    full = format_time(t)  # HH:MM:SS.s
    return full[3:] if full.startswith("00:") else full.lstrip("0")


def gather(index, question: str, in_path: str | None = None, top_k: int = 8, max_frames: int = 6,
           text_budget: int = 6000) -> list[Evidence]:
    """Evidence for ``question``: the best moments (within ``in_path`` when given), the text rows
    around them, one frame per visual moment, and (for one file) its transcript up to a budget.

    Args:
        index: an :class:`omnidex.Index`.
        question: the user's question (searched as text).
        in_path: restrict to this file.
        top_k: moments retrieved.
        max_frames: frames (and images) attached at most.
        text_budget: characters of text evidence at most.
    Returns:
        Evidence sorted by file and time, ids E1.. in that order.
    """
    if in_path and not _file_rows(index.store, {_abs(in_path)}):
        raise OmnidexError(f"{in_path} is not in the index {index.store.root}: run `omnidex index {in_path}` first")
    # the question is searched as plain words (quotes or "image:" in a question never make it arithmetic)
    plain = re.sub(r"(text|image|audio|video):", r"\1 ", re.sub(r"['\"]", " ", question))
    hits = index.search(plain, top_k=top_k, in_path=in_path, min_score=0.0)
    kinds = {p: r.get("kind", "") for p, r in _file_rows(index.store, {h.path for h in hits}).items()}
    rows: dict[str, dict] = {}
    pictures: list[Evidence] = []
    for h in hits:
        pad = PAD_S if h.unit == "s" else 0.0
        for r in text_rows(index.store, h.path, h.start - pad, h.end + pad):
            rows.setdefault(r["id"], r)
        if len(pictures) < max_frames:
            pic = _picture(h, kinds.get(h.path, h.modality))
            if pic is not None and not any(p.path == pic.path and p.at == pic.at for p in pictures):
                pictures.append(pic)
    if in_path:  # questions about one file: its whole transcript and on-screen text, as far as the budget goes
        for r in text_rows(index.store, _abs(in_path)):
            rows.setdefault(r["id"], r)
    texts = _budget(sorted(rows.values(), key=lambda r: (r["path"], r["start"])), text_budget)
    items = [Evidence("", r["path"], r["source"], float(r["start"]), float(r["end"]), r["unit"], text=r["text"],
                      at=r.get("at"), kind=r.get("kind", "")) for r in texts] + pictures
    items.sort(key=lambda e: (e.path, e.start if e.at is None or e.source != "frame" else e.at, e.source != "frame"))
    for i, e in enumerate(items, 1):
        e.id = f"E{i}"
    return items


def text_rows(store, path: str, start: float | None = None, end: float | None = None) -> list[dict]:
    """Rows of the text space for ``path`` overlapping [start, end] (all rows when no span)."""
    tbl = store.table("text")
    if tbl is None:
        return []
    where = f"path = {sql_str(path)}"
    if start is not None and end is not None:
        where += f" AND start <= {float(end)} AND `end` >= {float(start)}"
    return tbl.search().where(where).select(TEXT_COLS).limit(None).to_list()


def _file_rows(store, paths: set[str]) -> dict[str, dict]:
    tbl = store.table("files")
    if tbl is None or not paths:
        return {}
    where = "path IN (" + ", ".join(sql_str(p) for p in paths) + ")"
    return {r["path"]: r for r in tbl.search().where(where).select(["path", "kind", "duration"]).limit(None).to_list()}


def durations(store, paths) -> dict[str, float]:
    """path -> media duration in seconds (0 for images and documents)."""
    return {p: float(r.get("duration") or 0.0) for p, r in _file_rows(store, set(paths)).items()}


def _picture(hit, kind: str) -> Evidence | None:
    """The frame a video moment shows (at its best frame, else its middle), or an image itself."""
    try:
        if kind == "image":
            from ..media.image import load_image

            return Evidence("", hit.path, "image", 0.0, 0.0, "none", image=load_image(hit.path), kind=kind)
        if kind == "video" and hit.unit == "s":
            from ..media.contact import frame_at

            t = hit.frame_time if hit.frame_time is not None else (hit.start + hit.end) / 2
            span = hit.shot or (hit.start, hit.end)
            return Evidence("", hit.path, "frame", float(min(span[0], t)), float(max(span[1], t)), "s",
                            image=frame_at(hit.path, t), at=float(t), kind=kind)
    except (MediaError, OSError):  # a file moved or damaged since indexing: answer from the rest
        return None
    return None


def _budget(rows: list[dict], chars: int) -> list[dict]:
    out, used = [], 0
    for r in rows:
        if used + len(r["text"]) > chars and out:
            break
        out.append(r)
        used += len(r["text"])
    return out


def _abs(path) -> str:
    import os

    return os.path.abspath(os.path.expanduser(str(path)))


__all__ = ["Evidence", "gather", "text_rows", "durations", "clock"]
