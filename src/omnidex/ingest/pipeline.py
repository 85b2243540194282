"""The ingest driver: incremental by content hash, journaled writes, a bad file never stops it."""
from __future__ import annotations

import json
import os
import signal
import time
import traceback
import uuid
from contextlib import contextmanager
from pathlib import Path

from ..config import IndexConfig
from ..errors import MediaError, OmnidexError
from ..series.ingest import extract_series_file
from ..store import Store
from ..types import FileOutcome, IngestReport
from .embed import embed_pieces
from .extract import (extract_audio_file, extract_image_file, extract_text_file,
                      extract_video_file)
from .models import Models
from .walk import iter_files, sha256_file

EXTRACTORS = {"image": extract_image_file, "video": extract_video_file,
              "audio": extract_audio_file, "text": extract_text_file, "series": extract_series_file}


class Ingestor:
    """Index files into a store.

    Args:
        store: the open store (the writer lock is taken for the run).
        cfg: ingest configuration.
        models: encoders (built lazily when omitted).
        progress: a callable ``(done, total, path)`` or None.
    """

    def __init__(self, store: Store, cfg: IndexConfig, models: Models | None = None, progress=None):
        self.store, self.cfg = store, cfg
        self.models = models or Models(cfg)
        self.progress = progress
        self._pending: list[tuple[dict, dict, bool]] = []  # (file row, rows per space, replace?)

    def run(self, roots: list[str | Path], prune: bool = False) -> IngestReport:
        """Index ``roots`` and return what happened to every file."""
        report, t0 = IngestReport(), time.perf_counter()
        self.store.lock()
        try:
            self.store.recover()
            self._check_spaces()
            with _term_as_interrupt():
                self._run(roots, prune, report)
        finally:
            self.store.unlock()
            report.wall_s = time.perf_counter() - t0
            report.notices = list(dict.fromkeys(self.models.notices))
        return report

    def _check_spaces(self) -> None:
        """Fail before any work when an existing table was built by another encoder."""
        for space in self.store.spaces():
            spec = self.models.spec(space)
            if spec is not None:
                self.store.ensure_space(space, spec)

    def _run(self, roots, prune: bool, report: IngestReport) -> None:
        files = list(iter_files([Path(r) for r in roots], [self.store.root],
                                self.cfg.follow_symlinks, self.cfg.include_hidden))
        states = self.store.file_states()
        self._by_sha = {r["sha256"]: r for r in states.values() if r["status"] == "indexed" and r["segments"]}
        try:
            for i, (path, problem) in enumerate(files):
                if self.progress:
                    self.progress(i, len(files), str(path))
                report.outcomes.append(self._one(path, problem, states.get(str(path))))
                if len(self._pending) >= self.cfg.batch_files:
                    self._flush()
        except KeyboardInterrupt:
            report.interrupted = True
        self._flush()
        if self.progress:
            self.progress(len(files), len(files), "")
        if prune and not report.interrupted:
            report.pruned = self._prune(roots, states, {str(p) for p, _ in files})
        if any(o.status == "indexed" for o in report.outcomes):
            self.store.optimize()

    def _one(self, path: Path, problem: str, state: dict | None) -> FileOutcome:
        """Decide, extract, embed and buffer one file; never raises for a bad file."""
        if problem:
            return FileOutcome(str(path), "skipped", problem)
        try:
            st = path.stat()
            if state and state["size"] == st.st_size and abs(state["mtime"] - st.st_mtime) < 1e-6:
                return FileOutcome(str(path), "unchanged", state["status"], state["segments"], kind=state["kind"])
            if st.st_size > self.cfg.max_file_bytes:
                return self._record(path, st, "", "", "skipped", f"larger than {self.cfg.max_file_bytes} bytes")
            sha = sha256_file(path)
        except OSError as exc:
            return FileOutcome(str(path), "failed", f"cannot read: {exc.strerror or exc}")
        if state and state["sha256"] == sha:  # touched, not changed: refresh mtime only
            self._pending.append(({**state, "mtime": st.st_mtime, "size": st.st_size}, {}, False))
            return FileOutcome(str(path), "unchanged", state["status"], state["segments"], kind=state["kind"])
        if sha in self._by_sha and self._by_sha[sha]["path"] != str(path):
            return self._copy(path, st, sha, self._by_sha[sha], replace=state is not None)
        return self._index(path, st, sha, replace=state is not None)

    def _copy(self, path: Path, st: os.stat_result, sha: str, twin: dict, replace: bool) -> FileOutcome:
        """Identical content is already embedded under another path: reuse its rows."""
        rows = self.store.copy_segments(sha, {"path": str(path), "mtime": st.st_mtime, "batch": ""})
        if not rows:
            return self._index(path, st, sha, replace)
        return self._record(path, st, sha, twin["kind"], "indexed", f"same content as {twin['path']}",
                            replace, rows, twin["duration"], twin.get("info") or "")

    def _index(self, path: Path, st: os.stat_result, sha: str, replace: bool) -> FileOutcome:
        from ..media.sniff import sniff

        try:
            kind = sniff(path)
        except MediaError as exc:
            return self._record(path, st, sha, "", "skipped", exc.reason, replace)
        if kind not in EXTRACTORS:
            return self._record(path, st, sha, kind, "skipped", "unsupported content (not image, video, audio or text)", replace)
        try:
            ext = EXTRACTORS[kind](path, self.cfg, self.models)
            base = {"path": str(path), "sha256": sha, "mtime": st.st_mtime, "kind": kind, "batch": ""}
            rows = embed_pieces(ext, base, self.models)
        except KeyboardInterrupt:
            raise
        except MediaError as exc:
            return self._record(path, st, sha, kind, "failed", exc.reason, replace)
        except OmnidexError as exc:
            return self._record(path, st, sha, kind, "failed", str(exc), replace)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            return self._record(path, st, sha, kind, "failed", f"unexpected error: {detail}", replace)
        info = json.dumps(ext.info, separators=(",", ":")) if ext.info else ""
        return self._record(path, st, sha, kind, "indexed", ext.note, replace, rows, ext.duration, info)

    def _record(self, path, st, sha, kind, status, reason, replace=False, rows=None, duration=0.0,
                info: str = "") -> FileOutcome:
        rows = rows or {}
        n = sum(len(r) for r in rows.values())
        file_row = {"path": str(path), "sha256": sha, "size": st.st_size, "mtime": st.st_mtime,
                    "kind": kind, "status": status, "reason": reason, "segments": n,
                    "duration": float(duration), "batch": "", "indexed_at": time.time(), "info": info}
        self._pending.append((file_row, rows, replace))
        return FileOutcome(str(path), status, reason, n, float(duration), kind)

    def _flush(self) -> None:
        """Commit buffered files as one journaled batch."""
        if not self._pending:
            return
        batch = uuid.uuid4().hex
        files, segments, replace = [], {}, []
        for file_row, rows, rep in self._pending:
            files.append({**file_row, "batch": batch})
            if rep:
                replace.append(file_row["path"])
            for space, rs in rows.items():
                segments.setdefault(space, []).extend({**r, "batch": batch} for r in rs)
        for space in segments:
            self.store.ensure_space(space, self.models.spec(space))
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
