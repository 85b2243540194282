"""CLAP audio-text encoder through transformers ``ClapModel`` + ``ClapProcessor`` (the ``sound`` space).

``model`` is a local directory (``save_pretrained`` output), a hub id in the local hub cache, or a hub
id to download (e.g. ``laion/clap-htsat-unfused``). Offline and uncached, it fails within seconds with
an EncoderUnavailable naming the model and the fix; ingest then goes on without the sound space.
Audio is fed at the rate the model's feature extractor declares (48 kHz for the LAION models).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import EncoderBase, batches, embed_texts, empty, l2_normalise, quiet_transformers, unsupported
from .registry import register

DEFAULT_CLAP = "laion/clap-htsat-unfused"


def _fix_hint(model: str) -> str:
    return (f"run once with network access to cache it, or `hf download {model}`, or pass --clap "
            f"/path/to/a/saved/clap/dir (or --clap none to index without the sound space)")


def resolve_clap(model: str) -> tuple[Path, str]:
    """(directory, identity) of a CLAP model: local dir, hub cache, or a download when the hub is reachable.

    Raises:
        EncoderUnavailable: not found locally and the hub cannot be reached (within seconds).
    """
    from . import hub

    return hub.resolve(model, "clap", "CLAP", DEFAULT_CLAP, _fix_hint(model))


def _features(out) -> np.ndarray:
    """transformers v5 returns an output object (embedding in ``pooler_output``), v4 a tensor."""
    torch = require("torch", "clip")
    if not isinstance(out, torch.Tensor):
        out = out.pooler_output
    return out.detach().to("cpu", torch.float32).numpy()


@register("clap")
class CLAP(EncoderBase):
    """Shared audio-text space of a CLAP model.

    Args:
        model: hub id, hub-cache entry or local directory.
        batch_size: inputs per forward pass.
        device: torch device.
    """

    name = "clap"
    modalities = frozenset({"text", "audio"})

    def __init__(self, model: str = DEFAULT_CLAP, batch_size: int = 16, device: str = "cpu"):
        tf = require("transformers", "clip")
        require("torch", "clip")
        path, self.identity = resolve_clap(str(model))
        try:
            with quiet_transformers():
                self._model = tf.ClapModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
                self._processor = tf.ClapProcessor.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - a half-cached or foreign dir: name it and the fix
            raise EncoderUnavailable(f"CLAP model '{model}' at {path} could not be loaded ({exc}). "
                                     f"To get it: {_fix_hint(str(model))}") from exc
        self.source, self.device, self.batch_size = str(model), device, batch_size
        self.sample_rate = int(self._processor.feature_extractor.sampling_rate)
        self.spec_kwargs = (("model", self.source),)  # recorded in the store (Models.spec reads it)
        self.dim = int(self.encode_text(["a sound"]).shape[1])

    def _run(self, fn, inputs) -> np.ndarray:
        torch = require("torch", "clip")
        inputs = {k: v.to(self.device) for k, v in inputs.items() if hasattr(v, "to")}
        with torch.inference_mode():
            return _features(fn(**inputs))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts: float32 (n, dim) unit rows."""
        return embed_texts(texts, getattr(self, "dim", 0), lambda ts: np.concatenate([
            self._run(self._model.get_text_features,
                      self._processor.tokenizer(b, padding=True, truncation=True, return_tensors="pt"))
            for b in batches(ts, self.batch_size)], axis=0))

    def encode_audio(self, clips: list[np.ndarray]) -> np.ndarray:
        """Embed mono clips sampled at ``sample_rate`` (48 kHz for LAION CLAP): float32 (n, dim) unit rows."""
        if not len(clips):
            return empty(self.dim)
        fe = self._processor.feature_extractor
        parts = []
        for b in batches([np.asarray(c, np.float32) for c in clips], self.batch_size):
            inputs = fe(b, sampling_rate=self.sample_rate, return_tensors="pt")
            parts.append(self._run(self._model.get_audio_features,
                                   {k: inputs[k] for k in ("input_features", "is_longer") if k in inputs}))
        return l2_normalise(np.concatenate(parts, axis=0))

    def encode_image(self, images: list) -> np.ndarray:
        raise unsupported(self.name, "images")


def _tiny_tokenizer():
    """A real RoBERTa byte-level BPE tokenizer over a made-up vocabulary (tests, offline)."""
    tf = require("transformers", "clip")
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for tok in sorted(ByteLevel.alphabet()):
        vocab.setdefault(tok, len(vocab))
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges = [(a, b) for a in letters for b in letters]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return tf.RobertaTokenizer(vocab=vocab, merges=merges)


def save_tiny_clap(path: str | Path, seed: int = 0, projection_dim: int = 24) -> Path:
    """Save a tiny random-initialised ClapModel with its tokenizer and feature extractor (tests, offline).

    Args:
        path: directory to write (created).
        seed: torch seed.
        projection_dim: the shared space's width (the encoder's ``dim``).
    Returns:
        The directory, loadable with ``build("clap", model=str(path))``.
    """
    tf, torch = require("transformers", "clip"), require("torch", "clip")
    tok = _tiny_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=80, projection_dim=projection_dim)
    audio = dict(spec_size=256, num_mel_bins=64, patch_stride=(4, 4), patch_size=4, window_size=8,
                 depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16, hidden_size=32,
                 projection_dim=projection_dim)
    cfg = tf.ClapConfig(text_config=text, audio_config=audio, projection_dim=projection_dim)
    torch.manual_seed(seed)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        tf.ClapModel(cfg).eval().save_pretrained(out)
        fe = tf.ClapFeatureExtractor(feature_size=64, sampling_rate=48_000, hop_length=480, max_length_s=4,
                                     fft_window_size=1024, truncation="rand_trunc", padding="repeatpad")
        tf.ClapProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(out)
    return out
