"""Where one search's time goes: wall and request-thread CPU per stage, serial, in-process.

Run from the repository root::

    python -m bench.serve.stages --db demo-data/omnidex-data                # the server as shipped
    OMNIDEX_SERVE_BASELINE=1 python -m bench.serve.stages --db demo-data/omnidex-data   # without the savings

A :class:`omnidex.serve.library.Library` (what ``omnidex serve`` searches with) answers the demo
queries ``--n`` times after a warm-up; each stage is timed by wrapping its function. "Own-thread
CPU" is the request thread's (``time.thread_time``: Python holding the GIL, plus native code called
from it); Lance's and ONNX Runtime's worker threads show in the process CPU only.
"""
from __future__ import annotations

import argparse
import collections
import functools
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="an omnidex database (e.g. demo-data/omnidex-data)")
    ap.add_argument("--n", type=int, default=100, help="searches timed")
    args = ap.parse_args(argv)

    import omnidex.search.engine as engine
    import omnidex.serve.library as library
    from bench.serve.run import DEMO_QUERIES
    from omnidex.store.lance import Store

    acc = collections.defaultdict(lambda: [0.0, 0.0, 0])

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                acc[name][0] += time.perf_counter() - t
                acc[name][1] += time.thread_time() - c
                acc[name][2] += 1
        return wrapper

    engine.text_vector = timed("query encoding (MiniLM)", engine.text_vector)
    Store.vector_search = timed("vector search", Store.vector_search)
    Store.fts_search = timed("full-text search", Store.fts_search)
    Store.file_info = timed("file rows read (shots, provenance)", Store.file_info)
    Store.file_texts = timed("file texts read (reranker)", Store.file_texts)
    engine.merge_moments = timed("fusion into moments", engine.merge_moments)
    engine.apply_reranker = timed("reranker (incl. file texts)", engine.apply_reranker)
    library.Library._hit_dict = timed("hit dicts", library.Library._hit_dict)
    library.Library.search = timed("whole search", library.Library.search)

    lib = library.Library(args.db)
    lib.load_models()
    for q in DEMO_QUERIES:
        lib.search(q)
    acc.clear()
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(args.n):
        lib.search(DEMO_QUERIES[i % len(DEMO_QUERIES)])
    n = args.n
    print(f"savings {'on' if library.SERVE_LEVERS else 'off (OMNIDEX_SERVE_BASELINE=1)'}: "
          f"{(time.perf_counter() - t0) / n * 1000:.1f} ms wall, {(time.process_time() - c0) / n * 1000:.1f} ms "
          f"process CPU (all threads) per search")
    for name, (wall, cpu, calls) in sorted(acc.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:36s} {1000 * wall / n:7.2f} ms wall {1000 * cpu / n:7.2f} ms own-thread CPU "
              f"({calls / n:.1f} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
