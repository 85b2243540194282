"""The per-file work of an ingest, as pure picklable steps, and the local engine that runs them.

The driver (:mod:`.pipeline`) decides what to do with each file and is the only writer; an engine
turns :class:`WorkItem` s into :class:`FileResult` s. A file's work is two steps:
:func:`decode_file` (sniff, decode, segment, OCR, transcribe: CPU, releases the GIL in PyAV,
Pillow, ONNX Runtime and CTranslate2) and :func:`embed_file` (the vector encoders). The local
engine overlaps them: while file *i* is embedded, file *i+1* is decoded in a background thread.
The Ray engine (:mod:`.ray_engine`) runs the same two steps as tasks and actors.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import Iterable, Iterator

from .._env import cores, set_torch_threads
from ..config import IndexConfig
from ..errors import MediaError, OmnidexError
from ..series.ingest import extract_series_file
from .embed import embed_pieces
from ..types import Extracted
from .extract import (extract_audio_file, extract_image_file, extract_text_file,
                      extract_video_file)
from ..spaces import Models


def extract_series_or_text(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """A series file; with series indexing off, a numeric text table is indexed as a document."""
    return extract_series_file(path, cfg, models) or extract_text_file(path, cfg, models)


# sniffed media kind -> segmenter (file -> pieces); a new media kind is one entry here
EXTRACTORS = {"image": extract_image_file, "video": extract_video_file,
              "audio": extract_audio_file, "text": extract_text_file, "series": extract_series_or_text}
UNSUPPORTED = "unsupported content (not image, video, audio or text)"


@dataclass(frozen=True)
class WorkItem:
    """One file the driver decided to (re-)index: everything a worker needs, nothing it must not touch."""

    index: int  # position of the file in the walk (outcomes are reported in this order)
    path: str  # absolute path, readable by the worker
    sha256: str  # content hash (segment ids derive from it)
    size: int  # bytes at decision time
    mtime: float  # modification time at decision time
    replace: bool  # the path had rows before: the commit replaces them


@dataclass
class FileResult:
    """What the work on one file produced; the driver turns it into store rows."""

    item: WorkItem
    status: str  # "indexed" | "skipped" | "failed"
    reason: str = ""  # why skipped/failed, or the extraction note
    kind: str = ""  # sniffed kind: image | video | audio | text | series
    rows: dict = field(default_factory=dict)  # space -> segment rows (with "vector")
    duration: float = 0.0  # media duration in seconds
    info: str = ""  # JSON facts stored with the file (shots, language, sampling)
    specs: dict = field(default_factory=dict)  # space -> EncoderSpec that filled it
    notices: list = field(default_factory=list)  # the worker's once-per-run warnings
    decode_s: float = 0.0  # wall seconds spent decoding
    embed_s: float = 0.0  # wall seconds spent embedding
    retry: bool = False  # not recorded in the store, so the next run tries the file again (a lost worker)


@dataclass
class Decoded:
    """Output of :func:`decode_file`: the pieces to embed, or the file's final result."""

    item: WorkItem
    kind: str = ""
    extracted: Extracted | None = None  # None when ``result`` is set
    result: FileResult | None = None  # skipped/failed before embedding
    decode_s: float = 0.0
    notices: list = field(default_factory=list)  # the decoding process's warnings, when it is another one


def failure_reason(exc: BaseException) -> str:
    """The reason recorded for a file whose work raised ``exc``."""
    if isinstance(exc, MediaError):
        return exc.reason
    if isinstance(exc, OmnidexError):
        return str(exc)
    detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return f"unexpected error: {detail}"


