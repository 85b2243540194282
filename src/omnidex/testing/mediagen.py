"""Deterministic generated media with known ground truth, for tests, the demo and benchmarks.

Needs the Debian tools ``ffmpeg`` (libx264/libx265/libvpx-vp9/libaom-av1/libsvtav1) and
``espeak-ng``, and the DejaVu fonts; nothing is downloaded.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._require import require

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SPEECH_SR = 22050  # espeak-ng's native rate; the narration track is built at this rate
SILENCE_THRESHOLD = 0.02  # |sample| above this counts as speech when measuring spoken extents


@dataclass
class Scene:
    """A stretch of video with one background colour (or a moving pattern in it) and a caption.

    Fades scale the whole frame toward black: with ``fade_in`` the scene's first frame is black
    and brightness ramps up linearly over ``fade_in`` seconds; with ``fade_out`` it ramps down so
    that the scene's last frame is black. A fade_out followed by a fade_in is a fade through black
    whose darkest point is the scene boundary.
    """

    duration: float  # seconds
    color: tuple  # (r, g, b) background
    text: str = ""  # caption drawn in the middle
    fade_in: float = 0.0  # seconds of fade up from black at the scene's start
    fade_out: float = 0.0  # seconds of fade down to black at the scene's end
    # background: "plain", "noise" (drifting texture), "bars" (moving colour bars), "checker" (scrolling squares)
    pattern: str = "plain"


@dataclass
class Narration:
    """A phrase spoken by espeak-ng starting at ``at`` seconds."""

    at: float  # start time in seconds
    text: str  # what is said
    voice: str | None = None  # espeak-ng voice for this phrase (None: make_video's ``voice``)
    wpm: int = 150  # speaking rate in words per minute


def _run(cmd: list[str]) -> None:
    """Run a tool, raising RuntimeError with its stderr when it fails."""
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-800:]}")


def _need(tool: str) -> str:
    """Path of a command-line tool, or RuntimeError naming the Debian package."""
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"'{tool}' not found: apt-get install {tool}")
    return found


def speak(text: str, out_wav: str | Path, voice: str = "en-us", wpm: int = 150) -> Path:
    """Synthesize ``text`` to a WAV file with espeak-ng.

    Args:
        text: what to say.
        out_wav: output .wav path.
        voice: espeak-ng voice name.
        wpm: speaking rate in words per minute.
    Returns:
        The path written (16-bit mono, 22050 Hz).
    """
    out = Path(out_wav)
    _run([_need("espeak-ng"), "-v", voice, "-s", str(int(wpm)), "-w", str(out), text])
    return out


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as mono float32.

    Args:
        path: .wav file.
    Returns:
        (samples in [-1, 1], sample rate).
    """
    with wave.open(str(path), "rb") as wf:
        sr, ch, width = wf.getframerate(), wf.getnchannels(), wf.getsampwidth()
        raw = wf.readframes(wf.getnframes())
    if width != 2:
        raise ValueError(f"{path}: only 16-bit WAV supported, got {8 * width}-bit")
    data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, ch).mean(axis=1).astype(np.float32), sr


