"""Views of a picture in which translucent text over a photograph has the same contrast
everywhere, whatever the photograph under it.

Text drawn at opacity ``a`` in white over a photograph changes each pixel from ``b`` to
``b + a (255 - b)``; in black, to ``b (1 - a)``. Over a light part of the photograph white ink
barely changes it, over a dark part it stands out: letters that cross from dark to light parts
are only partly seen by a detector that looks at plain contrast. Dividing by the room the ink
had (``255 - b`` for light ink, ``b`` for dark ink) gives ``a`` in every stroke. The ground ``b``
under a stroke is estimated by a morphological opening (light strokes) or closing (dark strokes)
with a disc wider than the strokes; the colour channels are summed, so that ink over a saturated
colour (white over orange: little room in red, much in blue) is measured where it had room.

Over a busy photograph (foliage, gravel, a pagoda's carvings) the ratio is noisy wherever the
ground changes within a stroke's width, and the detector, which looks for strokes, boxes fragments
of words or nothing. A median filter narrower than the strokes (:data:`MEDIAN`) takes out that
clutter and keeps the strokes of 88 px capitals (about 14 px wide) whole.

Over a texture whose grain is as coarse as the strokes (gravel, grass, a crowd) the pixel itself is
the problem: a dark pebble under a white letter stays darker than the ground estimate. The **band
views** (:func:`band_views`) take the ratio of two morphological envelopes instead of the pixel:
a closing with a disc narrower than the strokes (:data:`BAND`) fills every dark speck smaller than
it, so under dark ink what is left is the ink's own dimming, the same over white gaps and over dark
figures; an opening does the same for light ink. What the two discs keep is structure between a
stroke's width and a letter's, which is what a detector looks for. The faint path reads the band
views (11 px disc, at 640 px) instead of the headroom views: on the dev pictures (bench/ocr
README) they found more words at less CPU.

Over a crowd (a drawing of hundreds of small figures) the band view shows the words plainly to a
person, but the detector, seeing dark blobs of the strokes' width everywhere, boxes nothing. The
**stroke views** (:func:`stroke_views`) keep of a band view only what contains a straight run of
ink at least :data:`STROKE` px long in one of four directions (a grey-level opening with a line,
the largest of the four): letters' stems, bars and diagonals stay, round blobs go. The detector
sees them at full size (``det_max_side``), where it boxes words it missed in the band views.
"""
from __future__ import annotations

import numpy as np

KERNEL = 41  # px: disc wider than the strokes of text up to ~110 px high at 1024 px
FLOOR = 40.0  # least room per channel divided by (keeps near-white / near-black ground from exploding)
GAIN = 400.0  # ratio -> grey levels (an opacity of 0.35 draws strokes at ~115 on white)
MEDIAN = 7  # px: median filter over the views, against clutter finer than the strokes (0: none)
BAND = (11,)  # px: discs narrower than the strokes, one pair of band views each (empty: none)
BAND_SIDE = 640  # px the detector sees the band views at
STROKE = 21  # px: least straight run of ink a stroke view keeps (0: no stroke views)
# word spotting (ocr_spot) also keeps the frames of the band views read across their full width at
# the rows where the faint views found boxes (line_strips): over clutter the detector often boxes
# a fragment of a faint word, the recogniser handed the whole line reads the rest (False: boxes only)
STRIPS = True
MAX_STRIPS = 24  # rows read across per view at most


