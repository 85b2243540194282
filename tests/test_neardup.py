"""Near-duplicate image search robust to everyday edits; glued OCR words; duplicate relations."""
from __future__ import annotations

import numpy as np
import pytest

from omnidex import Index, IndexConfig
from omnidex.testing.edits import EDITS, screenshot_with_box

pytest.importorskip("cv2")


def _photo(seed: int, size=(480, 360)):
    """A deterministic photo-like picture: smooth colour field, blobs, edges and fine texture."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    w, h = size
    low = rng.uniform(0, 255, size=(6, 8, 3)).astype(np.uint8)
    img = Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(6, 50)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.polygon([(x + rng.uniform(-r, r), y + rng.uniform(-r, r)) for _ in range(4)], fill=colour)
    noise = rng.normal(0, 12, size=(h, w, 3))
    arr = np.clip(np.asarray(img.filter(ImageFilter.GaussianBlur(1.0)), np.float32) + noise, 0, 255)
    return Image.fromarray(arr.astype(np.uint8))


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_the_picture_inside_a_screenshot_and_inside_letterbox_bars_is_found():
    from omnidex.media.regions import picture_regions, trim_borders

    for seed in range(3):
        shot, box = screenshot_with_box(_photo(seed), np.random.default_rng(seed))
        assert max(_iou(b, box) for b in picture_regions(shot)) > 0.85
    padded = EDITS["letterbox"](_photo(5), np.random.default_rng(0))
    x0, y0, x1, y1 = trim_borders(padded)
    assert abs((x1 - x0) - 480) <= 4 and abs((y1 - y0) - 360) <= 4
    assert trim_borders(_photo(6)) is None and picture_regions(_photo(6)) == []


def test_keypoints_agree_for_edited_copies_and_not_for_other_pictures():
    from omnidex.encoders import localfeat as lf

    src = lf.extract(_photo(1))
    other = lf.extract(_photo(2))
    for name in ("flip", "crop50", "rotate10"):
        q = EDITS[name](_photo(1), np.random.default_rng(3))
        v = lf.verify(lf.extract(q), src, lf.extract(lf.mirrored(q)))
        assert v.inliers >= 25, (name, v)
        assert v.mirrored == (name == "flip")
        assert lf.verify(lf.extract(q), other, lf.extract(lf.mirrored(q))).inliers < 8


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("neardup")
    media = root / "media"
    media.mkdir()
    for i in range(8):
        _photo(10 + i).save(media / f"photo{i}.png")
    shot = EDITS["screenshot"](_photo(30), np.random.default_rng(1))  # only a screenshot of photo 30 is indexed
    shot.save(media / "screenshot.png")
    idx = Index(root / "db", IndexConfig(clip_model=None, ocr=False, speech=False, sound=False, series=False))
    idx.add([media])
    return {"idx": idx, "root": root, "media": media}


SLOW = pytest.mark.slow


@pytest.mark.parametrize("edit", ["screenshot", *(pytest.param(e, marks=SLOW) for e in
                                                 ("flip", "crop50", "letterbox", "rotate10", "text_overlay"))])
def test_an_edited_copy_finds_its_source_first(library, edit):
    query = library["root"] / f"q_{edit}.png"
    EDITS[edit](_photo(13), np.random.default_rng(7)).save(query)
    hits = library["idx"].search(image=query, top_k=3)
    assert hits[0].path == str(library["media"] / "photo3.png"), hits
    assert hits[0].signals["phash"] > 0.6


def test_a_photo_finds_the_screenshot_that_shows_it(library):
    query = library["root"] / "q_photo30.jpg"
    _photo(30).resize((360, 270)).save(query, quality=60)
    hits = library["idx"].search(image=query, top_k=3)
    assert hits[0].path == str(library["media"] / "screenshot.png"), hits
    assert hits[0].source == "image"
    rows = library["idx"].store.table("phash").search().where("source = 'region'").limit(None).to_list()
    assert {r["path"] for r in rows} == {str(library["media"] / "screenshot.png")}


def test_glued_ocr_words_are_split_into_a_second_stream():
    pytest.importorskip("wordsegment")
    from omnidex.encoders.wordsplit import SEPARATOR, original_text, split_token, with_split_words

    assert split_token("PARKINGPERMIT") == ["parking", "permit"]
    assert split_token("together") == [] and split_token("Kathmandu") == []
    text = with_split_words("NOENTRY\nVolcanoobservatory visitors")
    assert original_text(text) == "NOENTRY\nVolcanoobservatory visitors"
    assert text.split(SEPARATOR)[1] == "no entry volcano observatory"
    assert with_split_words("Hello world") == "Hello world"
    assert with_split_words(text) == text  # applied once


def test_duplicate_relation_follows_the_lengths():
    from omnidex.search.video_query import duplicate_relation

    assert duplicate_relation(20.0, 40.0) == "inside"
    assert duplicate_relation(40.0, 20.0) is None  # the original is not "inside" its cut
    assert duplicate_relation(40.0, 39.0) == "near-duplicate"


def test_an_older_index_gains_region_rows_once_on_the_next_incremental_run(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    EDITS["screenshot"](_photo(40), np.random.default_rng(2)).save(media / "shot.png")
    _photo(41).save(media / "plain.png")
    cfg = IndexConfig(clip_model=None, ocr=False, speech=False, sound=False, series=False)
    idx = Index(tmp_path / "db", cfg)
    idx.add([media])
    table = idx.store.table("phash")
    assert table.count_rows("source = 'region'") >= 1
    table.delete("source = 'region'")  # what an index from before region rows looks like
    (tmp_path / "db" / "upgrades.json").unlink()
    again = Index(tmp_path / "db", cfg)
    report = again.add([media])
    assert all(o.status == "unchanged" for o in report.outcomes)
    assert any("screenshot(s) gained" in n for n in report.notices), report.notices
    assert again.store.table("phash").count_rows("source = 'region'") >= 1
    assert not any("gained" in n for n in Index(tmp_path / "db", cfg).add([media]).notices)  # said once


def test_the_fine_clip_search_is_as_wide_as_the_gap_between_indexed_frames():
    from omnidex.search.video_query import MAX_REFINE_S, REFINE_S, refine_radius

    dense = np.arange(0.0, 60.0, 0.5)
    assert refine_radius(dense, 20.0, 5.0) == REFINE_S
    sparse = np.array([2.0, 6.0, 10.0, 14.0, 18.0])  # a slow pan sampled every 4 s
    assert 4.0 <= refine_radius(sparse, 8.0, 5.0) <= MAX_REFINE_S
    assert refine_radius(np.array([]), 8.0, 5.0) == MAX_REFINE_S


def test_words_broken_in_two_are_rejoined():
    pytest.importorskip("wordsegment")
    from omnidex.encoders.wordsplit import split_stream

    assert split_stream("MES SENGER 2.60\nGOS PEL 1.64") == "messenger gospel"
    assert split_stream("at tend the rapist") == ""  # common halves stay apart
