"""LiT encoder: a small trained CNN image tower that lands in the (locked) MiniLM sentence space.

``model`` is a directory written by ``omnidex.train.lit.LitModel.save`` (config.json + model.safetensors);
text goes through the bundled MiniLM unchanged, so LiT image vectors are searchable with MiniLM text.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import batches, dir_fingerprint, embed_texts, empty, l2_normalise
from .registry import register


@register("lit")
class LitEncoder:
    """Images and text in MiniLM's 384-d space.

    Args:
        model: directory of a saved LiT model.
        batch_size: inputs per forward pass.
        device: torch device.
    """

    name = "lit"
    modalities = frozenset({"text", "image"})

    def __init__(self, model: str, batch_size: int = 64, device: str = "cpu"):
        path = Path(str(model)).expanduser()
        if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
            raise EncoderUnavailable(f"LiT model directory '{model}' not found or incomplete: pass a directory "
                                     f"written by LitModel.save (config.json + model.safetensors), e.g. "
                                     f"<out_dir>/model from `omnidex.train.contrastive.train`")
        require("torch", "text")
        from ..nets.lit import load_lit

        try:
            self._model = load_lit(path, device=device)
            self._text = self._model.text_tower
        except EncoderUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - name the directory and the cause
            raise EncoderUnavailable(f"cannot load LiT model from {path}: {exc}") from exc
        self.path = path.resolve()
        self.identity = "lit:" + dir_fingerprint(path)
        self.dim = int(self._model.cfg.embed_dim)
        self.batch_size = batch_size

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts with the locked MiniLM tower.

        Args:
            texts: strings.
        Returns:
            float32 (n, 384), unit rows.
        """
        return embed_texts(texts, self.dim, self._text.encode)

    def encode_image(self, images: list) -> np.ndarray:
        """Embed PIL images with the trained image tower (squashed to its input size, no crop).

        Args:
            images: PIL images of any mode.
        Returns:
            float32 (n, 384), unit rows.
        """
        if not images:
            return empty(self.dim)
        parts = [self._model.encode_images(list(b), batch_size=self.batch_size)
                 for b in batches(list(images), self.batch_size)]
        return l2_normalise(np.concatenate(parts, axis=0))