def headroom_views(bgr: np.ndarray, kernel: int = KERNEL, median: int = MEDIAN) -> list[np.ndarray]:
    """Two views (light ink, dark ink) of a BGR picture: dark strokes on white where ink changed
    the ground by a constant fraction of the room it had.

    Args:
        bgr: H x W x 3 uint8.
        kernel: disc diameter in px, wider than the strokes.
        median: aperture (odd, px) of a median filter over each view, narrower than the strokes;
            0 leaves the views unfiltered.
    Returns:
        Two H x W x 3 uint8 pictures (grey in three channels, as the detector expects).
    """
    import cv2

    f = bgr.astype(np.float32)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    # ground under strokes lighter than it (opening), and under strokes darker than it (closing);
    # on uint8, where OpenCV's morphology is several times faster than on floats
    ground_light = cv2.morphologyEx(bgr, cv2.MORPH_OPEN, disc).astype(np.float32)
    ground_dark = cv2.morphologyEx(bgr, cv2.MORPH_CLOSE, disc).astype(np.float32)
    light = (f - ground_light).sum(2) / np.maximum((255.0 - ground_light).sum(2), 3 * FLOOR)
    dark = (ground_dark - f).sum(2) / np.maximum(ground_dark.sum(2), 3 * FLOOR)
    out = []
    for ratio in (light, dark):
        v = (255.0 - np.clip(ratio * GAIN, 0, 255)).astype(np.uint8)
        if median:
            v = cv2.medianBlur(v, median)
        out.append(np.ascontiguousarray(np.repeat(v[:, :, None], 3, axis=2)))
    return out


def band_views(bgr: np.ndarray, small: tuple = BAND, kernel: int = KERNEL) -> list[np.ndarray]:
    """Views (light ink, dark ink per disc in ``small``) of a BGR picture in which strokes between
    ``small`` and ``kernel`` px wide, lighter (darker) than their ground by a constant fraction of
    the room it had, are dark on white; clutter finer than ``small`` is gone.

    Light ink: ``(open_small - open_kernel) / (255 - open_kernel)``; dark ink:
    ``(close_kernel - close_small) / close_kernel`` (colour channels summed, as in
    :func:`headroom_views`).

    Args:
        bgr: H x W x 3 uint8.
        small: disc diameters in px, each narrower than the strokes.
        kernel: disc diameter in px, wider than the strokes.
    Returns:
        2 x len(small) H x W x 3 uint8 pictures (grey in three channels).
    """
    import cv2

    def disc(d):
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))

    ground_light = cv2.morphologyEx(bgr, cv2.MORPH_OPEN, disc(kernel)).astype(np.float32)
    ground_dark = cv2.morphologyEx(bgr, cv2.MORPH_CLOSE, disc(kernel)).astype(np.float32)
    room_light = np.maximum((255.0 - ground_light).sum(2), 3 * FLOOR)
    room_dark = np.maximum(ground_dark.sum(2), 3 * FLOOR)
    out = []
    for d in small:
        light = (cv2.morphologyEx(bgr, cv2.MORPH_OPEN, disc(d)) - ground_light).sum(2) / room_light
        dark = (ground_dark - cv2.morphologyEx(bgr, cv2.MORPH_CLOSE, disc(d))).sum(2) / room_dark
        for ratio in (light, dark):
            v = (255.0 - np.clip(ratio * GAIN, 0, 255)).astype(np.uint8)
            out.append(np.ascontiguousarray(np.repeat(v[:, :, None], 3, axis=2)))
    return out


def stroke_views(views: list[np.ndarray], length: int = STROKE) -> list[np.ndarray]:
    """Each view (dark strokes on white, as :func:`band_views` gives) with only the ink that holds
    a straight run ``length`` px long, across, down or along a diagonal: the largest of four
    grey-level openings of the ink with a line of that length.

    Args:
        views: H x W x 3 uint8 pictures, grey in three channels.
        length: px; blobs shorter than this in every direction are taken out.
    Returns:
        One H x W x 3 uint8 picture per view.
    """
    import cv2

    lines = (np.ones((length, 1), np.uint8), np.ones((1, length), np.uint8),
             np.eye(length, dtype=np.uint8), np.ascontiguousarray(np.fliplr(np.eye(length, dtype=np.uint8))))
    out = []
    for view in views:
        ink = 255 - view[:, :, 0]
        kept = np.zeros_like(ink)
        for line in lines:
            np.maximum(kept, cv2.morphologyEx(ink, cv2.MORPH_OPEN, line), out=kept)
        out.append(np.ascontiguousarray(np.repeat((255 - kept)[:, :, None], 3, axis=2)))
    return out


