"""LiT encoder: a small trained CNN image tower that lands in the (locked) MiniLM sentence space.

``model`` is a directory written by ``omnidex.nets.lit.LitModel.save`` (config.json + model.safetensors);
text goes through the bundled MiniLM unchanged, so LiT image vectors are searchable with MiniLM text.
The image tower (torch) loads on the first image: a text query needs only the MiniLM text tower.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import EncoderBase, batches, embed_texts, empty, l2_normalise
from .onnx_text import fingerprint
from .registry import register

TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # the bundled MiniLM every in-house LiT model locks


def read_config(path: Path, what: str) -> dict:
    """A saved in-house model's ``config.json`` (read without torch), or EncoderUnavailable naming it."""
    import json

    try:
        return json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise EncoderUnavailable(f"cannot read the {what} model config {Path(path) / 'config.json'}: {exc}") from exc


@functools.lru_cache(maxsize=8)
def locked_text(text_model: str = TEXT_MODEL):
    """The locked text tower of an in-house LiT model (image, sound or series): the bundled MiniLM
    from the registry (ONNX Runtime where installed, see :mod:`omnidex.encoders.onnx_text`), or the
    sentence-transformers directory the model names. Its vectors are the tower's vectors exactly.
    Built once per process and tower (a build costs ~25 ms: registry look-up, fingerprint, session)."""
    from .registry import build

    return build("minilm") if text_model == TEXT_MODEL else build("minilm", model_dir=text_model)


@register("lit")
class LitEncoder(EncoderBase):
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
        meta = read_config(path, "LiT")
        self.path, self.device, self._model = path.resolve(), device, None  # image tower: loaded on first image
        self.identity = "lit:" + fingerprint(path)
        self.dim = int(meta.get("embed_dim") or meta.get("config", {}).get("embed_dim", 384))
        self.text_model = str(meta.get("text_model") or meta.get("config", {}).get("text_model") or TEXT_MODEL)
        self.batch_size = batch_size

    def _image_model(self):
        """The trained image tower (torch), loaded on first use: a text query never needs it."""
        if self._model is None:
            require("torch", "text")
            from ..nets.lit import load_lit

            try:
                self._model = load_lit(self.path, device=self.device)
            except EncoderUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - name the directory and the cause
                raise EncoderUnavailable(f"cannot load LiT model from {self.path}: {exc}") from exc
        return self._model

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts with the locked MiniLM tower.

        Args:
            texts: strings.
        Returns:
            float32 (n, 384), unit rows.
        """
        return embed_texts(texts, self.dim, locked_text(self.text_model).encode_text)

    def encode_image(self, images: list) -> np.ndarray:
        """Embed PIL images with the trained image tower (squashed to its input size, no crop).

        Args:
            images: PIL images of any mode.
        Returns:
            float32 (n, 384), unit rows.
        """
        if not images:
            return empty(self.dim)
        parts = [self._image_model().encode_images(list(b), batch_size=self.batch_size)
                 for b in batches(list(images), self.batch_size)]
        return l2_normalise(np.concatenate(parts, axis=0))
