"""The relevance library generator (omnidex.testing.library) and the benchmark's metrics."""
from __future__ import annotations

import shutil

import pytest

from omnidex.testing import library_vocab as V
from omnidex.testing.library import (SIZES, build_library, content_words, file_text, grade, plan_library,
                                     plan_unrelated, render_file, shared_content_words)

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng times the narration")

TIMING: dict = {}  # espeak timings shared by every plan in this module


@pytest.fixture(scope="module")
def small():
    return plan_library(1, "small", timing=TIMING)


@pytest.fixture(scope="module")
def full():
    return plan_library(2, "full", timing=TIMING)


def _check_manifest(man: dict) -> None:
    """Every query's judgments point at a planned file and a planned moment."""
    files = {f["path"]: f for f in man["files"]}
    assert len(files) == len(man["files"]), "file paths repeat"
    for q in man["queries"]:
        assert q["type"] in ("fact", "paraphrase", "on-screen", "document", "image-text", "no-answer")
        if q["type"] == "no-answer":
            assert q["answer"] is None and q["judgments"] == []
            continue
        ans = q["answer"]
        f = files[ans["path"]]
        assert f["role"] == "member" and f["family"] == q["family"]
        assert any((m["start"], m["end"], m["unit"]) == (ans["start"], ans["end"], ans["unit"]) for m in f["moments"])
        if ans["unit"] == "s":
            assert 0 <= ans["start"] < ans["end"] <= f["duration"]
        if ans["unit"] == "line":
            assert 1 <= ans["start"] <= ans["end"] <= f["body"].count("\n") + 1
        grades = sorted(j["grade"] for j in q["judgments"])
        assert grades == ([2] if ans["unit"] == "none" else [1, 2])
        assert all(j["path"] == ans["path"] for j in q["judgments"])


def test_small_and_full_manifests_are_consistent(small, full):
    for man in (small, full):
        _check_manifest(man)
    assert 30 <= len(small["files"]) <= 40 and len(small["queries"]) == 20
    assert len(full["files"]) >= 300 and len(full["queries"]) >= 100
    assert sum(q["type"] == "no-answer" for q in full["queries"]) >= 20
    assert any("near-topic" in q["tags"] for q in full["queries"])
    assert {q["type"] for q in full["queries"]} == {"fact", "paraphrase", "on-screen", "document", "image-text",
                                                    "no-answer"}
    kinds = {f["kind"] for f in full["files"]}
    assert kinds == {"video", "document", "image", "audio"}
    assert all(10 <= f["duration"] <= 25 for f in full["files"] if f["kind"] == "video" and f["role"] == "member")


def test_paraphrases_share_at_most_one_content_word(full):
    paras = [q for q in full["queries"] if q["type"] == "paraphrase"]
    assert paras
    for q in paras:
        assert len(shared_content_words(q["text"], q["answer"]["text"])) <= 1, q["text"]


def test_the_answer_is_the_only_family_member_with_the_fact(full):
    """A query names its answer's distinguishing fact, and no sibling has that fact."""
    files = {f["path"]: f for f in full["files"]}
    for q in full["queries"]:
        if q["answer"] is None:
            continue
        answer = files[q["answer"]["path"]]
        facts = {str(v).lower() for k, v in answer["facts"].items() if k not in ("frame", "screen_frame", "screen_title")}
        named = [v for v in facts if v in q["text"].lower()]
        assert len(named) == 1, (q["text"], facts)
        siblings = [f for f in full["files"] if f["family"] == q["family"] and f is not answer]
        assert not any(named[0] in {str(v).lower() for v in f["facts"].values()} for f in siblings), q["text"]


def test_no_answer_queries_have_no_answer(full):
    texts = [content_words(file_text(f)) for f in full["files"]]
    for q in full["queries"]:
        if "off-topic" in q["tags"]:
            assert all(not (content_words(q["text"]) & t) for t in texts), q["text"]
        if "near-topic" in q["tags"]:  # family words, but no file holds every word of the question
            assert not any(content_words(q["text"]) <= t for t in texts), q["text"]


def test_plan_is_deterministic_and_seeded(small):
    assert plan_library(1, "small", timing=TIMING)["spec_hash"] == small["spec_hash"]
    assert plan_library(2, "small", timing=TIMING)["spec_hash"] != small["spec_hash"]
    with pytest.raises(ValueError):
        plan_library(1, "huge")


