"""Embed (and read) video frames while the video is still being decoded.

The decoding thread hands each picked frame to :class:`FrameStream` as soon as it is converted;
a background thread embeds them in batches (torch releases the GIL inside its kernels, PyAV
inside the decoder), so CLIP time overlaps decode time instead of following it. A bounded queue
holds the decoder back when the encoder falls behind (memory stays flat on long videos).
:class:`OcrStream` does the same for OCR: on-screen text is read in another thread while decoding
goes on, instead of after it (video with OCR on: the text reader no longer waits for the scan).
"""
from __future__ import annotations

import queue
import threading
import time

import numpy as np

from . import timing

_END = object()


class FrameStream:
    """A background encoder of frames; ``put`` from the decoding thread, ``finish`` at the end.

    Args:
        encoder: an image encoder (``encode_image(list of PIL) -> (n, d)`` float32).
        batch: frames per forward pass.
        max_queue: frames waiting at most (the producer blocks beyond it).
    """

    stage = "clip"  # the ingest timing stage its work counts under

    def __init__(self, encoder, batch: int = 16, max_queue: int = 128):
        self.encoder, self.batch = encoder, max(1, int(batch))
        self.error: BaseException | None = None
        self._aborted = False
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(max_queue)))
        self._done: dict[int, tuple[object, np.ndarray]] = {}  # id(frame) -> (frame kept alive, vector)
        self._thread = threading.Thread(target=self._loop, name=f"omnidex-frame-{self.stage}", daemon=True)
        self._thread.start()

    def put(self, frame) -> None:
        """Queue one frame (an object with a PIL ``image``) for embedding."""
        self._queue.put(frame)

    def _loop(self) -> None:
        pending: list = []
        while True:
            item = self._queue.get()
            if item is not _END:
                pending.append(item)
            if pending and (item is _END or len(pending) >= self.batch):
                self._encode(pending)
                pending = []
            if item is _END:
                return

    def _encode(self, frames: list) -> None:
        if self.error is not None or self._aborted:
            return  # keep draining so the producer never blocks; the caller falls back
        t0 = time.perf_counter()
        try:
            vectors = self._work(frames)
        except BaseException as exc:  # noqa: BLE001 - reported through finish(); the caller retries
            self.error = exc
            return
        for f, v in zip(frames, vectors):
            self._done[id(f)] = (f, v)
        timing.add(self.stage, time.perf_counter() - t0, len(frames))

    def _work(self, frames: list) -> list:
        return list(self.encoder.encode_image([f.image for f in frames]))

    def finish(self, frames: list) -> list:
        """Wait for the queue to drain and return the vector of each of ``frames`` (None for a frame
        that never went through the stream, or for all of them after an encoder error)."""
        self.close()
        if self.error is not None:
            return [None] * len(frames)
        return [self._done[id(f)][1] if id(f) in self._done else None for f in frames]

    def abort(self) -> None:
        """Drop the frames still queued and stop (the decode failed or was interrupted)."""
        self._aborted = True
        self.close()

    def close(self) -> None:
        """Stop the background thread after the frames already queued (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()


class OcrStream(FrameStream):
    """Reads the text of frames in a background thread, in order; a frame that looks like the last
    one read (:func:`visual_change.changed`) gets that frame's text without another OCR pass.
    ``finish(frames)`` returns one text per frame (whitespace-normalised; None for a frame that
    never went through the stream, or for all of them after an OCR error).

    Args:
        ocr: the OCR reader (``read_text(PIL) -> str``; ``read_texts(list) -> list`` when it has it).
        batch: frames read per call.
        max_queue: frames waiting at most.
    """

    stage = "ocr"

    def __init__(self, ocr, batch: int = 4, max_queue: int = 64):
        self._last_img, self._last_text = None, ""
        super().__init__(ocr, batch, max_queue)

    def _work(self, frames: list) -> list:
        from .visual_change import changed

        fresh = []  # indices of frames that need a reading: changed from the last one read
        last = self._last_img
        for i, f in enumerate(frames):
            if last is None or changed(last, f.image):
                fresh.append(i)
                last = f.image
        images = [frames[i].image for i in fresh]
        timing.add("ocr_read", 0.0, len(images))  # frames read in full (the rest reuse the text before)
        read = getattr(self.encoder, "read_texts", None)
        texts = read(images) if read else [self.encoder.read_text(im) for im in images]
        out, k = [], 0
        for i in range(len(frames)):
            if k < len(fresh) and fresh[k] == i:
                self._last_text = " ".join(texts[k].split())
                k += 1
            out.append(self._last_text)
        self._last_img = last
        return out
