"""Per-request savings of the server's search path (issue 17, item 4): one MiniLM pass per query
shared by every space that reads text, file rows answered from the snapshot, cached word terms.
Each must leave the answers exactly as they were; speed figures live in bench/serve."""
from __future__ import annotations

import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")

from omnidex import IndexConfig  # noqa: E402
from omnidex.search import calibrate  # noqa: E402
from omnidex.search.engine import locked_tower, text_vector, _TOWER_MEMO  # noqa: E402
from omnidex.serve import library as library_mod  # noqa: E402
from omnidex.serve.library import Library, ServedStore  # noqa: E402
from omnidex.serve.snapshot import PinnedStore  # noqa: E402

CONFIG = IndexConfig(clip_model="lit:bundled", speech=False, ocr=False)
NOTES = {"harbour.txt": "The ferry to the islands leaves the harbour at nine every morning.",
         "garden.txt": "Water the tomato plants and pick the ripe peppers before the frost.",
         "budget.md": "# Budget meeting\n\nMarketing moves to next year; we hire two engineers.",
         "violin.txt": "The violin repair shop replaced the bridge and the strings.",
         "bakery.txt": "Sourdough bread needs a starter, flour, water and a long slow rise."}
QUERIES = ["ferry to the islands", "tomato plants", "budget meeting", "violin strings", "red stop sign",
           "yellow poster", "engineers hired", "sourdough starter", "a blue circle", "harbour at nine"]


@pytest.fixture(scope="module")
def corpus(notes_index):
    """Five notes and two text pictures, indexed with the bundled image-text model."""
    return notes_index("serve-shared", NOTES, CONFIG)


@pytest.fixture(scope="module")
def lib(corpus):
    library = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    library.warm()
    return library


def _text_encoders(searcher) -> dict:
    """space -> encoder, for the spaces a text query is embedded in (at least text and visual here)."""
    out = {s: searcher.encoder(s) for s in ("text", "visual", "sound")}
    return {s: e for s, e in out.items() if e is not None and locked_tower(e) is not None}


def test_shared_vectors_equal_each_encoders_own(lib):
    """text_vector inside a search's memo gives each space exactly its own encode_text vector (bit for
    bit: a LiT encoder re-normalises the tower's rows, and that step is kept)."""
    encs = _text_encoders(lib.snapshot().searcher)
    assert {"text", "visual"} <= set(encs)
    for text in QUERIES[:4]:
        own = {s: e.encode_text([text])[0] for s, e in encs.items()}
        token = _TOWER_MEMO.set({})
        try:  # every order: whichever space fills the memo first, the others read it
            shared = {s: text_vector(e, text) for s, e in encs.items()}
            shared_rev = {s: text_vector(e, text) for s, e in reversed(list(encs.items()))}
        finally:
            _TOWER_MEMO.reset(token)
        outside = {s: text_vector(e, text) for s, e in encs.items()}
        for s in encs:
            assert shared[s].dtype == np.float32
            assert np.array_equal(shared[s], own[s]), s
            assert np.array_equal(shared_rev[s], own[s]), s
            assert np.array_equal(outside[s], own[s]), s


def _count_tower_runs(monkeypatch, searcher) -> list:
    """Count the MiniLM tower's forward passes, whichever instance runs them (in one process the
    registry hands out one MiniLM; a test that cleared the registry or changed OMNIDEX_CACHE before
    may leave the LiT space holding an earlier instance: the memo is keyed by the tower's identity,
    not the object, so sharing holds either way)."""
    found = (locked_tower(e)[0] for e in _text_encoders(searcher).values())
    towers = {id(t): t for t in (getattr(f, "wrapped", f) for f in found)}  # the server's guard delegates
    assert len({t.identity for t in towers.values()}) == 1  # one MiniLM model behind every text space
    calls = []
    for tower in towers.values():
        inner = tower._onnx_rows if tower._onnx is not None else None
        if inner is None:
            pytest.fail("the MiniLM tower is expected to run in ONNX Runtime here (onnxruntime is installed)")

        def counted(texts, inner=inner):
            calls.append(list(texts))
            return inner(texts)

        monkeypatch.setattr(tower, "_onnx_rows", counted)
    return calls


