"""JPEG thumbnails of indexed files: a video frame, the image itself, a waveform, a text card.

Rendering never raises for a damaged file: a card naming the problem is drawn instead, so a
result list always has a picture. Results are kept in a small in-memory LRU cache.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

from .._require import require
from ..errors import OmnidexError

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CARD_BG, CARD_FG, WAVE = (32, 34, 40), (230, 230, 230), (90, 170, 250)
MIN_WIDTH, MAX_WIDTH = 16, 1920


class ThumbCache:
    """A thread-safe LRU of rendered JPEG bytes.

    Args:
        max_items: entries kept.
        max_bytes: total bytes kept (older entries leave first).
    """

    def __init__(self, max_items: int = 1024, max_bytes: int = 64 * 1024 * 1024):
        self.max_items, self.max_bytes = max_items, max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        """Cached bytes for ``key`` (and mark them recently used), or None."""
        with self._lock:
            data = self._items.get(key)
            if data is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: tuple, data: bytes) -> None:
        """Store bytes, evicting the least recently used entries beyond the limits."""
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= len(old) if old else 0
            self._items[key] = data
            self._bytes += len(data)
            while self._items and (len(self._items) > self.max_items or self._bytes > self.max_bytes):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)


def render_thumbnail(path: str | Path, kind: str, t: float | None, width: int, duration: float = 0.0) -> bytes:
    """JPEG bytes showing a file at time ``t``.

    Args:
        path: the file (already checked to be servable).
        kind: file kind from the index: image, video, audio or text.
        t: seconds (video frame / audio marker); None = a representative instant.
        width: output width in pixels (clamped to 16..1920).
        duration: the file's duration from the index (seconds), to clamp ``t``.
    Returns:
        JPEG bytes.
    """
    width = max(MIN_WIDTH, min(MAX_WIDTH, int(width)))
    try:
        if kind == "video":
            image = _video_frame(path, t, duration)
        elif kind == "image":  # decoded at reduced size (JPEG draft), never a full-size RGB copy
            from ..media.image import DEFAULT_MAX_PIXELS
            from .limits import reduced_image

            image = reduced_image(path, Path(path).name, max(width, 64), DEFAULT_MAX_PIXELS)
        elif kind == "audio":
            image = _waveform(path, t, width)
        else:
            image = _text_card(path, width)
    except (OmnidexError, OSError, ValueError) as exc:
        image = _card(f"{Path(path).name}\n{kind or 'file'}: no preview\n{exc}", width)
    return _jpeg(image, width)


def _jpeg(image, width: int) -> bytes:
    Image = require("PIL.Image", "image")
    height = max(1, round(width * image.height / max(1, image.width)))
    image = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _video_frame(path, t: float | None, duration: float):
    from ..media.contact import frame_at
    from ..media.video import probe_video

    info = probe_video(path)
    end = info.start_time + info.duration
    t = info.start_time + min(1.0, info.duration / 3) if t is None else float(t)
    t = min(max(t, info.start_time), max(info.start_time, end - 1e-3))
    return frame_at(path, t)


def _waveform(path, t: float | None, width: int):
    """Min/max envelope of the sound, with a marker at ``t``."""
    import numpy as np

    from ..media.audio import load_audio

    Image = require("PIL.Image", "image")
    ImageDraw = require("PIL.ImageDraw", "image")
    sr = 8000
    samples = load_audio(path, sr=sr)
    w, h = max(width, 64), max(width // 3, 32)
    image = Image.new("RGB", (w, h), CARD_BG)
    draw = ImageDraw.Draw(image)
    cols = np.array_split(samples, w) if samples.size >= w else [samples]
    for x, col in enumerate(cols):
        if col.size:
            lo, hi = float(col.min()), float(col.max())
            draw.line([(x, h / 2 - hi * h / 2), (x, h / 2 - lo * h / 2)], fill=WAVE)
    if t is not None and samples.size:
        x = int(min(max(float(t) * sr / samples.size, 0.0), 1.0) * (w - 1))
        draw.line([(x, 0), (x, h)], fill=(250, 80, 80), width=2)
    return image


def _text_card(path, width: int):
    from ..media.text import read_text

    lines = read_text(path, max_bytes=4096).splitlines()
    return _card("\n".join([Path(path).name, ""] + lines[:14]), width)


def _card(text: str, width: int):
    """A dark card with the text wrapped to fit."""
    Image = require("PIL.Image", "image")
    ImageDraw = require("PIL.ImageDraw", "image")
    ImageFont = require("PIL.ImageFont", "image")
    w = max(width, 160)
    h = round(w * 3 / 4)
    size = max(9, w // 24)
    font = ImageFont.truetype(str(FONT), size) if FONT.exists() else ImageFont.load_default(size)
    image = Image.new("RGB", (w, h), CARD_BG)
    draw = ImageDraw.Draw(image)
    chars = max(8, int(w / (size * 0.6)))
    y = size // 2
    for raw in text.splitlines():
        for i in range(0, max(1, len(raw)), chars):
            if y > h - size:
                return image
            draw.text((size // 2, y), raw[i:i + chars], fill=CARD_FG, font=font)
            y += int(size * 1.3)
    return image