def test_unrelated_files_triple_the_library_with_other_families(small):
    extra = plan_unrelated(small, factor=2.0, timing=TIMING)
    assert len(extra["files"]) == 2 * len(small["files"]) and not extra["queries"]
    assert not {f["key"] for f in extra["families"]} & {f["key"] for f in small["families"]}
    assert all(f["role"] == "extra" for f in extra["files"])
    assert not {f["path"] for f in extra["files"]} & {f["path"] for f in small["files"]}


def test_grade_exact_moment_same_file_and_elsewhere():
    q = {"answer": {"path": "videos/a_1.mp4", "start": 4.0, "end": 7.0, "unit": "s"}}
    root = "/lib"
    assert grade(q, "/lib/videos/a_1.mp4", 6.5, 9.0, root) == 2
    assert grade(q, "/lib/videos/a_1.mp4", 0.0, 3.9, root) == 1
    assert grade(q, "/lib/videos/a_2.mp4", 4.0, 7.0, root) == 0
    assert grade({"answer": None}, "/lib/videos/a_1.mp4", 4.0, 7.0, root) == 0
    img = {"answer": {"path": "images/p.png", "start": 0, "end": 0, "unit": "none"}}
    assert grade(img, "/lib/images/p.png", 0, 0, root) == 2
    assert grade(img, "images/p.png") == 2  # relative paths are matched by suffix


def test_render_one_file_of_each_kind(small, tmp_path):
    from PIL import Image

    from omnidex.testing.mediagen import read_wav

    picks = {}
    for f in small["files"]:
        picks.setdefault((f["kind"], f["role"]), f)
    for f in picks.values():
        if f["kind"] == "video" and f["role"] == "background":
            continue  # one video (with narration) is enough here
        out = render_file(f, tmp_path)
        assert out.exists() and out.stat().st_size > 0, f["path"]
        if f["kind"] == "image":
            assert Image.open(out).size == (640, 400)
        if f["kind"] == "audio" and out.suffix == ".wav":
            assert len(read_wav(out)[0]) > 0


@pytest.mark.bench  # builds a benchmark library: make test-bench
def test_build_small_library_is_cached(tmp_path):
    man = build_library(tmp_path, 1, "small")
    assert all((tmp_path / "small_seed1" / f["path"]).exists() for f in man["files"])
    again = build_library(tmp_path, 1, "small")
    assert again["spec_hash"] == man["spec_hash"] and again["root"] == man["root"]


# --------------------------------------------------------------------------------------- metrics

def _hit(path, start=0.0, end=0.0, unit="s", score=0.5, frame_time=None, confident=None):
    return {"path": path, "start": start, "end": end, "unit": unit, "score": score, "frame_time": frame_time,
            "confident": confident}


QUERY = {"answer": {"path": "v/a.mp4", "start": 10.0, "end": 14.0, "unit": "s"}}
ROOT = "/lib"


def test_ranking_metrics_on_hand_made_rankings():
    from bench.relevance import metrics as M

    right, wrong_moment, wrong_file = _hit("/lib/v/a.mp4", 9, 15), _hit("/lib/v/a.mp4", 0, 3), _hit("/lib/v/b.mp4", 10, 14)
    perfect = M.grades(QUERY, [right, wrong_file], ROOT)
    assert perfect == [2, 0] and M.r_at_1(perfect) == 1 and M.reciprocal_rank(perfect) == 1 and M.ndcg(perfect) == 1
    late = M.grades(QUERY, [wrong_file, wrong_moment, right], ROOT)
    assert late == [0, 1, 2]
    assert M.r_at_1(late) == 0 and M.reciprocal_rank(late) == pytest.approx(1 / 3)
    assert 0 < M.ndcg(late) < 1
    assert M.ndcg([0, 0, 2]) < M.ndcg(late) < M.ndcg([2])  # finding the file earlier earns partial credit
    assert M.ndcg([2, 1, 2]) == 1.0  # duplicates after the exact hit add nothing
    assert M.ndcg([0] * 10 + [2]) == 0.0  # beyond rank 10
    assert M.top_iou(QUERY, [right], [2]) == pytest.approx(4 / 6)
    assert M.top_iou(QUERY, [wrong_file], [0]) == 0.0
    assert M.top_iou({"answer": {"path": "d.md", "start": 1, "end": 3, "unit": "line"}}, [right], [2]) is None


