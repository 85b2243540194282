"""The ingest driver: incremental by content hash, journaled writes, a bad file never stops it.

The driver walks the roots, decides per file (unchanged / same content as another path / index),
hands the files to index to an engine (:mod:`.engines`: in-process with decode overlapped, or
:mod:`.ray_engine`: a Ray Data pipeline) and is the single writer: every result is committed
through the store's journaled batches, so an interrupted run resumes without duplicates.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..config import IndexConfig
from ..errors import OmnidexError, StoreMismatch
from ..store import Store
from ..types import FileOutcome, IngestReport
from .engines import FileResult, LocalEngine, WorkItem
from ..spaces import Models
from .walk import iter_files, sha256_file

ENGINES = ("local", "ray")


def make_engine(cfg: IndexConfig, models: Models):
    """The engine named by ``cfg.engine``.

    Args:
        cfg: ingest configuration (``engine``, ``prefetch``, ``ray_address``).
        models: the driver's encoders (used by the local engine).
    Returns:
        An object with ``name`` and ``run(items) -> iterator of FileResult``.
    """
    if cfg.engine == "local":
        return LocalEngine(cfg, models, cfg.prefetch)
    if cfg.engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(cfg)
    raise OmnidexError(f"unknown ingest engine '{cfg.engine}': use one of {', '.join(ENGINES)}")


class Ingestor:
    """Index files into a store.

    Args:
        store: the open store (the writer lock is taken for the run).
        cfg: ingest configuration (``cfg.engine`` picks where the per-file work runs).
        models: encoders (built lazily when omitted).
        progress: a callable ``(done, total, path)`` or None.
        engine: runs the per-file work (default: :func:`make_engine` of ``cfg``).
    """

    def __init__(self, store: Store, cfg: IndexConfig, models: Models | None = None, progress=None, engine=None,
                 log=None):
        self.store, self.cfg = store, cfg
        self.log = log  # one-line messages about index maintenance after the run (or None)
        self.models = models or Models(cfg)
        self.progress = progress
        self.engine = engine
        self._pending: list[tuple[dict, dict, bool, dict]] = []  # (file row, rows per space, replace?, specs)
        self._outcomes: dict[int, FileOutcome] = {}  # walk index -> outcome
        self._notices: list[str] = []  # notices reported by out-of-process workers
        self._total = 0

    def run(self, roots: list[str | Path], prune: bool = False) -> IngestReport:
        """Index ``roots`` and return what happened to every file."""
        report, t0 = IngestReport(), time.perf_counter()
        self.store.lock()
        try:
            self.store.recover()
            from .upgrade import upgrade

            self._notices += upgrade(self.store, self.models, self.progress)  # an older index gains new descriptors, once
            engine = self.engine or make_engine(self.cfg, self.models)
            if engine.name == "local":  # remote workers' encoders are checked before their first write
                self._check_spaces()
            with _term_as_interrupt():
                self._run(roots, prune, report, engine)
        finally:
            self.store.unlock()
            report.wall_s = time.perf_counter() - t0
            report.notices = list(dict.fromkeys(self.models.notices + self._notices))
        return report

    def _check_spaces(self) -> None:
        """Fail before any work when an existing table was built by another encoder."""
        for space in self.store.spaces():
            spec = self.models.spec(space)
            if spec is not None:
                self.store.ensure_space(space, spec)

    def _run(self, roots, prune: bool, report: IngestReport, engine) -> None:
        files = list(iter_files([Path(r) for r in roots], [self.store.root],
                                self.cfg.follow_symlinks, self.cfg.include_hidden))
        states = self.store.file_states()
        self._by_sha = {r["sha256"]: r for r in states.values() if r["status"] == "indexed" and r["segments"]}
        self._total = len(files)
        if self.progress:
            self.progress(0, len(files), "")
        results = engine.run(self._plan(files, states))
        try:
            for res in results:
                self._done(res.item.index, self._accept(res), res.item.path)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            results.close()
        self._flush()
        report.outcomes = [self._outcomes[i] for i in sorted(self._outcomes)]
        if self.progress:
            self.progress(len(files), len(files), "")
        if prune and not report.interrupted:
            report.pruned = self._prune(roots, states, {str(p) for p, _ in files})
        if report.pruned or any(o.status == "indexed" for o in report.outcomes):
            report.indexes = self.store.optimize(log=self.log)

    def _plan(self, files, states: dict) -> Iterator[WorkItem]:
        """Decide every file in walk order; yield those the engine must work on (lazily, in this thread)."""
        for i, (path, problem) in enumerate(files):
            decided = self._decide(i, path, problem, states.get(str(path)))
            if isinstance(decided, WorkItem):
                yield decided
            else:
                self._done(i, decided, str(path))

    def _done(self, index: int, outcome: FileOutcome, path: str) -> None:
        self._outcomes[index] = outcome
        if self.progress:
            self.progress(len(self._outcomes), self._total, path)
        if len(self._pending) >= self.cfg.batch_files:
            self._flush()

    def _decide(self, i: int, path: Path, problem: str, state: dict | None) -> FileOutcome | WorkItem:
        """Unchanged, copied, refused, or to be indexed (a WorkItem); never raises for a bad file."""
        if problem:
            return FileOutcome(str(path), "skipped", problem)
        try:
            st = path.stat()
            if state and state["size"] == st.st_size and abs(state["mtime"] - st.st_mtime) < 1e-6:
                return FileOutcome(str(path), "unchanged", state["status"], state["segments"], kind=state["kind"])
            if st.st_size > self.cfg.max_file_bytes:
                item = WorkItem(i, str(path), "", st.st_size, st.st_mtime, False)
                return self._accept(FileResult(item, "skipped", f"larger than {self.cfg.max_file_bytes} bytes"))
            sha = sha256_file(path)
        except OSError as exc:
            return FileOutcome(str(path), "failed", f"cannot read: {exc.strerror or exc}")
        if state and state["sha256"] == sha:  # touched, not changed: refresh mtime only
            self._pending.append(({**state, "mtime": st.st_mtime, "size": st.st_size}, {}, False, {}))
            return FileOutcome(str(path), "unchanged", state["status"], state["segments"], kind=state["kind"])
        item = WorkItem(i, str(path), sha, st.st_size, st.st_mtime, state is not None)
        if sha in self._by_sha and self._by_sha[sha]["path"] != str(path):
            return self._copy(item, self._by_sha[sha])
        return item

    def _copy(self, item: WorkItem, twin: dict) -> FileOutcome | WorkItem:
        """Identical content is already embedded under another path: reuse its rows."""
        rows = self.store.copy_segments(item.sha256, {"path": item.path, "mtime": item.mtime, "batch": ""})
        if not rows:
            return item
        return self._accept(FileResult(item, "indexed", f"same content as {twin['path']}", twin["kind"], rows,
                                       twin["duration"], twin.get("info") or ""))

    def _accept(self, res: FileResult) -> FileOutcome:
        """Buffer a file's rows for the next commit (unless it is to be retried by the next run)."""
        it = res.item
        n = sum(len(r) for r in res.rows.values())
        self._notices.extend(res.notices)
        if res.retry:
            return FileOutcome(it.path, res.status, res.reason, kind=res.kind)
        file_row = {"path": it.path, "sha256": it.sha256, "size": it.size, "mtime": it.mtime,
                    "kind": res.kind, "status": res.status, "reason": res.reason, "segments": n,
                    "duration": float(res.duration), "batch": "", "indexed_at": time.time(), "info": res.info}
        self._pending.append((file_row, res.rows, it.replace, res.specs))
        return FileOutcome(it.path, res.status, res.reason, n, float(res.duration), res.kind)

    def _flush(self) -> None:
        """Commit buffered files as one journaled batch."""
        if not self._pending:
            return
        batch = uuid.uuid4().hex
        files, segments, replace, specs = [], {}, [], {}
        for file_row, rows, rep, file_specs in self._pending:
            files.append({**file_row, "batch": batch})
            if rep:
                replace.append(file_row["path"])
            for space, rs in rows.items():
                segments.setdefault(space, []).extend({**r, "batch": batch} for r in rs)
            for space, spec in file_specs.items():
                _same_encoder(space, specs.setdefault(space, spec), spec)
        for space in segments:
            spec = specs.get(space)
            if spec is None and self.store.space_spec(space) is not None:
                continue  # rows copied from a space that exists
            self.store.ensure_space(space, spec or self.models.spec(space))
        self._pending = []
        self.store.commit(batch, files, segments, replace)

    def _prune(self, roots, states: dict, seen: set[str]) -> int:
        """Delete rows of files under ``roots`` that no longer exist."""
        prefixes = [os.path.abspath(r) for r in roots]
        gone = [p for p in states if p not in seen and not os.path.exists(p)
                and any(p == r or p.startswith(r.rstrip(os.sep) + os.sep) for r in prefixes)]
        if gone:
            self.store.delete_paths(gone)
        return len(gone)


def _same_encoder(space: str, first, other) -> None:
    """Two workers must have embedded a space with the same weights."""
    if first.identity != other.identity:
        raise StoreMismatch(f"workers embedded space '{space}' with different encoders ({first.identity} and "
                            f"{other.identity}): install the same omnidex version and models on every node")


@contextmanager
def _term_as_interrupt():
    """Treat SIGTERM like Ctrl-C so a killed ingest commits what it finished."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