def faint_lines(ocr, bgr: np.ndarray, clahe_views: list[np.ndarray], weighed: list | None = None,
                frames: list | None = None, marked: list | None = None) -> list:
    """Lines read in the faint views of a picture: the contrast-equalised views (detected at the
    gate's size), :func:`band_views` (at :data:`BAND_SIDE`) and their :func:`stroke_views` (at the
    reader's ``det_max_side``), each with the looser thresholds; every box is recognised both in
    the view it was found in and in the picture as given.

    Args:
        ocr: the :class:`~omnidex.encoders.ocr.OCR` reader.
        bgr: the picture, H x W x 3 uint8.
        clahe_views: :func:`~omnidex.encoders.ocr.faint_views` of it.
        weighed: when a list, (text, per-frame log-probabilities) of every line read is appended
            to it (:meth:`~omnidex.encoders.ocr.OCR.recognise`; for :mod:`.ocr_lexicon`).
        frames: when a list, the per-frame log-probabilities of every box recognised, whatever
            it read and however sure, then of the band views read across at the boxes' rows
            (:func:`line_strips`, when :data:`STRIPS`), then of the band views' regions in
            ``marked``, read as they are, are appended to it (for :mod:`.ocr_spot`).
        marked: (top, bottom, left, right) regions of the picture where faint text may be whether
            or not a box was found there (:meth:`.ocr_trigger.FaintTrigger.regions`).
    Returns:
        OcrLines with score >= the reader's ``min_score`` (in no particular order; boxes overlap).
    """
    out = []
    rows = []  # (top, bottom) of every box found in the faint views: lines to read across
    bands = band_views(bgr, BAND) if BAND else []
    for views, side in ((clahe_views, ocr.gate_side or ocr.det_max_side), (bands, BAND_SIDE),
                        (stroke_views(bands, STROKE) if STROKE else [], ocr.det_max_side)):
        if not views:
            continue
        for view, quads in zip(views, ocr.detect(views, side, loose=True)):
            if len(quads) == 0:
                continue
            rows += [(float(q[:, 1].min()), float(q[:, 1].max())) for q in quads]
            for source in (view, bgr):
                probs: list | None = [] if weighed is not None or frames is not None else None
                lines = ocr.recognise(source, quads, probs)
                if frames is not None:
                    frames.extend(p for p in probs if p is not None)
                for i, ln in enumerate(lines):
                    if ln.score >= ocr.min_score and ln.text.strip():
                        out.append(ln)
                        if weighed is not None and probs[i] is not None:
                            weighed.append((ln.text, probs[i]))
    if frames is not None and bands and STRIPS:
        frames.extend(ocr.strip_frames(line_strips(bands, rows)))
        if marked:
            frames.extend(ocr.strip_frames([v[t:b, x0:x1] for v in bands for t, b, x0, x1 in marked[:MAX_STRIPS] if b - t >= 8]))
    return out


def line_strips(views: list[np.ndarray], rows: list[tuple[float, float]], pad: float = 0.25) -> list[np.ndarray]:
    """Each view cut across its full width at the rows of the boxes found (``rows``: top, bottom),
    widened by ``pad`` x the row's height up and down, rows that overlap by more than half merged:
    a box that caught part of a faint word (``HOBBIK``), read across the picture, holds the rest."""
    merged: list[list[float]] = []
    for top, bottom in sorted(rows):
        h = bottom - top
        if h < 4:
            continue
        top, bottom = top - pad * h, bottom + pad * h
        if merged and min(bottom, merged[-1][1]) - max(top, merged[-1][0]) > 0.5 * min(bottom - top, merged[-1][1] - merged[-1][0]):
            merged[-1] = [min(top, merged[-1][0]), max(bottom, merged[-1][1])]
        else:
            merged.append([top, bottom])
    out = []
    for view in views:
        for top, bottom in merged[:MAX_STRIPS]:
            y0, y1 = max(0, int(top)), min(view.shape[0], int(np.ceil(bottom)))
            if y1 - y0 >= 8:
                out.append(np.ascontiguousarray(view[y0:y1]))
    return out
