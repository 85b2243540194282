"""Retrieval evaluation: an encoder on image/video-caption pairs, or a whole index on labelled queries.

Ties are broken pessimistically everywhere: a relevant candidate that scores exactly the same as
an irrelevant one is ranked after it, so a constant encoder (every score equal) gets the worst
ranks, not a lucky 1. Scores are compared in float64.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

RECALL_KS = (1, 5, 10)
DEFAULT_IOU = 0.5
ROW_BLOCK = 1024  # similarity rows ranked at a time (bounds memory for large sets)


# ---------------------------------------------------------------- retrieval metrics

def _ordered_relevance(scores: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Relevance flags of each row sorted by descending score, ties: irrelevant first (pessimistic)."""
    order = np.lexsort((rel.astype(np.int8), -scores), axis=1)
    return np.take_along_axis(rel, order, axis=1)


def _direction_stats(sim: np.ndarray, rel: np.ndarray) -> dict:
    """Rank statistics of queries (rows of ``sim``) against candidates (columns); ``rel`` marks relevant pairs.

    Returns per-query first-relevant rank (1-based) and average precision as arrays.
    """
    n_q = sim.shape[0]
    first = np.empty(n_q, dtype=np.int64)
    ap = np.empty(n_q, dtype=np.float64)
    for lo in range(0, n_q, ROW_BLOCK):
        s, r = sim[lo:lo + ROW_BLOCK], rel[lo:lo + ROW_BLOCK]
        ranked = _ordered_relevance(s, r)
        first[lo:lo + len(s)] = np.argmax(ranked, axis=1) + 1
        hits = np.cumsum(ranked, axis=1)
        prec = hits / np.arange(1, ranked.shape[1] + 1)[None, :]
        ap[lo:lo + len(s)] = (prec * ranked).sum(axis=1) / np.maximum(ranked.sum(axis=1), 1)
    return {"first": first, "ap": ap}


def _chance_recall(n_candidates: int, n_relevant: np.ndarray, k: int) -> float:
    """Mean probability that a uniformly random ranking puts >= 1 relevant candidate in the top k."""
    k = min(k, n_candidates)
    out = []
    for m in n_relevant:
        m = int(m)
        if n_candidates - m < k:  # cannot fill the top k with irrelevant ones
            out.append(1.0)
        else:  # 1 - C(N-m, k) / C(N, k)
            out.append(1.0 - math.comb(n_candidates - m, k) / math.comb(n_candidates, k))
    return float(np.mean(out)) if out else 0.0


def _summary(first: np.ndarray, ap: np.ndarray, n_candidates: int, n_relevant: np.ndarray) -> dict:
    out = {f"R@{k}": float(np.mean(first <= k)) for k in RECALL_KS}
    out["median_rank"] = float(np.median(first))
    out["mean_rank"] = float(np.mean(first))
    out["mAP"] = float(np.mean(ap))
    out["chance"] = {f"R@{k}": _chance_recall(n_candidates, n_relevant, k) for k in RECALL_KS}
    out["ranks"] = [int(x) for x in first]
    return out


