"""Series search: windows shaped like an example (exact, SAX/MINDIST-pruned) and text->series.

Exact search by example: the query window is z-normalised and resampled like the indexed ones;
every stored window's SAX word gives a MINDIST lower bound of its true z-normalised Euclidean
distance; candidates are verified in ascending MINDIST order against their stored shapes, and
the scan stops when the next lower bound exceeds the k-th best true distance, so the top k is
exactly the brute-force top k while most windows are never fetched.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OmnidexError, StoreMismatch
from ..store import sql_str
from ..store.lance import SEGMENT_FIELDS
from ..series.sax import from_word, mindist, symbols

_SAX = re.compile(r"\bsax=([a-t]+)\b")
FIRST_CHUNK = 32  # candidates verified in the first fetch (at least 2k); later fetches double


@dataclass
class SeriesSearchStats:
    """What an exact search did: windows in scope, verified (fetched) and pruned by MINDIST."""

    total: int = 0
    verified: int = 0
    method: str = "exact"

    @property
    def pruned_share(self) -> float:
        """Share of windows never fetched or compared exactly."""
        return 0.0 if self.total == 0 else 1.0 - self.verified / self.total


def encoder_for(store, space: str):
    """The encoder a series space was built with, rebuilt from its stored spec (or None)."""
    from ..encoders.registry import build

    spec = store.space_spec(space)
    if spec is None:
        return None
    enc = build(spec.name, **dict(spec.kwargs))
    if enc.identity != spec.identity:
        raise StoreMismatch(f"table '{space}' was built with {spec.identity}, but {enc.identity} is loaded")
    return enc


def parse_query(spec: str | Path) -> tuple[Path, str | None, float | None, float | None]:
    """``FILE[:COLUMN[:START:END]]`` -> (file, column, start, end); a path that exists wins as a whole."""
    s = str(spec)
    if Path(s).expanduser().exists():
        return Path(s).expanduser(), None, None, None
    parts = s.split(":")
    for n_extra, has_range in ((3, True), (1, False)):
        if len(parts) > n_extra and Path(":".join(parts[:-n_extra])).expanduser().exists():
            path = Path(":".join(parts[:-n_extra])).expanduser()
            col = parts[-n_extra] or None
            if not has_range:
                return path, col, None, None
            try:
                return path, col, float(parts[-2]), float(parts[-1])
            except ValueError as exc:
                raise OmnidexError(f"series query '{s}': START and END must be numbers") from exc
    raise OmnidexError(f"series query '{s}': no such file (use FILE[:COLUMN[:START:END]])")


def load_query(spec) -> tuple[np.ndarray, str]:
    """The query window's samples and a label, from a spec string or an array."""
    if not isinstance(spec, (str, Path)):
        values = np.asarray(spec, dtype=np.float64).ravel()
        return values, f"array of {values.size} samples"
    from ..series.io import load_series

    path, col, start, end = parse_query(spec)
    data = load_series(path)
    name = col or next(iter(data.columns))
    if name not in data.columns:
        raise OmnidexError(f"{path}: no numeric column '{name}' (have: {', '.join(data.columns)})")
    values = data.columns[name]
    if start is not None:
        axis = data.time if data.time is not None else np.arange(values.size, dtype=np.float64)
        values = values[(axis >= start) & (axis < end)]
    if values.size < 4:
        raise OmnidexError(f"{path}: the query window holds {values.size} samples; need at least 4")
    return values, f"{path.name}:{name}" + (f" [{start:g}, {end:g})" if start is not None else "")


def exact_topk(store, enc, query: np.ndarray, k: int, where: str | None = None) -> tuple[list[tuple[float, dict]], SeriesSearchStats]:
    """The ``k`` stored windows nearest to ``query`` by z-normalised Euclidean distance, exactly.

    Args:
        store: the open store (space ``series``).
        enc: its SeriesShapeEncoder.
        query: raw query samples (any length: resampled to the encoder's length).
        k: windows wanted.
        where: SQL prefilter.
    Returns:
        ([(distance, row), ...] ascending, stats).
    """
    tbl = store.table("series")
    stats = SeriesSearchStats()
    if tbl is None:
        return [], stats
    zq = enc.shapes([query])[0]
    qsym = symbols(zq[None, :], enc.word, enc.alphabet)[0]
    q = tbl.search().select(["text"]).with_row_id(True)
    if where:
        q = q.where(where, prefilter=True)
    meta = q.limit(None).to_arrow()
    rowids = meta.column("_rowid").to_numpy()
    stats.total = len(rowids)
    if not stats.total:
        return [], stats
    bounds = _bounds(meta.column("text").to_pylist(), qsym, enc)
    order = np.argsort(bounds, kind="stable")
    got_rid: list[np.ndarray] = []
    got_d: list[np.ndarray] = []
    pos, chunk = 0, max(FIRST_CHUNK, 2 * k)
    while pos < len(order):
        dists = np.concatenate(got_d) if got_d else np.zeros(0)
        kth = float(np.partition(dists, k - 1)[k - 1]) if dists.size >= k else math.inf
        limit = kth + 1e-6 * (1.0 + kth)  # stored shapes are float32: never prune on rounding
        if bounds[order[pos]] > limit:
            break  # every remaining lower bound exceeds the k-th best true distance
        take = [int(i) for i in order[pos:pos + chunk] if bounds[int(i)] <= limit]
        pos += chunk
        chunk *= 2
        got = tbl.take_row_ids(rowids[take].tolist()).select(["vector"]).with_row_id().to_arrow()
        vecs = got.column("vector").combine_chunks().flatten().to_numpy().reshape(got.num_rows, -1)
        got_rid.append(got.column("_rowid").to_numpy())
        got_d.append(np.sqrt(np.sum((enc.shape_part(vecs) - zq) ** 2, axis=1)))
        stats.verified += got.num_rows
    rid, dists = np.concatenate(got_rid), np.concatenate(got_d)
    top = np.argsort(dists, kind="stable")[:k]
    rows = tbl.take_row_ids(rid[top].tolist()).select(list(SEGMENT_FIELDS)).with_row_id().to_arrow().to_pylist()
    by_rid = {r.pop("_rowid"): r for r in rows}
    return [(float(dists[i]), by_rid[int(rid[i])]) for i in top], stats