def write_wav(path: str | Path, samples: np.ndarray, sr: int) -> Path:
    """Write float samples ((n,) or (n, channels)) in [-1, 1] as 16-bit PCM WAV.

    Args:
        path: output .wav.
        samples: audio.
        sr: sample rate.
    Returns:
        The path.
    """
    data = np.asarray(samples, np.float32)
    data = data[:, None] if data.ndim == 1 else data
    pcm = (np.clip(data, -1, 1) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(pcm.shape[1])
        wf.setsampwidth(2)
        wf.setframerate(int(sr))
        wf.writeframes(pcm.tobytes())
    return Path(path)


def load_font(size: int):
    """DejaVu Sans Bold at ``size`` px, or Pillow's built-in font when DejaVu is missing."""
    ImageFont = require("PIL.ImageFont", "image")
    path = FONT_DIR / "DejaVuSans-Bold.ttf"
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``width`` pixels."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def text_image(
    text: str,
    out: str | Path | None = None,
    size: tuple[int, int] = (640, 360),
    bg: tuple = (255, 255, 255),
    fg: tuple = (0, 0, 0),
    font_size: int = 40,
    shapes: Sequence[tuple[str, tuple, tuple]] = (),
):
    """Render centred, word-wrapped text (DejaVu Sans Bold) on a plain background.

    Args:
        text: the caption ("\\n" forces a line break).
        out: save the image here when given (format from the suffix).
        size: (width, height) in pixels.
        bg: background RGB.
        fg: text RGB.
        font_size: font size in pixels.
        shapes: extra shapes drawn first, each (kind, box (x0, y0, x1, y1), rgb) with kind one of
            "circle", "rect", "triangle".
    Returns:
        The PIL RGB image.
    """
    Image = require("PIL.Image", "image")
    ImageDraw = require("PIL.ImageDraw", "image")
    image = Image.new("RGB", tuple(size), tuple(bg))
    draw = ImageDraw.Draw(image)
    for kind, box, color in shapes:
        _shape(draw, kind, box, color)
    if text:
        font = load_font(font_size)
        lines = _wrap(draw, text, font, int(size[0] * 0.9))
        line_h = int(font_size * 1.2)
        y = (size[1] - line_h * len(lines)) // 2
        for line in lines:
            w = draw.textlength(line, font=font)
            draw.text(((size[0] - w) / 2, y), line, fill=tuple(fg), font=font)
            y += line_h
    if out is not None:
        image.save(out)
    return image


def _shape(draw, kind: str, box: tuple, color: tuple) -> None:
    """Draw one filled shape."""
    x0, y0, x1, y1 = box
    if kind == "circle":
        draw.ellipse(box, fill=tuple(color))
    elif kind == "rect":
        draw.rectangle(box, fill=tuple(color))
    elif kind == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=tuple(color))
    else:
        raise ValueError(f"unknown shape {kind!r}")


def _contrast(color: tuple) -> tuple:
    """Black or white, whichever reads better on ``color``."""
    r, g, b = color[:3]
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


PATTERNS = ("plain", "noise", "bars", "checker")