def decode_file(item: WorkItem, cfg: IndexConfig, models: Models) -> Decoded:
    """Sniff, decode and segment one file (OCR and speech included); never raises for a bad file.

    Args:
        item: the file.
        cfg: ingest configuration (the same on every worker).
        models: encoders of this process (OCR, Whisper, and encoders whose settings shape pieces).
    Returns:
        The pieces, or a skipped/failed result.
    """
    from ..media.sniff import sniff

    t0 = time.perf_counter()
    kind = ""
    try:
        kind = sniff(Path(item.path))
        if kind not in EXTRACTORS:
            return Decoded(item, kind, result=FileResult(item, "skipped", UNSUPPORTED, kind))
        ext = EXTRACTORS[kind](Path(item.path), cfg, models)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
        status = "skipped" if isinstance(exc, MediaError) and not kind else "failed"
        return Decoded(item, kind, result=FileResult(item, status, failure_reason(exc), kind))
    return Decoded(item, kind, ext, decode_s=time.perf_counter() - t0)


def embed_file(decoded: Decoded, models: Models) -> FileResult:
    """Embed the pieces of a decoded file into rows per vector space; never raises for a bad file.

    Args:
        decoded: output of :func:`decode_file`.
        models: the vector encoders.
    Returns:
        The file's result, with the identity (EncoderSpec) of every space it filled.
    """
    item, kind, ext = decoded.item, decoded.kind, decoded.extracted
    notices = list(dict.fromkeys(decoded.notices + models.notices))
    if decoded.result is not None:
        decoded.result.notices = notices
        return decoded.result
    t0 = time.perf_counter()
    base = {"path": item.path, "sha256": item.sha256, "mtime": item.mtime, "kind": kind, "batch": ""}
    try:
        rows = embed_pieces(ext, base, models)
        specs = {space: models.spec(space) for space in rows}
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
        return FileResult(item, "failed", failure_reason(exc), kind, notices=notices, decode_s=decoded.decode_s)
    info = json.dumps(ext.info, separators=(",", ":")) if ext.info else ""
    return FileResult(item, "indexed", ext.note, kind, rows, float(ext.duration), info, specs,
                      list(dict.fromkeys(notices + models.notices)), decoded.decode_s, time.perf_counter() - t0)


def process_file(item: WorkItem, cfg: IndexConfig, models: Models) -> FileResult:
    """Decode then embed one file: the whole per-file work, for any engine.

    Args:
        item: the file.
        cfg: ingest configuration.
        models: encoders.
    Returns:
        The file's result (never raises for a bad file).
    """
    return embed_file(decode_file(item, cfg, models), models)


available_cores = cores  # the cores this process may use (see omnidex._env)


class _Worker:
    """One daemon thread running submitted calls in order (a killed ingest never waits on it)."""

    def __init__(self):
        self._jobs: SimpleQueue = SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="omnidex-decode", daemon=True)
        self._thread.start()

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self._jobs.put((fut, fn, args))
        return fut

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fut, fn, args = job
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                    fut.set_exception(exc)

    def close(self, pending: Iterable[Future] = ()) -> None:
        """Cancel queued calls and let the thread end after the current one."""
        for fut in pending:
            fut.cancel()
        self._jobs.put(None)


class LocalEngine:
    """Runs the per-file work in this process, decoding ``prefetch`` files ahead of the encoder.

    Args:
        cfg: ingest configuration.
        models: encoders (shared by both threads; built lazily under their lock).
        prefetch: files decoded ahead in a background thread; 0 runs everything sequentially.
    """

    name = "local"

    def __init__(self, cfg: IndexConfig, models: Models, prefetch: int = 1):
        self.cfg, self.models, self.prefetch = cfg, models, max(0, int(prefetch))
        self.threads = 0  # torch threads, set when the first file arrives

    def run(self, items: Iterable[WorkItem]) -> Iterator[FileResult]:
        """Results in the order of ``items`` (which are pulled from the caller's thread)."""
        items = iter(items)
        first = next(items, None)
        if first is None:
            return
        self.threads = set_torch_threads()
        items = itertools.chain([first], items)
        if self.prefetch == 0:
            for item in items:
                yield process_file(item, self.cfg, self.models)
            return
        worker, ahead = _Worker(), deque()
        try:
            for item in items:
                ahead.append(worker.submit(decode_file, item, self.cfg, self.models))
                if len(ahead) > self.prefetch:
                    yield embed_file(ahead.popleft().result(), self.models)
            while ahead:
                yield embed_file(ahead.popleft().result(), self.models)
        finally:
            worker.close(ahead)
