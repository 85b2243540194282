"""Earned confidence (issue 14): closed-domain encoders step back, hits say whether they are confident."""
from __future__ import annotations

import pytest

from omnidex.config import IndexConfig, SearchConfig
from omnidex.search.engine import mark_confident
from omnidex.types import Hit


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import os

    os.environ["OMNIDEX_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from omnidex.spaces import Models

    return Models(IndexConfig(clip_model="lit:bundled"))


@pytest.mark.parametrize("space,inside,outside", [
    ("visual", ["a yellow heart", "two blue circles", "a red star on a dark background"],
     ["parking permit", "ferry to the islands", "how much did sales increase", "sandbags for the flood"]),
    ("sound", ["a siren wailing", "a dog barking", "applause"],
     ["how much did sales increase", "the coast train departs at noon", "solar panels"]),
])
def test_bundled_models_trust_queries_inside_their_domain_only(models, space, inside, outside):
    from omnidex.search.domain import gate_for

    enc = models.encoder(space)
    gate = gate_for(enc)
    assert gate is not None and len(gate.bank) > 100
    w_in = [gate.weight(v) for v in enc.encode_text(inside)]
    w_out = [gate.weight(v) for v in enc.encode_text(outside)]
    assert min(w_in) >= 0.9, (inside, w_in)
    assert max(w_out) <= 0.05, (outside, w_out)
    assert gate_for(enc) is gate  # built once per process


def test_open_vocabulary_encoders_have_no_gate():
    from omnidex.search.domain import domain_summary, gate_for
    from omnidex.store import EncoderSpec

    class Open:
        identity, path = "clip:x", "/nowhere/clip"

        def encode_text(self, texts):  # pragma: no cover - never called for an open model
            raise AssertionError

    assert gate_for(Open()) is None
    assert domain_summary(EncoderSpec("clip", (("model", "openai/clip-vit-base-patch32"),), "clip:x", 512)) == \
        {"domain": "open"}
    assert domain_summary(EncoderSpec("lit", (("model", "lit:bundled"),), "lit:y", 384))["domain"] == "closed"


def test_confident_flag_follows_the_threshold_and_reaches_json():
    hits = [Hit("/a.txt", 1, 2, "line", 0.8, "text"), Hit("/b.txt", 1, 2, "line", 0.2, "text")]
    marked = mark_confident(hits, SearchConfig(confident_at=0.5))
    assert [h.confident for h in marked] == [True, False]
    assert marked[0].to_dict()["confident"] is True and marked[1].to_dict()["confident"] is False


def test_cli_says_no_confident_match_and_dims_weak_hits(capsys):
    from omnidex.render import print_hits

    weak = [Hit("/lib/notes.txt", 1, 3, "line", 0.12, "text", signals={"text": 0.12}, evidence="sourdough")]
    print_hits(weak, "a dog playing chess")
    out = capsys.readouterr().out
    assert "no confident match" in out and "weak" in out and "notes.txt" in out
    sure = [Hit("/lib/a.txt", 1, 3, "line", 0.9, "text", confident=True)] + weak
    print_hits(sure, "revenue")
    out = capsys.readouterr().out
    assert "no confident match" not in out and out.index("a.txt") < out.index("notes.txt")


def test_cli_names_words_matched_in_another_reading_beside_the_text_as_read(capsys, monkeypatch):
    from omnidex.render import print_hits

    monkeypatch.setenv("COLUMNS", "240")  # one line per cell

    faint = [Hit("/lib/quokka.jpg", 0, 0, "none", 0.99, "image", signals={"fts": 0.85}, evidence="RODN",
                 also_read=("ROTTNEST",), guessed=("rodney",), confident=True)]
    print_hits(faint, "rottnest")
    out = " ".join(capsys.readouterr().out.split())
    assert "RODN (also read: ROTTNEST) (guessed: rodney)" in out


def test_a_rare_exact_word_outweighs_common_ones_in_full_text_evidence():
    from omnidex.search.calibrate import fts_probability, term_weight

    q = "sandbags for the flood near the river"
    assert term_weight("sandbags") > term_weight("flood") > term_weight("the")
    assert fts_probability(q, "Stack sandbags at the door") > fts_probability(q, "the flood reached the river bank")
    assert fts_probability(q, "sandbags against the flood near the river") == pytest.approx(0.85)
    assert fts_probability(q, "a recipe for bread") == 0.0


def test_the_rest_of_a_file_picks_the_sibling_but_never_makes_an_answer_alone():
    from omnidex.search.context import context_probability, with_file_context

    q = "flower show meeting point at the eagle statue"
    slide = "MEET AT THE EAGLE STATUE"
    files = {"/v/flower.mp4": "Welcome to the flower show. " + slide, "/v/dogs.mp4": "The dog shelter. " + slide,
             "/v/other.mp4": "The flower show tickets cost more this year."}
    assert context_probability(q, slide, files["/v/flower.mp4"]) > 0.0 == context_probability(q, slide, files["/v/dogs.mp4"])
    same = dict(unit="s", modality="video", signals={"text": 0.9}, evidence=slide, source="ocr")
    hits = [Hit("/v/dogs.mp4", 7, 11, score=0.9, **same), Hit("/v/flower.mp4", 7, 11, score=0.9, **same),
            Hit("/v/other.mp4", 0, 3, "s", 0.05, "video", signals={"text": 0.05}, evidence="tickets cost more")]
    ranked = with_file_context(hits, q, files)
    assert [h.path for h in ranked[:2]] == ["/v/flower.mp4", "/v/dogs.mp4"] and "context" in ranked[0].signals
    weak = next(h for h in ranked if h.path == "/v/other.mp4")
    assert weak.score < 0.06  # its file names the flower show, but the moment itself says nothing of it
