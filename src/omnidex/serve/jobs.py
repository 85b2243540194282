"""Index jobs: ingests run one at a time, at lower priority than searches, followed by polling or events.

A job runs either in a worker **process** (what ``omnidex serve`` does: started on the first job,
kept with its encoders loaded, niced and limited to fewer intra-op threads, so an ingest neither
holds the server's GIL nor takes the cores searches need) or in a background **thread** of the
server (lowered priority on Linux; tests and embedding apps). The queue is bounded: past
:data:`MAX_QUEUED_JOBS` waiting jobs a new one is refused with :class:`~omnidex.serve.limits.Busy`
(503 + ``Retry-After``) instead of piling up.

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
from .limits import Busy

STATES = ("queued", "running", "done", "failed")
KEEP_JOBS = 100  # finished jobs remembered
MAX_QUEUED_JOBS = 8  # jobs waiting behind the running one; more are refused (503)
INGEST_NICE = 10  # niceness of the ingest (process or thread): searches get the cores first
MODES = ("thread", "process")


def ingest_threads() -> int:
    """Intra-op threads of the ingest's torch / BLAS: half the cores (at least one)."""
    return max(1, (os.cpu_count() or 2) // 2)


class Jobs:
    """Queue and run index jobs against a :class:`~omnidex.serve.library.Library`.

    Args:
        library: the served library (its snapshot is refreshed after every commit).
        mode: ``"process"`` (a niced worker process with fewer threads) or ``"thread"``
            (a background thread of this process, niced on Linux).
        max_queued: jobs that may wait behind the running one before :meth:`start` refuses.
    """

    def __init__(self, library, mode: str = "thread", max_queued: int = MAX_QUEUED_JOBS):
        if mode not in MODES:
            raise ValueError(f"ingest mode must be one of {MODES}, not {mode!r}")
        self.library = library
        self.mode = mode
        self.max_queued = max_queued
        self._jobs: OrderedDict[str, dict] = OrderedDict()
        self._cond = threading.Condition()
        self._queue: list[tuple[str, list[str], bool]] = []
        self._worker: threading.Thread | None = None
        self._writer = None  # thread mode: one omnidex.Index reused across jobs (its encoders stay loaded)
        self._process: _WorkerProcess | None = None  # process mode: the ingest process, kept between jobs

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
            Busy: :data:`MAX_QUEUED_JOBS` jobs are already waiting.
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
            if len(self._queue) >= self.max_queued:
                raise Busy(f"{len(self._queue)} index jobs are already waiting; try again when one is done",
                           retry_after=30)
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

    def close(self, timeout: float = 10.0) -> None:
        """Stop the ingest process, if any (server shutdown); a running job is ended with it."""
        proc, self._process = self._process, None
        if proc is not None:
            proc.stop(timeout)

    # ----- the worker ------------------------------------------------------------------------
    def _update(self, job_id: str, **fields) -> None:
        with self._cond:
            job = self._jobs[job_id]
            job.update(fields)
            job["seq"] += 1
            self._cond.notify_all()

    def _run_queue(self) -> None:
        if self.mode == "thread":
            _lower_thread_priority()
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
            run = self._run_in_process if self.mode == "process" else self._run_in_thread
            summary, files = run(job_id, paths, prune)
            self.library.refresh()
            state = "failed" if summary["interrupted"] else "done"
            self._update(job_id, state=state, files=files, report=summary, current="", finished=time.time(),
                         error="interrupted" if summary["interrupted"] else None)
        except Exception as exc:  # noqa: BLE001 - a job reports its failure, the server goes on
            message = str(exc) if isinstance(exc, _JobFailed) else failure_message(exc, self.library.db)
            self._update(job_id, state="failed", error=message, finished=time.time(), current="")
            try:
                self.library.refresh()
            except Exception:  # noqa: BLE001
                pass

    def _progress(self, job_id: str):
        def progress(done: int, total: int, current: str) -> None:
            self._update(job_id, done=done, total=total, current=current)

        return progress

    def _run_in_thread(self, job_id: str, paths: list[str], prune: bool) -> tuple[dict, list]:
        report = self._writer_index().add(paths, prune=prune, progress=self._progress(job_id))
        return _summary(report), [asdict(o) for o in report.outcomes]

    def _run_in_process(self, job_id: str, paths: list[str], prune: bool) -> tuple[dict, list]:
        config = self.library.ingest_config()
        if self._process is None or not self._process.usable(config):
            if self._process is not None:
                self._process.stop()
            self._process = _WorkerProcess(self.library.db, config)
        return self._process.run(paths, prune, self._progress(job_id), self.library.refresh)

    def _writer_index(self):
        """The writing index; its store tells the library after each committed batch."""
        if self._writer is None:
            from ..api import Index

            index = Index(self.library.db, self.library.ingest_config())
            _on_commit(index.store, self.library.refresh)
            self._writer = index
        return self._writer

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j["state"] in ("done", "failed")]
        for k in finished[: max(0, len(self._jobs) - KEEP_JOBS)]:
            del self._jobs[k]