def retrieval_metrics(item_emb, text_emb, item_of_text=None) -> dict:
    """Text->item and item->text retrieval metrics for paired embeddings.

    Args:
        item_emb: (n_items, d) item (image/video) embeddings, unit rows.
        text_emb: (n_texts, d) caption embeddings, unit rows.
        item_of_text: for each caption, the index of its item (several captions may share one);
            None means caption i belongs to item i (then n_texts must equal n_items).
    Returns:
        ``{"n_items", "n_texts", "text_to_item": {...}, "item_to_text": {...}}``; each direction has
        ``R@1``, ``R@5``, ``R@10`` (share of queries with a relevant candidate in the top k),
        ``median_rank`` and ``mean_rank`` (1-based rank of the first relevant candidate), ``mAP``
        (mean average precision; text->item has one relevant item, so this is the MRR), ``chance``
        (the expected R@k of a random ranking) and ``ranks`` (per query). Item->text covers items
        with at least one caption. Ties are pessimistic: equal scores rank the relevant one last.
    Raises:
        ValueError: mismatched shapes or an out-of-range mapping.
    """
    items = np.asarray(item_emb, dtype=np.float64)
    texts = np.asarray(text_emb, dtype=np.float64)
    if items.ndim != 2 or texts.ndim != 2 or items.shape[1] != texts.shape[1]:
        raise ValueError(f"embeddings must be 2-D with equal widths, got {items.shape} and {texts.shape}")
    n_items, n_texts = len(items), len(texts)
    if item_of_text is None:
        if n_items != n_texts:
            raise ValueError(f"{n_texts} captions for {n_items} items: pass item_of_text")
        owner = np.arange(n_texts)
    else:
        owner = np.asarray(item_of_text, dtype=np.int64).reshape(-1)
        if len(owner) != n_texts:
            raise ValueError(f"item_of_text has {len(owner)} entries for {n_texts} captions")
        if len(owner) and (owner.min() < 0 or owner.max() >= n_items):
            raise ValueError("item_of_text refers to items that do not exist")
    if n_items == 0 or n_texts == 0:
        raise ValueError("nothing to evaluate: no items or no captions")
    sim = texts @ items.T  # (n_texts, n_items)
    rel = np.zeros(sim.shape, dtype=bool)
    rel[np.arange(n_texts), owner] = True

    t2i = _direction_stats(sim, rel)
    captioned = np.flatnonzero(rel.any(axis=0))
    rel_i = rel.T[captioned]
    i2t = _direction_stats(sim.T[captioned], rel_i)
    return {
        "n_items": n_items,
        "n_texts": n_texts,
        "text_to_item": _summary(t2i["first"], t2i["ap"], n_items, np.ones(n_texts, dtype=np.int64)),
        "item_to_text": _summary(i2t["first"], i2t["ap"], n_texts, rel_i.sum(axis=1)),
    }


# ---------------------------------------------------------------- encoders

def encoder_from_spec(spec: str | None):
    """Build an encoder from a command-line spec.

    Args:
        spec: ``"lit:DIR"`` (a LiT model directory; ``lit:bundled`` the shipped one), ``"minilm"``,
            ``"clip:MODEL"``, a directory whose ``config.json`` has ``model_type`` clip/siglip, or any
            CLIP hub id / directory; None gives the default CLIP model, or offline the bundled one.
    Returns:
        The encoder (from the registry's cache when built before).
    """
    from ..encoders.registry import build
    from ..errors import OmnidexError

    if spec is None:  # the default CLIP, else (offline) the bundled visual model, as ingest does
        from ..config import IndexConfig
        from ..spaces import Models

        models = Models(IndexConfig())
        enc = models.encoder("visual")
        for notice in models.notices:
            print(f"notice: {notice}", file=sys.stderr)
        if enc is None:
            raise OmnidexError("no image-text encoder: " + "; ".join(models.notices))
        return enc
    spec = str(spec)
    if spec.startswith("lit:"):  # lit:DIR, or lit:bundled for the shipped offline model
        from ..spaces import visual_encoder

        name, model = visual_encoder(spec)
        return build(name, model=model)
    if spec.startswith("clip:"):
        return build("clip", model=spec[5:])
    if spec in ("minilm", "phash"):
        return build(spec)
    path = Path(spec).expanduser()
    cfg = path / "config.json"
    if path.is_dir() and cfg.is_file():
        try:
            kind = str(json.loads(cfg.read_text(encoding="utf-8")).get("model_type", ""))
        except (OSError, ValueError):
            kind = ""
        if "clip" in kind or "siglip" in kind:
            return build("clip", model=str(path))
    return build("clip", model=spec)


def media_kind(path, hint: str | None = None) -> str:
    """"image" or "video" for a file (``hint`` when given, else sniffed from its content)."""
    if hint in ("image", "video"):
        return hint
    from ..media.sniff import sniff

    return sniff(path)


