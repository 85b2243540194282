"""Query latency, recall@10 and memory at 10k, 100k and 1M segments (512-d): exact vs ANN.

For each size a real omnidex store is written (segment rows with provenance, in 100k-row batches
like an ingest), then ``Store.optimize()`` does what it does after every ingest: compaction and, for
large spaces, an IVF index whose nprobes is tuned until recall@10 measured against an exact scan
reaches 0.95. Then, on 200 held-out queries:

* ``exact``: the in-memory exact path (one mat-vec over a float32 copy of the space);
* ``flat``: LanceDB's own brute-force scan of the table (what an unindexed table costs);
* ``ann``: the tuned IVF index with refine (re-ranking with full vectors);
* ``search``: the whole ``Searcher.search("...")`` of a text query (CLIP ViT-B/32 text tower, random
  weights: the same cost as trained ones, on ONNX Runtime as by default; ANN; calibration; moment
  merging; provenance lookup); ``search_torch`` the same with the text tower in torch. The queries
  are 7-9 words; their token counts are CLIP's (one per common word, see ``word_tokenizer``).

Recall@10 is measured against an exact numpy top-10. The vectors are synthetic 512-d unit vectors
structured like a video archive (topics -> shots -> frames, near-duplicate frames within a shot);
queries are new frames of existing shots. Memory: resident set size of the process after each path
is warm, and index size on disk.

Run: ``python -m bench.scale.run --out bench/results/scale`` (``--quick``: 10k only).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

import omnidex  # noqa: F401 - sets the OpenMP wait policy before torch loads

DIM = 512
PER_SHOT = 50
QUERIES = 200
TEXT_QUERIES = ["a red car drives past the harbour", "the speaker shows the quarterly results",
                "a dog runs on the beach at sunset", "people walking in a crowded station"]


def vectors(n: int, seed: int, shots_used: int, topics: int = 1000) -> np.ndarray:
    """``n`` unit vectors: frames of the first ``shots_used`` shots around topic directions."""
    base = np.random.default_rng(12345)
    shots = max(1, 1_000_000 // PER_SHOT)  # the same shot set at every size: queries stay comparable
    t = base.standard_normal((topics, DIM)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    s = base.standard_normal((shots, DIM)).astype(np.float32)
    s = t[base.integers(0, topics, shots)] + 0.8 * s / np.linalg.norm(s, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        e = rng.standard_normal((m, DIM)).astype(np.float32)
        x = s[rng.integers(0, min(shots, shots_used), m)] + 0.5 * e / np.linalg.norm(e, axis=1, keepdims=True)
        out[i:i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def word_tokenizer(words):
    """A CLIP BPE tokenizer in which each of ``words`` is one token, as common English words are in
    CLIP's own 49408-token vocabulary (other words fall apart into smaller pieces).

    A query's cost in the text tower grows with its token count; the offline test tokenizer splits
    words into letter pairs (~2.5x CLIP's count), which would overstate the cost of a query. The
    merges are learnt by the ``tokenizers`` BPE trainer from the word list.
    """
    import json as _json

    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=49408, min_frequency=1, show_progress=False,
                                  special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), end_of_word_suffix="</w>")
    bpe.train_from_iterator(list(words), trainer)
    model = _json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    vocab = dict(model["vocab"])
    for i in range(max(0, 2048 - len(vocab))):  # unused entries (no merge makes them): a CLIP-sized vocabulary
        vocab[f"<|unused{i}|>"] = len(vocab)
    return tf.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


QUERY_WORDS = sorted({w for q in TEXT_QUERIES for w in q.split()} | {str(i) for i in range(100)})


def text_clip_dir(path: Path) -> Path:
    """A random-init CLIP whose text tower is the real ViT-B/32 one (12 layers, width 512, 49408 tokens),
    with a tokenizer giving CLIP's token counts for the benchmark queries (one token per word)."""
    if (path / "config.json").exists():
        return path
    import torch
    import transformers as tf

    tok = word_tokenizer(QUERY_WORDS)
    cfg = tf.CLIPConfig(text_config=dict(vocab_size=49408, bos_token_id=0, eos_token_id=1, pad_token_id=1),
                        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=32, patch_size=16),
                        projection_dim=DIM)
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    tf.CLIPModel(cfg).eval().save_pretrained(path)
    images = tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tf.CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(path)
    return path


