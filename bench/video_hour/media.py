"""Cached inputs of the video-hour benchmark: an hour of narrated H.264 video and a ViT-B/32 CLIP.

The hour is built cheaply: one narrated piece of several scenes (``PIECE_S`` seconds, moving
patterns, cuts and fades) is encoded with libx264 at its default GOP (keyint 250 with scene-cut
keyframes, ``-preset veryfast``) and AAC audio, then copies are joined with FFmpeg's concat
demuxer and stream copy (no re-encoding) until the wanted length is reached.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

PIECE_S = 120  # seconds of one generated piece (the hour is 30 copies)
SIZES = {"360p": (640, 360), "1080p": (1920, 1080)}
PALETTE = [(200, 40, 40), (40, 150, 70), (40, 70, 200), (220, 190, 50), (130, 50, 160), (30, 160, 170),
           (230, 120, 40), (90, 90, 90)]
PATTERNS = ("plain", "noise", "bars", "checker")
# phrases Whisper tiny.en transcribes well from espeak-ng (from the moments benchmark)
PHRASES = [
    "the lighthouse keeper repaints the red door every spring",
    "our bakery sells fresh rye bread only on saturday mornings",
    "the museum moved the dinosaur skeleton to the second floor",
    "the chess club meets in the library basement on tuesdays",
    "the train to the airport now leaves every fifteen minutes",
    "the recipe needs two cups of flour and a pinch of salt",
    "the bridge will be closed for repairs until the end of june",
    "the goalkeeper saved a penalty in the final minute of the match",
]


def piece_plan(seconds: float = PIECE_S) -> tuple[list, list]:
    """Scenes (4-14 s, the four background kinds, a fade through black every fifth) and narration
    (a phrase every 10 s, every third slot left quiet) of one piece.

    Args:
        seconds: length of the piece.
    Returns:
        (scenes, narration) for ``omnidex.testing.mediagen.make_video``.
    """
    from omnidex.testing.mediagen import Narration, Scene

    lengths = [6.0, 10.0, 4.0, 14.0, 8.0, 12.0, 5.0, 9.0]
    scenes, t, k = [], 0.0, 0
    while t < seconds - 1e-6:
        d = min(lengths[k % len(lengths)], seconds - t)
        fade = 0.6 if k % 5 == 4 and d > 2 else 0.0
        scenes.append(Scene(d, PALETTE[k % len(PALETTE)], f"SCENE {k + 1}", fade_in=fade,
                            fade_out=0.0, pattern=PATTERNS[k % len(PATTERNS)]))
        t, k = t + d, k + 1
    slots = [s for s in range(int(seconds // 10)) if s % 3 != 2]
    narration = [Narration(10.0 * s + 1.0, PHRASES[i % len(PHRASES)]) for i, s in enumerate(slots)]
    return scenes, narration


def make_hour(size_name: str, cache: Path, total_s: float = 3600.0, piece_s: float = PIECE_S) -> Path:
    """The benchmark video of ``total_s`` seconds at ``size_name`` ("360p" or "1080p"), cached.

    Args:
        size_name: a key of ``SIZES``.
        cache: folder for the piece and the joined file (reused when present).
        total_s: length; a whole number of pieces (a shorter total is one shorter piece).
        piece_s: seconds of the generated piece.
    Returns:
        Path of the MP4.
    """
    from omnidex.testing.mediagen import make_video

    cache.mkdir(parents=True, exist_ok=True)
    piece_s = min(piece_s, total_s)
    copies = max(1, round(total_s / piece_s))
    out = cache / f"{size_name}_{int(piece_s * copies)}s.mp4"
    if out.exists():
        return out
    piece = cache / f"{size_name}_piece{int(piece_s)}s.mp4"
    if not piece.exists():
        scenes, narration = piece_plan(piece_s)
        tmp = piece.with_suffix(".part.mp4")
        make_video(tmp, scenes, narration, size=SIZES[size_name], fps=25, codec="libx264", gop=None)
        tmp.rename(piece)
    if copies == 1:
        return piece
    listing = cache / f"{size_name}_concat.txt"
    listing.write_text("".join(f"file '{piece.resolve()}'\n" for _ in range(copies)))
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c", "copy", str(tmp)], check=True, capture_output=True)
    tmp.rename(out)
    return out


def random_clip_b32(cache: Path) -> Path:
    """A random-initialised full-size CLIP ViT-B/32 directory (same compute as the trained one), cached.

    Uses ``omnidex.encoders.clip.save_random_clip_b32`` when the library has it; else builds the
    same architecture here (transformers' CLIPConfig defaults are ViT-B/32: 768-wide, 12-layer
    vision tower, 224 px, 32 px patches; 512-d projection) with the tiny test tokenizer.

    Args:
        cache: parent folder; the model goes in ``cache / "clip-vit-b32-random"``.
    Returns:
        The model directory, loadable with ``IndexConfig(clip_model=str(dir))``.
    """
    from omnidex.encoders import clip as clip_mod

    path = cache / "clip-vit-b32-random"
    if (path / "config.json").exists():
        return path
    save = getattr(clip_mod, "save_random_clip_b32", None)
    if save is not None:
        save(path)
        return path
    from omnidex._require import require
    from omnidex.encoders.base import quiet_transformers

    tf, torch = require("transformers", "clip"), require("torch", "clip")
    tok = clip_mod.tiny_tokenizer()
    cfg = tf.CLIPConfig(text_config=dict(vocab_size=len(tok), bos_token_id=0, eos_token_id=1, pad_token_id=1),
                        vision_config=dict(), projection_dim=512)
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        tf.CLIPModel(cfg).eval().save_pretrained(path)
        tf.CLIPProcessor(image_processor=tf.CLIPImageProcessor(), tokenizer=tok).save_pretrained(path)
    return path
