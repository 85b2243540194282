"""The two series encoders, registered like every other encoder.

* ``series-shape`` fills the ``series`` space: the window z-normalised and resampled to
  ``length`` samples (a unit vector, so cosine = Pearson correlation and the exact z-normalised
  Euclidean distance can be recovered), concatenated with the VQ token histogram. It also makes
  the window's SAX word for exact MINDIST-pruned search.
* ``series-lit`` fills the ``series_text`` space: the trained series tower in MiniLM's sentence
  space, so text queries find windows ("a sharp spike then slow decay").
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..encoders.base import EncoderBase, embed_texts, empty, l2_normalise, unsupported
from ..encoders.registry import register
from ..errors import EncoderUnavailable
from .sax import symbols, to_word
from .vq import Codebook, shapes, train_codebook

SHAPE_WEIGHT = 0.85  # share of the squared norm given to the shape; the rest to the VQ histogram
BUNDLED = "bundled"


def bundled_dir() -> Path:
    """The bundled text->series model (and its codebook): ``omnidex/models/series-lit``."""
    return Path(__file__).resolve().parent.parent / "models" / "series-lit"


@lru_cache(maxsize=1)
def default_codebook() -> Codebook:
    """The bundled model's codebook, or (source checkout without it) one fitted on a seeded generated corpus."""
    path = bundled_dir() / "codebook.npz"
    if path.is_file():
        return Codebook.load(path)
    return fit_default_codebook()


def fit_default_codebook(seed: int = 0, n: int = 4000) -> Codebook:
    """k-means codebook over the patches of ``n`` generated windows (seeded, ~1 s)."""
    from .synth import all_combos, generate

    windows = [s for s, _, _ in generate(n, all_combos(), seed=seed)]
    return train_codebook(shapes(windows, 128), k=32, seed=seed)


@register("series-shape")
class SeriesShapeEncoder(EncoderBase):
    """Shape vectors and SAX words of series windows.

    Args:
        length: samples each window is resampled to (the default window length: exact for those).
        word: SAX word length (PAA segments).
        alphabet: SAX alphabet size, 3..20.
        codebook: "bundled" or the path of a saved codebook (.npz).
    """

    name = "series-shape"
    modalities = frozenset({"series"})
    batch_size = 1024

    def __init__(self, length: int = 128, word: int = 16, alphabet: int = 8, codebook: str = BUNDLED):
        if not 1 <= int(word) <= int(length):
            raise ValueError(f"SAX word length must be in 1..{length}, got {word}")
        symbols(np.zeros((1, 4)), 2, alphabet)  # validates the alphabet size
        self.length, self.word, self.alphabet = int(length), int(word), int(alphabet)
        self.codebook = default_codebook() if codebook == BUNDLED else Codebook.load(codebook)
        if self.length < self.codebook.segments:
            raise ValueError(f"series windows must be resampled to >= {self.codebook.segments} samples "
                             f"for the VQ codebook, got length={self.length}")
        self.alpha, self.beta = math.sqrt(SHAPE_WEIGHT), math.sqrt(1 - SHAPE_WEIGHT)
        self.dim = self.length + self.codebook.k
        self.identity = (f"series-shape:L{self.length}:w{self.word}:a{self.alphabet}:"
                         f"vq{self.codebook.k}-{self.codebook.fingerprint}")
        self.spec_kwargs = (("alphabet", self.alphabet), ("codebook", str(codebook)), ("length", self.length),
                            ("word", self.word))

    def shapes(self, windows: list) -> np.ndarray:
        """Raw windows -> z-normalised (n, length) shapes."""
        return shapes(windows, self.length)

    def encode_series(self, windows: list) -> np.ndarray:
        """Raw windows (1-D arrays, any length) -> float32 (n, length + k) unit rows."""
        if not len(windows):
            return empty(self.dim)
        z = self.shapes(windows)
        u = z / math.sqrt(self.length)
        h = self.codebook.histogram(self.codebook.encode(z))
        return l2_normalise(np.concatenate([self.alpha * u, self.beta * h], axis=1))

    def shape_part(self, vectors: np.ndarray) -> np.ndarray:
        """Stored vectors -> the z-normalised shapes they hold (flat windows: zeros)."""
        v = np.asarray(vectors, dtype=np.float64)
        return v[..., : self.length] * (math.sqrt(self.length) / self.alpha)

    def sax_symbols(self, windows: list) -> np.ndarray:
        """(n, word) SAX letter indices of the resampled windows."""
        return symbols(self.shapes(windows), self.word, self.alphabet)

    def sax_words(self, windows: list) -> list[str]:
        """The SAX word of each window."""
        return [to_word(s) for s in self.sax_symbols(windows)]

    def encode_text(self, texts: list[str]) -> np.ndarray:
        raise unsupported(self.name, "text")

    def encode_image(self, images: list) -> np.ndarray:
        raise unsupported(self.name, "images")