def _pattern_background(pattern: str, color: tuple, size: tuple[int, int], fps: int, seed: int):
    """A function ``i -> (h, w, 3) uint8 RGB array`` (a fresh copy) giving frame ``i`` of a moving background."""
    w, h = size
    base = np.asarray(color[:3], np.float32)
    if pattern == "noise":
        # a periodic texture (integer cycles across the frame) that drifts diagonally, wrapping seamlessly
        ys, xs = np.mgrid[0:h, 0:w]
        rng = np.random.default_rng(seed)
        field = np.zeros((h, w), np.float32)
        for _ in range(10):
            fx, fy = rng.integers(1, 13, size=2) * rng.choice([-1, 1], size=2)
            field += np.sin(2 * np.pi * (fx * xs / w + fy * ys / h) + rng.uniform(0, 2 * np.pi)).astype(np.float32)
        field /= np.abs(field).max() or 1.0
        tint = np.array([1.0, -0.7, 0.5], np.float32)
        texture = np.clip(base + 80.0 * field[..., None] * tint + 0.5, 0, 255).astype(np.uint8)
        step = (max(2, w // 80), max(1, h // 90))  # pixels per frame: fast, strong motion
        return lambda i: np.roll(texture, (i * step[1], i * step[0]), axis=(0, 1))
    if pattern == "bars":
        palette = np.array([np.clip(np.roll(base, j % 3) * (0.55 + 0.15 * (j % 4)) + 40 * (j % 2) + 0.5, 0, 255)
                            for j in range(8)], np.uint8)
        bar_w, speed = max(4, w // 8), max(1.0, w / (3.0 * fps))  # crosses a third of the frame per second
        row = palette[(np.arange(w + 8 * bar_w) // bar_w) % 8]
        strip = np.ascontiguousarray(np.broadcast_to(row[None], (h, w + 8 * bar_w, 3)))
        return lambda i: strip[:, int(i * speed) % (8 * bar_w):][:, :w].copy()
    if pattern == "checker":
        other = np.clip(base * 0.45 + np.array(_contrast(color), np.float32) * 0.35 + 0.5, 0, 255).astype(np.uint8)
        cell, step = max(4, h // 6), max(1, w // 160)
        ys, xs = np.mgrid[0:h + 2 * cell, 0:w + 2 * cell]
        on = ((xs // cell + ys // cell) % 2).astype(bool)
        tile = np.where(on[..., None], np.clip(base + 0.5, 0, 255).astype(np.uint8), other)

        def frame(i: int):
            o = (i * step) % (2 * cell)
            return tile[o:o + h, o:o + w].copy()
        return frame
    raise ValueError(f"unknown pattern {pattern!r}; use one of {', '.join(PATTERNS)}")


def _fade_gain(i: int, n: int, fade_in: int, fade_out: int) -> float:
    """Brightness of frame ``i`` of ``n``: 0 on the first/last frame of a fade in/out, 1 outside fades."""
    gain = 1.0
    if fade_in > 0:
        gain = min(gain, i / fade_in)
    if fade_out > 0:
        gain = min(gain, (n - 1 - i) / fade_out)
    return max(0.0, gain)


def _scene_frames(scenes: Sequence[Scene], size: tuple[int, int], fps: int):
    """Yield RGB frames: each scene's captioned background (plain colour or a moving pattern) with a
    circle moving along the bottom, faded toward black during its fade-in/fade-out frames."""
    Image = require("PIL.Image", "image")
    ImageDraw = require("PIL.ImageDraw", "image")
    w, h = size
    d = max(8, h // 6)
    for k, scene in enumerate(scenes):
        n = max(1, round(scene.duration * fps))
        fg = _contrast(scene.color)
        font_size = max(10, h // 9)
        if scene.pattern == "plain":
            base, background = text_image(scene.text, size=size, bg=scene.color, fg=fg, font_size=font_size), None
        else:
            seed = k * 1009 + sum(int(c) * 31 ** j for j, c in enumerate(scene.color[:3]))
            background = _pattern_background(scene.pattern, scene.color, size, fps, seed)
            mask = np.asarray(text_image(scene.text, size=size, bg=(0, 0, 0), fg=(255, 255, 255),
                                         font_size=font_size).convert("L"))
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)) if rows.size else None
            alpha = mask[box][..., None].astype(np.float32) / 255.0 if box else None
            fg_part = np.asarray(fg, np.float32) * alpha if box else None
        fade_in, fade_out = round(scene.fade_in * fps), round(scene.fade_out * fps)
        for i in range(n):
            if background is None:
                frame = base.copy()
            else:
                arr = background(i)
                if box is not None:
                    arr[box] = (arr[box] * (1.0 - alpha) + fg_part + 0.5).astype(np.uint8)
                frame = Image.fromarray(arr)
            x = int((w - d) * i / max(1, n - 1))
            _shape(ImageDraw.Draw(frame), "circle", (x, h - d - 4, x + d, h - 4), fg)
            gain = _fade_gain(i, n, fade_in, fade_out)
            if gain < 1.0:
                frame = Image.fromarray((np.asarray(frame, np.float32) * gain + 0.5).astype(np.uint8))
            yield frame


MUSIC_LEVEL = 0.06  # peak of the background music (espeak speech peaks around 0.5-0.9)


def music_samples(seconds: float, sr: int = SPEECH_SR, level: float = MUSIC_LEVEL) -> np.ndarray:
    """A quiet, music-like arpeggio of sine tones over a soft chord pad (C, Am, F, G; 0.25 s notes).

    Args:
        seconds: length.
        sr: sample rate.
        level: peak amplitude.
    Returns:
        float32 mono samples in [-level, level].
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    chords = [(261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66)]
    note_s, chord_s = 0.25, 2.0
    out = np.zeros(n, np.float32)
    for start in np.arange(0.0, seconds, chord_s):
        chord = chords[int(round(start / chord_s)) % len(chords)]
        a, b = int(start * sr), min(n, int((start + chord_s) * sr))
        tt = t[a:b] - start
        pad = sum(np.sin(2 * np.pi * f * tt) for f in chord) / len(chord)
        pad *= np.minimum(1.0, np.minimum(tt, chord_s - tt) / 0.1)  # 100 ms attack/release
        out[a:b] += 0.4 * pad
        for k, ns in enumerate(np.arange(0.0, chord_s, note_s)):
            na, nb = a + int(ns * sr), min(b, a + int((ns + note_s) * sr))
            nt = t[na:nb] - start - ns
            f = chord[[0, 1, 2, 1][k % 4]] * 2  # up-down arpeggio an octave above the pad
            out[na:nb] += 0.6 * np.sin(2 * np.pi * f * nt) * np.exp(-nt * 8.0)
    peak = float(np.abs(out).max()) if n else 0.0
    return (out * (level / peak) if peak > 0 else out).astype(np.float32)


def _narration_track(narration: Sequence[Narration], duration: float, voice: str, tmp: Path,
                     music: Sequence[tuple[float, float]] = ()):
    """Mix espeak phrases (and optional background music spans) into a silent track;
    return (samples, [(start, end, text)] of real speech)."""
    track = np.zeros(int(round(duration * SPEECH_SR)), np.float32)
    for m0, m1 in music:
        a, b = int(round(max(0.0, m0) * SPEECH_SR)), min(len(track), int(round(m1 * SPEECH_SR)))
        if b > a:
            track[a:b] += music_samples((b - a) / SPEECH_SR)[: b - a]
    speech = []
    for k, item in enumerate(narration):
        wav, sr = read_wav(speak(item.text, tmp / f"say{k}.wav", voice=item.voice or voice, wpm=item.wpm))
        if sr != SPEECH_SR:
            raise RuntimeError(f"espeak-ng wrote {sr} Hz, expected {SPEECH_SR}")
        at = int(round(item.at * SPEECH_SR))
        clip = wav[: max(0, len(track) - at)]
        track[at: at + len(clip)] += clip
        loud = np.flatnonzero(np.abs(clip) > SILENCE_THRESHOLD)
        if loud.size:
            speech.append((float(at + loud[0]) / SPEECH_SR, float(at + loud[-1] + 1) / SPEECH_SR, item.text))
    return np.clip(track, -1, 1), speech


def _video_codec_args(codec: str, gop: int | None) -> list[str]:
    """Encoder options: fast presets, and a fixed GOP (no scene-cut keyframes) when ``gop`` is set."""
    g = [] if gop is None else ["-g", str(gop), "-keyint_min", str(gop)]
    if codec == "libx264":
        return ["-preset", "veryfast", *g, *(["-sc_threshold", "0"] if gop else [])]
    if codec == "libx265":
        params = "log-level=error" + (f":keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0" if gop else "")
        return ["-preset", "ultrafast", "-x265-params", params, "-tag:v", "hvc1"]
    if codec == "libvpx-vp9":
        return ["-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "400k", *g]
    if codec == "libaom-av1":
        return ["-usage", "realtime", "-cpu-used", "8", "-b:v", "300k", *g]
    if codec == "libsvtav1":
        return ["-preset", "12", *(["-g", str(gop)] if gop else [])]
    return g


def _audio_codec(out: Path) -> str:
    """AAC for MP4/MOV/MKV, Opus for WebM/Ogg."""
    return "libopus" if out.suffix.lower() in (".webm", ".ogg", ".opus") else "aac"


def make_video(
    out: str | Path,
    scenes: Sequence[Scene],
    narration: Sequence[Narration] = (),
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    codec: str = "libx264",
    gop: int | None = None,
    audio: bool = True,
    voice: str = "en-us",
    rotate: int = 0,
    faststart: bool = False,
    music: Sequence[tuple[float, float]] = (),
) -> dict:
    """Encode a video of coloured captioned scenes with espeak narration, and its ground truth.

    Args:
        out: output file; the container follows the suffix (.mp4, .mov, .mkv, .webm).
        scenes: the scenes in order.
        narration: phrases spoken at given times (silence elsewhere).
        size: (width, height), even numbers.
        fps: frame rate.
        codec: ffmpeg video encoder: libx264, libx265, libvpx-vp9, libaom-av1, libsvtav1.
        gop: keyframe interval in frames (fixed, no scene-cut keyframes); None = encoder default.
        audio: False writes no audio stream at all.
        voice: espeak-ng voice (a phrase's own ``Narration.voice`` wins).
        rotate: display rotation written to MP4/MOV metadata (counter-clockwise degrees as
            PyAV's ``VideoFrame.rotation`` reads it back).
        faststart: put the MP4 index (moov) before the data.
        music: (start, end) spans in seconds of quiet background music (sine-tone arpeggio,
            not speech) mixed into the sound track; may overlap narration.
    Returns:
        {"path", "duration", "scenes": [(start, end, text)], "speech": [(start, end, text)],
         "colors", "fps", "size", "codec", "gop", "n_frames", "has_audio", "cuts": [(time, kind)]};
        speech extents are the real non-silent span of each phrase. ``cuts`` lists every scene
        boundary (not the video's start or end): kind "fade" when the scene before has
        ``fade_out`` > 0 or the scene after has ``fade_in`` > 0, else "cut"; time is the boundary
        time, i.e. the first frame of the next scene (for a fade through black, the darkest point:
        the last frame of the fade-out is black and so is the first frame of the fade-in).
    """
    out = Path(out)
    counts = [max(1, round(s.duration * fps)) for s in scenes]
    bounds = np.concatenate([[0], np.cumsum(counts)]) / fps
    duration = float(bounds[-1])
    with tempfile.TemporaryDirectory(prefix="omnidex-mediagen-") as tmpdir:
        tmp = Path(tmpdir)
        speech: list = []
        wav = None
        if audio:
            track, speech = _narration_track(narration, duration, voice, tmp, music)
            wav = write_wav(tmp / "narration.wav", track, SPEECH_SR)
        cmd = _encode_cmd(out, size, fps, codec, gop, duration, wav, faststart)
        target = tmp / f"video{out.suffix}" if rotate else out
        _encode(cmd + [str(target)], _scene_frames(scenes, size, fps))
        if rotate:
            _run([_need("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-i", str(target), "-map", "0",
                  "-c", "copy", "-metadata:s:v:0", f"rotate={int(rotate) % 360}", str(out)])
    return {
        "path": out, "duration": duration,
        "scenes": [(float(bounds[i]), float(bounds[i + 1]), s.text) for i, s in enumerate(scenes)],
        "speech": speech, "colors": [tuple(s.color) for s in scenes], "fps": fps, "size": tuple(size),
        "codec": codec, "gop": gop, "n_frames": int(sum(counts)), "has_audio": bool(audio),
        "cuts": [(float(bounds[i + 1]), "fade" if scenes[i].fade_out > 0 or scenes[i + 1].fade_in > 0 else "cut")
                 for i in range(len(scenes) - 1)],
    }


def _encode_cmd(out: Path, size, fps: int, codec: str, gop, duration: float, wav, faststart: bool) -> list[str]:
    """ffmpeg arguments (without the output path) for raw RGB frames on stdin plus an optional WAV."""
    cmd = [_need("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-framerate", str(fps), "-i", "pipe:0"]
    if wav is not None:
        cmd += ["-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:a", _audio_codec(out), "-b:a", "64k"]
    cmd += ["-c:v", codec, *_video_codec_args(codec, gop), "-pix_fmt", "yuv420p", "-t", f"{duration:.6f}"]
    return cmd + (["-movflags", "+faststart"] if faststart else [])


def _encode(cmd: list[str], frames) -> None:
    """Pipe RGB frames into an ffmpeg command."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for frame in frames:
            proc.stdin.write(frame.tobytes())
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed encoding {cmd[-1]}: {err[-800:]}")


_AUDIO_CODECS = {".mp3": "libmp3lame", ".flac": "flac", ".ogg": "libvorbis", ".oga": "libvorbis",
                 ".opus": "libopus", ".m4a": "aac", ".aac": "aac", ".mka": "libopus", ".webm": "libopus"}


def make_tone(out: str | Path, seconds: float, freq: float = 440.0, sr: int = 16000,
              channels: int = 1, amplitude: float = 0.5) -> Path:
    """Write a sine tone; the format follows the suffix (.wav, .mp3, .flac, .ogg, .opus, .m4a).

    Args:
        out: output path.
        seconds: duration.
        freq: frequency in Hz (the second channel, if any, is a fifth above).
        sr: sample rate.
        channels: 1 or 2.
        amplitude: peak level in (0, 1].
    Returns:
        The path written.
    """
    out = Path(out)
    t = np.arange(int(round(seconds * sr))) / sr
    chans = [amplitude * np.sin(2 * np.pi * freq * (1.5 ** c) * t) for c in range(channels)]
    samples = np.stack(chans, axis=1).astype(np.float32)
    if out.suffix.lower() == ".wav":
        return write_wav(out, samples, sr)
    with tempfile.TemporaryDirectory(prefix="omnidex-tone-") as tmp:
        wav = write_wav(Path(tmp) / "tone.wav", samples, sr)
        codec = _AUDIO_CODECS.get(out.suffix.lower())
        if codec is None:
            raise ValueError(f"no audio encoder known for {out.suffix!r}")
        _run([_need("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
              "-c:a", codec, *(["-b:a", "96k"] if codec not in ("flac",) else []), str(out)])
    return out


def bomb_png(out: str | Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A valid 1-bit PNG declaring ``width`` x ``height`` pixels that is tiny on disk.

    Args:
        out: output path.
        width: declared width.
        height: declared height.
    Returns:
        The path (about 100 kB for 30000 x 30000).
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row_block = bytes((1 + (width + 7) // 8) * 1000)
    idat = b"".join(comp.compress(row_block[: len(row_block) * min(1000, height - y) // 1000])
                    for y in range(0, height, 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    Path(out).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return Path(out)


def make_bad_files(folder: str | Path) -> dict[str, Path]:
    """Files that must be refused or handled gracefully.

    Args:
        folder: where to write them (created if needed).
    Returns:
        {"zero_byte", "random_mp4", "truncated_mp4" (index cut off), "truncated_faststart_mp4"
         (index intact, data cut), "bomb_png", "truncated_jpg", "no_audio_video"} -> path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"zero_byte": folder / "empty.jpg", "random_mp4": folder / "random.mp4"}
    files["zero_byte"].write_bytes(b"")
    files["random_mp4"].write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    scenes = [Scene(1.0, (200, 30, 30), "one"), Scene(1.0, (30, 200, 30), "two")]
    for name, fast in (("truncated_mp4", False), ("truncated_faststart_mp4", True)):
        whole = make_video(folder / f"whole_{name}.mp4", scenes, audio=False, gop=10, faststart=fast)["path"]
        data = whole.read_bytes()
        files[name] = folder / f"{name}.mp4"
        files[name].write_bytes(data[: len(data) // 2])
        whole.unlink()
    files["bomb_png"] = bomb_png(folder / "bomb.png")
    jpg = folder / "truncated.jpg"
    text_image("cut", out=jpg, size=(320, 240), bg=(10, 120, 200))
    jpg.write_bytes(jpg.read_bytes()[:600])
    files["truncated_jpg"] = jpg
    files["no_audio_video"] = make_video(folder / "no_audio.mp4", scenes, audio=False)["path"]
    return files


def notes_and_signs(folder: str | Path, notes: dict[str, str]) -> Path:
    """A small mixed library for server tests: each note as a text file, plus two text pictures
    (a yellow "BEACH PARTY" poster and a red "STOP" sign).

    Args:
        folder: where the files go (created).
        notes: file name -> text.
    Returns:
        ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (folder / name).write_text(text + "\n")
    text_image("BEACH PARTY", folder / "poster.png", bg=(250, 200, 60), fg=(20, 20, 120))
    text_image("STOP", folder / "sign.jpg", bg=(200, 20, 20), fg=(255, 255, 255), font_size=80)
    return folder
