"""Vector index maintenance: exact in-memory search for small spaces, a tuned ANN index for large
ones, kept up to date across appends and deletes, with recall measured against an exact scan."""
from __future__ import annotations

import json

import numpy as np
import pytest

from omnidex.store import Store
from omnidex.store.lance import EncoderSpec
from omnidex.store.vindex import IndexPolicy, choose_kind, exact_topk

DIM = 64
SPEC = EncoderSpec("fake", (), "fake@1", DIM)


def clustered(n: int, seed: int, shots: int = 400) -> np.ndarray:
    """Unit vectors grouped like video frames: shots of near-duplicates around shared topics."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(123)  # the same shots for every call, so queries match the data
    topics = base.standard_normal((40, DIM))
    centres = topics[base.integers(0, 40, shots)] + 0.8 * base.standard_normal((shots, DIM)) / np.sqrt(DIM) * 4
    x = centres[rng.integers(0, shots, n)] + 0.5 * rng.standard_normal((n, DIM)) / np.sqrt(DIM) * 4
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def add(store: Store, vecs: np.ndarray, start: int, batch: str) -> None:
    rows = [{"id": f"r{start + i}", "path": f"/m/{(start + i) % 7}.jpg", "sha256": "s", "mtime": 0.0,
             "kind": "image", "source": "image", "start": 0.0, "end": 0.0, "at": 0.0, "unit": "s",
             "text": "", "words": "", "vector": v} for i, v in enumerate(vecs)]
    store.ensure_space("visual", SPEC)
    store.commit(batch, [{"path": f"/batch/{batch}", "sha256": batch, "size": 1, "mtime": 0.0, "kind": "image",
                          "status": "indexed", "reason": "", "segments": len(rows), "duration": 0.0,
                          "batch": "", "indexed_at": 0.0, "info": ""}], {"visual": rows}, [])


def recall(store: Store, data: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    truth = exact_topk(data, queries, k)
    got = [[int(r["id"][1:]) for r in store.vector_search("visual", q, k)] for q in queries]
    return float(np.mean([len(set(g) & set(t.tolist())) / k for g, t in zip(got, truth)]))


def test_policy_picks_exact_for_small_and_ivf_for_large():
    p = IndexPolicy()
    assert choose_kind(10_000, 512, p) is None  # 20 MB: exact
    assert choose_kind(1_000_000, 512, p) == "IVF_SQ"
    assert choose_kind(10_000_000, 512, p) == "IVF_PQ"
    assert choose_kind(100_000, 2048, p) == "IVF_PQ"


def test_refine_pool_never_shrinks_below_what_the_tuner_measured():
    from omnidex.store.lance import refine_for

    assert refine_for(5, 10) == 5  # 50 re-ranked, as tuned
    assert refine_for(5, 100) == 1  # 100 candidates: those 100 re-ranked, not 500
    assert refine_for(5, 30) == 2 and refine_for(5, 1) == 50
    for k in (1, 7, 10, 33, 50, 100, 1000):
        assert refine_for(5, k) * k >= 50


def test_new_tables_use_the_random_access_file_format(tmp_path):
    """Tables are written as Lance 2.1 (single-row takes ~6x faster than lancedb's 2.2 default)."""
    import struct

    from omnidex.store.lance import TABLE_FORMAT

    store = Store(tmp_path / "db")
    add(store, clustered(20, 0), 0, "b0")
    files = list((tmp_path / "db" / "visual.lance" / "data").glob("*.lance"))
    assert files
    for f in files:
        major, minor, magic = struct.unpack("<HH4s", f.read_bytes()[-8:])  # every Lance file ends so
        assert magic == b"LANC" and f"{major}.{minor}" == TABLE_FORMAT == "2.1"


def test_small_space_is_searched_exactly_in_memory_with_filters(tmp_path):
    store = Store(tmp_path / "db")
    data = clustered(3000, 0)
    add(store, data, 0, "b0")
    assert store.optimize()["visual"]["action"] == "exact"
    assert store.index_params("visual") is None
    queries = clustered(20, 1)
    assert recall(store, data, queries) == 1.0  # exact
    hits = store.vector_search("visual", queries[0], 5, where="path = '/m/3.jpg'")
    assert len(hits) == 5 and all(h["path"] == "/m/3.jpg" for h in hits)
    sims = [h["_sim"] for h in hits]
    assert sims == sorted(sims, reverse=True) and abs(sims[0] - float(data[int(hits[0]["id"][1:])] @ queries[0])) < 1e-5
    extra = clustered(10, 2)  # a new version: the in-memory copy follows it
    add(store, extra, 3000, "b1")
    assert store.vector_search("visual", extra[3], 1)[0]["id"] == "r3003"


@pytest.mark.slow
def test_large_space_gets_a_tuned_ann_index_kept_up_to_date(tmp_path):
    policy = IndexPolicy(exact_max_bytes=64 * 1024, min_ann_rows=2000, rows_per_partition=256, probe_queries=60)
    store = Store(tmp_path / "db", policy=policy)
    data = clustered(12_000, 0)
    for i in range(0, 12_000, 3000):  # several batches -> several fragments
        add(store, data[i:i + 3000], i, f"b{i}")
    done = store.optimize()["visual"]
    assert done["action"] == "built" and done["kind"] == "IVF_SQ"
    params = json.loads((tmp_path / "db" / ".omnidex" / "index-visual.json").read_text())
    assert params["recall@10"] >= 0.95 and params["recall_curve"][-1]["recall@10"] == params["recall@10"]
    assert store.table("visual").stats()["fragment_stats"]["num_fragments"] == 1  # 4 batches compacted into one
    queries = clustered(50, 7)  # held out: recall measured independently of the tuning sample
    assert recall(store, data, queries) >= 0.95

    more = clustered(2000, 3)  # appended rows are folded into the index, and found at once
    add(store, more, 12_000, "b-more")
    assert store.vector_search("visual", more[5], 1)[0]["id"] == "r12005"
    done = store.optimize()["visual"]
    assert done["action"] in ("kept", "extended")
    stats = store.table("visual").index_stats(store.table("visual").list_indices()[0].name)
    assert stats.num_unindexed_rows == 0
    alldata = np.concatenate([data, more])
    assert recall(store, alldata, queries) >= 0.95

    store.table("visual").delete("id < 'r5'")  # removes r0..r4xxx style ids: a large share
    left = store.count("visual")
    assert left < 0.7 * 14_000
    done = store.optimize()["visual"]
    assert done["action"] == "built"  # retrained after heavy deletes
    gone = {f"r{i}" for i in range(14_000) if f"r{i}" < "r5"}
    assert len(gone) == 14_000 - left
    for q in queries[:10]:
        hits = store.vector_search("visual", q, 10)
        assert len(hits) == 10 and not {h["id"] for h in hits} & gone
