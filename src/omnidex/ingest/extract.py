"""Turn one decoded file into pieces: what to embed, in which space, at which time span.

A piece carries either text (embedded by the text encoder) or an image (embedded by the visual
and near-duplicate encoders). Nothing here touches the store.
"""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..config import IndexConfig
from ..errors import MediaError
from ..types import Extracted, Piece
from . import timing
from ..spaces import Models


def extract_text_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Document -> overlapping chunks located by line numbers."""
    from ..media.text import chunk_text, read_text

    chunks = chunk_text(read_text(path), max_chars=cfg.chunk_chars, overlap=cfg.chunk_overlap)
    pieces = [Piece("chunk", c.line_start, c.line_end, "line", text=c.text) for c in chunks if c.text.strip()]
    return Extracted(pieces, note="" if pieces else "empty document")


def extract_image_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Image -> one visual piece plus its OCR text when there is any."""
    from ..media.image import load_image

    img = load_image(path, max_pixels=cfg.max_image_pixels)
    img.thumbnail((1024, 1024))
    pieces = [Piece("image", 0.0, 0.0, "none", image=img)]
    ocr = models.ocr()
    if ocr is not None and (piece := ocr_piece(ocr, img)) is not None:
        pieces.append(piece)
    from ..gen.provenance import read_provenance

    prov = read_provenance(path)  # a picture omnidex generate (or synth --generator) made: keep where from
    return Extracted(pieces, info={"generated": prov} if prov else {})


def ocr_piece(ocr, img) -> Piece | None:
    """A still image's OCR piece as the index stores it: the text read (faint readings and split
    words after it) and the packed frames of the faint path's boxes, kept for query words to be
    spotted in; None when nothing was read."""
    from ..encoders.ocr_spot import pack
    from ..encoders.wordsplit import with_split_words

    spots: list = []
    text = ocr.read_text_or_faint(img, spots=spots).strip()
    return Piece("ocr", 0.0, 0.0, "none", text=with_split_words(text), spots=pack(spots)) if text else None


def transcribe_track(path: Path, models: Models) -> tuple[object, str, float]:
    """Decode and transcribe a sound track: (Transcript or None, note when None, duration s)."""
    from ..media.audio import load_audio

    with timing.stage("audio_decode"):
        audio = load_audio(path, sr=16000)
    duration = audio.size / 16000.0
    transcriber = models.transcriber()
    if transcriber is None:
        return None, "speech off or unavailable", duration
    if audio.size < 1600 or float(np.abs(audio).max(initial=0.0)) < 1e-4:
        return None, "silent audio", duration
    with timing.stage("speech"):
        return transcriber.transcribe(audio), "", duration


def speech_pieces(transcribed: tuple, cfg: IndexConfig, cuts: tuple[float, ...] = ()) -> tuple[list[Piece], str, float, str]:
    """(transcript, note, duration) from :func:`transcribe_track` -> (windows, note, duration, language)."""
    transcript, note, duration = transcribed
    if transcript is None:
        return [], note, duration, ""
    pieces = speech_windows(transcript, cfg.speech_window_s, cuts)
    lang = transcript.language if pieces else ""
    note = (f"speech: {len(pieces)} windows, language {lang or '?'}" if pieces else "no speech found")
    return pieces, note, duration, lang


_SENTENCE_END = re.compile(r"[.!?…]$")


CUT_PAUSE_S = 0.25  # a shot cut ends a transcript window when it falls in a pause at least this long


def speech_windows(transcript, max_s: float, cuts: tuple[float, ...] = ()) -> list[Piece]:
    """Group transcript words into sentence windows no longer than ``max_s`` seconds.

    A window ends at a sentence end, a pause over 1.5 s, the length cap, or a shot cut that falls
    in a pause between two words (a cut inside running speech does not split the sentence).
    """
    words = [w for seg in transcript.segments for w in seg.words]
    if not words:
        return [Piece("speech", s.start, s.end, "s", text=s.text.strip()) for s in transcript.segments if s.text.strip()]
    pieces, cur = [], []
    for w in words:
        if cur and (w.end - cur[0].start > max_s or w.start - cur[-1].end > 1.5
                    or _cut_in_pause(cuts, cur[-1].end, w.start)):
            pieces.append(_window(cur))
            cur = []
        cur.append(w)
        if _SENTENCE_END.search(w.text.strip()) and cur[-1].end - cur[0].start >= 1.0:
            pieces.append(_window(cur))
            cur = []
    if cur:
        pieces.append(_window(cur))
    return pieces


