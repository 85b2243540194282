"""The ``sound`` space's encoders: the bundled offline audio-lit model (registered as "audio-lit") and
the resolver from an ``IndexConfig.clap_model`` value to a registry name.

A sound encoder provides, beside the usual ``name``/``identity``/``dim``/``encode_text``:
``sample_rate`` (the rate its clips must have) and ``encode_audio(clips)`` (mono float32 clips ->
float32 (n, dim) unit rows).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._require import require
from ..encoders.base import EncoderBase, embed_texts, empty, l2_normalise, unsupported
from ..encoders.registry import register
from ..errors import EncoderUnavailable

BUNDLED_SOUND = "audio-lit:bundled"  # the offline model shipped in omnidex/models/audio-lit


def bundled_sound_dir() -> Path:
    """Directory of the bundled offline audio model (absent until ``python -m omnidex.train.make_audio_model``)."""
    return Path(__file__).resolve().parent.parent / "models" / "audio-lit"


def sound_encoder(spec: str | None) -> tuple[str, str]:
    """(registry name, model) for a ``--clap`` value.

    None or ``audio-lit:bundled`` is the bundled offline model, ``audio-lit:DIR`` a model written by
    ``AudioLitModel.save``; anything else is a CLAP hub id or local directory (``clap``).
    """
    if not spec or spec == BUNDLED_SOUND:
        return "audio-lit", str(bundled_sound_dir())
    if spec.startswith("audio-lit:"):
        return "audio-lit", spec[len("audio-lit:"):]
    return "clap", spec


@register("audio-lit")
class AudioLitEncoder(EncoderBase):
    """Sounds and text in MiniLM's 384-d space (text goes through the bundled MiniLM unchanged).

    Args:
        model: directory of a saved audio-lit model.
        batch_size: clips per forward pass.
        device: torch device.
    """

    name = "audio-lit"
    modalities = frozenset({"text", "audio"})

    def __init__(self, model: str | None = None, batch_size: int = 32, device: str = "cpu"):
        path = Path(str(model or bundled_sound_dir())).expanduser()
        if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
            raise EncoderUnavailable(f"audio model directory '{path}' not found or incomplete: build the bundled "
                                     f"one with `python -m omnidex.train.make_audio_model`, or pass --clap with a CLAP "
                                     f"hub id or directory")
        from ..encoders.lit import TEXT_MODEL, read_config
        from ..encoders.onnx_text import fingerprint

        meta = read_config(path, "audio")
        self.path, self.device, self._model = path.resolve(), device, None  # sound tower: loaded on first clip
        self.identity = "audio-lit:" + fingerprint(path)
        cfg = meta.get("config", {})
        self.dim = int(meta.get("embed_dim") or cfg.get("embed_dim", 384))
        self.sample_rate = int(meta.get("sample_rate") or cfg.get("sr", 16000))
        self.text_model = str(meta.get("text_model") or cfg.get("text_model") or TEXT_MODEL)
        self.batch_size = batch_size
        # what the store records, so a search rebuilds this encoder (Models.spec reads it)
        self.spec_kwargs = (("model", BUNDLED_SOUND if self.path == bundled_sound_dir().resolve()
                             else f"audio-lit:{self.path}"),)

    def _sound_model(self):
        """The trained sound tower (torch), loaded on first use: a text query never needs it."""
        if self._model is None:
            require("torch", "text")
            from .model import load_audio_lit

            try:
                self._model = load_audio_lit(self.path, device=self.device)
            except Exception as exc:  # noqa: BLE001 - name the directory and the cause
                raise EncoderUnavailable(f"cannot load the audio model from {self.path}: {exc}") from exc
        return self._model

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts with the locked MiniLM tower: float32 (n, 384) unit rows."""
        from ..encoders.lit import locked_text

        return embed_texts(texts, self.dim, locked_text(self.text_model).encode_text)

    def encode_audio(self, clips: list[np.ndarray]) -> np.ndarray:
        """Embed mono clips sampled at ``sample_rate``: float32 (n, 384) unit rows."""
        if not len(clips):
            return empty(self.dim)
        return l2_normalise(self._sound_model().encode_clips([np.asarray(c, np.float32) for c in clips],
                                                            self.sample_rate, self.batch_size))

    def encode_image(self, images: list) -> np.ndarray:
        raise unsupported(self.name, "images")
