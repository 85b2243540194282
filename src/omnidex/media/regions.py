"""Find the picture inside a bigger image: bars around a letterboxed copy, a photo inside a screenshot.

Near-duplicate search compares whole pictures; a letterboxed copy or a screenshot that shows the
photo among buttons and text does not look like the photo as a whole. Both helpers work on a
small grey copy and return boxes in the input's pixels, or nothing when the image is one picture.
"""
from __future__ import annotations

import numpy as np

from .._require import require

WORK_SIDE = 320  # analysis resolution (longest side)
BAR_TOL = 10.0  # grey levels a bar row may deviate from the bar colour (JPEG noise)
BACKGROUND_TOL = 14  # a pixel this far (max over R, G, B) from every background colour is content
MIN_AREA, MAX_AREA = 0.06, 0.8  # a picture region covers this share of the image


def _small(image, mode: str = "L") -> tuple[np.ndarray, float]:
    """(array at ``WORK_SIDE`` in ``mode``, scale from it back to the input's pixels)."""
    pil = require("PIL.Image", "image")
    img = image.convert(mode)
    s = min(1.0, WORK_SIDE / max(img.size))
    if s < 1.0:
        img = img.resize((max(4, round(img.width * s)), max(4, round(img.height * s))), pil.Resampling.BOX)
    return np.asarray(img, dtype=np.float32 if mode == "L" else np.uint8), 1.0 / s


def trim_borders(image) -> tuple[int, int, int, int] | None:
    """The box inside uniform bars on any side (letterbox, pillarbox, padding).

    Args:
        image: PIL image.
    Returns:
        (x0, y0, x1, y1) in the image's pixels, or None when there are no bars worth trimming.
    """
    g, back = _small(image)
    h, w = g.shape

    def run(lines: np.ndarray) -> int:
        ref = np.median(lines[0])
        n = 0
        for line in lines:
            if np.percentile(np.abs(line - ref), 95) > BAR_TOL:
                break
            n += 1
        return n

    top, bottom = run(g), run(g[::-1])
    left, right = run(g.T), run(g.T[::-1])
    if top + bottom >= h - 4 or left + right >= w - 4:
        return None  # a flat image
    if max(top, bottom, left, right) < max(2, 0.03 * max(h, w)):
        return None
    box = (left, top, w - right, h - bottom)
    return tuple(int(round(v * back)) for v in box)  # type: ignore[return-value]


def _content_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels that are neither text nor the window's background colours.

    A median filter first replaces text strokes and thin lines by the background around them;
    the background colours are those covering at least 5 % of the image's outer ring (a window's
    title bar, panels and page all reach the edge); what differs from all of them is content.
    """
    cv2 = require("cv2", "image")
    smooth = cv2.medianBlur(rgb, 7).astype(np.int16)
    ring = np.concatenate([smooth[:2].reshape(-1, 3), smooth[-2:].reshape(-1, 3),
                           smooth[:, :2].reshape(-1, 3), smooth[:, -2:].reshape(-1, 3)])
    keys, counts = np.unique(ring // 8, axis=0, return_counts=True)
    backgrounds = keys[counts >= 0.05 * len(ring)] * 8 + 4
    if not len(backgrounds):
        return np.ones(rgb.shape[:2], np.uint8)
    dist = np.min([np.abs(smooth - b).max(axis=2) for b in backgrounds], axis=0)
    return (dist > BACKGROUND_TOL).astype(np.uint8)


def _tighten(mask: np.ndarray, box: tuple[int, int, int, int], fill: float = 0.7) -> tuple[int, int, int, int]:
    """Shrink a box side by side while its outermost row or column is less than ``fill`` content
    (drops text blocks and margins that the closing glued to a picture)."""
    x0, y0, x1, y1 = box
    changed = True
    while changed and x1 - x0 > 4 and y1 - y0 > 4:
        changed = False
        sides = {"top": mask[y0, x0:x1].mean(), "bottom": mask[y1 - 1, x0:x1].mean(),
                 "left": mask[y0:y1, x0].mean(), "right": mask[y0:y1, x1 - 1].mean()}
        side = min(sides, key=sides.get)
        if sides[side] < fill:
            changed = True
            if side == "top":
                y0 += 1
            elif side == "bottom":
                y1 -= 1
            elif side == "left":
                x0 += 1
            else:
                x1 -= 1
    return x0, y0, x1, y1


def picture_regions(image, limit: int = 2) -> list[tuple[int, int, int, int]]:
    """Boxes of pictures embedded in a larger image with flat surroundings (a screenshot's photo).

    Content is what differs from the window's background colours once text is filtered away
    (:func:`_content_mask`); an opening removes what is left of thin lines and a closing fills
    holes; bounding boxes of the blocks are kept when they cover ``MIN_AREA``..``MAX_AREA`` of
    the image and are mostly content inside.

    Args:
        image: PIL image.
        limit: at most this many boxes, largest first.
    Returns:
        (x0, y0, x1, y1) boxes in the image's pixels (empty for an ordinary photo).
    """
    cv2 = require("cv2", "image")
    rgb, back = _small(image, "RGB")
    h, w = rgb.shape[:2]
    mask = _content_mask(rgb)
    k = max(3, round(min(h, w) / 40)) | 1
    solid = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    solid = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    boxes = []
    for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[: 4 * limit] + 1:
        x, y, bw, bh, area = (int(v) for v in stats[i])
        share = bw * bh / float(h * w)
        if not MIN_AREA <= share <= MAX_AREA or area < 0.6 * bw * bh or min(bw, bh) < 0.12 * min(h, w):
            continue
        x0, y0, x1, y1 = _tighten(mask, (x, y, x + bw, y + bh))
        if (x1 - x0) * (y1 - y0) < MIN_AREA * h * w:
            continue
        boxes.append(tuple(int(round(v * back)) for v in (x0, y0, x1, y1)))
        if len(boxes) >= limit:
            break
    return boxes  # type: ignore[return-value]


__all__ = ["picture_regions", "trim_borders"]
