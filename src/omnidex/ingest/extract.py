"""Turn one decoded file into pieces: what to embed, in which space, at which time span.

A piece carries either text (embedded by the text encoder) or an image (embedded by the visual
and near-duplicate encoders). Nothing here touches the store.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import IndexConfig
from ..errors import MediaError
from .models import Models


@dataclass
class Piece:
    """One segment before embedding."""

    source: str  # "chunk" | "ocr" | "speech" | "image" | "frame"
    start: float
    end: float
    unit: str  # "s" | "line" | "none"
    text: str = ""
    words: list = field(default_factory=list)  # [[start, end, word], ...] for speech
    image: object = None  # PIL image for visual pieces


@dataclass
class Extracted:
    """All pieces of one file plus facts about it."""

    pieces: list[Piece]
    duration: float = 0.0
    note: str = ""  # e.g. "no audio track", "no speech found", frame strategy used


def extract_text_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Document -> overlapping chunks located by line numbers."""
    from ..media.text import chunk_text, read_text

    chunks = chunk_text(read_text(path), max_chars=cfg.chunk_chars, overlap=cfg.chunk_overlap)
    pieces = [Piece("chunk", c.line_start, c.line_end, "line", text=c.text) for c in chunks if c.text.strip()]
    return Extracted(pieces, note="" if pieces else "empty document")


def extract_image_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Image -> one visual piece plus its OCR text when there is any."""
    from ..media.image import load_image

    img = load_image(path, max_pixels=cfg.max_image_pixels)
    img.thumbnail((1024, 1024))
    pieces = [Piece("image", 0.0, 0.0, "none", image=img)]
    ocr = models.ocr()
    if ocr is not None:
        text = ocr.read_text(img).strip()
        if text:
            pieces.append(Piece("ocr", 0.0, 0.0, "none", text=text))
    return Extracted(pieces)


def extract_audio_track(path: Path, cfg: IndexConfig, models: Models) -> tuple[list[Piece], str, float]:
    """Sound track -> (transcript windows with word timestamps, note, duration in seconds)."""
    from ..media.audio import load_audio

    audio = load_audio(path, sr=16000)
    duration = audio.size / 16000.0
    transcriber = models.transcriber()
    if transcriber is None:
        return [], "speech off or unavailable", duration
    if audio.size < 1600 or float(np.abs(audio).max(initial=0.0)) < 1e-4:
        return [], "silent audio", duration
    transcript = transcriber.transcribe(audio)
    pieces = speech_windows(transcript, cfg.speech_window_s)
    return pieces, ("" if pieces else "no speech found"), duration


_SENTENCE_END = re.compile(r"[.!?…]$")


def speech_windows(transcript, max_s: float) -> list[Piece]:
    """Group transcript words into sentence windows no longer than ``max_s`` seconds."""
    words = [w for seg in transcript.segments for w in seg.words]
    if not words:
        return [Piece("speech", s.start, s.end, "s", text=s.text.strip()) for s in transcript.segments if s.text.strip()]
    pieces, cur = [], []
    for w in words:
        if cur and (w.end - cur[0].start > max_s or w.start - cur[-1].end > 1.5):
            pieces.append(_window(cur))
            cur = []
        cur.append(w)
        if _SENTENCE_END.search(w.text.strip()) and cur[-1].end - cur[0].start >= 1.0:
            pieces.append(_window(cur))
            cur = []
    if cur:
        pieces.append(_window(cur))
    return pieces


def _window(words) -> Piece:
    text = "".join(w.text for w in words).strip()
    packed = [[round(w.start, 2), round(w.end, 2), w.text.strip()] for w in words]
    return Piece("speech", float(words[0].start), float(words[-1].end), "s", text=text, words=packed)


def extract_audio_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Audio file -> transcript windows."""
    pieces, note, duration = extract_audio_track(path, cfg, models)
    return Extracted(pieces, duration=duration, note=note)


def extract_video_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Video -> sampled frames (visual + OCR spans) and its sound track's transcript."""
    from ..media.video import probe_video, sample_frames

    info = probe_video(path)
    stats: dict = {}
    strategy, frames = sample_frames(path, fps=cfg.frame_fps, max_frames=cfg.max_frames,
                                     strategy=cfg.frame_strategy, max_side=cfg.frame_max_side,
                                     info=info, stats=stats)
    step = 1.0 / cfg.frame_fps
    pieces = [Piece("frame", f.t, min(f.t + step, max(info.duration, f.t)), "s", image=f.image) for f in frames]
    pieces += ocr_spans(frames, models, step, info.duration)
    notes = [f"frames: {len(frames)} by {strategy}"]
    if info.declared_duration > info.duration + 1.0:
        notes.append(f"truncated: the file declares {info.declared_duration:.1f}s but holds {info.duration:.1f}s")
    if stats.get("errors") and frames:
        notes.append(f"damaged or truncated: indexed what decoded up to {frames[-1].t:.1f}s "
                     f"({str(stats['errors'][0])[:80]})")
    if info.has_audio:
        try:
            speech, note, _ = extract_audio_track(path, cfg, models)
        except MediaError as exc:
            speech, note = [], f"sound track not indexed: {exc.reason}"
        pieces += speech
        if note:
            notes.append(note)
    else:
        notes.append("no audio track")
    return Extracted(pieces, duration=info.duration, note="; ".join(notes))


def ocr_spans(frames, models: Models, step: float, duration: float) -> list[Piece]:
    """OCR frames whose look changed, and merge runs of identical text into one span."""
    ocr = models.ocr()
    if ocr is None or not frames:
        return []
    from .visual_change import changed

    spans: list[Piece] = []
    last_img, last_text = None, ""
    for f in frames:
        if last_img is None or changed(last_img, f.image):
            last_text = " ".join(ocr.read_text(f.image).split())
            last_img = f.image
        end = min(f.t + step, max(duration, f.t))
        if last_text and spans and spans[-1].text == last_text and f.t - spans[-1].end <= step + 0.01:
            spans[-1].end = end
        elif last_text:
            spans.append(Piece("ocr", f.t, end, "s", text=last_text))
    return spans


def words_json(words: list) -> str:
    """Compact JSON for the words column."""
    return json.dumps(words, separators=(",", ":")) if words else ""
