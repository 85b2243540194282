"""Word spotting (omnidex.encoders.ocr_spot, omnidex.search.spot): the filler-model CTC scores,
the packed frames in the index, and a query word the faint path misread found on a real picture
(bundled PP-OCRv4 models), weakly and named as a guess."""
from __future__ import annotations

import re

import numpy as np
import pytest


def _frames(t: int, seed: int) -> np.ndarray:
    from omnidex.encoders.ocr_spot import COLUMNS

    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(t, COLUMNS)) * 2.5
    return (logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)).astype(np.float32)


def test_spot_scores_sum_over_every_stretch_the_word_may_lie_on():
    """Relative and absolute scores equal brute force: for every stretch [s, e) the CTC
    likelihood of the word there, the frames outside read as their best column (relative) or
    not weighed (absolute), summed over stretches."""
    from omnidex.encoders.ocr_lexicon import ctc_log_likelihood
    from omnidex.encoders.ocr_spot import LETTERS, spot_scores

    boxes = [_frames(t, seed) for seed, t in enumerate((9, 6, 12))]
    for word in ("ab", "zz", "cab"):
        labels = [LETTERS.index(c) + 1 for c in word]
        rel, ab = spot_scores(boxes, word)
        for b, r, a in zip(boxes, rel, ab):
            best = b.max(1).astype(np.float64)
            terms_rel, terms_abs = [], []
            for s in range(len(b)):
                for e in range(s + 1, len(b) + 1):
                    ll = ctc_log_likelihood(b[s:e].astype(np.float64), labels)
                    if ll < -1e29:
                        continue
                    terms_abs.append(ll)
                    terms_rel.append(ll + best[:s].sum() + best[e:].sum())
            assert r == pytest.approx(np.logaddexp.reduce(terms_rel) - best.sum(), abs=1e-6), word
            assert a == pytest.approx(np.logaddexp.reduce(terms_abs), abs=1e-6), word


def test_a_word_the_frames_read_scores_high_and_others_do_not():
    from omnidex.encoders.ocr_spot import COLUMNS, LETTERS, spot_scores, spotted

    # frames that read "xhasoxy" (letters on every other frame, blanks between), sure of each
    path = [LETTERS.index(c) + 1 for c in "xhasoxy"]
    cols = [j for p in path for j in (p, 0)]
    b = np.full((len(cols), COLUMNS), np.log(0.01 / (COLUMNS - 1)), np.float32)
    b[np.arange(len(cols)), cols] = np.log(0.99)
    rel, ab = spot_scores([b], "haso")  # inside the reading: spotted (a word inside a glued token is found)
    assert rel[0] > -0.5 and ab[0] / 4 > -0.5
    assert spotted([b], "haso") is not None
    assert spotted([b], "hose") is None and spotted([b], "fashion") is None
    assert spotted([b], "has") is None  # under MIN_LETTERS: too many boxes of clutter hold it
    # a box of clutter, no reading likely: relative to its best reading any word is close, the absolute score is not
    flat = np.full((14, COLUMNS), np.log(1 / COLUMNS), np.float32)
    rel, ab = spot_scores([flat], "haso")
    assert rel[0] / 4 > -0.5 and spotted([flat], "haso") is None


def test_packed_frames_round_trip_at_an_eighth_of_a_nat():
    from omnidex.encoders.ocr_spot import is_packed, pack, trim, unpack

    boxes = [_frames(20, 1), _frames(7, 2)]
    boxes[0][12:, :] = -40.0
    boxes[0][12:, 0] = 0.0  # padding: sure blanks after the box's own frames
    packed = pack(boxes)
    assert is_packed(packed) and not is_packed('[[0.1,0.4,"hello"]]') and not is_packed("")
    back = unpack(packed)
    assert [len(b) for b in back] == [len(trim(boxes[0])), 7] and len(back[0]) == 13
    for a, b in zip(back, boxes):
        assert np.abs(a - np.maximum(b[:len(a)], -255 / 8)).max() <= 1 / 16 + 1e-6
    assert pack([]) == "" and unpack("") == [] and unpack('[[0.1,0.4,"hello"]]') == []
    # a damaged value holds no boxes (a search never fails over one row)
    assert unpack(packed[:-9]) == [] and unpack(packed.replace('"t":[13,7]', '"t":[13,9]')) == []


