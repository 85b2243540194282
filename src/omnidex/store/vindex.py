"""Vector index maintenance: exact search while a space is small, a tuned ANN index once it is large.

Nobody runs a maintenance command. After every ingest :func:`maintain` looks at each space:

* small (vectors fit in ``exact_max_bytes``): no ANN index; queries scan an in-memory float32
  matrix cached per table version (one mat-vec, exact, a few ms);
* large: an IVF index is built (IVF_SQ up to ``pq_min_rows`` rows of dimension <= 1024, else
  IVF_PQ, or IVF_HNSW_SQ when asked), then its recall@10 is **measured** against an exact scan
  on rows of the table and ``nprobes`` raised until it reaches ``target_recall``; every query
  re-ranks at least ``refine_factor`` x 10 candidates with the full vectors (the pool the recall
  was measured with; a query for 100 candidates re-ranks those 100);
* appended rows are folded into the index by LanceDB's incremental optimize (rows not yet indexed
  are still scanned exactly, so nothing is missed); when a space has grown past
  ``retrain_growth`` x the size it was trained at, or many rows were deleted, the index is
  retrained and re-measured;
* small fragments left by batched writes and deletes are compacted, and versions older than
  ``keep_versions_s`` are removed (readers pinned to a recent version are never disturbed).

The chosen parameters and the measured recall live in ``<db>/.omnidex/index-<space>.json``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class IndexPolicy:
    """When and how a space gets an ANN index."""

    exact_max_bytes: int = 64 * 1024**2  # spaces whose vectors fit in this many bytes are searched exactly
    min_ann_rows: int = 20_000  # never build an ANN index below this many rows
    pq_min_rows: int = 5_000_000  # from this many rows (or dim > 1024) use IVF_PQ instead of IVF_SQ
    kind: str = "auto"  # "auto" | "IVF_SQ" | "IVF_PQ" | "IVF_HNSW_SQ"
    rows_per_partition: int = 1024  # IVF partitions = rows / this (a power of two is not required)
    target_recall: float = 0.95  # nprobes is raised until measured recall@10 reaches this (+ margin)
    recall_margin: float = 0.02  # tune to target + margin so sampling noise stays above the target
    refine_factor: int = 5  # re-rank this many x k candidates with full-precision vectors
    probe_queries: int = 100  # table rows used as queries when measuring recall
    retrain_growth: float = 2.0  # retrain when rows exceed this x the rows the index was trained on
    retrain_deleted: float = 0.3  # ... or when this fraction of the trained rows has been deleted
    keep_versions_s: float = 3600.0  # table versions older than this are removed by compaction


NPROBES = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def _state_dir(root) -> Path | None:
    return None if "://" in str(root) else Path(root) / ".omnidex"


def load_params(root, space: str) -> dict | None:
    """The ANN parameters tuned for ``space`` (None when the space is searched exactly)."""
    d = _state_dir(root)
    p = d / f"index-{space}.json" if d else None
    if p is None or not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _save_params(root, space: str, params: dict | None) -> None:
    d = _state_dir(root)
    if d is None:
        return
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"index-{space}.json"
    if params is None:
        p.unlink(missing_ok=True)
        return
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(params, indent=1))
    os.replace(tmp, p)


def _vector_index(tbl):
    """(name, stats) of the vector column's index, or (None, None)."""
    for ix in tbl.list_indices():
        if list(getattr(ix, "columns", [])) == ["vector"]:
            return ix.name, tbl.index_stats(ix.name)
    return None, None


def choose_kind(rows: int, dim: int, policy: IndexPolicy) -> str | None:
    """The ANN index a space of ``rows`` x ``dim`` should have, or None for exact search."""
    if rows * dim * 4 <= policy.exact_max_bytes or rows < policy.min_ann_rows:
        return None
    if policy.kind != "auto":
        return policy.kind
    return "IVF_PQ" if rows >= policy.pq_min_rows or dim > 1024 else "IVF_SQ"


