"""Training data for the reranker: candidate pools from generated libraries (issue 14, item 5).

Each library of :mod:`omnidex.testing.library` (topic families with near-duplicate siblings) is
rendered, indexed with the default configuration and queried; for every query the top
``rerank.POOL`` fused moments are kept with their grades (2 exact moment, 1 same file, 0 other)
and the text of their files. Pools are cached as JSON per (size, seed), so training again, or
with other settings, costs no indexing. Seeds 1 and 2 belong to the relevance benchmark (2 is
held out): training refuses them.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

from ..search.rerank import POOL

BENCH_SEEDS = (1, 2)  # the relevance benchmark's development and held-out seeds
QUERY_ROUNDS = 4  # extra rounds of generated questions per training library (same files)
POOL_VERSION = 1
# a size between the generator's "small" (3 families) and "full" (16): full-size families (4 sibling
# videos, 5 documents, 4 posters: the near-duplicates a reranker must tell apart) at a third of the cost
MEDIUM = {"families": 6, "videos": 4, "docs": 5, "posters": 4,
          "background": {"image": 8, "doc": 8, "audio": 4, "video": 4},
          "per_family": {"fact": 1, "paraphrase": 1, "on-screen": 1, "document": 1, "image-text": 1},
          "near_topic": 1, "off_topic": 4}


def register_sizes() -> None:
    """Make the "medium" training size known to the library generator (once)."""
    from ..testing import library as L

    L.SIZES.setdefault("medium", MEDIUM)


def hit_payload(h) -> dict:
    """What a reranker reads from a Hit, as a plain dict (the pools' on-disk form)."""
    return {"path": h.path, "start": float(h.start), "end": float(h.end), "unit": h.unit,
            "score": float(h.score), "modality": h.modality, "source": h.source,
            "signals": dict(h.signals), "reliability": dict(h.reliability or {}),
            "evidence": h.evidence or "", "matched": list(h.matched_words)}


def extra_queries(man: dict, rounds: int = QUERY_ROUNDS) -> list[dict]:
    """More questions about the same files: the generator's templates with other draws.

    Args:
        man: a library manifest.
        rounds: draws per family.
    Returns:
        Queries like the manifest's (duplicates of its own left out); [] when the generator's
        helpers are not available.
    """
    from ..testing import library as L

    try:
        comp = L.SIZES[man["size"]]
        seen = {q["text"] for q in man["queries"]}
        out = []
        for r in range(rounds):
            rng = random.Random(f"rerank/{man['seed']}/{r}")
            for fam in man["families"]:
                files = [f for f in man["files"] if f.get("family") == fam["key"] and f["role"] == "member"]
                qs = L.family_queries(fam, files, comp["per_family"], rng) + [L.near_topic(fam, files, rng)]
                out += [q for q in qs if q["text"] not in seen and not seen.add(q["text"])]
    except (AttributeError, KeyError, TypeError, ValueError):
        return []
    for i, q in enumerate(out):
        q["id"] = f"s{man['seed']}x{i + 1:03d}"
    return out


def _indexed(cache: Path, man: dict, progress=None):
    """The library's index (built once; a stamp records the spec it was built from)."""
    from ..api import Index
    from ..testing.library import file_path

    db = cache / f"db_{man['size']}_seed{man['seed']}"
    stamp = db / "rerank_spec.txt"
    if not (stamp.exists() and stamp.read_text() == man["spec_hash"]):
        shutil.rmtree(db, ignore_errors=True)
        idx = Index(db)
        idx.add([file_path(man, f["path"]) for f in man["files"]], progress=progress)
        stamp.write_text(man["spec_hash"])
    return Index(db)


def query_pools(idx, man: dict, queries: list[dict]) -> list[dict]:
    """Every query's fused pool (no reranker), graded, with the text of the pool's files.

    Returns:
        [{"id", "text", "type", "answerable", "hits": [hit_payload + "grade"], "context": {path: text}}]
    """
    from ..testing.library import grade

    idx.search("warm up", top_k=1)
    idx.searcher.reranker = None  # the pools are what fusion alone ranks
    out = []
    for q in queries:
        hits = idx.search(q["text"], top_k=POOL)
        rows = [dict(hit_payload(h), grade=grade(q, h.path, h.start, h.end, man["root"])) for h in hits]
        ctx = idx.store.file_texts(sorted({h.path for h in hits}))
        out.append({"id": q["id"], "text": q["text"], "type": q["type"], "answerable": q["answer"] is not None,
                    "hits": rows, "context": ctx})
    return out


def library_pools(cache: str | Path, seed: int, size: str = "small", extra: bool = True,
                  allow_bench: bool = False, progress=None, libraries: str | Path | None = None) -> list[dict]:
    """Pools of one generated library (built, indexed and queried once; then read from the cache).

    Args:
        cache: folder for libraries, indexes and pools.
        seed: library seed (1 and 2 only with ``allow_bench``: they are the benchmark's).
        size: library size of :mod:`omnidex.testing.library`.
        extra: also ask :func:`extra_queries` (training libraries).
        allow_bench: evaluation only; never train on these pools.
        progress: optional callable ``(message)``.
        libraries: where rendered libraries are cached (default ``cache/libraries``; the
            benchmark's folder can be shared).
    Returns:
        The pools of :func:`query_pools`.
    """
    from ..testing.library import build_library

    if seed in BENCH_SEEDS and not allow_bench:
        raise ValueError(f"seed {seed} belongs to the relevance benchmark; train on other seeds")
    register_sizes()
    cache = Path(cache)
    out = cache / f"pools_{size}_seed{seed}{'_x' if extra else ''}.json"
    if out.exists():
        data = json.loads(out.read_text())
        if data.get("version") == POOL_VERSION:
            return data["pools"]
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    say(f"seed {seed}: rendering the {size} library")
    man = build_library(Path(libraries or cache / "libraries"), seed=seed, size=size)
    say(f"seed {seed}: indexing {len(man['files'])} files")
    idx = _indexed(cache, man)
    queries = man["queries"] + (extra_queries(man) if extra else [])
    say(f"seed {seed}: {len(queries)} queries")
    pools = query_pools(idx, man, queries)
    out.write_text(json.dumps({"version": POOL_VERSION, "seed": seed, "size": size, "spec_hash": man["spec_hash"],
                               "seconds": round(time.perf_counter() - t0, 1), "pools": pools}))
    return pools


__all__ = ["BENCH_SEEDS", "extra_queries", "hit_payload", "library_pools", "query_pools"]
