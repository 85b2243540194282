"""Fast checks of the pieces around the models: store, journal, calibration, fusion, filters, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from omnidex.config import SearchConfig
from omnidex.errors import OmnidexError, StoreMismatch
from omnidex.search.calibrate import background_stats, calibrate, fuse, term_coverage
from omnidex.search.engine import _glob_ok, _where
from omnidex.search.moments import Candidate, merge_moments, snap_to_shots
from omnidex.store import EncoderSpec, Store, sql_str
from omnidex.types import Hit


def _row(path, start, end, source="speech", kind="video", unit="s", text=""):
    return {"id": f"{path}:{start}", "path": path, "sha256": "x", "mtime": 0.0, "kind": kind,
            "source": source, "start": start, "end": end, "unit": unit, "text": text, "words": "", "batch": ""}


def test_help_imports_nothing_heavy():
    code = ("import sys, omnidex.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'lancedb', 'transformers', 'av', 'rich', 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out and "usage: omnidex" in out


def test_sql_strings_are_quoted():
    assert sql_str("it's") == "'it''s'"
    where = _where(SearchConfig(path_glob="*/x' OR 1=1 --*"))
    assert "'%/x'' OR 1=1 --%'" in where
    with pytest.raises(OmnidexError):
        _where(SearchConfig(modality=("pictures",)))


def test_glob_matches_relative_and_absolute_patterns():
    assert _glob_ok("/data/talks/a.mp4", "*.mp4")
    assert _glob_ok("/data/talks/a.mp4", "talks/*")
    assert not _glob_ok("/data/talks/a.mp4", "*.wav")


def test_calibration_ranks_by_distance_from_background():
    rng = np.random.default_rng(0)
    bg = rng.normal(size=(500, 64)).astype(np.float32)
    bg /= np.linalg.norm(bg, axis=1, keepdims=True)
    q = bg[0]
    mean, sd = background_stats(q, bg)
    assert abs(mean) < 0.05 and 0.08 < sd < 0.2
    assert calibrate(0.95, mean, sd) > 0.9 > 0.1 > calibrate(0.0, mean, sd)
    # a space whose cosines are all squeezed together (CLIP-like) still separates a real match
    squeezed = 0.25 + 0.02 * rng.normal(size=500)
    assert calibrate(0.36, 0.25, 0.02) > 0.9 and calibrate(float(squeezed.max()), 0.25, 0.02) < 0.9


def test_fusion_and_term_coverage():
    assert fuse({"a": 0.5, "b": 0.5}) == pytest.approx(0.75)
    assert fuse({"a": 0.9}) > fuse({"a": 0.5, "b": 0.1})
    cov, matched = term_coverage("quarterly results", "Our quarterly result grew")
    assert cov == 1.0 and matched == ["quarterly", "result"]


def test_moments_merge_adjacent_hits_and_keep_files_apart():
    cands = [Candidate("text", 0.9, _row("/a.mp4", 10, 14, text="revenue grew")),
             Candidate("clip", 0.6, {**_row("/a.mp4", 14.5, 16.5, source="frame"), "at": 15.0}),
             Candidate("clip", 0.5, {**_row("/a.mp4", 11, 13, source="frame"), "at": 12.0}),
             Candidate("clip", 0.7, {**_row("/a.mp4", 40, 42, source="frame"), "at": 41.0}),
             Candidate("text", 0.8, _row("/b.mp4", 10, 12))]
    hits = merge_moments(cands, SearchConfig(top_k=10), "revenue")
    a = [h for h in hits if h.path == "/a.mp4"]
    assert len(a) == 2 and len(hits) == 3
    first = max(a, key=lambda h: h.score)
    # both signals score the moment, but its boundaries come from the stronger (spoken) evidence
    assert first.start == 10 and first.end == 14 and set(first.signals) == {"text", "clip"}
    assert first.source == "speech" and first.score > 0.9
    # the picture it shows is the best frame INSIDE the moment, not the stronger one just after it
    assert first.matched_words == ("revenue",) and first.frame_time == 12.0
    assert hits[0] is first or hits[0].score >= first.score


def test_overlapping_windows_do_not_chain_and_other_slides_stay_apart():
    # 3 s sound windows overlapping by half across 30 s, all weakly matching, one strongly
    cands = [Candidate("sound", 0.2 + (0.6 if i == 6 else 0.0), _row("/v.mp4", 1.5 * i, 1.5 * i + 3, source="sound"))
             for i in range(20)]
    hits = merge_moments(cands, SearchConfig(top_k=50), "")
    assert max(h.end - h.start for h in hits) <= 6.0  # never one 30 s group
    top = hits[0]
    assert (top.start, top.end) == (9.0, 12.0)
    # two adjacent slides with different text are two pieces of evidence: the top moment keeps its own text
    slides = [Candidate("text", 0.3, {**_row("/s.mp4", 0, 5, source="ocr", text="OMNIDEX DEMO"), "at": 1.0}),
              Candidate("text", 0.9, {**_row("/s.mp4", 5, 12, source="ocr", text="Q3 REVENUE"), "at": 6.0})]
    top = merge_moments(slides, SearchConfig(top_k=5), "revenue")[0]
    assert (top.start, top.end, top.evidence, top.frame_time) == (5.0, 12.0, "Q3 REVENUE", 6.0)


def test_snap_to_shots_widens_visual_moments_to_shots_and_spoken_ones_to_near_cuts():
    shots = [[0.0, 5.0, "start"], [5.0, 12.0, "cut"], [12.0, 30.0, "fade"]]
    frame = Hit("/v.mp4", 6.0, 8.0, "s", 0.7, "video", source="frame")
    snapped = snap_to_shots(frame, shots, max_moment_s=60)
    assert (snapped.start, snapped.end, snapped.shot) == (5.0, 12.0, (5.0, 12.0))
    # a spoken moment keeps its words; its edges move out to a cut only when one is within 0.5 s
    spoken = Hit("/v.mp4", 5.3, 11.2, "s", 0.7, "video", source="speech")
    snapped = snap_to_shots(spoken, shots, max_moment_s=60)
    assert (snapped.start, snapped.end) == (5.0, 11.2)
    # a visual moment in a shot longer than the cap keeps its own span
    assert snap_to_shots(Hit("/v.mp4", 14, 16, "s", 0.7, "video", source="frame"), shots, 10).start == 14
    # text documents are untouched
    doc = Hit("/d.txt", 3, 9, "line", 0.7, "text", source="chunk")
    assert snap_to_shots(doc, shots, 60) == doc


def _spec(identity="enc@1", dim=4):
    return EncoderSpec("fake", (("model", "m"),), identity, dim)


def _seg(path, i, batch, vec):
    return {**_row(path, float(i), float(i + 1)), "id": f"{path}:{i}", "batch": batch,
            "vector": np.asarray(vec, np.float32)}


def _file(path, batch):
    return {"path": path, "sha256": "s", "size": 1, "mtime": 1.0, "kind": "video", "status": "indexed",
            "reason": "", "segments": 1, "duration": 1.0, "batch": batch, "indexed_at": 0.0}


def test_store_refuses_to_mix_encoders(tmp_path):
    store = Store(tmp_path)
    store.ensure_space("visual", _spec("clip:a@1"))
    store.ensure_space("visual", _spec("clip:a@1"))
    with pytest.raises(StoreMismatch, match="clip:a@1"):
        store.ensure_space("visual", _spec("clip:b@2"))


def test_journal_rolls_back_an_uncommitted_batch(tmp_path):
    store = Store(tmp_path)
    store.ensure_space("text", _spec())
    store.commit("b1", [_file("/ok", "b1")], {"text": [_seg("/ok", 0, "b1", [1, 0, 0, 0])]}, [])
    # simulate a crash after the segments landed but before the files row (the commit point)
    store._ensure("journal", None).add([{"batch": "b2", "started": 0.0}])
    store.table("text").add([_seg("/half", 0, "b2", [0, 1, 0, 0])])
    assert store.recover() == 1
    paths = [r["path"] for r in store.table("text").to_arrow().to_pylist()]
    assert paths == ["/ok"] and store.table("journal").count_rows() == 0


def test_vector_search_and_replace(tmp_path):
    store = Store(tmp_path)
    store.ensure_space("text", _spec())
    store.commit("b1", [_file("/x", "b1")], {"text": [_seg("/x", 0, "b1", [1, 0, 0, 0]),
                                                      _seg("/x", 1, "b1", [0, 1, 0, 0])]}, [])
    rows = store.vector_search("text", np.array([0, 1, 0, 0], np.float32), 2)
    assert rows[0]["start"] == 1.0 and rows[0]["_sim"] == pytest.approx(1.0)
    store.commit("b2", [_file("/x", "b2")], {"text": [_seg("/x", 5, "b2", [0, 0, 1, 0])]}, ["/x"])
    assert [r["start"] for r in store.table("text").to_arrow().to_pylist()] == [5.0]
    assert json.loads(json.dumps(store.file_states()["/x"]))["batch"] == "b2"