def _build(tbl, kind: str, rows: int, dim: int, policy: IndexPolicy) -> None:
    from lancedb.index import HnswSq, IvfPq, IvfSq

    parts = max(8, rows // policy.rows_per_partition)
    if kind == "IVF_PQ":
        config = IvfPq(distance_type="cosine", num_partitions=parts,
                       num_sub_vectors=dim // 8 if dim % 8 == 0 else dim // 4)
    elif kind == "IVF_HNSW_SQ":
        config = HnswSq(distance_type="cosine", num_partitions=max(1, rows // 100_000))
    else:
        config = IvfSq(distance_type="cosine", num_partitions=parts)
    tbl.create_index("vector", config=config, replace=True)


def maintain(tbl, root, space: str, policy: IndexPolicy = IndexPolicy(), log=None) -> dict:
    """Bring one space's vector index up to date (build, extend, retrain, compact).

    Args:
        tbl: the LanceDB table of the space.
        root: database root (where the tuned parameters are kept).
        space: space name.
        policy: thresholds.
        log: optional callable for one-line progress messages.
    Returns:
        What was done: ``{"action": ..., "rows": ..., "kind": ..., "recall@10": ...}``.
    """
    say = log or (lambda msg: None)
    rows = tbl.count_rows()
    dim = tbl.schema.field("vector").type.list_size
    kind = choose_kind(rows, dim, policy)
    name, stats = _vector_index(tbl)
    params = load_params(root, space)
    new_rows = stats.num_unindexed_rows if stats is not None else 0
    _compact(tbl, policy)  # compaction, and LanceDB folds new rows into an existing index
    if kind is None:
        if name is not None:  # shrank below the threshold: exact search needs no index
            tbl.drop_index(name)
        _save_params(root, space, None)
        return {"action": "exact", "rows": rows}
    trained = (params or {}).get("trained_rows", 0)
    stale = (name is None or params is None or params.get("kind") != kind
             or rows > policy.retrain_growth * trained or rows < (1 - policy.retrain_deleted) * trained)
    if not stale:
        if new_rows:
            say(f"{space}: added {new_rows} new rows to the {kind} index")
        name, stats = _vector_index(tbl)
        if stats is not None and stats.num_unindexed_rows:  # compaction failed above: index them now
            tbl.optimize(cleanup_older_than=timedelta(seconds=policy.keep_versions_s))
        if abs(rows - params.get("measured_rows", 0)) <= 0.1 * params.get("measured_rows", 0):
            return {"action": "kept", "rows": rows, "kind": kind, "recall@10": params["recall@10"]}
        action = "extended"
    else:
        say(f"{space}: building a {kind} index over {rows} vectors")
        t0 = time.perf_counter()
        _build(tbl, kind, rows, dim, policy)
        params = {"kind": kind, "trained_rows": rows, "build_s": round(time.perf_counter() - t0, 2)}
        action = "built"
    say(f"{space}: measuring recall@10 of the {kind} index against an exact scan")
    params.update(tune(tbl, policy))
    params.update(measured_rows=rows, policy=asdict(policy))
    _save_params(root, space, params)
    return {"action": action, "rows": rows, "kind": kind, "recall@10": params["recall@10"]}


def _compact(tbl, policy: IndexPolicy) -> None:
    """Merge small fragments (each ingest batch writes some) and drop old versions."""
    try:
        tbl.optimize(cleanup_older_than=timedelta(seconds=policy.keep_versions_s))
    except Exception:  # noqa: BLE001 - compaction is an optimisation; a failure must not fail the ingest
        pass


def _matrix(data) -> np.ndarray:
    """The ``vector`` column of an Arrow table/batch as a float32 (n, d) array."""
    col = data.column("vector")
    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    return np.ascontiguousarray(col.flatten().to_numpy().reshape(len(data), -1), dtype=np.float32)


def exact_truth(tbl, n_queries: int, k: int, batch: int = 65_536) -> tuple[list, np.ndarray, list[set]]:
    """Rows of ``tbl`` used as queries (ids, vectors) and each one's exact top-``k`` ids, own row left
    out, from one streaming pass over the table (memory stays at one batch, whatever the size)."""
    rows = tbl.count_rows()
    pick = np.random.default_rng(0).choice(rows, size=min(n_queries, rows), replace=False)
    qt = tbl.take_offsets([int(x) for x in sorted(pick)]).select(["id", "vector"]).to_arrow()
    qids, queries = qt.column("id").to_pylist(), _matrix(qt)
    best_s = np.full((len(qids), 0), -np.inf, np.float32)
    best_id = np.empty((len(qids), 0), dtype=object)
    for rb in tbl.search().select(["id", "vector"]).limit(None).to_batches(batch):
        if rb.num_rows == 0:
            continue
        ids = np.asarray(rb.column("id").to_pylist(), dtype=object)
        best_s, best_id = _fold_topk(best_s, best_id, queries @ _matrix(rb).T, ids, k + 1)
    truth = [set([i for i in row if i != q][:k]) for row, q in zip(best_id.tolist(), qids)]
    return qids, queries, truth


def exact_topk(mat: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> np.ndarray:
    """Indices of the ``k`` most cosine-similar rows of ``mat`` (unit rows) for each query, best first."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for s in range(0, len(mat), chunk):
        block = mat[s:s + chunk]
        best_s, best_i = _fold_topk(best_s, best_i, queries @ block.T, np.arange(s, s + len(block)), k)
    return best_i


def _fold_topk(best_s: np.ndarray, best_x: np.ndarray, sims: np.ndarray, labels: np.ndarray, k: int):
    """Merge one block's similarities (queries x block) into the running top-``k`` of each query.

    ``labels`` names the block's columns (row indices, ids); returns the new (scores, labels), best first.
    """
    kk = min(k, sims.shape[1])
    part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]  # the block's best, then merge
    best_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
    best_x = np.concatenate([best_x, labels[part]], axis=1)
    keep = np.argsort(-best_s, axis=1)[:, :k]
    return np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_x, keep, 1)


def tune(tbl, policy: IndexPolicy, k: int = 10) -> dict:
    """Measure recall@k of the ANN index against an exact scan and pick the smallest nprobes that
    reaches the target (table rows as queries, each query's own row left out).

    Returns:
        nprobes, refine_factor, the recall reached and the whole nprobes -> recall curve.
    """
    qids, queries, truth = exact_truth(tbl, policy.probe_queries, k)
    curve = []
    for nprobes in NPROBES:
        recall = float(np.mean([len(set(ann_ids(tbl, q, nprobes, policy.refine_factor, k + 1, skip=qid)[:k]) & t)
                                / max(1, len(t)) for q, qid, t in zip(queries, qids, truth)]))
        curve.append({"nprobes": nprobes, "recall@10": round(recall, 4)})
        if recall >= policy.target_recall + policy.recall_margin:
            break
    best = curve[-1]
    return {"nprobes": best["nprobes"], "refine_factor": policy.refine_factor, "recall@10": best["recall@10"],
            "recall_curve": curve, "probe_queries": len(qids), "measured_at": time.time()}


def ann_ids(tbl, vector: np.ndarray, nprobes: int, refine: int, k: int, skip: str | None = None) -> list[str]:
    """Ids of the ANN top-``k`` (``skip`` left out), best first."""
    q = tbl.search(np.asarray(vector, np.float32), vector_column_name="vector").metric("cosine")
    q = q.nprobes(nprobes).refine_factor(refine).select(["id", "_distance"]).limit(k)
    return [i for i in q.to_arrow().column("id").to_pylist() if i != skip]


class ExactCache:
    """In-memory copies of small spaces, keyed by (db, space, table version), for exact search."""

    def __init__(self, max_entries: int = 8):
        self._entries: dict = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, root, space: str, tbl, columns: list[str]):
        """(row ids, vectors, other columns as an Arrow table) of ``tbl`` at its current version."""
        key = (str(root), space, tbl.version)
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None:
            return hit
        data = tbl.search().with_row_id(True).select(columns + ["vector"]).limit(None).to_arrow()
        mat = data.column("vector").combine_chunks().flatten().to_numpy()
        mat = np.ascontiguousarray(mat.reshape(data.num_rows, -1), dtype=np.float32)
        rowids = data.column("_rowid").to_numpy()
        entry = (rowids, mat, data.drop_columns(["vector"]))
        with self._lock:
            for old in [k for k in self._entries if k[:2] == key[:2]]:
                del self._entries[old]  # an older version of the same space
            while len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = entry
        return entry


EXACT = ExactCache()


def exact_search(root, space: str, tbl, vector: np.ndarray, k: int, where: str | None,
                 columns: list[str]) -> list[dict]:
    """Top-``k`` rows by cosine similarity from the in-memory copy (``_sim`` on each row)."""
    rowids, mat, meta = EXACT.get(root, space, tbl, columns)
    if len(rowids) == 0:
        return []
    sims = mat @ np.asarray(vector, np.float32)
    if where:
        allowed = tbl.search().where(where).with_row_id(True).select(["id"]).limit(None).to_arrow()
        mask = np.isin(rowids, allowed.column("_rowid").to_numpy())
        sims = np.where(mask, sims, -np.inf)
        k = min(k, int(mask.sum()))
    if k <= 0:
        return []
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    rows = meta.take(top).drop_columns(["_rowid"]).to_pylist()
    for r, i in zip(rows, top):
        r["_sim"] = float(sims[i])
    return rows