def test_the_index_of_many_pictures_scores_as_the_boxes_do_and_skips_boxes_without_the_letters():
    """SpotIndex (what search builds once per version of the index: packed frames of many
    pictures, a float32 forward pass) gives the scores spot_scores gives the unpacked boxes; a box
    whose likeliest frames for the word's letters are unlikely is not scored at all."""
    from omnidex.encoders.ocr_spot import COLUMNS, LETTERS, SpotIndex, pack, spot_scores, unpack

    pictures = [[_frames(t, 10 * i + j) for j, t in enumerate((8, 15, 11))] for i in range(4)]
    def reading(text):  # a box sure of each letter of ``text``, blanks between
        cols = [j for c in text for j in (LETTERS.index(c) + 1, 0)]
        box = np.full((len(cols), COLUMNS), np.log(0.02 / (COLUMNS - 1)), np.float32)
        box[np.arange(len(cols)), cols] = np.log(0.98)
        return box

    pictures[2].append(reading("xtidex"))
    pictures[0].append(reading("qwzzqw"))  # none of the letters of "tide": not scored
    packed = [pack(p) for p in pictures]
    index = SpotIndex(["", *packed, '[[0.1,0.4,"hello"]]', packed[0][:-9]])  # rows without (whole) frames: no boxes
    assert len(index) == 14
    owner, rel, ab = index.scores("tide")
    assert 3 in owner.tolist()  # the picture that reads it (row 3: after the empty one)
    flat = [b for p in packed for b in unpack(p)]
    want_rel, want_ab = spot_scores(flat, "tide")
    scored = {int(o) for o in owner}
    assert len(owner) < len(flat)
    # the scored boxes are those whose letter bound clears the prefilter; their scores match
    from omnidex.encoders.ocr_spot import PREFILTER_PER_LETTER

    lab = [LETTERS.index(c) + 1 for c in "tide"]
    bound = np.array([np.round(-b.max(0)[lab] * 8).clip(0, 255).sum() / (-8 * 4) for b in flat])
    keep = np.nonzero(bound >= PREFILTER_PER_LETTER)[0]
    assert len(keep) == len(owner)
    assert np.allclose(rel, want_rel[keep], atol=1e-3) and np.allclose(ab, want_ab[keep], atol=1e-3)
    assert scored <= {1, 2, 3, 4}
    assert index.scores("ab")[0].size == 0 and SpotIndex([]).scores("tide")[0].size == 0


def _astronaut():
    from bench.neardup.ocr import render
    from omnidex.testing.edits import sample_photos
    from PIL import Image

    return render("photo_35", ["fashion", "twice", "worldsex"], Image.open(sample_photos()["astronaut"]).convert("RGB"), None)


def test_a_word_the_faint_path_misread_is_spotted_in_its_frames():
    """FASHION at 35 % over scikit-image's astronaut: read ASHVON / HASHON, repaired to nothing
    that is the word. Its boxes' frames support "fashion"; common words it does not show are not
    spotted."""
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex.encoders.ocr import OCR
    from omnidex.encoders.ocr_spot import spotted

    spots: list = []
    text = OCR().read_text_or_faint(_astronaut(), spots=spots)
    assert "fashion" not in set(re.findall(r"[a-z]+", text.lower()))
    assert spots and spotted(spots, "fashion") is not None
    shown = [w for w in ("deutsche", "portugal", "regions", "vendors", "harbour", "station", "window")
             if spotted(spots, w) is not None]
    assert shown == []


def test_a_spotted_word_is_a_weak_hit_that_names_it(tmp_path):
    """Indexed, the astronaut is found by "fashion" through the spot signal, named as a guess and
    not confident; a sign that shows FASHION comes first, confidently; a word it does not show
    finds it through no spot."""
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex import Index, IndexConfig
    from omnidex.encoders.ocr_spot import is_packed
    from omnidex.testing.mediagen import text_image

    folder = tmp_path / "pics"
    folder.mkdir()
    _astronaut().save(folder / "faint.png")
    cfg = IndexConfig(clip_model=None, speech=False, sound=False, series=False)
    idx = Index(tmp_path / "db", cfg)
    idx.add([folder])
    rows = idx.store.table("text").search().where("source = 'ocr'").limit(None).to_list()
    assert len(rows) == 1 and is_packed(rows[0]["words"])
    hits = idx.search("fashion", top_k=3)
    assert hits and hits[0].path.endswith("faint.png")
    assert "spot" in hits[0].signals and hits[0].guessed == ("fashion",) and not hits[0].confident
    assert "fashion" not in hits[0].evidence.lower()  # the text as read is what is shown
    assert not any("spot" in h.signals for h in idx.search("harbour", top_k=5))
    text_image("FASHION", folder / "sign.png", bg=(250, 250, 250), fg=(10, 10, 10))
    idx.add([folder])
    hits = Index(tmp_path / "db", cfg).search("fashion", top_k=3)
    assert [h.path.rsplit("/", 1)[-1] for h in hits[:2]] == ["sign.png", "faint.png"]
    assert hits[0].confident and not hits[1].confident and "spot" not in hits[0].signals


