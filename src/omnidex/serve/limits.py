"""Bounded cost per request: query images and recordings cut down before any model sees them.

A query picture only needs a few hundred pixels a side (CLIP looks at 224), so it is decoded at a
reduced size where the format allows (JPEG ``draft``: 1/2..1/8 scale inside libjpeg) and reduced
right after decoding otherwise; pictures above :data:`MAX_QUERY_PIXELS` are refused from the header
alone. Full-size decodes take one of :data:`HEAVY_SLOTS` slots, and the C heap is handed back to
the system when the last one ends, so a burst of large queries neither stacks up nor stays resident;
at most :data:`HEAVY_QUEUE` more wait for a slot, and any further one is refused at once
(:class:`Busy`: 503 with ``Retry-After``) instead of queueing without limit. Searches run
:data:`SEARCH_WORKERS` at a time (:class:`SearchSlots`, sized to the machine's cores).
Query recordings are cut to :data:`MAX_QUERY_AUDIO_S` seconds. The caps on text (query length,
label count and length) live in :mod:`omnidex.caps`, shared with the command line, and are
re-exported here.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
import threading
import warnings
import wave
from contextlib import contextmanager
from pathlib import Path

from .._require import require
from ..caps import MAX_LABEL_CHARS, MAX_LABELS, MAX_LABELS_CHARS, MAX_QUERY_CHARS, check_labels, check_query
from ..errors import MediaError

__all__ = ["MAX_LABEL_CHARS", "MAX_LABELS", "MAX_LABELS_CHARS", "MAX_QUERY_CHARS", "check_labels", "check_query",
           "Busy", "HeavySlots", "SearchSlots", "bounded_audio", "bounded_image", "reduced_image", "trim_heap", "tune_heap"]

MAX_QUERY_PIXELS = 50_000_000  # query pictures above this are refused (ingest allows 64 Mpx); a 48 Mpx photo passes
QUERY_SIDE = 1280  # longest side of the picture a query is searched with (pixels)
HEAVY_SLOTS = 2  # full-size decodes (pictures, recordings, uploaded videos) at once, per process
HEAVY_QUEUE = 4  # requests that may wait for a heavy slot; one more is answered 503 at once
HEAVY_WAIT_S = 60.0  # a request waits this long for a slot, then gets 503
RETRY_AFTER_S = 5  # what a 503 tells the client to wait (seconds)
SEARCH_WORKERS = max(2, 2 * (os.cpu_count() or 1))  # searches at once: each waits on Lance I/O part of the time
MAX_QUERY_AUDIO_S = 30.0  # seconds of a query recording that are heard


class Busy(Exception):
    """No room for a heavy request now (the server says 503 with ``Retry-After``).

    Args:
        message: what is full, for the client.
        retry_after: seconds the client should wait before trying again.
    """

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_S):
        super().__init__(message)
        self.retry_after = int(retry_after)


class HeavySlots:
    """A bounded admission gate around full-size decodes that trims the C heap after each one.

    ``slots`` requests run; up to ``queue`` more wait (each at most ``wait_s``); any further one is
    refused at once with :class:`Busy`, so a burst never queues without limit.

    Args:
        slots: decodes allowed at once.
        wait_s: how long a waiting request waits for a slot before :class:`Busy`.
        queue: requests allowed to wait.
    """

    def __init__(self, slots: int = HEAVY_SLOTS, wait_s: float = HEAVY_WAIT_S, queue: int = HEAVY_QUEUE):
        tune_heap()
        self.slots, self.wait_s, self.queue = int(slots), float(wait_s), int(queue)
        self._cond = threading.Condition()
        self._busy = 0
        self._waiting = 0

    def admit(self) -> None:
        """Refuse now (:class:`Busy`) when every slot is taken and the queue is full; used before
        an upload is read, so a refused request costs nothing."""
        with self._cond:
            self._refuse_when_full()

    def _refuse_when_full(self) -> None:
        if self._busy >= self.slots and self._waiting >= self.queue:
            raise Busy(f"the server is busy with {self._busy} large requests and {self._waiting} waiting; "
                       f"try again in {RETRY_AFTER_S} s")

    @contextmanager
    def slot(self):
        """Hold one slot for the duration of the ``with`` block.

        Raises:
            Busy: the queue is full, or no slot came free within ``wait_s``.
        """
        self._acquire()
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            trim_heap()  # ~1 ms; what the decode freed leaves the process now

    def _acquire(self) -> None:
        import time

        with self._cond:
            self._refuse_when_full()
            deadline = time.monotonic() + self.wait_s
            self._waiting += 1
            try:
                while self._busy >= self.slots:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy("the server is busy with other large requests; try again in a minute",
                                   retry_after=max(RETRY_AFTER_S, int(self.wait_s)))
                    self._cond.wait(left)
                self._busy += 1
            finally:
                self._waiting -= 1

    def state(self) -> dict:
        """``{"slots", "busy", "waiting", "queue"}`` now (for ``/api/health``)."""
        with self._cond:
            return {"slots": self.slots, "busy": self._busy, "waiting": self._waiting, "queue": self.queue}


class SearchSlots:
    """How many searches run at once: more would only share the same cores (and each torch call
    would start its own threads); the rest wait their turn in arrival order.

    Args:
        workers: searches at once (default :data:`SEARCH_WORKERS`, ``$OMNIDEX_SEARCH_WORKERS``).
    """

    def __init__(self, workers: int | None = None):
        env = os.environ.get("OMNIDEX_SEARCH_WORKERS", "").strip()
        self.workers = max(1, int(workers or (int(env) if env.isdigit() else 0) or SEARCH_WORKERS))
        self._sem = threading.Semaphore(self.workers)

    @contextmanager
    def slot(self):
        """Hold one search slot for the duration of the ``with`` block."""
        with self._sem:
            yield


_LIBC = None
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD = 8 * 1024 * 1024  # blocks this large are mapped and unmapped on their own


def _libc():
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    return _LIBC


def trim_heap() -> None:
    """Give freed C heap pages back to the system (glibc ``malloc_trim``; a no-op elsewhere)."""
    libc = _libc()
    if libc and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def tune_heap() -> None:
    """Map large blocks on their own (glibc): a decoded picture's 16 MB blocks are then returned to
    the system when freed, instead of staying in a thread's heap once glibc's adaptive threshold has
    grown past them (which is why RSS did not come back after a burst). A no-op elsewhere."""
    libc = _libc()
    if libc and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def bounded_image(path: str | Path, name: str, out_dir: str | None = None) -> str:
    """The query picture as a file of at most :data:`QUERY_SIDE` pixels a side.

    Args:
        path: the picture (already checked to be an image by content).
        name: how the user calls it, for messages (never a temporary path).
        out_dir: where a reduced copy is written (default: the system's temporary folder).
    Returns:
        ``path`` itself when it is small already, else a new PNG the caller deletes.
    Raises:
        MediaError: too many pixels, or unreadable (the message names ``name``).
    """
    small = reduced_image(path, name, QUERY_SIDE, MAX_QUERY_PIXELS, keep_small=True)
    if small is None:
        return str(path)
    fd, out = tempfile.mkstemp(prefix="omnidex-query-", suffix=".png", dir=out_dir)
    with os.fdopen(fd, "wb") as fh:
        small.save(fh, format="PNG", compress_level=1)
    return out


def reduced_image(path: str | Path, name: str, side: int, max_pixels: int, keep_small: bool = False):
    """The first frame of a picture as upright RGB of at most ``side`` pixels a side, decoded at
    reduced size where the codec can (JPEG) and reduced right after decoding otherwise.

    Args:
        path: the picture.
        name: how the user calls it, for messages.
        side: longest side of the result.
        max_pixels: refuse larger canvases from the header alone.
        keep_small: return None (decode nothing) when the picture is already within ``side``.
    Raises:
        MediaError: too many pixels, or unreadable (the message names ``name``).
    """
    Image = require("PIL.Image", "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_query_pixels(name, im.size, max_pixels)
                if keep_small and max(im.size) <= side:
                    return None
                return _reduce(im, side)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(name, "image too large: decompression bomb refused before decoding") from exc
    except Image.UnidentifiedImageError as exc:
        raise MediaError(name, "not a recognised image format (corrupt or not an image)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(name, f"truncated or corrupt image ({type(exc).__name__})") from exc


def _check_query_pixels(name: str, size: tuple[int, int], max_pixels: int = MAX_QUERY_PIXELS) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(name, f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(name, f"image too large: {width}x{height} = {width * height:,} pixels "
                               f"(a query picture may have {max_pixels:,}; scale it down first)")


def _reduce(im, side: int):
    """Decode the first frame at reduced size (``draft`` where the codec can), upright RGB."""
    ImageOps = require("PIL.ImageOps", "image")
    Image = require("PIL.Image", "image")
    orientation = im.getexif().get(0x0112, 1)
    im.seek(0)
    im.draft("RGB", (side, side))  # JPEG: libjpeg scales while decoding; others ignore it
    im.load()
    small = im.copy() if max(im.size) <= side else None
    if small is None:
        factor = max(1, max(im.size) // side)
        small = im.reduce(factor) if factor > 1 else im.copy()
        small.thumbnail((side, side), Image.Resampling.LANCZOS)
    im.close()  # the full-size buffer goes now, not when the caller's frame ends
    if orientation != 1:
        small.getexif()[0x0112] = orientation
        small = ImageOps.exif_transpose(small)
    if small.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in small.info:
        rgba = small.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    if small.mode in ("I;16", "I;16B", "I;16L", "I"):
        small = small.point(lambda v: v / 256).convert("L")
    return small.convert("RGB")


def bounded_audio(path: str | Path, name: str, seconds: float = MAX_QUERY_AUDIO_S) -> str:
    """The first ``seconds`` of a query recording as a 16 kHz mono WAV the caller deletes.

    Args:
        path: audio (or video) file, already checked by content.
        name: how the user calls it, for messages.
        seconds: how much is kept.
    Raises:
        MediaError: no audio stream or nothing decodable (the message names ``name``).
    """
    import numpy as np

    samples = _first_seconds(path, name, seconds)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    fd, out = tempfile.mkstemp(prefix="omnidex-query-", suffix=".wav")
    os.close(fd)
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return out


def _first_seconds(path, name: str, seconds: float):
    """Mono float32 samples at 16 kHz of the first ``seconds`` of the first audio stream."""
    import numpy as np

    av = require("av", "video")
    want, chunks = int(seconds * 16000), []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise MediaError(name, "no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
            for frame in container.decode(container.streams.audio[0]):
                frame.pts = None
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
                if sum(c.size for c in chunks) >= want:
                    break
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many types; keep what decoded
        if not chunks:
            raise MediaError(name, f"unreadable audio ({type(exc).__name__})") from exc
    samples = np.concatenate(chunks)[:want] if chunks else np.zeros(0, np.float32)
    if samples.size < 160:
        raise MediaError(name, "the recording decoded to no sound")
    return samples.astype(np.float32)
