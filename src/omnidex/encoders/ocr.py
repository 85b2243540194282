"""Read text in images and video frames with RapidOCR (PP-OCRv4 det/rec ONNX, bundled, offline)."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .._require import require


@dataclass(frozen=True)
class OcrLine:
    """One detected line of text."""

    text: str  # recognised text
    score: float  # recognition confidence (0..1)
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the input image


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rapidocr-onnxruntime")
    except Exception:  # noqa: BLE001 - metadata missing: still a usable identity
        return "unknown"


def _to_line(item) -> OcrLine:
    """The boundary: RapidOCR's [4 corner points, text, score] -> OcrLine of plain floats."""
    points, text, score = item[0], item[1], item[2]
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    return OcrLine(str(text), float(score), (min(xs), min(ys), max(xs), max(ys)))


def rows_of(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Group lines into rows (vertical centres within half a line height), top to bottom,
    each row sorted left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        centre, height = (line.box[1] + line.box[3]) / 2, line.box[3] - line.box[1]
        if rows:
            last = rows[-1]
            row_centre = sum((ln.box[1] + ln.box[3]) / 2 for ln in last) / len(last)
            if abs(centre - row_centre) < 0.5 * max(height, min(ln.box[3] - ln.box[1] for ln in last)):
                last.append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.box[0]) for row in rows]


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Sort lines top-to-bottom, and left-to-right within a row.

    Args:
        lines: lines in any order.
    Returns:
        The same lines in reading order.
    """
    return [ln for row in rows_of(lines) for ln in row]


class OCR:
    """Text reader; the ONNX sessions are created once, on first use.

    Args:
        min_score: lines recognised with lower confidence are dropped.
        threads: ONNX Runtime intra-op threads; 0 picks min(2, cores) (sized for a small machine).
        det_max_side: the detector sees images at most this large and never upscales them.
            RapidOCR's default instead scales the *shorter* side up to 736 px, which blows a
            384x216 video frame up to 1308x736: about 5x slower on such frames, and no more
            accurate (measured on rendered 384x216 captions: 0.5 s vs 2.8 s per frame, side by side).
    """

    def __init__(self, min_score: float = 0.5, threads: int = 0, det_max_side: int = 960):
        self.min_score = min_score
        self.det_max_side = det_max_side
        self.threads = threads or min(2, os.cpu_count() or 1)
        self.identity = f"rapidocr:ppocrv4@{_version()}"
        self._engine = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._engine is None:
                rapid = require("rapidocr_onnxruntime", "ocr")
                self._engine = rapid.RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1,
                                              det_limit_type="max", det_limit_side_len=self.det_max_side)
        return self._engine

    def read(self, image) -> list[OcrLine]:
        """Detect and recognise text lines.

        Args:
            image: PIL image (any mode).
        Returns:
            Lines with score >= min_score, in reading order (top-to-bottom, left-to-right).
        """
        engine = self._load()
        with self._lock:  # one ONNX session pipeline; RapidOCR keeps per-call state on itself
            result, _ = engine(image.convert("RGB"), text_score=self.min_score)
        lines = [_to_line(item) for item in (result or [])]
        return reading_order([ln for ln in lines if ln.score >= self.min_score and ln.text.strip()])

    def read_text(self, image) -> str:
        """All text of ``image`` as one string: boxes of one row joined by spaces, rows by newlines.

        Args:
            image: PIL image.
        Returns:
            The text in reading order ("" when there is none).
        """
        return "\n".join(" ".join(ln.text for ln in row) for row in rows_of(self.read(image)))

    def read_text_or_faint(self, image) -> str:
        """:meth:`read_text`, and when it finds nothing a second pass on the contrast-equalised
        picture (text printed faintly, or at low opacity over a photo).

        Args:
            image: PIL image.
        Returns:
            The text in reading order ("" when neither pass reads any).
        """
        return self.read_text(image) or self.read_text(equalised(image))


def equalised(image):
    """Local contrast equalisation (CLAHE on the grey picture; a global autocontrast without OpenCV).

    Args:
        image: PIL image.
    Returns:
        An RGB PIL image in which faint strokes stand out.
    """
    pil = require("PIL.Image", "image")
    grey = image.convert("L")
    try:
        cv2 = require("cv2", "image")
    except Exception:  # noqa: BLE001 - OpenCV missing: Pillow's global stretch instead
        from PIL import ImageOps

        return ImageOps.autocontrast(grey, cutoff=1).convert("RGB")
    import numpy as np

    out = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8)).apply(np.asarray(grey))
    return pil.fromarray(out).convert("RGB")