def build_store(db: Path, data: np.ndarray, clip_dir: Path) -> dict:
    """Write ``n`` segment rows in 100k batches and let ``optimize`` index them; returns timings."""
    import pyarrow as pa

    from omnidex.encoders.registry import build
    from omnidex.store import Store
    from omnidex.store.lance import EncoderSpec, _segment_schema

    enc = build("clip", model=str(clip_dir))
    spec = EncoderSpec("clip", (("model", str(clip_dir)),), enc.identity, enc.dim)
    shutil.rmtree(db, ignore_errors=True)
    store = Store(db)
    store.ensure_space("visual", spec)
    schema = _segment_schema(spec)
    t0 = time.perf_counter()
    for i in range(0, len(data), 100_000):
        vec = data[i:i + 100_000]
        m = len(vec)
        idx = np.arange(i, i + m)
        cols = {"id": [f"v{j}" for j in idx], "path": [f"/archive/cam{(j // PER_SHOT) % 500:03d}/{j // 5000}.mp4" for j in idx],
                "sha256": [f"{j // 5000:064x}" for j in idx], "mtime": np.zeros(m), "kind": ["video"] * m,
                "source": ["frame"] * m, "start": (idx % 5000).astype(float), "end": (idx % 5000).astype(float) + 1,
                "at": (idx % 5000).astype(float), "unit": ["s"] * m, "text": [""] * m, "words": [""] * m,
                "batch": [""] * m, "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), DIM)}
        store.table("visual").add(pa.table(cols, schema=schema))
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = store.optimize(log=lambda msg: print("  " + msg, flush=True))["visual"]
    return {"write_s": round(write_s, 1), "optimize_s": round(time.perf_counter() - t0, 1), **done}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def timed(fn, items) -> tuple[list[float], list]:
    lat, out = [], []
    for it in items:
        t0 = time.perf_counter()
        out.append(fn(it))
        lat.append((time.perf_counter() - t0) * 1000)
    return lat, out


def stats(lat: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(lat), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def measure(db: Path, data: np.ndarray, flat: bool) -> dict:
    """Latency, recall and memory of each search path over an optimized store."""
    from omnidex.search.engine import Searcher
    from omnidex.store import Store
    from omnidex.store.vindex import IndexPolicy, exact_topk

    n = len(data)
    queries = vectors(QUERIES, seed=99, shots_used=n // PER_SHOT)  # new frames of indexed shots
    truth = exact_topk(data, queries, 10)
    ids = lambda rows: [int(r["id"][1:]) for r in rows]  # noqa: E731
    rec_n = lambda got, tr: float(np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, tr)]))  # noqa: E731
    rec = lambda got: rec_n(got, truth)  # noqa: E731
    out: dict = {"rows": n}
    rss0 = rss_mb()
    ann = Store(db)
    params = ann.index_params("visual")
    ann.vector_search("visual", queries[0], 10)
    lat, got = timed(lambda q: ids(ann.vector_search("visual", q, 10)), queries)
    out["ann" if params else "exact"] = {**stats(lat), "recall@10": rec(got), "rss_mb": round(rss_mb() - rss0, 1)}
    if params:
        out["ann"].update(nprobes=params["nprobes"], refine_factor=params["refine_factor"],
                          tuned_recall=params["recall@10"], kind=params["kind"])
        out["recall_curve"] = params.get("recall_curve") or []  # the tuner's, on table rows
        sweep = []  # the held-out queries across probe counts: what the tuned setting trades
        for nprobes in (1, 2, 4, 8, 16, 32):
            ann._params["visual"] = {**params, "nprobes": nprobes}
            lat, got = timed(lambda q: ids(ann.vector_search("visual", q, 10)), queries[:100])
            sweep.append({"nprobes": nprobes, "recall@10": rec_n(got, truth[:100]), **stats(lat)})
        ann._params["visual"] = params
        out["nprobes_sweep"] = sweep
        ex = Store(db, policy=IndexPolicy(exact_max_bytes=1 << 40))
        ex._params["visual"] = None  # force the in-memory exact path over this large space
        rss1 = rss_mb()
        ex.vector_search("visual", queries[0], 10)
        lat, got = timed(lambda q: ids(ex.vector_search("visual", q, 10)), queries[:50])
        out["exact"] = {**stats(lat), "recall@10": float(np.mean([len(set(g) & set(t.tolist())) / 10
                                                                    for g, t in zip(got, truth[:50])])),
                        "rss_mb": round(rss_mb() - rss1, 1)}
        del ex
    if flat:
        tbl = ann.table("visual")
        lat, got = timed(lambda q: [int(i[1:]) for i in tbl.search(q, vector_column_name="vector").metric("cosine")
                                    .bypass_vector_index().select(["id", "_distance"]).limit(10)
                                    .to_arrow().column("id").to_pylist()], queries[:20])
        out["flat"] = {**stats(lat), "recall@10": float(np.mean([len(set(g) & set(t.tolist())) / 10
                                                                   for g, t in zip(got, truth[:20])]))}
    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + f" {i}" for i in range(60)]
    runs = {"search": "auto", "search_torch": "torch"}  # the default text tower vs torch's
    searchers = {key: Searcher(Store(db), runtimes=(("query", rt),)) for key, rt in runs.items()}
    lat = {key: [] for key in runs}
    for key, searcher in searchers.items():
        searcher.search(TEXT_QUERIES[0])
    for _ in range(3):  # three rounds, the two runtimes taking turns: a passing load hits both alike
        for key, searcher in searchers.items():
            lat[key] += timed(lambda q: searcher.search(q), texts)[0]
    for key, searcher in searchers.items():
        enc = searcher.models.encoder("visual")
        lat_enc, _ = timed(lambda q: enc.encode_text([q]), texts)
        out[key] = {**stats(lat[key]), "queries": len(lat[key]), "encode_p50_ms": stats(lat_enc)["p50_ms"],
                    "text_runtime": enc.text_runtime,
                    "tokens_p50": int(np.median([len(enc._tokens([q])["input_ids"][0]) for q in texts]))}
    del searchers
    out["text_agreement"] = text_agreement(db, texts)
    out["disk_mb"] = round(dir_mb(db), 1)
    return out