def embed_video(encoder, path, batch_size: int = 64) -> tuple[np.ndarray, list[tuple[float, float, np.ndarray]]]:
    """Embed a video: its shots' representative frames, pooled per shot (mean, renormalised).

    Args:
        encoder: an image-embedding encoder.
        path: video file.
        batch_size: frames per encode call.
    Returns:
        (video vector (dim,) = renormalised mean of the shot vectors, [(shot start, end, shot vector)]).
    Raises:
        MediaError: unreadable video or no frames.
    """
    from ..encoders.base import l2_normalise
    from ..errors import MediaError
    from ..media.shots import detect_shots

    scan = detect_shots(path)
    if not scan.frames:
        raise MediaError(path, "no frames could be decoded")
    images = [f.image for f in scan.frames]
    vecs = np.concatenate([encoder.encode_image(images[i:i + batch_size])
                           for i in range(0, len(images), batch_size)], axis=0)
    times = np.array([f.t for f in scan.frames])
    shots = []
    for k, shot in enumerate(scan.shots):
        last = k == len(scan.shots) - 1
        mask = (times >= shot.start - 1e-6) & ((times < shot.end - 1e-6) | last)
        if shot.frames:
            mask |= np.isin(np.round(times, 6), np.round(np.array(shot.frames), 6))
        if mask.any():
            shots.append((float(shot.start), float(shot.end), l2_normalise(vecs[mask].mean(axis=0))[0]))
    if not shots:  # frames outside every shot span: one pseudo-shot
        shots.append((float(times.min()), float(times.max()), l2_normalise(vecs.mean(axis=0))[0]))
    pooled = l2_normalise(np.mean([s[2] for s in shots], axis=0))[0]
    return pooled, shots


def load_rgb(path):
    """An image file as an upright RGB PIL image."""
    from ..media.image import load_image

    return load_image(path).convert("RGB")


