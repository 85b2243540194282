"""Text searches in worker processes, one per core, so concurrent searches use every core.

One search is mostly Python (fusion, the reranker, the hit dicts, the HTTP layer around it)
holding its process's GIL between short native calls (Lance, ONNX Runtime): in one process,
concurrent searches queue on the GIL and a second core stays half idle. Here the server process
keeps HTTP, validation and everything else, and hands each plain text search to an idle worker
process, which has its own GIL, its own open index and its own query models.

Each worker runs its native work on one thread (``OMP_NUM_THREADS=1`` for ONNX Runtime,
``LANCE_CPU_THREADS=1`` for Lance): one short query gains little from a second thread and pays for
waking it, and with a worker per core the cores are already shared out. A worker searches exactly
the committed versions the server's snapshot holds (sent with each request), so hits and the
server's ``/api/items`` always agree.

While the workers start (spawned, then loading their models: a few seconds), or when one dies,
searches run in the server process as before; a dead worker is replaced in the background.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path

from .children import spawn, stop

log = logging.getLogger("omnidex.serve")

# native threads per worker (ONNX Runtime intra-op, Lance CPU pool); $OMNIDEX_SEARCH_THREADS overrides
WORKER_THREADS = int(os.environ.get("OMNIDEX_SEARCH_THREADS", "").strip() or 1)
WORKER_NICE = 0


def default_workers() -> int:
    """Worker processes for this machine: one per core this process may use (``$OMNIDEX_SEARCH_PROCESSES``
    overrides; 0 keeps searches in the server process)."""
    env = os.environ.get("OMNIDEX_SEARCH_PROCESSES", "").strip()
    if env.isdigit():
        return int(env)
    from .._env import cores

    return cores()


def attach(library, processes: int | None = None) -> "SearchPool | None":
    """Give ``library`` (an :class:`omnidex.serve.library.Library`) a pool of ``processes`` search
    workers (default :func:`default_workers`; 0: none), started now in the background; its text
    searches go to them from then on (``library.close_pool()`` stops them).

    Returns:
        The pool, or None for 0 processes.
    """
    processes = default_workers() if processes is None else processes
    if processes <= 0:
        return None
    library.pool = SearchPool(library.db, roots=library.explicit_roots, config=library.config,
                              workers=processes).start()
    return library.pool


class _Worker:
    """One spawned search process and the server's end of its pipe."""

    def __init__(self, db: str, roots, config, number: int):
        self.conn, self.proc = spawn(worker_main, (db, roots, config), f"omnidex-search-{number}")

    def wait_ready(self, timeout: float) -> str | None:
        """None once the worker says it is ready; otherwise why it is not."""
        if not self.conn.poll(timeout):
            return f"not ready after {timeout:.0f} s"
        try:
            kind, *rest = self.conn.recv()
        except (EOFError, OSError):
            return f"stopped while starting (exit code {self.proc.exitcode})"
        return None if kind == "ready" else str(rest[0] if rest else kind)

    def ask(self, request: tuple) -> tuple:
        """Send one search and wait for its answer: ``("ok", hits)``, ``("error", exception)`` or
        ``("lost", None)`` when the worker died."""
        try:
            self.conn.send(request)
            return self.conn.recv()
        except (EOFError, OSError):
            return "lost", None

    def stop(self, timeout: float = 5.0) -> None:
        stop(self.conn, self.proc, None, timeout)


