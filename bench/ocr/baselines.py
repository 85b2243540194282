"""The OCR paths the gated reader is measured against, side by side in one run.

* :class:`Before` is omnidex's reader as it was before the gate (commit b5cd584): RapidOCR with
  the detector at most 960 px on every picture, and a second full pass on the CLAHE-equalised
  picture whenever the first reads nothing (so every photograph without text costs two
  full-size detections).
* :class:`PlainRapidOCR` is RapidOCR as its documentation shows it, default settings, on every
  picture: the peer.

Both answer ``read_text_or_faint`` and ``read_text`` like :class:`omnidex.encoders.ocr.OCR`, so
the ingest can be handed either.
"""
from __future__ import annotations

import threading

from omnidex.encoders.ocr import OcrLine, equalised, reading_order, rows_of


def _lines(result, min_score: float) -> list[OcrLine]:
    out = []
    for points, text, score in result or []:
        xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
        if float(score) >= min_score and str(text).strip():
            out.append(OcrLine(str(text), float(score), (min(xs), min(ys), max(xs), max(ys))))
    return reading_order(out)


class PlainRapidOCR:
    """RapidOCR with its default settings on every picture (no gate, no second pass)."""

    identity = "rapidocr:plain"

    def __init__(self, min_score: float = 0.5, threads: int = 2, **settings):
        import rapidocr_onnxruntime as rapid

        self.min_score = min_score
        self._engine = rapid.RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, **settings)
        self._lock = threading.Lock()

    def read(self, image, gate: bool = False) -> list[OcrLine]:
        with self._lock:
            result, _ = self._engine(image.convert("RGB"), text_score=self.min_score)
        return _lines(result, self.min_score)

    def read_text(self, image, gate: bool = False) -> str:
        return "\n".join(" ".join(ln.text for ln in row) for row in rows_of(self.read(image)))

    def read_text_or_faint(self, image, gate: bool = False, spots: list | None = None) -> str:
        return self.read_text(image)


class Before(PlainRapidOCR):
    """omnidex's reader before the gate: detector at most 960 px, and an equalised second pass
    when the first reads nothing."""

    identity = "omnidex:before-gate"

    def __init__(self, min_score: float = 0.5, threads: int = 2, faint: str | None = None):
        # ``faint``: taken as the shipped reader takes it (Models.ocr passes it); this reader had no faint path
        super().__init__(min_score, threads, det_limit_type="max", det_limit_side_len=960)

    def read_text_or_faint(self, image, gate: bool = False, spots: list | None = None) -> str:
        return self.read_text(image) or self.read_text(equalised(image))
