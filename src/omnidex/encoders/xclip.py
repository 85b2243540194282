"""X-CLIP video-text encoder (transformers ``XCLIPModel``): one vector per video clip (a shot's
frames) in a space shared with text, so shots are searchable by text.

Text vectors come from ``get_text_features`` (the plain text projection); X-CLIP's video-specific
prompt generator conditions text on one video at a time and cannot be precomputed for an index.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import EncoderBase, batches, embed_texts, empty, l2_normalise, quiet_transformers
from .registry import register


def load_video_model(model: str, kind: str, loader: str, processor: str = "AutoProcessor"):
    """(model, processor, path, identity) of a local directory or hub id, never hanging offline.

    Args:
        model: directory or hub id.
        kind: expected ``model_type`` ("xclip", "videomae").
        loader: transformers class name used to load the weights.
        processor: transformers class name of the processor.
    Raises:
        EncoderUnavailable: missing, unreachable or of another model type (names the fix).
    """
    from .clip import resolve_model

    tf = require("transformers", "clip")
    require("torch", "clip")
    try:
        path, identity = resolve_model(str(model))
    except EncoderUnavailable as exc:  # the CLIP resolver's words, said of this kind of model
        said = str(exc).replace("CLIP model", f"{kind} model").replace("--clip", "--video-model")
        raise EncoderUnavailable(said) from exc
    try:
        with quiet_transformers():
            net = getattr(tf, loader).from_pretrained(str(path), local_files_only=True).eval()
            proc = getattr(tf, processor).from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - name the model and the cause
        raise EncoderUnavailable(f"{kind} model '{model}' at {path} could not be loaded ({exc}): pass a directory "
                                 f"written by save_pretrained (weights + processor) or a cached hub id") from exc
    if getattr(net.config, "model_type", "") != kind:
        raise EncoderUnavailable(f"{path}: a '{net.config.model_type}' model, not {kind}")
    return net, proc, path, f"{kind}:{identity.split(':', 1)[1]}"


def fit_frames(clip, n: int) -> list:
    """Exactly ``n`` frames from a clip: a list of PIL frames (evenly subsampled or repeated) or a
    video path (``n`` frames spread over the whole file)."""
    if isinstance(clip, (str, Path)):
        from ..media.clips import clip_frames
        from ..media.video import probe_video

        info = probe_video(clip)
        clip = clip_frames(clip, [(info.start_time, info.start_time + info.duration)], n)[0]
    frames = [f.convert("RGB") for f in clip]
    if not frames:
        raise ValueError("a video clip needs at least one frame")
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]


def features(out) -> np.ndarray:
    """transformers output object or tensor -> float32 NumPy (the one conversion boundary)."""
    torch = require("torch", "clip")
    if not isinstance(out, torch.Tensor):
        out = out.pooler_output
    return out.detach().to("cpu", torch.float32).numpy()


@register("xclip")
class XCLIP(EncoderBase):
    """Video clips and texts in X-CLIP's shared space.

    Args:
        model: local directory or hub id (e.g. ``microsoft/xclip-base-patch32``).
        batch_size: clips per forward pass.
        device: torch device.
    """

    name = "xclip"
    modalities = frozenset({"text", "video"})

    def __init__(self, model: str, batch_size: int = 4, device: str = "cpu"):
        self._model, self._processor, path, self.identity = load_video_model(model, "xclip", "XCLIPModel")
        self.device, self.batch_size = device, batch_size
        self._model.to(device)
        self.num_frames = int(self._model.config.vision_config.num_frames)  # frames one clip is cut to
        self.dim = int(self._model.config.projection_dim)
        self.spec_kwargs = (("model", str(model)),)

    def _run(self, fn, inputs) -> np.ndarray:
        torch = require("torch", "clip")
        with torch.inference_mode():
            return features(fn(**{k: v.to(self.device) for k, v in inputs.items() if hasattr(v, "to")}))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts: float32 (n, dim), unit rows."""
        return embed_texts(texts, getattr(self, "dim", 0), lambda ts: np.concatenate([
            self._run(self._model.get_text_features,
                      self._processor(text=b, padding=True, truncation=True, return_tensors="pt"))
            for b in batches(ts, 64)], axis=0))

    def encode_video(self, clips: list) -> np.ndarray:
        """Embed clips (lists of PIL frames, or video paths), each cut to ``num_frames`` frames.

        Returns:
            float32 (n, dim), unit rows.
        """
        if not clips:
            return empty(self.dim)
        parts = []
        for b in batches([fit_frames(c, self.num_frames) for c in clips], self.batch_size):
            pixels = self._processor(videos=b, return_tensors="pt")["pixel_values"]
            parts.append(self._run(self._model.get_video_features, {"pixel_values": pixels}))
        return l2_normalise(np.concatenate(parts, axis=0))

    def encode_image(self, images: list) -> np.ndarray:
        """A still image is a clip of one repeated frame."""
        return self.encode_video([[im] for im in images])


def save_tiny_xclip(path: str | Path, seed: int = 0, num_frames: int = 4) -> Path:
    """Save a tiny random-initialised X-CLIP with tokenizer and processor (tests, offline).

    Args:
        path: directory to write.
        seed: torch seed.
        num_frames: frames per clip.
    Returns:
        The directory, loadable with ``build("xclip", model=str(path))``.
    """
    tf, torch = require("transformers", "clip"), require("torch", "clip")
    from .clip import tiny_tokenizer

    tok = tiny_tokenizer()
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    cfg = tf.XCLIPConfig(
        text_config=dict(small, vocab_size=len(tok), max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(small, image_size=32, patch_size=8, num_frames=num_frames, mit_hidden_size=16,
                           mit_intermediate_size=32, mit_num_hidden_layers=1, mit_num_attention_heads=2),
        projection_dim=16, prompt_layers=1, prompt_num_attention_heads=2)
    torch.manual_seed(seed)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        tf.XCLIPModel(cfg).eval().save_pretrained(out)
        frames = tf.VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        tf.XCLIPProcessor(image_processor=frames, tokenizer=tok).save_pretrained(out)
    return out