def _bounds(texts: list[str], qsym: np.ndarray, enc) -> np.ndarray:
    """MINDIST of every stored word to the query (0 for a row without a usable word: always verified)."""
    w = enc.word
    words = np.zeros((len(texts), w), dtype=np.uint8)
    ok = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        m = _SAX.search(t or "")
        if m and len(m.group(1)) == w:
            words[i], ok[i] = from_word(m.group(1)), True
    out = mindist(qsym, words, enc.length, enc.alphabet)
    return np.where(ok & (words.max(axis=1, initial=0) < enc.alphabet), out, 0.0)


def _fetch(tbl, ids: list[str], where: str | None) -> list[dict]:
    rows: list[dict] = []
    for i in range(0, len(ids), 500):
        cond = "id IN (" + ", ".join(sql_str(x) for x in ids[i:i + 500]) + ")"
        if where:
            cond = f"({cond}) AND ({where})"
        rows += tbl.search().where(cond).select(list(SEGMENT_FIELDS) + ["vector"]).limit(None).to_list()
    return rows


def search_by_example(store, series, cfg, where: str | None) -> list:
    """Hits for windows shaped like ``series`` (a ``FILE[:COLUMN[:START:END]]`` spec or an array).

    Exact SAX/MINDIST search when ``cfg.series_exact`` (default), else the vector index. The
    evidence of each hit says which, the true distance and correlation, and the pruning share.
    """
    from .calibrate import calibrate
    from .moments import Candidate, merge_moments

    enc = encoder_for(store, "series")
    if enc is None:
        raise OmnidexError("no time series indexed yet (index CSV, Parquet or .npy files first)")
    values, label = load_query(series)
    k = max(cfg.top_k * 2, 10)
    n = enc.length
    if getattr(cfg, "series_exact", True):
        found, stats = exact_topk(store, enc, values, k, where)
        how = (f"exact z-normalised Euclidean top-{k} (SAX {enc.word}x{enc.alphabet} MINDIST pruned "
               f"{stats.pruned_share:.0%} of {stats.total} windows)")
    else:
        qv = enc.encode_series([values])[0]
        rows = store.vector_search("series", qv, k, where)
        found = [(_row_distance(store, enc, values, r), r) for r in rows]
        how = "vector index (shape + VQ histogram cosine; approximate)"
    zq = enc.shapes([values])[0]
    bg = store.background("series")
    bg_corr = (enc.shape_part(bg) @ zq) / n if bg.ndim == 2 and bg.shape[1] == enc.dim else np.zeros(0)
    mean, sd = _robust_stats(_fisher(bg_corr))
    cands = []
    for d, row in found:
        corr = 1.0 - d * d / (2 * n)  # z-normalised series: d^2 = 2n(1 - Pearson correlation)
        row = {**row, "text": f"{row['text']} | distance {d:.3f}, correlation {corr:.3f} to {label}; {how}"}
        cands.append(Candidate("series", calibrate(float(_fisher(corr)), mean, sd), row))
    return merge_moments(cands, cfg)


def _fisher(corr):
    """Fisher's z-transform of a correlation (variance-stabilised, so a z-score against the
    background means the same for a 0.9 and a 0.999 match)."""
    return np.arctanh(np.clip(corr, -0.9999, 0.9999))


def _robust_stats(x: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based sd of background scores (a weak prior when there are few)."""
    if x.size < 8:
        return 0.0, 0.5
    med = float(np.median(x))
    return med, max(float(np.median(np.abs(x - med))) * 1.4826, 0.05)


def _row_distance(store, enc, values, row) -> float:
    """True distance of a row found by the vector index (its vector is refetched)."""
    tbl = store.table("series")
    got = _fetch(tbl, [row["id"]], f"path = {sql_str(row['path'])}")
    if not got:
        return math.inf
    return float(np.sqrt(np.sum((enc.shape_part(got[0]["vector"]) - enc.shapes([values])[0]) ** 2)))


def text_candidates(store, text: str, cfg, where: str | None) -> list:
    """Text->series signal: the query in MiniLM space against the series tower's vectors,
    calibrated like every vector signal and gated by how much the query talks about shapes."""
    from .calibrate import background_stats, calibrate
    from .moments import Candidate

    enc = encoder_for(store, "series_text")
    if enc is None:
        return []
    qv = enc.encode_text([text])[0]
    gate = float(np.clip((enc.domain_relevance(qv) - GATE_LO) / (GATE_HI - GATE_LO), 0.0, 1.0))
    if gate <= 0.0:
        return []
    mean, sd = background_stats(qv, store.background("series_text"))
    out = []
    for r in store.vector_search("series_text", qv, cfg.candidates, where):
        r = {**r, "text": f"{r['text']} | text->series model (series-lit), cosine {r['_sim']:.3f}"}
        out.append(Candidate("series", gate * calibrate(r["_sim"], mean, sd), r))
    return out


GATE_LO, GATE_HI = 0.25, 0.5  # caption-bank cosine below GATE_LO: the query is not about shapes (signal off)