def embed_items(encoder, paths: list, kinds: list[str | None] | None = None, batch_size: int = 64,
                progress=None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Embed image and video files; a file that fails leaves a zero row and an error string.

    Args:
        encoder: image-embedding encoder.
        paths: files.
        kinds: "image"/"video" per file (None entries are sniffed).
        batch_size: images per encode call.
        progress: optional callable ``(done, total, path)``.
    Returns:
        ((n, dim) float32 vectors (zero rows for failed files), errors ("path: reason" per failed
        file), (n,) bool mask of the files embedded).
    """
    kinds = kinds or [None] * len(paths)
    dim = int(encoder.dim)
    out = np.zeros((len(paths), dim), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    errors: list[str] = []
    pending: list[tuple[int, object]] = []
    done = 0

    def flush():
        if pending:
            vecs = encoder.encode_image([im for _, im in pending])
            for (j, _), v in zip(pending, vecs):
                out[j], ok[j] = v, True
            pending.clear()

    for i, (path, hint) in enumerate(zip(paths, kinds)):
        try:
            kind = media_kind(path, hint)
            if kind == "image":
                pending.append((i, load_rgb(path)))
                if len(pending) >= batch_size:
                    flush()
            elif kind == "video":
                out[i], ok[i] = embed_video(encoder, path, batch_size)[0], True
            else:
                raise ValueError(f"not an image or a video (looks like {kind})")
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the run
            msg = str(exc)
            errors.append(msg if str(path) in msg else f"{path}: {msg}")
        done += 1
        if progress:
            progress(done, len(paths), str(path))
    flush()
    return out, errors, ok


def evaluate_encoder(encoder, pairs, batch_size: int = 64, progress=None, slice_values=None,
                     slice_field: str = "slice", keep_embeddings: bool = False) -> dict:
    """Caption<->media retrieval quality of an encoder on held-out pairs.

    Args:
        encoder: encoder with ``encode_text`` and ``encode_image`` in one space.
        pairs: objects with ``.path``, ``.caption`` and optionally ``.modality`` ("image"/"video");
            captions of the same path are several captions of one item.
        batch_size: inputs per encode call.
        progress: optional callable ``(done, total, path)`` over the media files.
        slice_values: optional metadata value per pair; adds ``slices`` (text->item R@1/5/10 per value
            with bootstrap intervals and the best-worst gap, see ``omnidex.train.slices.slice_report``).
        slice_field: the field's name in that report.
        keep_embeddings: also return ``embeddings`` = (item vectors, caption vectors, owner per caption,
            captions, item names) for plotting (not JSON; pop it before printing).
    Returns:
        :func:`retrieval_metrics` output plus ``encoder`` (identity), ``n`` (pairs used), ``seconds``
        and ``problems`` (files that could not be embedded; their pairs are left out).
    Raises:
        ValueError: no pair could be used.
    """
    started = time.perf_counter()
    pairs = list(pairs)
    index: dict[str, int] = {}
    paths, kinds = [], []
    for p in pairs:
        key = os.path.abspath(str(p.path))
        if key not in index:
            index[key] = len(paths)
            paths.append(p.path)
            kinds.append(getattr(p, "modality", None))
    vecs, problems, ok = embed_items(encoder, paths, kinds, batch_size, progress)
    keep_item = np.flatnonzero(ok)
    new_id = {int(old): new for new, old in enumerate(keep_item)}
    if slice_values is not None and len(slice_values) != len(pairs):
        raise ValueError(f"{len(slice_values)} slice values for {len(pairs)} pairs")
    captions, owners, kept = [], [], []
    for j, p in enumerate(pairs):
        old = index[os.path.abspath(str(p.path))]
        if old in new_id:
            captions.append(str(p.caption))
            owners.append(new_id[old])
            kept.append(j)
    if not captions:
        raise ValueError("no pair could be evaluated: " + ("; ".join(problems[:3]) or "no pairs"))
    texts = np.concatenate([encoder.encode_text(captions[i:i + batch_size])
                            for i in range(0, len(captions), batch_size)], axis=0)
    metrics = retrieval_metrics(vecs[keep_item], texts, owners)
    out = {"encoder": getattr(encoder, "identity", type(encoder).__name__), "n": len(captions),
           **metrics, "seconds": round(time.perf_counter() - started, 3), "problems": problems}
    if slice_values is not None:
        from .slices import slice_report

        ranks = np.array(metrics["text_to_item"]["ranks"])
        out["slices"] = slice_report([slice_values[j] for j in kept],
                                     {f"R@{k}": ranks <= k for k in RECALL_KS}, slice_field)
    if keep_embeddings:
        out["embeddings"] = (vecs[keep_item], texts, np.array(owners), captions,
                             [Path(str(paths[int(i)])).name for i in keep_item])
    return out


# ---------------------------------------------------------------- comparison

def _flatten(d: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if k in ("ranks", "per_query", "problems", "seconds", "slices", "embedding_maps", "slice_plots"):
            continue
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[name] = float(v)
    return out


def compare(results_a: dict, results_b: dict | None = None) -> list[dict]:
    """Side-by-side rows of two evaluation results (before/after).

    Args:
        results_a: output of :func:`evaluate_encoder` or :func:`evaluate_index`.
        results_b: the other result, or None for a one-column listing.
    Returns:
        JSON-ready ``[{"metric", "a", "b", "delta"}]`` over the numeric metrics (nested keys joined
        with dots, e.g. ``text_to_item.R@1``); a metric missing on one side has None there.
    """
    fa = _flatten(results_a)
    fb = _flatten(results_b) if results_b is not None else {}
    names = list(fa) + [k for k in fb if k not in fa]
    rows = []
    for name in names:
        a, b = fa.get(name), fb.get(name)
        rows.append({"metric": name, "a": a, "b": b,
                     "delta": (b - a) if a is not None and b is not None else None})
    return rows


def print_comparison(rows: list[dict], title: str = "evaluation", label_a: str = "a",
                     label_b: str = "b", console=None) -> None:
    """Print :func:`compare` rows as a rich table (deltas coloured: green better, red worse;
    for rank metrics lower is better)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    two = any(r["b"] is not None for r in rows)
    t = Table(title=escape(title))
    t.add_column("metric")
    t.add_column(escape(label_a), justify="right")
    if two:
        t.add_column(escape(label_b), justify="right")
        t.add_column("delta", justify="right")

    for r in rows:
        counts = r["metric"] in ("n", "n_items", "n_texts", "queries")

        def fmt(x, counts=counts):
            return "-" if x is None else (f"{x:.0f}" if counts else f"{x:.4f}")

        cells = [escape(r["metric"]), fmt(r["a"])]
        if two:
            d = r["delta"]
            lower_better = "rank" in r["metric"]
            if d is None or d == 0 or counts or ".chance." in r["metric"]:
                ds = fmt(d) if d is None or counts else f"{d:+.4f}"
            else:
                good = (d < 0) if lower_better else (d > 0)
                ds = f"[{'green' if good else 'red'}]{d:+.4f}[/]"
            cells += [fmt(r["b"]), ds]
        t.add_row(*cells)
    (console or Console()).print(t)


# ---------------------------------------------------------------- whole-index evaluation

def _rel_item(entry, base: Path) -> dict:
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict) or not entry.get("path"):
        raise ValueError(f"a relevant item needs a 'path': {entry!r}")
    p = Path(str(entry["path"])).expanduser()
    if not p.is_absolute():
        p = base / p
    item = {"path": os.path.realpath(p)}
    for key in ("start", "end"):
        v = entry.get(key)
        if v not in (None, ""):
            item[key] = float(v)
    if ("start" in item) != ("end" in item):
        raise ValueError(f"a relevant moment needs both start and end: {entry!r}")
    return item


