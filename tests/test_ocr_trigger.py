"""The faint-text trigger (omnidex.encoders.ocr_trigger): its input, the shipped network on real
photographs, how the first reading consults it, and how an older index gains what it finds."""
from __future__ import annotations

import numpy as np
import pytest


def _over(photo: str, words: list[str], opacity: str = "photo_35"):
    from bench.neardup.ocr import render
    from omnidex.testing.edits import sample_photos
    from PIL import Image

    return render(opacity, words, Image.open(sample_photos()[photo]).convert("RGB"), None)


def _plain(photo: str):
    from omnidex.testing.edits import sample_photos
    from PIL import Image

    return Image.open(sample_photos()[photo]).convert("RGB").resize((900, 600))


def test_views_are_the_band_views_and_grey_at_320_px():
    """A stroke of light ink at 35 % over a dark ground shows in the light-ink channel only."""
    from omnidex.encoders.ocr_trigger import SIDE, views

    bgr = np.full((600, 900, 3), 60, np.uint8)
    bgr[290:314, 100:800] = 60 + 0.35 * (255 - 60)  # a stroke 24 px wide (about 8 px at 320)
    x = views(bgr)
    assert x.dtype == np.float32 and x.shape[0] == 3
    assert max(x.shape[1:]) <= SIDE and x.shape[1] % 8 == 0 and x.shape[2] % 8 == 0
    assert 0.0 <= x.min() and x.max() <= 1.0
    s = x.shape[1] / 600
    stroke = (slice(int(296 * s), int(308 * s)), slice(int(150 * s), int(750 * s)))
    assert x[0][stroke].mean() > 0.3 and x[0][: int(200 * s)].max() == 0  # light ink: there, and only there
    assert x[1][stroke].max() < 0.05  # dark ink: none
    assert abs(x[2][stroke].mean() - (60 + 0.35 * 195) / 255) < 0.03  # the grey picture itself


def _trigger():
    pytest.importorskip("onnxruntime")
    from omnidex.encoders.ocr_trigger import shipped

    t = shipped()
    assert t is not None, "the trained trigger ships with the package (models/faint-trigger/trigger.onnx)"
    return t


BRICK = ("brick", ["throat", "marion", "violent"], "photo_20")  # words at 20 % over a brick wall
MOTORCYCLE = ("motorcycle_left", ["proud", "implies", "squirting"], "photo_35")  # at 35 % over a garage


def test_the_shipped_trigger_marks_faint_words_and_not_the_photograph_under_them():
    """Words at 20 % over a brick wall and at 35 % over a motorcycle garage (the first reading
    finds nothing in either) are marked; the same photographs without words are not."""
    from omnidex.encoders.ocr import _bgr

    t = _trigger()
    for photo, words, opacity in (BRICK, MOTORCYCLE):
        faint, plain = t.score(_bgr(_over(photo, words, opacity))), t.score(_bgr(_plain(photo)))
        assert faint >= t.threshold > plain, (photo, faint, plain, t.threshold)


