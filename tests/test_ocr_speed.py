"""The OCR gate and faint text, on real photographs with the bundled PP-OCRv4 models (seconds).

Speed itself is measured side by side in ``make bench-ocr`` (bench/ocr), not here.
"""
from __future__ import annotations

import re
from collections import Counter

import pytest
from PIL import Image, ImageDraw, ImageFont

pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("cv2")

BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _photo(name: str, side: int = 1024) -> Image.Image:
    from omnidex.testing.edits import sample_photos

    photos = sample_photos()
    if name not in photos:
        pytest.skip(f"sample photograph {name} not installed")
    img = Image.open(photos[name]).convert("RGB")
    scale = side / max(img.size)
    return img.resize((round(img.width * scale), round(img.height * scale)))


def _with_sign(img: Image.Image, word: str, px: int) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    font = ImageFont.truetype(BOLD, px)
    x0, y0, x1, y1 = d.textbbox((60, 80), word, font=font)
    d.rectangle((x0 - 12, y0 - 12, x1 + 12, y1 + 12), fill=(20, 40, 90))
    d.text((60, 80), word, font=font, fill=(255, 255, 255))
    return out


def _tokens(text: str) -> set[str]:
    from omnidex.encoders.wordsplit import with_split_words

    return set(re.findall(r"[a-z]+", with_split_words(text).lower()))


@pytest.fixture(scope="module")
def ocr():
    from omnidex.encoders.ocr import OCR

    reader = OCR()
    calls: Counter = Counter()  # detector passes per side (a region cut out counts at its own side)
    scan = reader.scan

    def counting(images, side):
        calls[side] += len(images)
        return scan(images, side)

    reader.scan = counting
    reader.calls = calls
    return reader


def test_gate_drops_plain_photos_after_one_small_detection_and_keeps_text(ocr):
    for name in ("china", "chelsea"):
        photo = _photo(name)
        ocr.calls.clear()
        assert not ocr.has_text(photo)
        assert ocr.read_text_or_faint(photo) == ""
        # the plain photo cost one detection at the gate's size (512 px), none at full size
        assert ocr.calls == Counter({ocr.gate_side: 2}), ocr.calls  # has_text + read
        signed = _with_sign(photo, "HARBOUR", 44)
        assert ocr.has_text(signed)
        ocr.calls.clear()
        assert "harbour" in _tokens(ocr.read_text_or_faint(signed))
        assert ocr.det_max_side not in ocr.calls  # large text: the gate's boxes were enough


def test_has_text_is_the_gates_decision_so_a_picture_without_it_reads_nothing(ocr):
    """has_text is what the reading decides at the gate: over photographs with and without words
    (gravel and grass among them, where the map marks texture), a picture it calls textless
    reads nothing, and every picture with a sign has text."""
    for name in ("china", "chelsea", "gravel", "grass", "coffee", "rocket"):
        photo = _photo(name)
        for img, words in ((photo, False), (_with_sign(photo, "HARBOUR", 44), True)):
            said = ocr.has_text(img)
            if words:
                assert said
            if not said:
                assert ocr.read_text(img) == ""


def test_another_detector_can_be_given_as_an_onnx_file(tmp_path, monkeypatch):
    """OCR(det=path) loads that detector (here a copy of RapidOCR's under another name) and reads
    with it; a path that names no file is refused with the path in the message."""
    import shutil

    from omnidex.encoders.ocr import OCR

    default = OCR(threads=1)
    default._load()
    shipped = default._engine.text_det.infer.session._model_path
    copy = tmp_path / "my-det.onnx"
    shutil.copy(shipped, copy)
    monkeypatch.setenv("OMNIDEX_OCR_DET", str(copy))
    other = OCR(threads=1)
    other._load()
    assert other._engine.text_det.infer.session._model_path == str(copy)
    assert other.identity.startswith("rapidocr:det:my-det.onnx@") and default.identity.startswith("rapidocr:ppocrv4@")
    signed = _with_sign(_photo("coffee"), "HARBOUR", 44)
    assert "harbour" in _tokens(other.read_text(signed))
    with pytest.raises(FileNotFoundError, match="nowhere.onnx"):
        OCR(det=str(tmp_path / "nowhere.onnx"))


def test_small_text_is_read_from_the_full_resolution_picture(ocr):
    """14 px words (7 px at the gate's size): marked by the gate, too small to box there; the
    region it marked is cut out and detected at full size (never the whole picture), and the words
    are recognised on the picture as given."""
    photo = _with_sign(_photo("china"), "lantern festival tickets", 14)
    ocr.calls.clear()
    assert {"lantern", "festival", "tickets"} <= _tokens(ocr.read_text_or_faint(photo))
    assert ocr.calls[ocr.gate_side] == 1 and ocr.det_max_side not in ocr.calls, ocr.calls
    regions = [side for side in ocr.calls if side != ocr.gate_side]
    assert regions and max(regions) < 0.5 * ocr.det_max_side, ocr.calls  # a small cut-out
    strict_px = ocr.gate_px
    try:  # a gate that trusts none of its boxes: the same words, from the regions it marked
        ocr.gate_px = 1000
        ocr.calls.clear()
        assert {"lantern", "festival", "tickets"} <= _tokens(ocr.read_text_or_faint(photo))
        assert ocr.calls[ocr.gate_side] == 1 and ocr.det_max_side not in ocr.calls, ocr.calls
    finally:
        ocr.gate_px = strict_px


def test_frames_read_in_a_batch_match_one_by_one(ocr):
    plain = _photo("coffee", 900).crop((0, 0, 900, 506))
    frames = [plain, _with_sign(plain, "PLATFORM", 40), plain.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    assert ocr.read_texts(frames) == [ocr.read_text(f) for f in frames]
    assert "platform" in _tokens(ocr.read_texts(frames)[1])


def test_faint_words_over_a_photo_are_found_by_search_words():
    """35 % opacity capitals over a photograph: PP-OCR trims the faint first letters ("UKON",
    "CHOLAR"); the second look and the repairs put the words in the searchable stream, while
    the text shown stays as first read."""
    from bench.neardup.ocr import _over_photo

    from omnidex.encoders.ocr import OCR
    from omnidex.encoders.wordsplit import SEPARATOR

    img = _over_photo(_photo("coffee"), ["dispute", "yukon", "scholar"], 0.35)
    text = OCR().read_text_or_faint(img)
    assert {"dispute", "yukon", "scholar"} <= _tokens(text)
    assert SEPARATOR.strip() in text  # the extra words are in the hidden stream


def test_digits_read_for_letters_and_broken_words_join():
    from omnidex.encoders.wordsplit import original_text, repairs, with_split_words

    assert "footwear" in _tokens("F00TWEAR 7.85")
    assert "boost" in _tokens("B00ST 26.37")
    assert "tanzania" in _tokens("TANZANI A 29 .46")
    assert "incidence" in _tokens("INC IDENCE 13.10")
    assert original_text(with_split_words("F00TWEAR 7.85")) == "F00TWEAR 7.85"
    assert with_split_words("hello world") == "hello world"
    assert with_split_words(with_split_words("PARKINGPERMIT")) == with_split_words("PARKINGPERMIT")
    assert repairs("UKON") == ["yukon"] and repairs("DEFNED")[0] == "defined"
    assert repairs("harbour") == [] and repairs("1234") == []