def load_queries(queries_file) -> list[dict]:
    """Read labelled queries.

    Formats: JSONL (one ``{"query": ..., "relevant": [{"path", "start"?, "end"?} or "path", ...]}``
    per line), a JSON list of those, or CSV with columns ``query``, ``path`` and optional
    ``start``/``end`` (one relevant item per row; rows of the same query are merged).
    Relative paths resolve against the queries file's folder.

    Returns:
        ``[{"query": str, "relevant": [{"path": realpath, "start"?, "end"?}]}]`` in file order.
    Raises:
        ValueError: a malformed row (the message names the file and line).
    """
    path = Path(queries_file).expanduser()
    base = path.resolve().parent
    text = path.read_text(encoding="utf-8-sig")
    out: list[dict] = []
    if path.suffix.lower() in (".csv", ".tsv"):
        merged: dict[str, dict] = {}
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        for line, row in enumerate(reader, 2):
            q = (row.get("query") or "").strip()
            rel = row.get("path") or row.get("relevant")
            if not q or not rel:
                raise ValueError(f"{path}:{line}: a row needs 'query' and 'path'")
            try:
                item = _rel_item({"path": rel, "start": row.get("start"), "end": row.get("end")}, base)
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: {exc}") from exc
            if q not in merged:
                merged[q] = {"query": q, "relevant": []}
                out.append(merged[q])
            merged[q]["relevant"].append(item)
        return out
    stripped = text.lstrip()
    if stripped.startswith("["):
        rows = list(enumerate(json.loads(text), 1))
    else:
        rows = []
        for line, raw in enumerate(text.splitlines(), 1):
            if raw.strip() and not raw.lstrip().startswith("#"):
                try:
                    rows.append((line, json.loads(raw)))
                except ValueError as exc:
                    raise ValueError(f"{path}:{line}: not JSON ({exc})") from exc
    for line, row in rows:
        try:
            if not isinstance(row, dict) or not str(row.get("query", "")).strip():
                raise ValueError("a row needs a non-empty 'query'")
            rel = row.get("relevant", [])
            rel = [rel] if isinstance(rel, (str, dict)) else list(rel)
            if not rel:
                raise ValueError("a row needs at least one 'relevant' item")
            out.append({"query": str(row["query"]).strip(), "relevant": [_rel_item(r, base) for r in rel]})
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: {exc}") from exc
    return out


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two [start, end] spans (two equal points count as 1)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    if union <= 0:
        return 1.0 if a == b else 0.0
    return inter / union


def _matches(hit, item: dict, hit_path: str, iou: float) -> bool:
    if hit_path != item["path"]:
        return False
    if "start" not in item:
        return True
    return temporal_iou((float(hit.start), float(hit.end)), (item["start"], item["end"])) >= iou