def _cut_in_pause(cuts: tuple[float, ...], gap_start: float, gap_end: float) -> bool:
    """A cut lies in the pause between two words, and the pause is long enough to split at."""
    return gap_end - gap_start >= CUT_PAUSE_S and any(gap_start - 0.1 <= c <= gap_end + 0.1 for c in cuts)


def _window(words) -> Piece:
    text = "".join(w.text for w in words).strip()
    packed = [[round(w.start, 2), round(w.end, 2), w.text.strip()] for w in words]
    return Piece("speech", float(words[0].start), float(words[-1].end), "s", text=text, words=packed)


def extract_audio_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Audio file -> transcript windows and sound windows (the "sound" space)."""
    from ..audio.windows import sound_pieces

    pieces, note, duration, lang = speech_pieces(transcribe_track(path, models), cfg)
    sounds, sound_note = sound_pieces(path, cfg, models)
    note = "; ".join(n for n in (note, sound_note) if n)
    return Extracted(pieces + sounds, duration=duration, note=note, info={"language": lang} if lang else {})


def extract_video_file(path: Path, cfg: IndexConfig, models: Models) -> Extracted:
    """Video -> shots, representative frames per shot (visual + OCR spans), and the transcript.

    Three things overlap: the sound track is transcribed in a second thread, the pictures are
    scanned in this one, and (local engine) each picked frame is embedded by the visual encoder in
    a third as soon as it is converted (all release the GIL in their native code). The transcript
    is then cut into windows at the shots' boundaries.
    """
    from ..media.video import probe_video

    with timing.stage("probe"):
        info = probe_video(path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        speech_on = info.has_audio and models.transcriber() is not None
        sound = pool.submit(transcribe_track, path, models) if speech_on else None
        shots, frames, strategy, errors, vectors, texts = _frames_embedded(path, info, cfg, models)
        spans = frame_spans(frames, shots, info)
        pieces = [Piece("frame", a, b, "s", image=f.image, at=f.t, vector=v)
                  for f, (a, b), v in zip(frames, spans, vectors)]
        pieces += ocr_spans(frames, spans, models, texts)
        if cfg.video_model:  # one clip of frames per shot for the video model (X-CLIP, VideoMAE)
            from .video_shots import shot_pieces

            pieces += shot_pieces(path, shots, models)
        notes = _picture_notes(info, shots, frames, strategy, errors)
        meta = {"shots": [[round(s[0], 3), round(s[1], 3), s[2]] for s in shots], "strategy": strategy,
                "frames": len(frames)}
        if not info.has_audio:
            notes.append("no audio track")
        else:  # speech off: the track is not decoded for it (the sound space decodes its own)
            transcribed = sound.result if sound else lambda: (None, "speech off or unavailable", info.duration)
            pieces += _sound_track(path, cfg, models, transcribed, shots, notes, meta)
    return Extracted(pieces, duration=info.duration, note="; ".join(n for n in notes if n), info=meta)


def _frames_embedded(path: Path, info, cfg: IndexConfig, models: Models):
    """:func:`_shots_and_frames` plus each frame's visual vector, embedded while decoding goes on when
    this process embeds (the local engine; the Ray engine embeds in its encoder actors): else Nones;
    and each frame's on-screen text, read while decoding goes on when OCR is on (else None)."""
    from .frame_stream import FrameStream, OcrStream

    enc = models.encoder("visual") if getattr(cfg, "engine", "local") == "local" else None
    ocr = models.ocr()
    streams = ([FrameStream(enc)] if enc is not None else []) + ([OcrStream(ocr)] if ocr is not None else [])

    def on_frame(frame):
        for st in streams:
            st.put(frame)

    try:
        shots, frames, strategy, errors = _shots_and_frames(path, info, cfg, on_frame=on_frame if streams else None)
        vectors = streams[0].finish(frames) if enc is not None else [None] * len(frames)
        texts = streams[-1].finish(frames) if ocr is not None else None
        return shots, frames, strategy, errors, vectors, texts
    finally:
        for st in streams:
            st.abort()  # a no-op after finish; on failure the queued frames are dropped


def _picture_notes(info, shots, frames, strategy: str, errors) -> list[str]:
    """Ingest notes about the pictures: shots and frames found, truncation, damage."""
    notes = [f"{len(shots)} shots, {len(frames)} frames by {strategy}"]
    if info.declared_duration > info.duration + 1.0:
        notes.append(f"truncated: the file declares {info.declared_duration:.1f}s but holds {info.duration:.1f}s")
    if errors and frames:
        notes.append(f"damaged or truncated: indexed what decoded up to {frames[-1].t:.1f}s ({str(errors[0])[:80]})")
    return notes


