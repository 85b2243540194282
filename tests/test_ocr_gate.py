"""The OCR gate (:meth:`OCR.gate`, 512 px, any map pixel >= GATE_THRESH) with the bundled PP-OCRv4
detector, on words drawn over real photographs (bench/ocr's library) and on plain photographs.

Recall and speed at scale are in ``python -m bench.ocr.run --parts speed`` (bench/ocr).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("wordsegment")


@pytest.fixture(scope="module")
def ocr():
    from omnidex.encoders.ocr import OCR

    return OCR()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Ten views of the dev photographs as ingest hands them over (thumbnailed to 1024 px), words
    drawn on every other one (14-110 px, plain / band / sign, some at 35-100 % opacity)."""
    from PIL import Image

    from bench.ocr.library import build, photo_sets
    from omnidex.encoders.ocr import _bgr

    dev, _ = photo_sets()
    if len(dev) < 3:
        pytest.skip("sample photographs not installed")
    items = build(tmp_path_factory.mktemp("gate") / "lib", dev, 10, seed=5, text_every=2)
    out = []
    for it in items:
        img = Image.open(it["path"]).convert("RGB")
        img.thumbnail((1024, 1024))
        out.append((_bgr(img), it))
    return out


def test_gate_passes_every_picture_with_words_and_marks_where_they_are(ocr, library):
    text = [(b, it) for b, it in library if it["words"]]
    assert len(text) == 5
    gated = [(b, it) for b, it in text if ocr._gated(b)]  # pictures under 1.4x the gate are detected at their size
    assert len(gated) >= 3
    for bgr, it in gated:
        found = ocr.gate([bgr])[0]
        assert found, (it["words"], it["px"], it["style"], it["opacity"])
        h, w = bgr.shape[:2]
        assert all(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h for x0, y0, x1, y1 in found.regions)
        assert any(x0 <= (q[:, 0].min() + q[:, 0].max()) / 2 <= x1 and y0 <= (q[:, 1].min() + q[:, 1].max()) / 2 <= y1
                   for q in found.quads for x0, y0, x1, y1 in found.regions) or not len(found.quads)


def test_gate_drops_plain_photographs(ocr, library):
    """Views of plain photographs: most show no text to the gate (some photographs do carry print
    or text-like texture; the bench reports the share passed)."""
    from PIL import Image

    from omnidex.testing.edits import sample_photos

    photos = sample_photos()
    plain = [b for b, it in library if not it["words"]]
    for name in ("china", "chelsea", "coffee"):
        if name in photos:
            img = Image.open(photos[name]).convert("RGB")
            img = img.resize((1024, round(1024 * img.height / img.width)))
            plain.append(np.ascontiguousarray(np.asarray(img)[:, :, ::-1]))
    plain = [b for b in plain if ocr._gated(b)]
    assert len(plain) >= 5
    dropped = [not ocr.gate([b])[0] for b in plain]
    assert sum(dropped) >= 0.6 * len(plain), dropped


def test_gate_batch_matches_one_by_one(ocr, library):
    same = [b for b, _ in library if b.shape == library[0][0].shape] or [library[0][0]]
    frames = [same[0], same[0][:, ::-1].copy(), same[0]]
    batched = ocr.gate(frames)
    for b, g in zip(frames, batched):
        one = ocr.gate([b])[0]
        assert bool(one) == bool(g) and one.regions == g.regions and len(one.quads) == len(g.quads)


def test_regions_only_are_detected_at_full_size_for_receipt_sized_text(ocr):
    """12 px receipt lines pasted into a photograph: the gate (6 px text at 512) marks them; only
    the marked regions are cut out and detected at full size, and every word is read."""
    import re

    from PIL import Image, ImageDraw, ImageFont

    from omnidex.encoders.ocr import _bgr
    from omnidex.testing.edits import sample_photos

    photos = sample_photos()
    if "astronaut" not in photos:
        pytest.skip("sample photograph astronaut not installed")
    img = Image.open(photos["astronaut"]).convert("RGB").resize((1024, 1024))
    d = ImageDraw.Draw(img)
    d.rectangle((600, 820, 860, 900), fill=(250, 248, 240))
    mono = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 12)
    words = ["MARMALADE", "BISCUITS", "LANTERN"]
    for i, w in enumerate(words):
        d.text((612, 830 + 22 * i), f"{w:<10} {3.5 + i:5.2f}", font=mono, fill=(10, 10, 10))
    bgr = _bgr(img)
    found = ocr.gate([bgr])[0]
    assert found.regions
    seen = []
    detect = ocr.detect

    def recording(images, side, loose=False):
        seen.append((images[0].shape[:2], side))
        return detect(images, side, loose)

    ocr.detect = recording
    try:
        text = ocr.read_text(img)
    finally:
        del ocr.detect
    assert {w.lower() for w in words} <= set(re.findall(r"[a-z]+", text.lower())), text
    # no whole-picture detection at full size: only cut-outs, together well under half the picture
    assert seen and all(shape != bgr.shape[:2] for shape, _ in seen), seen
    assert sum(s[0] * s[1] for s, _ in seen) < 0.5 * 1024 * 1024, seen