def evaluate_index(db, queries_file, top_k: int = 10, iou: float = DEFAULT_IOU, index=None) -> dict:
    """Evaluate a whole omnidex index against labelled queries.

    A hit is relevant when its path equals a relevant item's path and, when that item has
    ``start``/``end``, the hit's span overlaps it with temporal IoU >= ``iou``. Each relevant item is
    credited once: later hits matching an item already found count as not relevant.

    Args:
        db: index directory.
        queries_file: JSONL/JSON/CSV file (see :func:`load_queries`).
        top_k: hits fetched per query (at least 10 are fetched, for nDCG@10 and R@10).
        iou: least temporal IoU for a moment to count.
        index: an open ``omnidex.Index`` to use instead of opening ``db``.
    Returns:
        ``{"db", "queries", "R@1", "R@5", "R@10"`` (share of queries with a relevant hit in the top
        k), ``"recall@10"`` (share of relevant items found in the top 10), ``"MRR"``, ``"nDCG@10"``,
        ``"iou"``, ``"seconds"``, ``"per_query": [{"query", "rank" (1-based first relevant hit or
        None), "relevant", "found", "hits"}]}``.
    """
    from ..api import Index

    started = time.perf_counter()
    queries = load_queries(queries_file)
    idx = index if index is not None else Index.open(db)  # read-only; NoIndex when nothing is there
    fetch = max(int(top_k), 10)
    per_query = []
    ranks, ndcgs, recalls = [], [], []
    for q in queries:
        hits = idx.search(q["query"], top_k=fetch)
        found: set[int] = set()
        gains = []
        for hit in hits:
            hp = os.path.realpath(hit.path)
            g = 0
            for j, item in enumerate(q["relevant"]):
                if j not in found and _matches(hit, item, hp, iou):
                    found.add(j)
                    g = 1
                    break
            gains.append(g)
        first = next((i + 1 for i, g in enumerate(gains) if g), None)
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(q["relevant"]), 10)))
        ndcgs.append(dcg / idcg if idcg else 0.0)
        ranks.append(first)
        recalls.append(sum(gains[:10]) / len(q["relevant"]))
        per_query.append({"query": q["query"], "rank": first, "relevant": len(q["relevant"]),
                          "found": len(found),
                          "hits": [{"path": h.path, "start": h.start, "end": h.end, "score": h.score,
                                    "relevant": bool(g)} for h, g in zip(hits[:top_k], gains)]})
    n = len(queries)

    def share(k):
        return float(sum(1 for r in ranks if r is not None and r <= k) / n) if n else 0.0

    return {"db": str(db), "queries": n, **{f"R@{k}": share(k) for k in RECALL_KS},
            "recall@10": float(np.mean(recalls)) if n else 0.0,
            "MRR": float(np.mean([1.0 / r if r else 0.0 for r in ranks])) if n else 0.0,
            "nDCG@10": float(np.mean(ndcgs)) if n else 0.0, "iou": iou,
            "seconds": round(time.perf_counter() - started, 3), "per_query": per_query}


# ---------------------------------------------------------------- CLI

def _map(label: str, result: dict) -> dict:
    """The embedding map of one evaluation (its kept embeddings are popped: they are not JSON)."""
    from .embedmap import build_map

    items, texts, owners, captions, names = result.pop("embeddings")
    return build_map(label, items, texts, owners, captions, names)


def _query_slices(queries_file, field: str, per_query: list[dict]) -> dict:
    """R@1/5/10 per value of ``field`` in the queries file (a query's value is its first row's)."""
    from ..errors import OmnidexError
    from .slices import MISSING, field_value, read_rows, slice_report

    value_of: dict[str, str] = {}
    for _, row in read_rows(queries_file):
        q = str(row.get("query", "")).strip()
        v = field_value(row, field)
        if q and q not in value_of and v not in (None, ""):
            value_of[q] = v if isinstance(v, str) else json.dumps(v)
    if not value_of:
        raise OmnidexError(f"{queries_file}: no query has a field {field!r} to slice on")
    values = [value_of.get(q["query"], MISSING) for q in per_query]
    ranks = np.array([q["rank"] if q["rank"] is not None else 10**9 for q in per_query])
    return slice_report(values, {f"R@{k}": ranks <= k for k in RECALL_KS}, field)


def _slice_plots(reports: list[tuple[str, dict]], field: str, plot: str | None, out: str | None) -> list[str]:
    """One bar chart per slice report: ``plot`` (``-a``/``-b`` suffixes when two), else beside ``out``."""
    from .slices import plot_slices

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in field)
    if plot:
        base = Path(plot).expanduser()
    elif out:
        base = Path(out).expanduser().with_name(Path(out).stem + f"-slices-{safe}.png")
    else:
        base = Path(f"slices-{safe}.png")
    paths = []
    for j, (label, rep) in enumerate(reports):
        p = base if len(reports) == 1 else base.with_name(f"{base.stem}-{'ab'[j] if j < 2 else j}{base.suffix}")
        p.parent.mkdir(parents=True, exist_ok=True)
        paths.append(str(plot_slices(rep, p, title=str(label))))
    return paths

def _load_pairs(args):
    from .pairs import load_pairs  # written alongside; imported lazily

    kw = {}
    if getattr(args, "root", None):
        kw["root"] = args.root
    report = load_pairs(args.pairs, **kw)
    for p in getattr(report, "problems", [])[:20]:
        print(f"warning: {getattr(p, 'source', args.pairs)} row {getattr(p, 'row', '?')}: "
              f"{getattr(p, 'reason', p)}", file=sys.stderr)
    return report.pairs


