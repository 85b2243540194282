"""The demo as a new user sees it (issue 14): the card shows the slide of the moment, hits outside
every encoder's knowledge are weak, and a question about something absent says so."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from omnidex import Index
    from omnidex.demo import build_corpus

    out = tmp_path_factory.mktemp("demo")
    paths = build_corpus(out)
    idx = Index(out / "db")
    idx.add([paths["corpus"]])
    return idx, paths


@pytest.fixture(scope="module")
def demo(built):
    return built[0]


def test_the_near_duplicate_poster_is_a_confident_answer(built):
    idx, paths = built
    top = idx.search(image=paths["image_query"], top_k=3)[0]
    assert top.path.endswith("poster.png") and top.confident


def test_the_revenue_card_shows_the_revenue_slide(demo):
    top = demo.search("how much did sales increase", top_k=3)[0]
    assert top.path.endswith("keynote.mp4") and top.confident
    assert top.start <= top.frame_time <= top.end
    assert 5.0 <= top.frame_time < 12.0  # the "Q3 REVENUE +20%" slide, not the title slide (0-5 s)
    assert "revenue" in top.evidence.lower()


def test_on_screen_words_show_their_own_slide(demo):
    top = demo.search("solar panels", top_k=3)[0]
    assert top.path.endswith("keynote.mp4") and top.evidence == "SOLAR ROOF"
    assert 12.0 <= top.frame_time <= top.end and top.start >= 12.0 - 0.5


def test_every_timed_hit_shows_a_frame_inside_itself(demo):
    for q in ("how much did sales increase", "solar panels", "a yellow heart", "permit", "welcome", "roof"):
        for h in demo.search(q, top_k=10):
            if h.frame_time is not None:
                assert h.start <= h.frame_time <= h.end, (q, h)


def test_nothing_absent_is_a_confident_answer(demo):
    for q in ("a dog playing chess", "ferry to the islands", "parking permit"):
        assert not any(h.confident for h in demo.search(q, top_k=10)), q


def test_the_drawn_heart_is_still_found_by_the_bundled_visual_model(demo):
    top = demo.search("a yellow heart", top_k=3, modality="image")[0]
    assert top.path.endswith("yellow_heart.png") and top.reliability.get("clip") == 1.0
    # words the visual model never learned get no weight from it: no picture outranks the text evidence
    for h in demo.search("parking permit", top_k=10):
        assert "clip" not in h.signals
