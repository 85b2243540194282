"""Index jobs: ingests run one at a time in a background thread, followed by polling or events.

Readers are never blocked: after every committed batch the library moves its snapshot forward,
so searches see files as they land, and never a half-written one.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import asdict

from ..errors import OmnidexError, write_fault
from ..store.lance import Store

STATES = ("queued", "running", "done", "failed")
KEEP_JOBS = 100  # finished jobs remembered


class Jobs:
    """Queue and run index jobs against a :class:`~omnidex.serve.library.Library`.

    Args:
        library: the served library (its snapshot is refreshed after every commit).
    """

    def __init__(self, library):
        self.library = library
        self._jobs: OrderedDict[str, dict] = OrderedDict()
        self._cond = threading.Condition()
        self._queue: list[tuple[str, list[str], bool]] = []
        self._worker: threading.Thread | None = None
        self._writer = None  # one omnidex.Index reused across jobs (its encoders stay loaded)

    def start(self, paths: list[str], prune: bool = False) -> str:
        """Queue an ingest of ``paths``; it starts when the jobs before it are done.

        Args:
            paths: files or folders (absolute, or relative to the server's working folder).
            prune: also remove rows of files under these paths that no longer exist.
        Returns:
            The job id.
        Raises:
            PermissionError: a path lies outside the library's roots.
            ValueError: no paths, or a path that is not a string.
        """
        if isinstance(paths, (str, bytes)) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise ValueError("give a non-empty list of file or folder paths")
        resolved = [os.path.abspath(os.path.expanduser(p)) for p in paths]
        outside = [p for p in resolved if not self.library.allowed(p)]
        if outside:
            from .library import OutsideRoots

            raise OutsideRoots(f"outside the served roots: {', '.join(outside[:3])}", self.library.roots)
        job_id = uuid.uuid4().hex[:12]
        with self._cond:
            self._jobs[job_id] = {"job_id": job_id, "state": "queued", "done": 0, "total": 0, "current": "",
                                  "files": [], "error": None, "paths": resolved, "prune": bool(prune),
                                  "created": time.time(), "started": None, "finished": None,
                                  "report": None, "seq": 0}
            self._queue.append((job_id, resolved, bool(prune)))
            self._trim()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run_queue, name="omnidex-ingest", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        return job_id

    def status(self, job_id: str) -> dict:
        """A copy of the job's state.

        Raises:
            KeyError: unknown job id.
        """
        with self._cond:
            if job_id not in self._jobs:
                raise KeyError(f"no job with id {job_id!r}")
            job = self._jobs[job_id]
            return {**job, "files": list(job["files"])}

    def wait(self, job_id: str, timeout: float | None = None) -> dict:
        """Block until the job is done or failed (or ``timeout`` seconds passed); its state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.status(job_id)["state"] not in ("done", "failed"):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return self.status(job_id)

    def changed(self, job_id: str, seq: int, timeout: float) -> dict:
        """Block until the job's state differs from ``seq`` (or ``timeout``); its state.

        Raises:
            KeyError: unknown job id.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.status(job_id)["seq"] == seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self.status(job_id)

    def running(self) -> bool:
        """Whether a job is queued or running."""
        with self._cond:
            return any(j["state"] in ("queued", "running") for j in self._jobs.values())

    # ----- the worker ------------------------------------------------------------------------
    def _update(self, job_id: str, **fields) -> None:
        with self._cond:
            job = self._jobs[job_id]
            job.update(fields)
            job["seq"] += 1
            self._cond.notify_all()

    def _run_queue(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._worker = None
                    return
                job_id, paths, prune = self._queue.pop(0)
            self._run_one(job_id, paths, prune)

    def _run_one(self, job_id: str, paths: list[str], prune: bool) -> None:
        self._update(job_id, state="running", started=time.time())
        try:
            index = self._writer_index()

            def progress(done: int, total: int, current: str) -> None:
                self._update(job_id, done=done, total=total, current=current)

            report = index.add(paths, prune=prune, progress=progress)
            self.library.refresh()
            summary = {k: v for k, v in report.to_dict().items() if k != "files"}
            state = "failed" if report.interrupted else "done"
            self._update(job_id, state=state, files=[asdict(o) for o in report.outcomes], report=summary,
                         current="", finished=time.time(), error="interrupted" if report.interrupted else None)
        except Exception as exc:  # noqa: BLE001 - a job reports its failure, the server goes on
            self._update(job_id, state="failed", error=self._failure(exc), finished=time.time(), current="")
            try:
                self.library.refresh()
            except Exception:  # noqa: BLE001
                pass

    def _failure(self, exc: Exception) -> str:
        """What a failed job says: the cause in words and what to do (disk full, permission lost:
        :func:`omnidex.errors.write_fault`, the same line ``omnidex index`` prints)."""
        if isinstance(exc, OmnidexError):
            return str(exc)
        return write_fault(exc, self.library.db) or traceback.format_exception_only(type(exc), exc)[-1].strip()

    def _writer_index(self):
        """The writing index; its store tells the library after each committed batch."""
        if self._writer is None:
            from ..api import Index

            index = Index(self.library.db, self.library.ingest_config())
            store, library = index.store, self.library

            def commit(*args, **kwargs):
                Store.commit(store, *args, **kwargs)
                library.refresh()

            store.commit = commit
            self._writer = index
        return self._writer

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j["state"] in ("done", "failed")]
        for k in finished[: max(0, len(self._jobs) - KEEP_JOBS)]:
            del self._jobs[k]
