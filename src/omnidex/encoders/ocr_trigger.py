"""Whether a picture may show faint text the first reading missed: a small network trained here
on words drawn faintly over photographs, run on the picture's band views at 320 px.

The first reading (the gate, then the detector) often finds nothing in a picture where a caption
at 35 % opacity crosses gravel, a brick wall or a cluttered garage: the detector, trained on print,
never marks it, and the faint path (:mod:`.ocr_faint`, about 1.3 CPU-s) cannot run on every
picture of a library. This trigger costs about 12 ms (bench/ocr README): the picture is shrunk to :data:`SIDE` px, its light-ink and dark-ink
band views (:func:`.ocr_faint.band_views` with discs scaled to that size) and its grey go through a
five-layer convolutional network (about 60 k weights) that marks, at 1/8 of that size, where
faint word-like strokes are; the picture's score is the largest mark. Where the first reading
read nothing and the score reaches the threshold, the faint path runs (:meth:`.ocr.OCR.first_reading`),
which also reads across the regions it marks (:meth:`FaintTrigger.regions`), for word spotting: over
a crowd or grass the detector often boxes nothing where the words are.

The network and its threshold come from ``bench/ocr/train_trigger.py`` (development photographs
only; ``models/faint-trigger/TRAINING.json`` holds its figures). Without the file, or without
ONNX Runtime, the trigger is off and the first reading alone decides, as before.
"""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

SIDE = 320  # px: the longest side the trigger sees a picture at
SMALL = 3  # px at SIDE: band views' inner disc (strokes narrower than this at 320 px are not seen)
KERNEL = 15  # px at SIDE: band views' outer disc (wider than the strokes of words up to ~110 px at 1024)
MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "faint-trigger"
THRESHOLD_KEY = "threshold"  # TRAINING.json: the score from which the faint path runs
ROW_LEVEL = 0.5  # cells this sure of faint ink are read across by the faint path (regions())
MARGIN = 3  # cells (8 px at SIDE) read beyond the marked ones on each side


def views(bgr: np.ndarray) -> np.ndarray:
    """The trigger's input for a BGR picture: (3, H, W) float32 in [0, 1]: the ink of the light-ink
    and of the dark-ink band view (:func:`.ocr_faint.band_views` with discs of :data:`SMALL` and
    :data:`KERNEL` px), and the grey picture itself, shrunk to :data:`SIDE` px (H, W multiples
    of 8)."""
    import cv2

    from .ocr_faint import band_views

    h, w = bgr.shape[:2]
    s = min(1.0, SIDE / max(h, w))
    nh, nw = max(8, int(round(h * s / 8)) * 8), max(8, int(round(w * s / 8)) * 8)
    small = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA) if (nh, nw) != (h, w) else bgr
    light, dark = band_views(small, (SMALL,), KERNEL)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.stack([255 - light[:, :, 0], 255 - dark[:, :, 0], grey]).astype(np.float32) / 255.0


class FaintTrigger:
    """The trained trigger (``models/faint-trigger/trigger.onnx``), loaded on first use.

    Args:
        folder: where ``trigger.onnx`` and ``TRAINING.json`` are.
        threshold: score from which :meth:`fires`; None takes TRAINING.json's.
    """

    def __init__(self, folder: Path = MODEL_DIR, threshold: float | None = None):
        self.folder = Path(folder)
        self._threshold = threshold
        self._session = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the model file is there and ONNX Runtime can be imported."""
        import importlib.util

        return (self.folder / "trigger.onnx").is_file() and importlib.util.find_spec("onnxruntime") is not None

    @property
    def threshold(self) -> float:
        if self._threshold is None:
            self._threshold = float(json.loads((self.folder / "TRAINING.json").read_text())[THRESHOLD_KEY])
        return self._threshold

    def _load(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime as ort

                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = 1  # a few ms of work: threads cost more than they give
                    opts.inter_op_num_threads = 1
                    self._session = ort.InferenceSession(str(self.folder / "trigger.onnx"), opts,
                                                         providers=["CPUExecutionProvider"])
        return self._session

    def heat(self, bgr: np.ndarray) -> np.ndarray:
        """Where faint word-like strokes are: (H/8, W/8) probabilities at :data:`SIDE` px."""
        session = self._load()
        x = views(bgr)[None]
        logits = session.run(None, {session.get_inputs()[0].name: x})[0]
        return 1.0 / (1.0 + np.exp(-logits[0, 0]))

    def score(self, bgr: np.ndarray) -> float:
        """The picture's score: the largest mark of :meth:`heat`."""
        return float(self.heat(bgr).max())

    def regions(self, bgr: np.ndarray, level: float = ROW_LEVEL, margin: int = MARGIN,
                heat: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
        """Where the faint path reads across for word spotting (:func:`.ocr_faint.faint_lines`),
        whether or not the detector boxed anything there: (top, bottom, left, right) in the
        picture's pixels, one per band of rows of :meth:`heat` that reach ``level`` somewhere,
        widened by half a cell up and down and spanning the columns that reach it, ``margin``
        cells more on each side. ``heat``: the picture's :meth:`heat`, when already made."""
        heat = self.heat(bgr) if heat is None else heat
        gh, gw = heat.shape
        sy, sx = bgr.shape[0] / gh, bgr.shape[1] / gw
        on = heat.max(axis=1) >= level
        out, r = [], 0
        while r < gh:
            if not on[r]:
                r += 1
                continue
            top = r
            while r < gh and on[r]:
                r += 1
            cols = np.nonzero(heat[top:r].max(axis=0) >= level)[0]
            c0, c1 = max(0, int(cols.min()) - margin), min(gw, int(cols.max()) + 1 + margin)
            out.append((int(max(0.0, (top - 0.5) * sy)), int(min(bgr.shape[0], (r + 0.5) * sy)), int(c0 * sx), int(np.ceil(c1 * sx))))
        return out

    def fires(self, bgr: np.ndarray) -> bool:
        """Whether the picture may show faint text (:meth:`score` >= threshold)."""
        return self.fires_on(self.heat(bgr))

    def fires_on(self, heat: np.ndarray) -> bool:
        """Whether a picture's :meth:`heat` marks faint text (its largest mark >= threshold)."""
        return float(heat.max()) >= self.threshold


@lru_cache(maxsize=1)
def shipped() -> FaintTrigger | None:
    """The shipped trigger, or None where its file or ONNX Runtime is missing."""
    t = FaintTrigger(MODEL_DIR)
    return t if t.available else None