def test_shows_word_rises_with_the_absolute_score_and_spots_never_take_the_query_from_the_reranker():
    from omnidex.search.rerank_model import WEAK_SIGNALS
    from omnidex.search.spot import shows_word

    assert shows_word(-1.5) < 0.1 < shows_word(-1.0) < shows_word(-0.5) < shows_word(0.0) < 1.0
    assert "spot" in WEAK_SIGNALS


def test_the_faint_mode_is_chosen_by_name_or_environment(monkeypatch):
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex.encoders.ocr import OCR

    assert OCR().faint == "auto"
    monkeypatch.setenv("OMNIDEX_OCR_FAINT", "all")
    assert OCR().faint == "all" and OCR(faint="auto").faint == "auto"
    with pytest.raises(ValueError, match="'sometimes'"):
        OCR(faint="sometimes")


def test_with_the_faint_path_on_every_picture_words_over_a_crowd_are_found(tmp_path):
    """Words at 35 % over mahotas' department-store crowd: the first reading finds nothing, so
    the shipped mode never reads the picture again and indexes no text; with ``ocr_faint="all"``
    the faint views read the words there, which become the picture's text."""
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex import Index, IndexConfig

    folder = tmp_path / "pics"
    folder.mkdir()
    words = ["coleman", "hobbies", "jeremy"]
    _crowd(words).save(folder / "crowd.png")
    found = {}
    for mode in ("auto", "all"):
        idx = Index(tmp_path / f"db_{mode}", IndexConfig(clip_model=None, speech=False, sound=False, series=False,
                                                         ocr_faint=mode))
        idx.add([folder])
        tbl = idx.store.table("text")
        rows = tbl.search().where("source = 'ocr'").limit(None).to_list() if tbl is not None else []
        found[mode] = [w for w in words if (h := idx.search(w, top_k=1)) and h[0].path.endswith("crowd.png")]
        if mode == "auto":
            assert rows == []
    assert found["auto"] == [] and len(found["all"]) >= 2, found


def _crowd(words):
    from bench.neardup.ocr import render
    from omnidex.testing.edits import sample_photos
    from PIL import Image

    img = Image.open(sample_photos()["DepartmentStore"]).convert("RGB")
    img.thumbnail((1024, 1024))
    return render("photo_35", words, img, None)


def test_the_index_command_takes_the_faint_mode(monkeypatch):
    from omnidex.cli import build_parser
    from omnidex.cli.index import _config

    parse = build_parser().parse_args
    monkeypatch.delenv("OMNIDEX_OCR_FAINT", raising=False)
    assert _config(parse(["index", "x"])).ocr_faint == "auto"
    assert _config(parse(["index", "x", "--ocr-faint", "all"])).ocr_faint == "all"
    monkeypatch.setenv("OMNIDEX_OCR_FAINT", "all")
    assert _config(parse(["index", "x"])).ocr_faint == "all"
    with pytest.raises(SystemExit):
        parse(["index", "x", "--ocr-faint", "sometimes"])


def test_lines_are_read_across_the_picture_at_the_rows_where_boxes_were_found():
    """Boxes at overlapping rows are one line; each line is cut across the view's full width,
    widened by a quarter of its height; a sliver of a row is no line."""
    from omnidex.encoders.ocr_faint import line_strips

    view = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    rows = [(40.0, 80.0), (45.0, 85.0), (120.0, 140.0), (150.0, 152.0)]
    strips = line_strips([view, view], rows)
    assert len(strips) == 4  # two lines per view
    assert strips[0].shape == (65, 300, 3) and np.array_equal(strips[0], view[30:95])
    assert strips[1].shape == (30, 300, 3) and np.array_equal(strips[1], view[115:145])
    assert line_strips([view], []) == []