def test_auroc_roc_and_percentiles():
    from bench.relevance import metrics as M

    assert M.auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert M.auroc([0.1, 0.2], [0.9, 0.8]) == 0.0
    assert M.auroc([0.5], [0.5]) == 0.5
    assert M.auroc([0.9, 0.3], [0.5]) == 0.5
    assert M.auroc([], [0.1]) is None
    pts = M.roc_points([0.9, 0.3], [0.5])
    assert pts[0] == (0.0, 0.0) and pts[-1] == (1.0, 1.0) and (0.0, 0.5) in pts
    assert M.percentile([1, 2, 3, 4], 50) == 2.5 and M.percentile([5], 90) == 5 and M.percentile([], 50) is None


def test_abstention_and_frame_violations():
    from bench.relevance import metrics as M

    assert M.abstention_correct(True, [_hit("x", confident=True)]) is True
    assert M.abstention_correct(True, [_hit("x", confident=False)]) is False
    assert M.abstention_correct(False, [_hit("x", confident=True)]) is False
    assert M.abstention_correct(False, [_hit("x", confident=False)]) is True
    assert M.abstention_correct(False, []) is True
    assert M.abstention_correct(True, [_hit("x")]) is None  # the search has no confidence flag
    hits = [_hit("a", 2, 5, frame_time=3), _hit("a", 2, 5, frame_time=6.2), _hit("a", 2, 5, frame_time=None),
            _hit("i", 0, 0, unit="none", frame_time=9)]
    assert M.frame_violations(hits) == 1


def test_stability_counts_drift_loss_and_rank():
    from bench.relevance import metrics as M

    before = [_hit("a", 1, 4, score=0.80), _hit("b", 1, 4, score=0.60), _hit("c", 0, 0, unit="none", score=0.5), None]
    after = [_hit("a", 1.5, 4, score=0.81), _hit("b", 1, 4, score=0.50), None, None]
    new_top = [after[0], _hit("z", 0, 1), _hit("y", 0, 1), None]
    st = M.stability(before, after, new_top)
    assert st["queries"] == 3 and st["lost"] == 1 and st["found"] == 2
    assert st["median_abs_change"] == pytest.approx(0.1) and st["max_abs_change"] == pytest.approx(0.5)
    assert st["keeps_rank1"] == pytest.approx(1 / 3, abs=1e-3)
    assert M.same_moment(_hit("a", 1, 2), _hit("a", 2, 3)) and not M.same_moment(_hit("a", 1, 2), _hit("a", 3, 4))


def test_summary_flags_targets():
    from bench.relevance import run as R

    assert R._status(0.9, "r_at_1") == "PASS" and R._status(0.8, "r_at_1") == "FAIL"
    assert R._status(0.01, "stability_median") == "PASS" and R._status(0.03, "stability_median") == "FAIL"
    assert R._status(None, "auroc") == "n/a"
    rows = [{"answerable": True, "type": "fact", "tags": ["fact"], "r_at_1": 1.0, "rr": 1.0, "ndcg_10": 1.0,
             "iou": 0.9, "top_score": 0.9, "abstention_ok": True, "latency_ms": 10, "frame_violations": 0,
             "timed_hits": 3, "outcome": "correct"},
            {"answerable": True, "type": "paraphrase", "tags": ["paraphrase"], "r_at_1": 0.0, "rr": 0.5,
             "ndcg_10": 0.5, "iou": 0.0, "top_score": 0.4, "abstention_ok": False, "latency_ms": 30,
             "frame_violations": 1, "timed_hits": 3, "outcome": "same_family_other_member"},
            {"answerable": False, "type": "no-answer", "tags": ["no-answer", "near-topic"], "top_score": 0.5,
             "abstention_ok": True, "latency_ms": 20, "frame_violations": 0, "timed_hits": 0}]
    s = R.summarise(rows)
    assert s["r_at_1"] == 0.5 and s["r_at_1_by_type"] == {"fact": 1.0, "paraphrase": 0.0}
    assert s["auroc"] == 0.5 and s["auroc_near_topic"] == 0.5
    assert s["abstention_acc_plain"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["abstention_acc"] == pytest.approx(0.75)  # (1/2 answerable + 1/1 no-answer) / 2
    assert s["confident_wrong"] == 0.0 and s["abstained_no_answer"] == 1.0
    always = [dict(r, abstention_ok=r["answerable"]) for r in rows[:2]] * 9 + [dict(rows[2], abstention_ok=False)]
    assert R.summarise(always)["abstention_acc"] == 0.5  # always confident: balanced 0.5, plain 0.95
    assert R.summarise(always)["abstention_acc_plain"] == pytest.approx(18 / 19, abs=1e-4)
    assert s["frame_violations"] == 1 and s["latency_ms_median"] == 20
    assert SIZES["full"]["off_topic"] <= len(V.OFF_TOPIC)