class SearchPool:
    """Worker processes that answer text searches of one index.

    Args:
        db: database directory.
        roots: the served roots (as given to the server's Library).
        config: the server's ingest configuration (the workers open the index with it).
        workers: processes to run (see :func:`default_workers`).
        start_timeout: seconds a worker may take to start and load its models.
    """

    def __init__(self, db, roots=None, config=None, workers: int | None = None, start_timeout: float = 300.0):
        self.db = str(Path(db).expanduser().absolute())
        self.roots = list(roots) if roots else None
        self.config = config
        self.size = default_workers() if workers is None else int(workers)
        self.start_timeout = start_timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()  # the worker that answered last goes next: its caches are warm
        self._lock = threading.Lock()
        self._ready = 0
        self._started = 0
        self._failures: list[str] = []
        self._closed = False
        self._answered = 0
        self._busy: set = set()
        self._starters: list[threading.Thread] = []

    # ----- life cycle -------------------------------------------------------------------------
    def start(self) -> "SearchPool":
        """Start every worker in the background (searches run in the server until they are ready)."""
        for _ in range(self.size):
            self._start_one()
        return self

    def _start_one(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._started += 1
            number = self._started
        t = threading.Thread(target=self._bring_up, args=(number,), name=f"omnidex-search-start-{number}", daemon=True)
        self._starters.append(t)
        t.start()

    def _bring_up(self, number: int) -> None:
        try:
            worker = _Worker(self.db, self.roots, self.config, number)
        except Exception as exc:  # noqa: BLE001 - a worker that cannot start leaves searches in the server
            self._failed(f"worker {number} could not start: {type(exc).__name__}: {exc}")
            return
        why = worker.wait_ready(self.start_timeout)
        if why is not None:
            worker.stop(timeout=1.0)
            self._failed(f"worker {number}: {why}")
            return
        with self._lock:
            if self._closed:
                worker.stop()
                return
            self._ready += 1
        self._idle.put(worker)

    def _failed(self, message: str) -> None:
        log.warning("omnidex search worker: %s (searches run in the server process)", message)
        with self._lock:
            self._failures = (self._failures + [message[:300]])[-5:]

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Block until every worker is up (or has failed); True when all are ready."""
        end = time.monotonic() + timeout
        for t in list(self._starters):
            t.join(max(0.0, end - time.monotonic()))
        return self.ready == self.size

    @property
    def ready(self) -> int:
        """Workers ready to search."""
        with self._lock:
            return self._ready

    def state(self) -> dict:
        """What ``/api/health`` says about the pool."""
        with self._lock:
            return {"processes": self.size, "ready": self._ready, "threads_each": WORKER_THREADS,
                    "answered": self._answered, "pids": self._pids(), "failures": list(self._failures)}

    def _pids(self) -> list[int]:
        return sorted(w.proc.pid for w in list(self._idle.queue) + list(self._busy) if w.proc.pid)

    def close(self) -> None:
        """Stop every worker (searches after this run in the server process)."""
        with self._lock:
            self._closed = True
            self._ready = 0
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                break

    # ----- searching ----------------------------------------------------------------------------
    def search(self, versions: dict, **query):
        """Hit dicts from a worker searching exactly ``versions``, or None when no worker can
        answer (none ready, or the one asked died: it is replaced; the caller searches itself).

        Raises:
            Whatever the search raised in the worker (KeyError, OmnidexError, ValueError, ...).
        """
        while True:  # wait for an idle worker as long as there are any (all busy: the request waits its turn)
            if self.ready == 0:
                return None
            try:
                worker = self._idle.get(timeout=0.5)
                break
            except queue.Empty:
                continue
        with self._lock:
            self._busy.add(worker)
        kind, value = "lost", None
        try:
            kind, value = worker.ask(("search", versions, query))
        except BaseException:  # the pipe's state is unknown (the worker died, or this thread was interrupted)
            kind = "lost"
            raise
        finally:
            with self._lock:
                self._busy.discard(worker)
                self._answered += kind == "ok"
                closed = self._closed
            if kind == "lost":
                self._lost(worker)
            elif closed:
                worker.stop()
            else:
                self._idle.put(worker)
        if kind == "error":
            raise value
        return value

    def _lost(self, worker: _Worker) -> None:
        with self._lock:
            closed = self._closed
            self._ready -= 0 if closed else 1  # close() has set it to 0 already
        if closed:
            worker.stop(timeout=1.0)
            return
        self._failed(f"a worker stopped (exit code {worker.proc.exitcode}); starting another")
        try:
            worker.stop(timeout=1.0)
        except Exception:  # noqa: BLE001
            pass
        self._start_one()


def worker_main(conn, db: str, roots, config) -> None:
    """Entry point of a search worker: one native thread, open the index, load the query models,
    say "ready", then answer ``("search", versions, query)`` until told to stop (``None``)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the server stops us
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LANCE_CPU_THREADS"):
        os.environ[var] = str(WORKER_THREADS)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMNIDEX_SEARCH_PROCESSES", "0")  # a worker never starts workers of its own
    if WORKER_NICE:
        try:
            os.nice(WORKER_NICE)
        except OSError:
            pass
    try:
        from .library import Library

        lib = Library(db, roots=roots, config=config, refresh_s=float("inf"))
        lib.load_models()
    except Exception as exc:  # noqa: BLE001 - reported to the server, which searches itself
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None or msg[0] != "search":
            return
        _, versions, query = msg
        try:
            lib.pin(versions)
            reply = ("ok", lib.search(**query))
        except Exception as exc:  # noqa: BLE001 - the server raises it for the request
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - an answer that cannot be pickled
            conn.send(("error", RuntimeError(f"search answer could not be sent: {exc}")))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` when it survives pickling, else a RuntimeError with its message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")
