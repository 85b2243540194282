"""A cheap test of whether two frames look different enough to be worth another OCR pass."""
from __future__ import annotations

import numpy as np


def _tiny(img) -> np.ndarray:
    g = np.asarray(img.convert("L").resize((32, 18)), dtype=np.float32)
    return g


def changed(a, b, threshold: float = 6.0) -> bool:
    """True when the mean absolute grey-level difference of 32x18 thumbnails exceeds ``threshold``."""
    return float(np.abs(_tiny(a) - _tiny(b)).mean()) > threshold
