"""CLIP / SigLIP image-text encoder through transformers AutoModel + AutoProcessor.

Loading order: a local directory when ``model`` is a path; else the hub cache, offline;
else the hub itself, after a 3-second reachability probe so an offline machine fails in
seconds (huggingface_hub otherwise retries for ~25 s) with an EncoderUnavailable that says
which model, why, and how to get it.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable, OmnidexError
from .base import EncoderBase, batches, embed_texts, empty, l2_normalise, quiet_transformers
from .registry import register

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
MIN_VOCAB = 1000  # an offline CLIP tokenizer can come back with 2 tokens; refuse it


def _fix_hint(model: str) -> str:
    return (f"run once with network access to cache it, or `huggingface-cli download {model}` "
            f"(or `hf download {model}`), or pass --clip /path/to/a/saved/model/dir")


def _load_dir(path: Path, device: str):
    """(model, processor) from a saved directory, never touching the network."""
    tf = require("transformers", "clip")
    require("torch", "clip")
    with quiet_transformers():
        model = tf.AutoModel.from_pretrained(str(path), local_files_only=True)
        processor = tf.AutoProcessor.from_pretrained(str(path), local_files_only=True)
    for attr in ("get_text_features", "get_image_features"):
        if not hasattr(model, attr):
            raise EncoderUnavailable(f"{path}: {type(model).__name__} is not an image-text model (no {attr})")
    return model.to(device).eval(), processor


def _check_tokenizer(processor, source: str) -> None:
    tok = getattr(processor, "tokenizer", None)
    size = len(tok) if tok is not None else 0
    if size <= MIN_VOCAB:
        raise EncoderUnavailable(f"CLIP model '{source}': its tokenizer came back broken (vocab size {size}); "
                                 f"the cached copy is incomplete: {_fix_hint(source)}")


def resolve_model(model: str) -> tuple[Path, str]:
    """Find the weights of ``model`` and the identity they carry.

    Args:
        model: a local directory, a hub id cached locally, or a hub id to download.
    Returns:
        (directory, identity) with identity ``clip:<abs dir>@<sha12 of weights>`` for a directory or
        ``clip:<hub id>@<commit12>`` for the hub.
    Raises:
        EncoderUnavailable: not found and the hub cannot be reached (returns within seconds).
    """
    from . import hub
    from .onnx_text import fingerprint  # dir_fingerprint, remembered per file sizes and times

    return hub.resolve(model, "clip", "CLIP", DEFAULT_MODEL, _fix_hint(model), fingerprint)


def _features(out) -> np.ndarray:
    """The boundary: transformers v5 returns an output object (embedding in ``pooler_output``),
    v4 a tensor; either way leave here as a float32 NumPy array."""
    torch = require("torch", "clip")
    if not isinstance(out, torch.Tensor):
        out = out.pooler_output
    return out.detach().to("cpu", torch.float32).numpy()


@register("clip")
class CLIP(EncoderBase):
    """Shared image-text space (CLIP, SigLIP) with the processor and tokenizer saved beside the weights.

    Args:
        model: hub id (e.g. ``"openai/clip-vit-base-patch32"``), hub-cache entry, or local directory.
        batch_size: inputs per forward pass.
        device: torch device.
        runtime: how the image tower runs on CPU: "torch" (fp32), "onnx" (ONNX Runtime fp32) or
            "onnx-int8" (int8 weights); the vectors stay in the same space (same identity). A runtime
            that cannot be had falls back to torch (``runtime_notice``).
        text_runtime: the same for the text tower (queries), or "auto": ONNX fp32 on CPU when onnx
            and onnxruntime are installed. Exported on the first text after loading (a few seconds,
            once per model: cached) and checked against torch on probe texts; torch otherwise
            (``text_runtime_notice`` says why).
    """

    name = "clip"
    modalities = frozenset({"text", "image"})

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu",
                 runtime: str = "torch", text_runtime: str = "torch"):
        from .fastpath import RUNTIMES, cold_text_tower, resolve_text_runtime

        if runtime not in RUNTIMES:
            raise OmnidexError(f"unknown image runtime '{runtime}': use one of {', '.join(RUNTIMES)}")
        if text_runtime not in RUNTIMES + ("auto",):
            raise OmnidexError(f"unknown text runtime '{text_runtime}': use auto or one of {', '.join(RUNTIMES)}")
        self.path, self.identity = resolve_model(str(model))
        self.source, self.device, self.batch_size = str(model), device, batch_size
        self._want_image, self._loaded, self._load_lock = runtime, False, threading.Lock()
        self.runtime, self.runtime_notice = "torch", None
        # the text tower's runtime is set up on the first text after loading (ingests rarely embed text)
        self.text_runtime, self.text_runtime_notice, self._texts_fn = "torch", None, None
        self.cold_text_notice = None  # why a verified text export could not be made loadable without torch
        self._want_text = resolve_text_runtime(text_runtime, device)
        self._text_lock = threading.Lock()
        cold = cold_text_tower(self.identity, self._want_text) if self._want_text != "torch" else None
        if cold is not None:  # a verified export runs texts without torch: the model loads on the first image
            self._texts_fn, self.dim = cold
            self.text_runtime = self._want_text
            return
        self._load()
        self.dim = int(l2_normalise(self._torch_texts(["a photo"])).shape[1])

    def _load(self) -> None:
        """Load the transformers model and processor (torch), once."""
        if self._loaded:
            return
        from .fastpath import ImagePrep, set_torch_threads

        with self._load_lock:
            if self._loaded:
                return
            try:
                self._m, self._p = _load_dir(self.path, self.device)
            except EncoderUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - a half-cached or foreign dir: name it and the fix
                raise EncoderUnavailable(f"CLIP model '{self.source}' at {self.path} could not be loaded ({exc}). "
                                         f"To get it: {_fix_hint(self.source)}") from exc
            _check_tokenizer(self._p, self.source)
            kind = getattr(self._m.config, "model_type", "")
            self._text_kwargs = ({"padding": "max_length", "max_length": 64} if "siglip" in kind
                                 else {"padding": True})
            if self.device == "cpu":
                set_torch_threads()
            self._prep = ImagePrep.from_processor(self._p)  # None: the processor's own (slower) path
            self._images_fn = self._torch_images
            self._loaded = True
        if self._want_image != "torch":
            self._use_runtime(self._want_image)

    @property
    def _model(self):
        """The transformers model (loaded on first use when a cached text export answered texts)."""
        self._load()
        return self._m

    @property
    def _processor(self):
        self._load()
        return self._p

    def _use_runtime(self, runtime: str) -> None:
        """Run the image tower in ``runtime`` when it can be had; else keep torch and say why."""
        from .fastpath import ort_image_tower

        if self.device != "cpu" or self._prep is None:
            self.runtime_notice = (f"runtime '{runtime}' needs device 'cpu' and a CLIP-style image processor "
                                   f"(device is '{self.device}'); using torch")
            return
        tower, self.runtime_notice = ort_image_tower(self._model, self.identity, runtime, self._prep,
                                                     self._torch_images)
        if tower is not None:
            self._images_fn, self.runtime = tower, runtime

    def _run(self, fn, inputs) -> np.ndarray:
        torch = require("torch", "clip")
        inputs = {k: v.to(self.device) for k, v in inputs.items() if hasattr(v, "to")}
        with torch.inference_mode():
            return _features(fn(**inputs))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts into the shared space.

        Args:
            texts: strings (truncated to the model's context, 77 tokens for CLIP).
        Returns:
            float32 (n, dim), unit rows.
        """
        return embed_texts(texts, self.dim, lambda ts: np.concatenate(
            [self._text_tower()(b) for b in batches(ts, self.batch_size)], axis=0))

    def _text_tower(self):
        """texts -> rows in the chosen text runtime (set up once, on first use; torch when it cannot be had)."""
        if self._texts_fn is None:
            with self._text_lock:
                if self._texts_fn is None and self._want_text != "torch" and self.device == "cpu":
                    from .fastpath import ort_text_tower

                    reference = lambda ts: l2_normalise(self._torch_texts(ts))  # noqa: E731
                    tower, self.text_runtime_notice = ort_text_tower(self._model, self.identity, self._want_text,
                                                                     self._tokens, reference)
                    if tower is not None:
                        self.text_runtime = self._want_text
                        from .fastpath import save_cold_text

                        self.cold_text_notice = save_cold_text(self.identity, self._want_text, self._p.tokenizer,
                                                               self._text_kwargs, self._tokens, tower, reference)
                    else:
                        print(f"omnidex: notice: {self.text_runtime_notice}", file=sys.stderr)
                    self._texts_fn = tower or self._torch_texts
                elif self._texts_fn is None:
                    self._texts_fn = self._torch_texts
        return self._texts_fn

    def _tokens(self, texts: list[str]) -> dict:
        """The tokenizer's arrays for ``texts`` (NumPy int64), as the text tower takes them."""
        out = self._processor(text=list(texts), truncation=True, return_tensors="np", **self._text_kwargs)
        return {k: np.asarray(v, np.int64) for k, v in out.items() if k in ("input_ids", "attention_mask")}

    def _torch_texts(self, texts: list[str]) -> np.ndarray:
        """The torch fp32 text tower: texts -> (not yet normalised) rows, from the same tokens ONNX gets."""
        torch = require("torch", "clip")
        return self._run(self._model.get_text_features,
                         {k: torch.from_numpy(v) for k, v in self._tokens(texts).items()})

    def encode_image(self, images: list) -> np.ndarray:
        """Embed images into the shared space (resized/cropped as the model's own processor does).

        Batches of ``batch_size`` run in the chosen runtime while a thread decodes and preprocesses
        the next batch; JPEG files are decoded at a reduced scale that keeps the model's input size.

        Args:
            images: PIL images of any mode, and/or image file paths.
        Returns:
            float32 (n, dim), unit rows.
        """
        from .fastpath import prefetched

        if not images:
            return empty(self.dim)
        self._load()
        prepare = self._prep.batch if self._prep is not None else self._processor_pixels
        parts = [self._images_fn(pixels) for pixels in prefetched(batches(list(images), self.batch_size), prepare)]
        return l2_normalise(np.concatenate(parts, axis=0))

    def _processor_pixels(self, items: list) -> np.ndarray:
        """float32 (n, 3, H, W) through the model's own processor (processors the fast path does not mirror)."""
        from .fastpath import decode, to_rgb

        images = [decode(i)[0] if isinstance(i, (str, os.PathLike)) else to_rgb(i) for i in items]
        return self._processor(images=images, return_tensors="np")["pixel_values"].astype(np.float32)

    def _torch_images(self, pixels: np.ndarray) -> np.ndarray:
        """The torch fp32 image tower: float32 (n, 3, H, W) -> unit rows."""
        torch = require("torch", "clip")
        return l2_normalise(self._run(self._model.get_image_features, {"pixel_values": torch.from_numpy(pixels)}))


