"""VideoMAE video classification (transformers ``VideoMAEForVideoClassification``): one vector per
clip (mean of the last hidden states) in a ``video`` space for query-by-clip, and the predicted
labels, which ingest stores as searchable text evidence of the shot."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._require import require
from .base import EncoderBase, batches, empty, l2_normalise, quiet_transformers
from .registry import register
from .xclip import fit_frames, load_video_model


@register("videomae")
class VideoMAE(EncoderBase):
    """Video clips embedded and classified by VideoMAE.

    Args:
        model: local directory or hub id (e.g. ``MCG-NJU/videomae-base-finetuned-kinetics``).
        batch_size: clips per forward pass.
        device: torch device.
    """

    name = "videomae"
    modalities = frozenset({"video"})

    def __init__(self, model: str, batch_size: int = 4, device: str = "cpu"):
        self._model, self._processor, path, self.identity = load_video_model(
            model, "videomae", "VideoMAEForVideoClassification", "AutoImageProcessor")
        self.device, self.batch_size = device, batch_size
        self._model.to(device)
        self.num_frames = int(self._model.config.num_frames)  # frames one clip is cut to
        self.dim = int(self._model.config.hidden_size)
        self.labels = [self._model.config.id2label[i] for i in range(self._model.config.num_labels)]
        self.spec_kwargs = (("model", str(model)),)

    def analyse(self, clips: list) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """Embed and classify clips in one forward pass.

        Args:
            clips: lists of PIL frames, or video paths.
        Returns:
            (float32 (n, dim) unit rows, per clip the labels with probabilities, likeliest first).
        """
        torch = require("torch", "clip")
        if not clips:
            return empty(self.dim), []
        vecs, labels = [], []
        for b in batches([fit_frames(c, self.num_frames) for c in clips], self.batch_size):
            pixels = self._processor(b, return_tensors="pt")["pixel_values"].to(self.device)
            with torch.inference_mode():
                out = self._model(pixel_values=pixels, output_hidden_states=True)
            vecs.append(out.hidden_states[-1].mean(dim=1).to("cpu", torch.float32).numpy())
            probs = out.logits.softmax(-1).to("cpu", torch.float32).numpy()
            for row in probs:
                order = np.argsort(-row)
                labels.append([(self.labels[i], float(row[i])) for i in order])
        return l2_normalise(np.concatenate(vecs, axis=0)), labels

    def encode_video(self, clips: list) -> np.ndarray:
        """Embed clips: float32 (n, dim), unit rows."""
        return self.analyse(clips)[0]

    def classify(self, clips: list) -> list[list[tuple[str, float]]]:
        """Labels with probabilities per clip, likeliest first."""
        return self.analyse(clips)[1]


def save_tiny_videomae(path: str | Path, labels=("juggling", "cooking", "dancing"), seed: int = 0,
                       num_frames: int = 4) -> Path:
    """Save a tiny random-initialised VideoMAE classifier with its image processor (tests, offline).

    Returns:
        The directory, loadable with ``build("videomae", model=str(path))``.
    """
    tf, torch = require("transformers", "clip"), require("torch", "clip")
    cfg = tf.VideoMAEConfig(image_size=32, patch_size=8, num_frames=num_frames, tubelet_size=2, hidden_size=32,
                            intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_labels=len(labels),
                            id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(seed)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        tf.VideoMAEForVideoClassification(cfg).eval().save_pretrained(out)
        tf.VideoMAEImageProcessor(size={"shortest_edge": 32},
                                  crop_size={"height": 32, "width": 32}).save_pretrained(out)
    return out
