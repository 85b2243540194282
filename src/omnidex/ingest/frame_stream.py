"""Embed video frames with the visual encoder while the video is still being decoded.

The decoding thread hands each picked frame to :class:`FrameStream` as soon as it is converted;
a background thread embeds them in batches (torch releases the GIL inside its kernels, PyAV
inside the decoder), so CLIP time overlaps decode time instead of following it. A bounded queue
holds the decoder back when the encoder falls behind (memory stays flat on long videos).
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

    def __init__(self, encoder, batch: int = 16, max_queue: int = 128):
        self.encoder, self.batch = encoder, max(1, int(batch))
        self.error: BaseException | None = None
        self._aborted = False
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(max_queue)))
        self._done: dict[int, tuple[object, np.ndarray]] = {}  # id(frame) -> (frame kept alive, vector)
        self._thread = threading.Thread(target=self._loop, name="omnidex-frame-encoder", daemon=True)
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
            vectors = self.encoder.encode_image([f.image for f in frames])
        except BaseException as exc:  # noqa: BLE001 - reported through finish(); embedding retries
            self.error = exc
            return
        for f, v in zip(frames, vectors):
            self._done[id(f)] = (f, v)
        timing.add("clip", time.perf_counter() - t0, len(frames))

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