def test_one_tower_pass_per_query(lib, monkeypatch):
    """A text query runs the tower once with sharing, once per text space without."""
    searcher = lib.snapshot().searcher
    spaces = len(_text_encoders(searcher))
    calls = _count_tower_runs(monkeypatch, searcher)
    searcher.search(text="ferry to the islands")
    assert calls == [["ferry to the islands"]]
    calls.clear()
    monkeypatch.setattr(searcher, "share_text", False)
    searcher.search(text="ferry to the islands")
    assert len(calls) == spaces >= 2


def _hits(library: Library) -> list:
    return [library.search(q, top_k=10) for q in QUERIES]


def test_levers_leave_rankings_identical(corpus, lib, monkeypatch):
    """The server with the savings and without (OMNIDEX_SERVE_BASELINE=1) answers every query the same."""
    fast = _hits(lib)
    assert isinstance(lib.snapshot().store, ServedStore)
    monkeypatch.setattr(library_mod, "SERVE_LEVERS", False)
    plain = Library(corpus["db"], roots=[corpus["media"]], config=CONFIG)
    assert type(plain.snapshot().store) is PinnedStore and plain.snapshot().searcher.share_text is False
    assert _hits(plain) == fast
    assert any(fast)  # the queries find something: the comparison is not between empty lists


def test_served_store_answers_as_the_store(lib, monkeypatch):
    """file_info and file_texts from memory equal the pinned store's reads, also past the text bound."""
    store = lib.snapshot().store
    plain = PinnedStore(lib.db, store.versions)
    paths = sorted(lib.snapshot().files) + ["/nowhere/missing.txt"]
    assert store.file_info(paths) == plain.file_info(paths)
    assert store.file_info(paths)  # indexed files have info rows
    monkeypatch.setattr(library_mod, "FILE_TEXTS_HELD", 2)
    rng = random.Random(3)
    for _ in range(20):
        some = rng.sample(paths, rng.randint(1, len(paths)))
        assert store.file_texts(some) == plain.file_texts(some)
        assert store.file_texts(some, max_chars=12) == plain.file_texts(some, max_chars=12)
        assert len(store._texts) <= 2


def test_concurrent_searches_get_their_own_answers(lib):
    """16 threads searching different texts at once each get the answer a lone search gives (the
    shared tower output is per search, never another request's)."""
    alone = {q: lib.search(q, top_k=5) for q in QUERIES}
    start = threading.Barrier(16)

    def worker(k: int) -> list:
        start.wait()
        got = []
        for i in range(6):
            q = QUERIES[(k + i) % len(QUERIES)]
            got.append((q, lib.search(q, top_k=5)))
        return got

    with ThreadPoolExecutor(16) as pool:
        results = [r for part in pool.map(worker, range(16)) for r in part]
    assert len(results) == 96
    for q, hits in results:
        assert hits == alone[q], q


def _terms_reference(text: str) -> list[str]:
    """calibrate.terms as it was written before the per-word cache."""
    out = []
    for w in re.findall(r"[\w']+", text.lower()):
        if w in calibrate.STOPWORDS or len(w) < 2:
            continue
        for suf in ("ing", "es", "s", "ed"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.append(w)
    return out


def _coverage_reference(query: str, text: str):
    q = set(_terms_reference(query))
    if not q:
        return 0.0, []
    words = re.findall(r"[\w']+", text)
    matched = [w for w in words if (t := _terms_reference(w)) and t[0] in q]
    found = {_terms_reference(w)[0] for w in matched}
    return len(found) / len(q), list(dict.fromkeys(matched))


def test_cached_terms_match_the_plain_computation():
    rng = random.Random(7)
    vocab = ["the", "Running", "runs", "boxes", "box", "a", "is", "ED", "edited", "sings", "Straße", "ÉCOLE",
             "don't", "it's", "x", "cats", "glasses", "played", "ing", "es", "wing", "PARKINGPERMIT", "42", "b2b"]
    for _ in range(400):
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 12))) + rng.choice(["", ".", "!?", " -"])
        query = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 4)))
        assert calibrate.terms(text) == _terms_reference(text)
        assert calibrate.term_coverage(query, text) == _coverage_reference(query, text)