def _sound_track(path: Path, cfg: IndexConfig, models: Models, transcribed, shots, notes: list,
                 meta: dict) -> list[Piece]:
    """Speech windows (cut at shot boundaries) and sound windows of a video's track; notes and the
    language go into ``notes`` / ``meta``. ``transcribed`` returns :func:`transcribe_track`'s result."""
    try:
        speech, note, _, lang = speech_pieces(transcribed(), cfg, tuple(s[0] for s in shots[1:]))
    except MediaError as exc:
        speech, note, lang = [], f"sound track not indexed: {exc.reason}", ""
    notes.append(note)
    from ..audio.windows import sound_pieces

    sounds, sound_note = sound_pieces(path, cfg, models)
    notes.append(sound_note)
    if lang:
        meta["language"] = lang
    return speech + sounds


def _shots_and_frames(path: Path, info, cfg: IndexConfig, on_frame=None):
    """(shots as (start, end, transition), frames, strategy, errors) by shot detection or a fixed grid;
    ``on_frame`` is called with each frame as soon as it is decoded and converted."""
    end = info.start_time + info.duration
    stats: dict = {}
    if cfg.shots:
        from ..media.shots import detect_shots

        scan = detect_shots(path, info, max_side=cfg.frame_max_side, sample_fps=cfg.frame_fps,
                            max_frames=cfg.max_frames, stats=stats, on_frame=on_frame)
        timing.add("decode", stats["decode_s"], stats["decoded"])
        timing.add("shots", stats["analyse_s"], len(scan.frames))
        shots = [(s.start, s.end, s.transition) for s in scan.shots]
        return shots, scan.frames, f"shots/{scan.strategy}", scan.errors
    from ..media.video import sample_frames

    t0 = time.perf_counter()
    strategy, frames = sample_frames(path, fps=cfg.frame_fps, max_frames=cfg.max_frames,
                                     strategy=cfg.frame_strategy, max_side=cfg.frame_max_side,
                                     info=info, stats=stats, on_frame=on_frame)
    timing.add("decode", stats["decode_s"], stats["decoded"])
    timing.add("frames", time.perf_counter() - t0 - stats["decode_s"], len(frames))
    return [(info.start_time, end, "start")], frames, strategy, stats.get("errors", [])


def frame_spans(frames, shots, info) -> list[tuple[float, float]]:
    """The stretch of time each frame stands for: its shot, split halfway between the shot's frames."""
    end_of_video = max(info.start_time + info.duration, frames[-1].t if frames else 0.0)
    spans = []
    for i, f in enumerate(frames):
        s0, s1 = _shot_of(shots, f.t, end_of_video)
        prev_t = frames[i - 1].t if i > 0 and frames[i - 1].t >= s0 else None
        next_t = frames[i + 1].t if i + 1 < len(frames) and frames[i + 1].t < s1 else None
        a = s0 if prev_t is None else (prev_t + f.t) / 2
        b = s1 if next_t is None else (f.t + next_t) / 2
        spans.append((float(a), float(max(b, a))))
    return spans


def _shot_of(shots, t: float, end_of_video: float) -> tuple[float, float]:
    for s0, s1, _ in shots:
        if s0 - 1e-6 <= t < s1:
            return s0, s1
    return (shots[-1][0], end_of_video) if shots and t >= shots[-1][0] else (t, t)


def ocr_spans(frames, spans, models: Models, texts: list | None = None) -> list[Piece]:
    """OCR frames whose look changed, and merge runs of identical text into one span.

    ``texts``: each frame's text already read (an :class:`~.frame_stream.OcrStream` during decoding);
    frames without one (None) are read here."""
    ocr = models.ocr()
    if ocr is None or not frames:
        return []
    from ..encoders.wordsplit import with_split_words
    from .visual_change import changed

    out: list[Piece] = []
    last_img, last_text, raw = None, "", None
    for i, (f, (a, b)) in enumerate(zip(frames, spans)):
        read = texts[i] if texts is not None and i < len(texts) else None
        if read is not None:
            if read != raw:
                raw, last_text = read, with_split_words(read)  # + glued words split
        elif last_img is None or changed(last_img, f.image):
            raw = " ".join(ocr.read_text(f.image).split())
            last_text = with_split_words(raw)
            last_img = f.image
        if last_text and out and out[-1].text == last_text and a - out[-1].end <= 0.01:
            out[-1].end = b
        elif last_text:
            out.append(Piece("ocr", a, b, "s", text=last_text, at=f.t))
    return out


def words_json(words: list) -> str:
    """Compact JSON for the words column."""
    return json.dumps(words, separators=(",", ":")) if words else ""
