"""The encoders an ingest or a query needs, built lazily once, with missing ones reported once."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..config import IndexConfig
from ..errors import EncoderUnavailable, MissingExtra
from ..store import EncoderSpec

# vector space -> registry name of the encoder that fills it
SPACE_ENCODERS = {"text": "minilm", "visual": "clip", "phash": "phash"}


@dataclass
class Models:
    """Lazily built encoders; a failure is remembered and announced once in ``notices``."""

    cfg: IndexConfig
    notices: list[str] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)  # video sound is transcribed in a second thread

    def _get(self, key: str, make, consequence: str = ""):
        with self._lock:
            return self._build(key, make, consequence)

    def _build(self, key: str, make, consequence: str):
        if key not in self._cache:
            try:
                self._cache[key] = make()
            except (EncoderUnavailable, MissingExtra) as exc:
                self._cache[key] = None
                self.notices.append(f"{key}: {consequence}{exc}")
        return self._cache[key]

    def encoder(self, space: str):
        """Encoder for a vector space, or None when disabled or unavailable."""
        from ..encoders.registry import build

        if space == "visual":
            if not self.cfg.clip_model:
                return None
            return self._get("visual", lambda: build("clip", model=self.cfg.clip_model),
                             "images and video frames were NOT embedded for text-to-image search "
                             "(OCR text and near-duplicate image search still work). ")
        if space == "phash" and not self.cfg.phash:
            return None
        name = self.cfg.text_encoder if space == "text" else SPACE_ENCODERS[space]
        return self._get(space, lambda: build(name))

    def spec(self, space: str) -> EncoderSpec | None:
        """The store spec of the encoder behind ``space`` (None when unavailable)."""
        enc = self.encoder(space)
        if enc is None:
            return None
        kwargs = (("model", self.cfg.clip_model),) if space == "visual" else ()
        return EncoderSpec(enc.name, kwargs, enc.identity, enc.dim)

    def transcriber(self):
        """Whisper transcriber, or None when speech is off or unavailable."""
        if not self.cfg.speech:
            return None

        def make():
            from ..encoders.whisper import Transcriber

            return Transcriber(self.cfg.whisper_model)

        return self._get("speech", make, "sound was NOT transcribed. ")

    def ocr(self):
        """OCR reader, or None when OCR is off or unavailable."""
        if not self.cfg.ocr:
            return None

        def make():
            from ..encoders.ocr import OCR

            return OCR()

        return self._get("ocr", make, "text in images was NOT read. ")
