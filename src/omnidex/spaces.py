"""Vector spaces and their encoders: what an ingest or a query needs, built lazily once, with missing
ones reported once. One table maps each space to the method that builds its encoder; the modality
plug-ins (``omnidex.audio``, ``omnidex.series``) name theirs here. Shared by ingest and search."""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .config import IndexConfig
from .errors import EncoderUnavailable, MissingExtra
from .store import EncoderSpec

# vector space -> registry name of the encoder that fills it
SPACE_ENCODERS = {"text": "minilm", "visual": "clip", "phash": "phash"}


BUNDLED_VISUAL = "lit:bundled"  # the offline LiT model shipped in omnidex/models/lit-synth


def bundled_visual_dir():
    """Directory of the bundled offline visual model (it may be absent in a source checkout)."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "models" / "lit-synth"


def visual_encoder(spec: str) -> tuple[str, str]:
    """(registry name, model) for a ``--clip`` value: ``lit:DIR`` is a LiT model trained by
    ``omnidex train`` (``lit:bundled`` the shipped one); anything else is a CLIP/SigLIP
    directory or hub id."""
    if spec == BUNDLED_VISUAL:
        return "lit", str(bundled_visual_dir())
    if spec.startswith("lit:"):
        return "lit", spec[4:]
    return "clip", spec


def _cuda_available() -> bool:
    """Whether torch sees a GPU; without an NVIDIA driver on the machine, answered without importing
    torch (a cold text search stays free of it)."""
    import glob
    import sys

    if "torch" not in sys.modules and not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/proc/driver/nvidia")):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


VIDEO_ENCODERS = {"xclip": "xclip", "x_clip": "xclip", "videomae": "videomae"}


def video_encoder(spec: str) -> tuple[str, str]:
    """(registry name, model) for a ``--video-model`` value: ``xclip:DIR`` / ``videomae:DIR``, or a
    directory / hub id whose ``config.json`` model type (or name) says which.

    Raises:
        EncoderUnavailable: the kind cannot be told.
    """
    head, sep, rest = spec.partition(":")
    if sep and head in VIDEO_ENCODERS and not Path(spec).exists():
        return VIDEO_ENCODERS[head], rest
    cfg = Path(spec).expanduser() / "config.json"
    if cfg.is_file():
        kind = json.loads(cfg.read_text()).get("model_type", "")
        if kind in VIDEO_ENCODERS:
            return VIDEO_ENCODERS[kind], spec
        raise EncoderUnavailable(f"{spec}: model type '{kind}' is not a video model (X-CLIP or VideoMAE)")
    low = spec.lower()
    for key, name in VIDEO_ENCODERS.items():
        if key.replace("_", "") in low.replace("-", "").replace("_", ""):
            return name, spec
    raise EncoderUnavailable(f"cannot tell whether '{spec}' is an X-CLIP or a VideoMAE model: write "
                             f"xclip:{spec} or videomae:{spec}")


@dataclass
class Models:
    """Lazily built encoders; a failure is remembered and announced once in ``notices``."""

    cfg: IndexConfig
    notices: list[str] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)
    visual_spec: str | None = None  # the --clip value actually used, when it differs from cfg.clip_model
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
        """Encoder for a vector space, or None when disabled or unavailable (one entry of ``SPACES`` per space)."""
        return SPACES.get(space, Models.encoder_plain)(self, space)

    def encoder_plain(self, space: str):
        """text (the configured text encoder) and phash (when on)."""
        from .encoders.registry import build

        if space == "phash" and not self.cfg.phash:
            return None
        name = self.cfg.text_encoder if space == "text" else SPACE_ENCODERS[space]
        return self._get(space, lambda: build(name, **(self.device_kwargs() if space == "text" else {})))

    def encoder_visual(self, space: str):
        if not self.cfg.clip_model:
            return None
        return self._get("visual", self._build_visual,
                         "images and video frames were NOT embedded for text-to-image search "
                         "(OCR text and near-duplicate image search still work). ")

    def encoder_video(self, space: str):
        from .encoders.registry import build

        if not self.cfg.video_model:
            return None

        def make_video():
            name, model = video_encoder(self.cfg.video_model)
            return build(name, model=model, **self.device_kwargs())

        return self._get("video", make_video, "shots were NOT embedded with the video model. ")

    def encoder_sound(self, space: str):
        from .audio.encoder import sound_encoder
        from .encoders.registry import build

        if not self.cfg.sound:
            return None
        name, model = sound_encoder(self.cfg.clap_model)
        return self._get("sound", lambda: build(name, model=model),
                         "sounds were NOT embedded for text-to-sound and sound-example search "
                         "(speech is still transcribed). ")

    def encoder_series(self, space: str):
        from .series.ingest import series_encoder

        if not self.cfg.series:
            return None
        return self._get(space, lambda: series_encoder(space, self.cfg),
                         "series windows were NOT embedded for text->series search. ")

    def device_kwargs(self) -> dict:
        """``{"device": "cuda"}`` when the config asks for (or "auto" finds) a GPU, else {} (CPU default)."""
        dev = self.cfg.device
        if dev == "auto":
            dev = "cuda" if _cuda_available() else "cpu"
        return {} if dev == "cpu" else {"device": dev}

    def _build_visual(self):
        """The ``--clip`` encoder; when CLIP weights cannot be had, the bundled offline LiT model."""
        from .encoders.registry import build

        name, model = visual_encoder(self.cfg.clip_model)
        runtimes = dict(self.cfg.runtimes)
        runtime = runtimes.get("visual", "torch")  # how CLIP's image tower runs; same vectors
        towers = {"runtime": runtime, "text_runtime": runtimes.get("query", "auto")} if name == "clip" else {}
        try:
            enc = build(name, model=model, **self.device_kwargs(), **towers)
        except EncoderUnavailable as exc:
            if name != "clip" or not (bundled_visual_dir() / "config.json").exists():
                raise
            self.notices.append(f"visual: {exc} -- using the bundled offline visual model "
                                f"({BUNDLED_VISUAL}, trained on synthetic shapes and colours) instead")
            self.visual_spec = BUNDLED_VISUAL
            return build("lit", model=str(bundled_visual_dir()))
        if getattr(enc, "runtime", "torch") != runtime:
            why = getattr(enc, "runtime_notice", None) or f"runtime '{runtime}' is for CLIP models only; using torch"
            self.notices.append(f"visual: {why}")
        return enc

    def spec(self, space: str) -> EncoderSpec | None:
        """The store spec of the encoder behind ``space`` (None when unavailable)."""
        enc = self.encoder(space)
        if enc is None:
            return None
        kwargs = (("model", self.visual_spec or self.cfg.clip_model),) if space == "visual" else \
            tuple(getattr(enc, "spec_kwargs", ()))  # e.g. the series encoders' window/SAX settings
        return EncoderSpec(enc.name, kwargs, enc.identity, enc.dim)

    def transcriber(self):
        """Whisper transcriber, or None when speech is off or unavailable."""
        if not self.cfg.speech:
            return None

        def make():
            from .encoders.whisper import Transcriber

            return Transcriber(self.cfg.whisper_model)

        return self._get("speech", make, "sound was NOT transcribed. ")

    def ocr(self):
        """OCR reader, or None when OCR is off or unavailable."""
        if not self.cfg.ocr:
            return None

        def make():
            from .encoders.ocr import OCR

            # two ONNX Runtime threads that sleep when idle (ocr._rebuild_sessions): OCR runs beside
            # other work (video: decoding and Whisper; images: CLIP); spinning threads had tripled
            # the CPU per frame on 2 busy cores (bench/video_hour README, "speech and OCR")
            return OCR(faint=self.cfg.ocr_faint)

        return self._get("ocr", make, "text in images was NOT read. ")


# vector space -> how Models builds its encoder (the rest: the text encoder, phash); a new space is one entry
SPACES = {"visual": Models.encoder_visual, "video": Models.encoder_video, "sound": Models.encoder_sound,
          "series": Models.encoder_series, "series_text": Models.encoder_series}