def main_eval(args) -> int:
    """``omnidex eval``: score an encoder on pairs (optionally against a second one), or an index on queries.

    Args (attributes of ``args``):
        pairs: pairs file (CSV/JSONL, see ``omnidex.train.pairs``), or None with ``index``.
        index, queries: index directory and labelled queries file (whole-index evaluation).
        clip: encoder spec (see :func:`encoder_from_spec`); None = the default CLIP.
        against: a second encoder spec, for a before/after comparison.
        json: print JSON instead of tables.
        out: also write the JSON to this file.
        top_k, iou, batch_size, root: optional tuning (defaults 10, 0.5, 64, None).
        slice: a metadata field of the pairs/queries file: R@k per value with bootstrap intervals,
            the best-worst gap and a plot (``slice_plot``, default beside ``out`` or ./slices-FIELD.png).
        plot_embeddings: a folder for the embedding maps (``embeddings.png``, ``embeddings_3d.html``);
            with ``against`` both encoders are drawn (before / after).
    Returns:
        0 on success, 1 on a failure (message on stderr), 2 on bad arguments.
    """
    from ..errors import NoIndex, OmnidexError

    as_json = bool(getattr(args, "json", False))
    pairs_file, db, queries = getattr(args, "pairs", None), getattr(args, "index", None), getattr(args, "queries", None)
    field = getattr(args, "slice", None)
    plot_dir = getattr(args, "plot_embeddings", None)
    reports: list[tuple[str, dict]] = []
    try:
        if db or queries:
            if not (db and queries):
                print("error: --index and --queries go together", file=sys.stderr)
                return 2
            result = evaluate_index(db, queries, top_k=int(getattr(args, "top_k", None) or 10),
                                    iou=float(getattr(args, "iou", None) or DEFAULT_IOU))
            rows = compare(result)
            title = f"index {db} on {queries}"
            if field:
                result["slices"] = _query_slices(queries, field, result["per_query"])
                reports.append((f"index {db}", result["slices"]))
        elif pairs_file:
            pairs = _load_pairs(args)
            bs = int(getattr(args, "batch_size", None) or 64)
            values = None
            if field:
                from .slices import pair_values

                values = pair_values(pairs_file, field, pairs, root=getattr(args, "root", None))
            kw = {"slice_values": values, "slice_field": field or "slice", "keep_embeddings": bool(plot_dir)}
            enc_a = encoder_from_spec(getattr(args, "clip", None))
            result = evaluate_encoder(enc_a, pairs, batch_size=bs, **kw)
            label_a = getattr(args, "clip", None) or "default CLIP"
            maps = [_map(label_a, result)] if plot_dir else []
            if field:
                reports.append((label_a, result["slices"]))
            title = f"{result['encoder']} on {pairs_file}"
            if getattr(args, "against", None):
                enc_b = encoder_from_spec(args.against)
                other = evaluate_encoder(enc_b, pairs, batch_size=bs, **kw)
                if plot_dir:
                    maps.append(_map(args.against, other))
                if field:
                    reports.append((args.against, other["slices"]))
                rows = compare(result, other)
                result = {"a": result, "b": other, "comparison": rows}
                title = f"{pairs_file}: a = {args.clip or 'default CLIP'}, b = {args.against}"
            else:
                rows = compare(result)
            if plot_dir:
                from .embedmap import plot_maps

                written = plot_maps(maps, plot_dir)
                result["embedding_maps"] = written
                print(f"embedding maps: {written['png']}, {written['html']}", file=sys.stderr)
        else:
            print("error: give a pairs file, or --index DB --queries FILE", file=sys.stderr)
            return 2
        if reports:
            plots = _slice_plots(reports, field, getattr(args, "slice_plot", None), getattr(args, "out", None))
            result["slice_plots"] = plots
    except NoIndex:
        raise  # the CLI's "no index at PATH", exit 2, like the other read commands
    except (OmnidexError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2, default=str)
    if getattr(args, "out", None):
        Path(args.out).expanduser().write_text(text + "\n", encoding="utf-8")
    if as_json:
        print(text)
    else:
        print_comparison(rows, title=title)
        if reports:
            from .slices import print_slices

            for label, rep in reports:
                print_slices(rep, title=label)
            print(f"slice plot: {', '.join(result['slice_plots'])}")
        for p in (result.get("problems") or [])[:20] if isinstance(result, dict) else []:
            print(f"warning: {p}", file=sys.stderr)
    return 0
