"""The encoder contract: one protocol (``modalities`` + ``encode_<modality>``, one ``encode(modality,
batch)`` over them), plain float32 NumPy out, rows L2-normalised."""
from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".msgpack", ".h5")


@runtime_checkable
class Encoder(Protocol):
    """What every registered encoder provides.

    Attributes:
        name: registry name ("minilm", "clip", "phash").
        identity: stable id of the exact weights, stored beside the vectors.
        dim: vector width.
        modalities: which inputs ("text", "image") it embeds into its space.
        batch_size: inputs per forward pass.
    """

    name: str
    identity: str
    dim: int
    modalities: frozenset[str]
    batch_size: int

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embed texts as float32 (n, dim) unit rows; raises NotImplementedError if text is not supported."""
        ...

    def encode_image(self, images: list["Image"]) -> np.ndarray:
        """Embed PIL images as float32 (n, dim) unit rows; raises NotImplementedError if images are not supported."""
        ...

    # Encoders of other modalities add encode_audio / encode_video / encode_series; ``encode(modality,
    # batch)`` (EncoderBase, or the module function ``encode``) reaches any of them by name.


MODALITIES = ("text", "image", "audio", "video", "series")  # what an encoder may embed: encode_<modality>(batch)


def encode(encoder, modality: str, batch) -> np.ndarray:
    """One entry point for every modality: ``encoder.encode_<modality>(batch)`` as float32 unit rows.

    Args:
        encoder: any encoder; it declares what it embeds in ``modalities``.
        modality: "text", "image", "audio", "video" or "series".
        batch: a list of inputs of that modality (strings, PIL images, sample arrays, frame lists, windows).
    Raises:
        NotImplementedError: the encoder does not declare ``modality``.
    """
    if modality not in getattr(encoder, "modalities", ()):
        raise unsupported(getattr(encoder, "name", type(encoder).__name__), modality)
    return getattr(encoder, f"encode_{modality}")(batch)


class EncoderBase:
    """Base of the built-in encoders: ``modalities`` says what it embeds, ``encode(modality, batch)``
    dispatches to ``encode_<modality>``. Third-party encoders may subclass it or only follow :class:`Encoder`."""

    modalities: frozenset[str] = frozenset()

    def encode(self, modality: str, batch) -> np.ndarray:
        """``encode_<modality>(batch)``; NotImplementedError for a modality not in ``modalities``."""
        return encode(self, modality, batch)


def l2_normalise(x) -> np.ndarray:
    """Convert to a float32 2-D NumPy array with unit-length rows (zero rows stay zero).

    Args:
        x: array-like (n, d) or (d,); a torch tensor is accepted too.
    Returns:
        float32 (n, d) array, C-contiguous.
    """
    if hasattr(x, "detach"):  # torch tensor: leave autograd and device behind at this boundary
        x = x.detach().to("cpu").float().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out = arr / np.maximum(norms, 1e-12)
    return np.ascontiguousarray(out, dtype=np.float32)


def empty(dim: int) -> np.ndarray:
    """The (0, dim) float32 answer to an empty batch."""
    return np.zeros((0, dim), dtype=np.float32)


def embed_texts(texts, dim: int, encode) -> np.ndarray:
    """The shared edge of every ``encode_text``: refuse a bare string (it would embed its characters),
    answer an empty list with (0, dim), else ``encode(list of str)`` as unit float32 rows."""
    if isinstance(texts, str):
        raise TypeError("encode_text takes a list of strings, not one string")
    if not texts:
        return empty(dim)
    return l2_normalise(encode(list(texts)))


def unsupported(encoder_name: str, modality: str) -> NotImplementedError:
    """The error an encoder raises for a modality it does not embed."""
    return NotImplementedError(f"encoder '{encoder_name}' does not embed {modality}")


def batches(items: list, size: int):
    """Yield consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]


def dir_fingerprint(path: str | Path, length: int = 12) -> str:
    """Short sha256 over a model directory's weight files (names, sizes and full contents).

    Args:
        path: model directory (or a single weights file).
        length: hex characters kept.
    Returns:
        Hex digest prefix; identical weights give the identical fingerprint wherever they live.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() if f != root else f.name.encode())
        h.update(str(f.stat().st_size).encode())
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()[:length]


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' chatter (torchvision fallback note, progress bars) while loading."""
    from .._require import require

    tlog = require("transformers.utils.logging", "clip")
    old, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(old)
        if bars:
            tlog.enable_progress_bar()