def text_agreement(db: Path, texts: list[str]) -> dict:
    """Cosine of each query vector from ONNX Runtime (fp32, int8) with torch's, over the benchmark queries."""
    from omnidex.encoders.registry import build
    from omnidex.store import Store

    model = dict(Store(db).space_spec("visual").kwargs)["model"]
    ref = build("clip", model=model, text_runtime="torch").encode_text(texts)
    out = {}
    for rt in ("onnx", "onnx-int8"):
        enc = build("clip", model=model, text_runtime=rt)
        got = np.concatenate([enc.encode_text([t]) for t in texts])  # one query at a time, as searched
        cos = np.sum(got * ref, axis=1)
        lat, _ = timed(lambda q: enc.encode_text([q]), texts)
        out[rt] = {"runtime": enc.text_runtime, "min_cos": round(float(cos.min()), 6),
                   "median_cos": round(float(np.median(cos)), 6), "encode_p50_ms": stats(lat)["p50_ms"]}
    return out


def table(results: list[dict]) -> str:
    head = ("| segments | path | p50 ms | p99 ms | recall@10 | extra |\n|---:|---|---:|---:|---:|---|\n")
    lines = []
    for r in results:
        for key in ("exact", "flat", "ann"):
            if key in r:
                m = r[key]
                extra = (f"{m['kind']} nprobes={m['nprobes']} refine={m['refine_factor']}" if key == "ann" else "")
                extra += f" RSS +{m['rss_mb']} MB" if "rss_mb" in m else ""
                lines.append(f"| {r['rows']:,} | {key} | {m['p50_ms']} | {m['p99_ms']} | {m['recall@10']:.3f} | {extra.strip()} |")
        for key in ("search", "search_torch"):
            if key in r:
                s = r[key]
                lines.append(f"| {r['rows']:,} | {key} (text query, end to end; text tower {s['text_runtime']}) | "
                             f"{s['p50_ms']} | {s['p99_ms']} | | encode p50 {s['encode_p50_ms']} ms "
                             f"({s['tokens_p50']} tokens) |")
        lines.append(f"| {r['rows']:,} | (store) | | | | build {r['build']['optimize_s']} s; disk {r['disk_mb']} MB |")
    agree = results[-1].get("text_agreement") if results else None
    notes = ""
    swept = [r for r in results if r.get("nprobes_sweep")]
    if swept:
        r = swept[-1]
        notes += (f"\n\nANN probes at {r['rows']:,} (held-out queries, top-10, pool of 50 re-ranked; tuned: "
                  f"{r['ann']['nprobes']}):\n\n| nprobes | recall@10 | p50 ms | p99 ms |\n|---:|---:|---:|---:|\n"
                  + "\n".join(f"| {c['nprobes']} | {c['recall@10']:.3f} | {c['p50_ms']} | {c['p99_ms']} |"
                               for c in r["nprobes_sweep"]))
    if agree:
        notes += "\n\nQuery text tower (CLIP ViT-B/32 size) against torch fp32, over the benchmark queries:\n\n" + \
            "| runtime | encode p50 ms | min cosine | median cosine |\n|---|---:|---:|---:|\n" + "\n".join(
                f"| {rt} | {a['encode_p50_ms']} | {a['min_cos']} | {a['median_cos']} |" for rt, a in agree.items())
    return "Query latency and recall@10 at scale (512-d, 2 cores)\n\n" + head + "\n".join(lines) + notes + "\n"


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for key, style in (("exact", "o-"), ("flat", "s--"), ("ann", "^-"), ("search", "d-"), ("search_torch", "v:")):
        pts = [(r["rows"], r[key]["p50_ms"]) for r in results if key in r]
        if pts:
            a.plot(*zip(*pts), style, label=key)
    a.axhline(50, color="grey", lw=0.8, ls=":", label="50 ms target")
    a.set(xscale="log", yscale="log", xlabel="segments", ylabel="p50 latency (ms)", title="Query latency vs size")
    a.legend()
    for r in results:
        sweep = r.get("nprobes_sweep") or []
        if sweep:
            b.plot([c["nprobes"] for c in sweep], [c["recall@10"] for c in sweep], "o-", label=f"{r['rows']:,}")
            tuned = r["ann"]["nprobes"]
            b.plot([tuned], [next(c["recall@10"] for c in sweep if c["nprobes"] == tuned)], "k*", ms=12)
    b.axhline(0.95, color="grey", lw=0.8, ls=":", label="0.95 target")
    b.set(xscale="log", xlabel="nprobes (pool of 50 re-ranked; * = tuned)", ylabel="recall@10 (held-out queries)",
          title="ANN recall vs probes")
    b.legend()
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=110)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results/scale")
    ap.add_argument("--quick", action="store_true", help="10k segments only")
    ap.add_argument("--sizes", default=None, help="comma list of sizes (default 10000,100000,1000000)")
    ap.add_argument("--work", default=None, help="where the databases go (default OUT/work)")
    ap.add_argument("--reuse", action="store_true", help="keep the databases, and reuse ones already built")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or out / "work")
    sizes = [10_000] if args.quick else [int(s) for s in (args.sizes or "10000,100000,1000000").split(",")]
    clip_dir = text_clip_dir(work / "clip-text-b32")
    results = []
    for n in sizes:
        print(f"== {n:,} segments", flush=True)
        data = vectors(n, seed=1, shots_used=n // PER_SHOT)
        saved = work / f"db-{n}" / "build.json"
        if args.reuse and saved.exists():
            build = json.loads(saved.read_text())
        else:
            build = build_store(work / f"db-{n}", data, clip_dir)
            saved.write_text(json.dumps(build))
        r = measure(work / f"db-{n}", data, flat=n <= 100_000)
        r["build"] = build
        results.append(r)
        print(json.dumps(r), flush=True)
        del data
    doc = {"bench": "scale", "cpu_count": os.cpu_count(), "queries": QUERIES, "dim": DIM, "results": results}
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    md = table(results)
    (out / "table.md").write_text(md)
    plot(results, out)
    print(md)
    print(json.dumps(doc))
    if not args.quick and not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
    return doc


if __name__ == "__main__":
    main()
