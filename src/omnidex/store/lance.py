"""A LanceDB database on disk holding segments, their vectors and full provenance.

Writes are journaled so an interrupted ingest never leaves duplicates: a batch is announced in
``journal``, its segments are added, then its ``files`` rows are upserted (the commit point),
then the journal entry is removed. On open, batches whose files rows never landed are rolled
back by deleting their segments.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NoIndex, OmnidexError, StoreMismatch

os.environ.setdefault("LANCE_LOG", "error")

FILES = "files"
JOURNAL = "journal"
# Lance file format of new tables. 2.1 reads single rows ~6x faster than the "stable" default of
# lancedb 0.40 (taking 10 random rows' 13 provenance columns at 1M rows: 3.5 ms vs 23 ms) at the same
# scan speed; every search ends with such a take. Existing tables keep the format they were made with.
TABLE_FORMAT = "2.1"
SEGMENT_FIELDS = ("id", "path", "sha256", "mtime", "kind", "source", "start", "end", "at", "unit",
                  "text", "words", "batch")


@dataclass(frozen=True)
class EncoderSpec:
    """What built a vector space: enough to rebuild the same encoder at query time."""

    name: str  # registry name
    kwargs: tuple[tuple[str, str], ...]  # factory arguments
    identity: str  # exact weights identity
    dim: int  # vector dimension

    def meta(self) -> dict[str, str]:
        """Schema metadata stored on the table."""
        return {"omnidex.encoder": self.name, "omnidex.kwargs": json.dumps(dict(self.kwargs)),
                "omnidex.identity": self.identity, "omnidex.dim": str(self.dim)}

    @classmethod
    def from_meta(cls, meta: dict) -> "EncoderSpec":
        """Inverse of :meth:`meta` (bytes keys from Arrow are accepted)."""
        m = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
             for k, v in (meta or {}).items()}
        kwargs = tuple(sorted(json.loads(m.get("omnidex.kwargs", "{}")).items()))
        return cls(m["omnidex.encoder"], kwargs, m["omnidex.identity"], int(m["omnidex.dim"]))


def refine_for(refine_factor: int, k: int) -> int:
    """Refine factor for a top-``k`` query: the pool re-ranked with full vectors is never smaller than
    the ``refine_factor`` x 10 the recall tuner measured, and no larger (100 candidates: x1, not x5)."""
    return max(1, -(-refine_factor * 10 // max(1, k)))


def sql_str(value: str) -> str:
    """Quote a string as a SQL literal (single quotes doubled), never spliced raw."""
    return "'" + str(value).replace("'", "''") + "'"


def _pa():
    import pyarrow as pa

    return pa


def _files_schema():
    pa = _pa()
    return pa.schema([
        ("path", pa.string()), ("sha256", pa.string()), ("size", pa.int64()),
        ("mtime", pa.float64()), ("kind", pa.string()), ("status", pa.string()),
        ("reason", pa.string()), ("segments", pa.int32()), ("duration", pa.float64()),
        ("batch", pa.string()), ("indexed_at", pa.float64()), ("info", pa.string()),
    ])


def _segment_schema(spec: EncoderSpec):
    pa = _pa()
    fields = [(f, pa.string()) for f in ("id", "path", "sha256")]
    fields += [("mtime", pa.float64()), ("kind", pa.string()), ("source", pa.string()),
               ("start", pa.float64()), ("end", pa.float64()), ("at", pa.float64()), ("unit", pa.string()),
               ("text", pa.string()), ("words", pa.string()), ("batch", pa.string()),
               ("vector", pa.list_(pa.float32(), spec.dim))]
    return pa.schema(fields, metadata=spec.meta())


def _local_state(uri: str) -> Path:
    """A local folder for the lock and index parameters of a database that lives at a URI."""
    import hashlib

    from .._env import cache_dir

    return cache_dir() / "remote" / hashlib.sha256(uri.encode()).hexdigest()[:16]


class Store:
    """The index: a LanceDB database.

    Args:
        root: database directory (created if missing), or an object-store URI LanceDB understands
            (``s3://bucket/path``, ``gs://...``, ``az://...``); then the writer lock and tuned index
            parameters are kept in a local folder (one writer per machine is enforced).
        policy: when spaces get an ANN index (see :mod:`omnidex.store.vindex`).
        read_only: open an existing index to read: nothing is created (not even the folder) and
            writes raise. The one change a reader still makes is bringing a table from before
            the ``at`` column up to date, which reading it needs.

    Raises:
        NoIndex: ``read_only`` and there is no index at ``root`` (no folder, or no tables in it).
    """

    def __init__(self, root: str | Path, policy=None, *, read_only: bool = False):
        self.uri = str(root)
        self.read_only = read_only
        remote = "://" in self.uri
        self.root = _local_state(self.uri) if remote else Path(root)
        if read_only and not remote and not self.root.is_dir():
            raise NoIndex(root)  # before LanceDB loads (seconds): a typo fails at once
        from .lancedb_import import load

        lancedb = load()
        from .vindex import IndexPolicy

        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
        self.db = lancedb.connect(self.uri if remote else str(self.root),
                                  storage_options={"new_table_data_storage_version": TABLE_FORMAT})
        if read_only and not self._names():
            raise NoIndex(root)
        self.policy = policy or IndexPolicy()
        self._tables: dict = {}
        self._missing: dict[str, float] = {}  # table name -> until when "does not exist" is believed
        self._background: dict[str, np.ndarray] = {}
        self._params: dict[str, dict | None] = {}
        self._specs: dict[str, EncoderSpec] = {}
        self._lock_fd: int | None = None

    # ----- tables -------------------------------------------------------------------------
    def _names(self) -> list[str]:
        return list(self.db.list_tables().tables)

    def table(self, name: str):
        """Open a table (cached), or None when it does not exist."""
        if name not in self._tables:
            if self._missing.get(name, 0.0) > time.monotonic():
                return None  # looked for within the last second (each search asks for every space)
            if name not in self._names():
                self._missing[name] = time.monotonic() + 1.0
                return None
            tbl = self.db.open_table(name)
            if name not in (FILES, JOURNAL) and "at" not in tbl.schema.names:
                tbl.add_columns({"at": "start"})  # tables from before the evidence instant column
            self._tables[name] = tbl
        return self._tables[name]

    def _writable(self) -> None:
        if self.read_only:
            raise OmnidexError(f"{self.uri}: this index was opened read-only")

    def _ensure(self, name: str, schema):
        self._writable()
        self._missing.pop(name, None)
        tbl = self.table(name)
        if tbl is None:
            tbl = self.db.create_table(name, schema=schema, exist_ok=True)
            self._tables[name] = tbl
        return tbl

    def spaces(self) -> list[str]:
        """Names of the vector spaces (segment tables) present."""
        return sorted(n for n in self._names() if n not in (FILES, JOURNAL))

    def space_spec(self, space: str) -> EncoderSpec | None:
        """The encoder a space was built with, or None when the space does not exist."""
        if space not in self._specs:  # a space never changes encoder (ensure_space refuses): read once
            tbl = self.table(space)
            if tbl is None:
                return None
            self._specs[space] = EncoderSpec.from_meta(tbl.schema.metadata)
        return self._specs[space]

    def ensure_space(self, space: str, spec: EncoderSpec) -> None:
        """Create a space for ``spec`` or check the existing one was built by the same encoder.

        Raises:
            StoreMismatch: the table holds vectors of another encoder.
        """
        have = self.space_spec(space)
        if have is None:
            self._ensure(space, _segment_schema(spec))
        elif have.identity != spec.identity:
            raise StoreMismatch(
                f"table '{space}' in {self.root} was built with encoder {have.identity} "
                f"({have.name} {dict(have.kwargs)}), not {spec.identity}. Index with the same "
                f"encoder (e.g. --clip {dict(have.kwargs).get('model', have.name)}) or use a new --db.")

    # ----- state ------------------------------------------------------------------------
    def file_states(self) -> dict[str, dict]:
        """path -> files row for every file ever seen."""
        tbl = self._files()
        if tbl is None:
            return {}
        return {r["path"]: r for r in tbl.to_arrow().to_pylist()}

    def _files(self):
        """The files table, upgraded in place when it predates the ``info`` column."""
        tbl = self.table(FILES)
        if tbl is not None and "info" not in tbl.schema.names:
            tbl.add_columns({"info": "CAST(NULL AS STRING)"})
        return tbl

    def upgrade_tables(self) -> None:
        """Open every table so that older ones gain the columns this version adds (before readers pin versions)."""
        for name in self.spaces():
            self.table(name)
        self._files()

    def file_info(self, paths: list[str]) -> dict[str, dict]:
        """path -> the decoded ``info`` JSON of each indexed file (shots, language, sampling)."""
        tbl = self._files()
        if tbl is None or not paths:
            return {}
        out: dict[str, dict] = {}
        for r in _rows_of(tbl, paths, ["path", "info", "duration"]):
            info = json.loads(r["info"]) if r.get("info") else {}
            out[r["path"]] = {**info, "duration": r["duration"]}
        return out

    def file_texts(self, paths: list[str], max_chars: int = 4000) -> dict[str, str]:
        """path -> the words of each file's text rows (speech, on-screen, document), in order.

        Used by the reranker to read beyond a moment (issue 14, item 5).
        """
        tbl = self.table("text")
        if tbl is None or not paths:
            return {}
        parts: dict[str, list] = {}
        for r in _rows_of(tbl, paths, ["path", "start", "text"]):
            parts.setdefault(r["path"], []).append((float(r["start"] or 0.0), str(r["text"] or "")))
        out = {}
        for p, rows in parts.items():
            seen = list(dict.fromkeys(t for _, t in sorted(rows) if t.strip()))
            out[p] = " ".join(seen)[:max_chars]
        return out

    def count(self, space: str) -> int:
        """Rows in a table (0 when absent)."""
        tbl = self.table(space)
        return 0 if tbl is None else tbl.count_rows()

    # ----- locking and recovery -------------------------------------------------------------
    def lock(self) -> None:
        """Take the single-writer lock; raises when another ingest holds it."""
        self._writable()
        fd = os.open(self.root / ".writer.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise OmnidexError(f"another omnidex ingest is writing to {self.root}; wait for it") from exc
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the writer lock."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def recover(self) -> int:
        """Roll back batches that were interrupted before their commit point.

        Returns:
            Number of batches rolled back.
        """
        journal = self.table(JOURNAL)
        if journal is None or journal.count_rows() == 0:
            return 0
        files = self.table(FILES)
        rolled = 0
        for row in journal.to_arrow().to_pylist():
            where = f"batch = {sql_str(row['batch'])}"
            committed = files is not None and files.count_rows(where) > 0
            if not committed:
                for space in self.spaces():
                    self.table(space).delete(where)
                rolled += 1
            journal.delete(where)
        return rolled

    # ----- writing ----------------------------------------------------------------------------
    def commit(self, batch: str, file_rows: list[dict], segments: dict[str, list[dict]],
               replace_paths: list[str]) -> None:
        """Atomically (from a reader's and a crash's point of view) land one batch.

        Args:
            batch: unique batch id stamped on every row.
            file_rows: rows for the files table (upserted by path) — the commit point.
            segments: space -> segment rows (with "vector").
            replace_paths: paths whose previous segments must go (changed or re-indexed files).
        """
        self._writable()
        pa = _pa()
        journal = self._ensure(JOURNAL, pa.schema([("batch", pa.string()), ("started", pa.float64())]))
        journal.add([{"batch": batch, "started": time.time()}])
        if replace_paths:
            self.delete_paths(replace_paths, files=False)
        for space, rows in segments.items():
            if rows:
                self.table(space).add(rows)
                self._background.pop(space, None)
        files = self._files()
        files = files if files is not None else self._ensure(FILES, _files_schema())
        (files.merge_insert("path").when_matched_update_all().when_not_matched_insert_all()
         .execute(pa.Table.from_pylist(file_rows, schema=_files_schema())))
        journal.delete(f"batch = {sql_str(batch)}")

    def delete_paths(self, paths: list[str], files: bool = True) -> None:
        """Remove every row of these paths (segments, and files rows when ``files``)."""
        self._writable()
        for i in range(0, len(paths), 200):
            where = "path IN (" + ", ".join(sql_str(p) for p in paths[i:i + 200]) + ")"
            for space in self.spaces():
                self.table(space).delete(where)
            if files and self.table(FILES) is not None:
                self.table(FILES).delete(where)

    def copy_segments(self, sha256: str, new: dict) -> dict[str, list[dict]]:
        """Rows already embedded for identical content (one source path), re-stamped with ``new``."""
        out: dict[str, list[dict]] = {}
        for space in self.spaces():
            rows = (self.table(space).search().where(f"sha256 = {sql_str(sha256)}")
                    .limit(None).to_arrow().to_pylist())
            if rows:  # the same content may already live at several paths: copy one of them
                out[space] = [{**r, **new} for r in rows if r["path"] == rows[0]["path"]]
        return out

    def optimize(self, log=None) -> dict[str, dict]:
        """Keep the indexes up to date after a write: the full-text index on transcript/OCR/document
        text, and per space exact search or a tuned, compacted ANN index (see :func:`vindex.maintain`).

        Returns:
            space -> what was done (action, rows, index kind, measured recall@10).
        """
        from lancedb.index import FTS

        from .vindex import maintain

        tbl = self.table("text")
        if tbl is not None and tbl.count_rows() > 0:
            tbl.create_index("text", config=FTS(with_position=False), replace=True)
        done = {space: maintain(self.table(space), self.root, space, self.policy, log) for space in self.spaces()}
        self._params.clear()
        return done

    def index_params(self, space: str) -> dict | None:
        """The tuned ANN parameters of a space (None: searched exactly)."""
        if space not in self._params:
            from .vindex import load_params

            self._params[space] = load_params(self.root, space)
        return self._params[space]

    # ----- reading ---------------------------------------------------------------------------
    def vector_search(self, space: str, vector: np.ndarray, k: int, where: str | None = None) -> list[dict]:
        """Top-``k`` rows by cosine similarity (returned as ``_sim``) to ``vector``."""
        tbl = self.table(space)
        if tbl is None:
            return []
        params = self.index_params(space)
        if params is None and tbl.count_rows() * len(vector) * 4 <= 4 * self.policy.exact_max_bytes:
            from .vindex import exact_search

            return exact_search(self.uri, space, tbl, vector, k, where, list(SEGMENT_FIELDS))
        q = tbl.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector").metric("cosine")
        if params is not None:
            q = q.nprobes(int(params["nprobes"])).refine_factor(refine_for(int(params["refine_factor"]), k))
        if where:
            q = q.where(where, prefilter=True)
        # two steps: the index returns row ids only, then one take reads the columns of the k winners
        # (asking the vector query for all 13 columns cost 60 ms at 1M rows, ids + take ~15 ms)
        found = q.with_row_id(True).select(["_distance"]).limit(k).to_arrow()
        if found.num_rows == 0:
            return []
        rowids = found.column("_rowid").to_pylist()
        got = tbl.take_row_ids(rowids).with_row_id().select(list(SEGMENT_FIELDS)).to_arrow().to_pylist()
        by_id = {r.pop("_rowid"): r for r in got}
        rows = []
        for rid, dist in zip(rowids, found.column("_distance").to_pylist()):
            if rid in by_id:
                rows.append({**by_id[rid], "_sim": 1.0 - float(dist)})
        return rows

    def fts_search(self, text: str, k: int, where: str | None = None) -> list[dict]:
        """Top-``k`` rows of the text space by BM25 over the evidence text."""
        tbl = self.table("text")
        if tbl is None or not text.strip():
            return []
        q = tbl.search(text, query_type="fts", fts_columns="text")
        if where:
            q = q.where(where, prefilter=True)
        try:
            return q.select(list(SEGMENT_FIELDS) + ["_score"]).limit(k).to_list()
        except Exception as exc:  # noqa: BLE001 - an FTS syntax error must not sink the query
            if "syntax" in str(exc).lower() or "parse" in str(exc).lower():
                return []
            raise

    def background(self, space: str, n: int = 2048) -> np.ndarray:
        """A deterministic sample of a space's vectors, used to calibrate similarity scores."""
        if space not in self._background:
            tbl = self.table(space)
            total = tbl.count_rows() if tbl is not None else 0
            if total == 0:
                self._background[space] = np.zeros((0, 1), np.float32)
            else:  # the first n rows: deterministic and cheap (no full scan)
                vec = tbl.search().select(["vector"]).limit(n).to_arrow()
                self._background[space] = np.stack(vec.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
        return self._background[space]


def _rows_of(tbl, paths: list[str], columns: list[str], batch: int = 200):
    """Rows of ``tbl`` whose ``path`` is one of ``paths`` (``columns`` only), read ``batch`` paths at a time."""
    for i in range(0, len(paths), batch):
        where = "path IN (" + ", ".join(sql_str(p) for p in paths[i:i + batch]) + ")"
        yield from tbl.search().where(where).select(columns).limit(None).to_list()