@register("series-lit")
class SeriesLitEncoder(EncoderBase):
    """Text and series windows in MiniLM's 384-d space (the trained series tower).

    Args:
        model: "bundled" or a directory written by ``SeriesLitModel.save``.
        device: torch device.
    """

    name = "series-lit"
    modalities = frozenset({"text", "series"})
    batch_size = 512

    def __init__(self, model: str = BUNDLED, device: str = "cpu"):
        path = bundled_dir() if model == BUNDLED else Path(model).expanduser()
        if not (path / "config.json").is_file():
            raise EncoderUnavailable(f"series-LiT model '{path}' not found: build it with "
                                     "`python -m omnidex.train.make_series_model`")
        from ..encoders.lit import TEXT_MODEL, read_config
        from ..encoders.onnx_text import fingerprint

        meta = read_config(path, "series-LiT")
        try:
            book = Codebook.load(path / "codebook.npz")
        except Exception as exc:  # noqa: BLE001 - name the directory and the cause
            raise EncoderUnavailable(f"cannot load series-LiT model from {path}: {exc}") from exc
        self.path, self.device, self._model = path.resolve(), device, None  # series tower: loaded on first window
        self.identity = f"series-lit:{fingerprint(path)}-{book.fingerprint}"
        cfg = meta.get("config", {})
        self.dim = int(cfg.get("embed_dim") or meta.get("embed_dim", 384))
        self.text_model = str(cfg.get("text_model") or meta.get("text_model") or TEXT_MODEL)
        self.spec_kwargs = (("model", str(model)),)
        self._bank: np.ndarray | None = None

    def _series_model(self):
        """The trained series tower (torch), loaded on first use: a text query never needs it."""
        if self._model is None:
            from .model import load_series_lit

            try:
                self._model = load_series_lit(self.path, device=self.device)
            except Exception as exc:  # noqa: BLE001 - name the directory and the cause
                raise EncoderUnavailable(f"cannot load series-LiT model from {self.path}: {exc}") from exc
        return self._model

    def encode_series(self, windows: list) -> np.ndarray:
        """Raw windows -> float32 (n, 384) unit rows."""
        if not len(windows):
            return empty(self.dim)
        return l2_normalise(self._series_model().encode_series(list(windows)))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 (n, 384) unit rows with the locked MiniLM."""
        from ..encoders.lit import locked_text

        return embed_texts(texts, self.dim, locked_text(self.text_model).encode_text)

    def encode_image(self, images: list) -> np.ndarray:
        raise unsupported(self.name, "images")

    def domain_relevance(self, text_vec: np.ndarray) -> float:
        """How much a text query talks about series shapes: its best cosine to the captions the
        model was trained on (every paraphrase of every attribute), in [-1, 1]."""
        if self._bank is None:
            from .synth import EVENT_WORDS, NOISE_WORDS, SEASON_WORDS

            phrases = sorted({p for d in (EVENT_WORDS, SEASON_WORDS, NOISE_WORDS) for ps in d.values() for p in ps if p})
            self._bank = self.encode_text(phrases)
        return float(np.max(self._bank @ np.asarray(text_vec, dtype=np.float32)))