class _JobFailed(Exception):
    """A job failed in the worker process; the message is already the one the user reads."""


def failure_message(exc: BaseException, db) -> str:
    """What a failed job says: the cause in words and what to do (disk full, permission lost:
    :func:`omnidex.errors.write_fault`, the same line ``omnidex index`` prints)."""
    if isinstance(exc, OmnidexError):
        return str(exc)
    return write_fault(exc, db) or traceback.format_exception_only(type(exc), exc)[-1].strip()


def _summary(report) -> dict:
    return {k: v for k, v in report.to_dict().items() if k != "files"}


def _on_commit(store, tell) -> None:
    """Call ``tell()`` after every batch ``store`` commits."""
    def commit(*args, **kwargs):
        Store.commit(store, *args, **kwargs)
        tell()

    store.commit = commit


def _lower_thread_priority(nice: int = INGEST_NICE) -> None:
    """Lower the calling thread's scheduling priority (Linux niceness is per thread; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass


# ----- the ingest process ------------------------------------------------------------------------
class _WorkerProcess:
    """A spawned process that runs index jobs one at a time and reports over a pipe.

    Args:
        db: database directory.
        config: the ingest configuration (the process is replaced when it changes).
    """

    def __init__(self, db, config):
        from .children import spawn

        self.config = config
        self.conn, self.proc = spawn(worker_main, (str(db), config, INGEST_NICE, ingest_threads()), "omnidex-ingest")

    def usable(self, config) -> bool:
        return self.config == config and self.proc.is_alive()

    def run(self, paths, prune: bool, progress, committed) -> tuple[dict, list]:
        """Run one job; ``progress`` and ``committed`` are called here as the process reports.

        Raises:
            _JobFailed: the job failed there (message as the user reads it) or the process died.
        """
        self.conn.send(("index", list(paths), bool(prune)))
        while True:
            if not self.conn.poll(0.5):
                if not self.proc.is_alive():
                    raise _JobFailed(f"the ingest process stopped (exit code {self.proc.exitcode}); "
                                     "files committed before stay indexed, run the job again for the rest")
                continue
            try:
                kind, *rest = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise _JobFailed("the ingest process stopped; files committed before stay indexed, "
                                 "run the job again for the rest") from exc
            if kind == "progress":
                progress(*rest)
            elif kind == "commit":
                committed()
            elif kind == "done":
                return rest[0], rest[1]
            elif kind == "failed":
                raise _JobFailed(rest[0])

    def stop(self, timeout: float = 10.0) -> None:
        from .children import stop

        stop(self.conn, self.proc, ("stop",), timeout)


def worker_main(conn, db: str, config, nice: int, threads: int) -> None:
    """Entry point of the ingest process: lower priority and thread counts, then serve jobs from ``conn``."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        os.nice(nice)
    except OSError:
        pass
    index, lock = None, threading.Lock()

    def send(*msg) -> None:  # progress and commits may come from an engine's threads
        with lock:
            conn.send(msg)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] != "index":
            return
        _, paths, prune = msg
        try:
            if index is None:
                from ..api import Index

                index = Index(db, config)
                _on_commit(index.store, lambda: send("commit"))
                _limit_torch(threads)
            report = index.add(paths, prune=prune, progress=lambda d, t, c: send("progress", d, t, c))
            send("done", _summary(report), [asdict(o) for o in report.outcomes])
        except Exception as exc:  # noqa: BLE001 - reported to the server, the process goes on
            send("failed", failure_message(exc, db))


def _limit_torch(threads: int) -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