def tiny_tokenizer():
    """A real CLIP BPE tokenizer over a made-up vocabulary (bytes, bytes</w>, all letter pairs): > 1000 tokens."""
    tf = require("transformers", "clip")
    from tokenizers.pre_tokenizers import ByteLevel

    chars = sorted(ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for tok in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(tok, len(vocab))
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges = [(a, b) for a in letters for b in letters]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return tf.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def save_tiny_clip(path: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """Save a tiny random-initialised CLIPModel with its tokenizer and image processor (tests, offline).

    Args:
        path: directory to write (created).
        seed: torch seed, so the same seed gives the same weights.
        image_size: input side in pixels (a multiple of 8; the processor resizes the short side to it
            and crops the centre square, as CLIP's does at 224).
    Returns:
        The directory, loadable with ``build("clip", model=str(path))``.
    """
    tf = require("transformers", "clip")
    tok = tiny_tokenizer()
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    cfg = tf.CLIPConfig(text_config=dict(small, vocab_size=len(tok), max_position_embeddings=77,
                                         bos_token_id=0, eos_token_id=1, pad_token_id=1),
                        vision_config=dict(small, image_size=image_size, patch_size=8), projection_dim=16)
    return _save_clip(path, cfg, tok, seed)


def save_random_clip_b32(path: str | Path, seed: int = 0, layers: int = 12) -> Path:
    """Save a random-initialised CLIP with the full ViT-B/32 image tower (benchmarks: same cost as trained).

    The image tower is the real ViT-B/32 (224 px, patch 32, 12 layers, width 768, 12 heads, MLP 3072,
    projection 512) with OpenAI's image processor settings; the text tower is small (2 layers, width
    64) over the tiny tokenizer, so the directory loads through ``build("clip", model=DIR)`` offline.

    Args:
        path: directory to write (created).
        seed: torch seed, so the same seed gives the same weights.
        layers: image transformer layers (12 is ViT-B/32; fewer for quick plumbing runs).
    Returns:
        The directory.
    """
    tf = require("transformers", "clip")
    tok = tiny_tokenizer()
    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                vocab_size=len(tok), max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=layers, num_attention_heads=12,
                  image_size=224, patch_size=32)
    cfg = tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=512)
    return _save_clip(path, cfg, tok, seed)


def _save_clip(path: str | Path, cfg, tok, seed: int) -> Path:
    """Write a random-initialised CLIPModel of ``cfg`` with ``tok`` and CLIP's image processor at its size."""
    tf, torch = require("transformers", "clip"), require("torch", "clip")
    side = cfg.vision_config.image_size
    torch.manual_seed(seed)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        tf.CLIPModel(cfg).eval().save_pretrained(out)
        images = tf.CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
        tf.CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(out)
    return out