def test_the_trigger_marks_where_the_words_are():
    from omnidex.encoders.ocr import _bgr

    t = _trigger()
    photo, words, opacity = BRICK
    bgr = _bgr(_over(photo, words, opacity))
    h, w = bgr.shape[:2]
    assert t.heat(bgr).shape == tuple(n // 8 for n in _views_shape(bgr))
    regions = t.regions(bgr)  # the three lines of words (drawn from x = 40 px at y = 60, 210, 360 px, 88 px capitals)
    assert 2 <= len(regions) <= 4 and all(0 <= top < bottom <= h and 0 <= left < right <= w for top, bottom, left, right in regions)
    assert any(top <= 250 <= bottom and left <= 60 for top, bottom, left, right in regions)
    assert not any(top > 480 for top, bottom, left, right in regions)  # nothing under the last line


def _views_shape(bgr):
    from omnidex.encoders.ocr_trigger import views

    return views(bgr).shape[1:]


def test_first_reading_sends_a_picture_the_trigger_marks_to_the_faint_path():
    """THROAT, MARION, VIOLENT at 20 % over a brick wall: the first reading finds nothing and,
    before the trigger, never looked again; the trigger sends it to the faint path, which reads it
    and keeps the frames of the regions the trigger marks for word spotting."""
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex.encoders.ocr import OCR, _bgr

    _trigger()
    photo, words, opacity = BRICK
    img = _over(photo, words, opacity)
    before = OCR(trigger=False)
    first, again = before.first_reading(_bgr(img))
    assert not first and not again
    assert before.read_text_or_faint(img) == ""
    ocr = OCR()
    assert ocr.first_reading(_bgr(img))[1] and ocr.triggered(img)
    assert not ocr.triggered(_plain(photo))
    spots, unmarked = [], []
    assert "throat" in ocr.read_text_or_faint(img, spots=spots).lower()
    before.read_text_or_faint(img, spots=unmarked)
    assert not unmarked  # the faint path never ran
    OCR(faint="all", trigger=False).read_text_or_faint(img, spots=unmarked)
    assert len(spots) > len(unmarked)  # the marked regions, read across


def test_without_the_model_file_the_trigger_is_off(tmp_path, monkeypatch):
    import omnidex.encoders.ocr_trigger as T
    from omnidex.encoders.ocr import OCR

    assert not T.FaintTrigger(tmp_path).available
    monkeypatch.setattr(T, "MODEL_DIR", tmp_path)
    T.shipped.cache_clear()
    try:
        assert T.shipped() is None
        assert OCR().trigger is None
    finally:
        T.shipped.cache_clear()
    assert OCR(trigger=False).trigger is None


def test_an_index_read_before_the_trigger_gains_the_faint_words_once(tmp_path, monkeypatch):
    """An index whose pictures were read without the trigger: the next run shows the pictures
    without text to it, reads the one it marks with the faint path, stores that as its OCR text
    (search finds the word) and says so once; a plain photograph stays without text."""
    pytest.importorskip("rapidocr_onnxruntime")
    import omnidex.encoders.ocr_trigger as T
    from omnidex import Index, IndexConfig

    _trigger()
    media = tmp_path / "media"
    media.mkdir()
    photo, words, opacity = BRICK
    _over(photo, words, opacity).save(media / "brick_words.png")
    _plain("astronaut").save(media / "astronaut.png")
    cfg = IndexConfig(clip_model=None, speech=False, sound=False, series=False)
    monkeypatch.setattr(T, "shipped", lambda: None)  # an omnidex before the trigger
    Index(tmp_path / "db", cfg).add([media])
    assert not Index(tmp_path / "db", cfg).search("throat", top_k=3)
    marks = (tmp_path / "db" / "upgrades.json").read_text()
    (tmp_path / "db" / "upgrades.json").write_text(marks.replace(', "ocr-faint-trigger-v1"', "").replace('"ocr-faint-trigger-v1", ', ""))
    assert "trigger" not in (tmp_path / "db" / "upgrades.json").read_text()
    monkeypatch.undo()
    report = Index(tmp_path / "db", cfg).add([media])
    assert all(o.status == "unchanged" for o in report.outcomes)
    assert any("2 picture(s) without text shown to the faint-text trigger, 1 read again" in n and "1 of them gained text" in n
               for n in report.notices), report.notices
    hits = Index(tmp_path / "db", cfg).search("throat", top_k=3)
    assert hits and hits[0].path.endswith("brick_words.png")
    rows = Index(tmp_path / "db", cfg).store.table("text").search().where("source = 'ocr'").limit(None).to_list()
    assert [r["path"].endswith("brick_words.png") for r in rows] == [True]
    assert not any("trigger" in n for n in Index(tmp_path / "db", cfg).add([media]).notices)  # said once


def test_training_pictures_mark_the_ink_of_their_words_only():
    """bench.ocr.train_trigger: a picture with words has ink cells where they are drawn and says so;
    one without has none (faint lines and rings drawn on it are not words)."""
    from bench.ocr.train_trigger import _pool, sample
    from omnidex.testing.edits import sample_photos
    from PIL import Image

    photos = [Image.open(sample_photos()[k]).convert("RGB") for k in ("coffee", "brick")]
    rng, pool = np.random.default_rng(3), _pool()
    from bench.neardup.ocr import vocabulary

    for seed in (0, 7, 11, 23):  # the words benches' vocabularies: never trained on
        assert not set(vocabulary(168, seed)) & set(pool)
    with_words = [sample(photos, rng, pool, words=True) for _ in range(6)]
    without = [sample(photos, rng, pool, words=False) for _ in range(6)]
    for x, cells, has in with_words + without:
        assert x.shape[0] == 3 and cells.shape == (x.shape[1] // 8, x.shape[2] // 8)
    assert sum(has for _, _, has in with_words) >= 5  # a word may fall off a small crop's cells
    assert all(cells.sum() > 0 for _, cells, has in with_words if has)
    assert not any(has or cells.any() for _, cells, has in without)
