"""``omnidex synth``: a synthetic compositional image-caption data set with held-out combinations.

Each image shows 1-3 objects (shape, colour, size, position, texture) on a background (plain
light, plain dark, gradient or noise), rendered with antialiasing (drawn at 3x, box-downsampled).
Captions come from several natural templates per scene kind and name the main object's colour and
shape. A seeded set of (colour, shape) pairs (~15 %) never appears in any training image, neither
as main object nor as distractor; every held-out image has one of those pairs as its main object,
and its caption names it. Every colour and every shape still appears in training.

Layout written under ``out``::

    train/00000.png ...      heldout/00000.png ...      videos/000.mp4 ... (when videos > 0)
    train.jsonl  heldout.jsonl  videos.jsonl  meta.json

Each jsonl line: ``{"path": "train/00000.png", "caption": ..., "objects": [{"shape", "colour",
"size", "position", "texture"}, ...], "background": ..., "kind": ...}``; the main object is
``objects[0]``. Output is byte-for-byte deterministic for a given seed.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path


from ..testing.scenes import (BACKGROUNDS, COLOURS, POSITIONS, SCALE, SHAPES, SIZES, TEMPLATES,  # noqa: F401
                              TEXTURES, article, describe, make_object, make_scene, pick_background, render,
                              render_background)

UNSEEN_FRACTION = 0.15  # share of (colour, shape) pairs held out of training
MAX_UNSEEN_PER_ATTRIBUTE = 2  # so that every colour and every shape keeps most of its pairs in training


def unseen_pairs(seed: int) -> list[tuple[str, str]]:
    """The (colour, shape) pairs kept out of training for ``seed``: ~15 % of all pairs, at most
    two per colour and per shape, sorted.

    Args:
        seed: the data set seed.
    Returns:
        Sorted list of (colour, shape).
    """
    rng = random.Random(f"unseen:{seed}")
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(pairs)
    want = round(UNSEEN_FRACTION * len(pairs))
    chosen: list[tuple[str, str]] = []
    per_colour: dict[str, int] = {}
    per_shape: dict[str, int] = {}
    for c, s in pairs:
        if len(chosen) == want:
            break
        if per_colour.get(c, 0) < MAX_UNSEEN_PER_ATTRIBUTE and per_shape.get(s, 0) < MAX_UNSEEN_PER_ATTRIBUTE:
            chosen.append((c, s))
            per_colour[c] = per_colour.get(c, 0) + 1
            per_shape[s] = per_shape.get(s, 0) + 1
    return sorted(chosen)


# ----------------------------------------------------------------------------- geometry & rendering

def _record(path: str, scene: dict) -> dict:
    keys = ("shape", "colour", "size", "position", "texture")
    return {"path": path, "caption": scene["caption"],
            "objects": [{k: o[k] for k in keys} for o in scene["objects"]],
            "background": scene["background"]["kind"], "kind": scene["kind"]}


# ----------------------------------------------------------------------------- videos

_MOTIONS = {  # direction -> (start position, end position, caption phrases, side positions for a distractor)
    "right": ((0.12, 0.5), (0.88, 0.5), ("moving from left to right", "moving right", "sliding to the right"),
              ("top", "bottom")),
    "left": ((0.88, 0.5), (0.12, 0.5), ("moving from right to left", "moving left", "sliding to the left"),
             ("top", "bottom")),
    "down": ((0.5, 0.12), (0.5, 0.88), ("moving from top to bottom", "moving down", "falling down"), ("left", "right")),
    "up": ((0.5, 0.88), (0.5, 0.12), ("moving from bottom to top", "moving up", "rising up"), ("left", "right")),
}


def _video_shot(rng: random.Random, pairs: list, n_frames: int) -> dict:
    """One shot: a main object moving across the frame, maybe a static distractor, and a caption."""
    direction = rng.choice(sorted(_MOTIONS))
    start, end, phrases, sides = _MOTIONS[direction]
    main = make_object(rng, rng.choice(pairs), "centre")
    objects = [main]
    if rng.random() < 0.5:
        pair = rng.choice(pairs)
        other = make_object(rng, pair, rng.choice(sides), size="small")
        objects.append(other)
    background = pick_background(rng, [o["colour"] for o in objects])
    caption = f"{article(describe(rng, main))} {rng.choice(phrases)}"
    return {"objects": objects, "background": background, "caption": caption, "direction": direction,
            "start": start, "end": end, "frames": n_frames}


def _write_video(path: Path, shots: list[dict], size: int, fps: int) -> None:
    """Encode the shots' frames as H.264 MP4 (single-threaded, so the bytes are deterministic)."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"preset": "veryfast", "crf": "23", "threads": "1"}
        for shot in shots:
            base = render_background(shot["background"], size * SCALE)
            main = shot["objects"][0]
            n = shot["frames"]
            for i in range(n):
                t = i / max(1, n - 1)
                main["cx"] = shot["start"][0] + (shot["end"][0] - shot["start"][0]) * t
                main["cy"] = shot["start"][1] + (shot["end"][1] - shot["start"][1]) * t
                frame = av.VideoFrame.from_image(render(shot["objects"], shot["background"], size, base=base))
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _make_video(rng: random.Random, pairs: list, path: Path, rel: str, size: int, fps: int) -> dict:
    two_shots = rng.random() < 0.5
    if two_shots:
        shots = [_video_shot(rng, pairs, rng.randint(12, 20)) for _ in range(2)]
        caption = f"{shots[0]['caption']}, then {shots[1]['caption']}"
    else:
        shots = [_video_shot(rng, pairs, rng.randint(20, 40))]
        caption = shots[0]["caption"]
    _write_video(path, shots, size, fps)
    keys = ("shape", "colour", "size", "position", "texture")
    out_shots, t0 = [], 0.0
    for shot in shots:
        t1 = t0 + shot["frames"] / fps
        objs = [{k: o[k] for k in keys} for o in shot["objects"]]
        objs[0]["position"] = "moving"
        out_shots.append({"start": round(t0, 3), "end": round(t1, 3), "caption": shot["caption"],
                          "direction": shot["direction"], "objects": objs,
                          "background": shot["background"]["kind"]})
        t0 = t1
    return {"path": rel, "caption": caption, "duration": round(t0, 3), "fps": fps, "shots": out_shots}


# ----------------------------------------------------------------------------- skew

MAX_SKEW_TRIES = 500


def parse_skew(spec: str) -> tuple[str, str, float]:
    """``"FIELD=VALUE:SHARE"`` -> (field, value, share); e.g. ``background=plain-dark:0.02``.

    Raises:
        ValueError: malformed spec or a share outside [0, 1].
    """
    head, sep, share = str(spec).rpartition(":")
    field, eq, value = head.partition("=")
    if not sep or not eq or not field.strip() or not value.strip():
        raise ValueError(f"--skew {spec!r}: expected FIELD=VALUE:SHARE, e.g. background=plain-dark:0.02")
    try:
        x = float(share)
    except ValueError:
        raise ValueError(f"--skew {spec!r}: SHARE must be a number in [0, 1]") from None
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"--skew {spec!r}: SHARE must be in [0, 1], got {x}")
    return field.strip(), value.strip(), x


def _skewed_scene(seed: int, split: str, i: int, main_pairs: list, seen: list, skew) -> dict:
    """The scene of item ``i``; under ``skew`` (field, value, share) item i is drawn so that its field
    equals value with probability share (scenes are redrawn, seeded, until they agree)."""
    from .slices import field_value

    if skew is None:
        return make_scene(random.Random(f"{seed}:{split}:{i}"), main_pairs, seen)
    field, value, share = skew
    want = random.Random(f"{seed}:skew:{split}:{i}").random() < share
    for attempt in range(MAX_SKEW_TRIES):
        rng = random.Random(f"{seed}:{split}:{i}" if attempt == 0 else f"{seed}:{split}:{i}:{attempt}")
        scene = make_scene(rng, main_pairs, seen)
        got = field_value(_record("", scene), field)
        if (str(got) == value) == want:
            return scene
    raise ValueError(f"--skew {field}={value}: the generator did not draw "
                     f"{'that' if want else 'another'} value in {MAX_SKEW_TRIES} scenes "
                     f"(fields: background, kind, objects.0.colour, objects.0.shape, objects.0.size, ...)")


# ----------------------------------------------------------------------------- driver

def generate(out: str | Path, n_train: int = 5000, n_heldout: int = 500, seed: int = 0, size: int = 64,
             videos: int = 0, progress=None, skew: str | tuple | None = None) -> dict:
    """Write the synthetic data set under ``out``.

    Args:
        out: output folder (created; existing files of the same names are overwritten).
        n_train: training images (only seen (colour, shape) pairs).
        n_heldout: held-out images (main object from an unseen pair; distractors seen).
        seed: the seed; same seed, same bytes.
        size: image side in pixels (e.g. 64, 96, 128).
        videos: short MP4 videos to write as well (seen pairs only, 10 fps, 2-4 s).
        progress: optional callable ``progress(done, total)`` called as items are written.
        skew: ``"FIELD=VALUE:SHARE"`` (or its parsed tuple): the training split is drawn so that a
            share SHARE of its records have FIELD == VALUE (the held-out split keeps the natural mix).
    Returns:
        A summary dict: out, train, heldout, videos, unseen_pairs, seconds, images_per_s.
    """
    from PIL import Image  # noqa: F401 - fail early when Pillow is missing

    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
    if isinstance(skew, str):
        skew = parse_skew(skew)
    out = Path(out)
    unseen = unseen_pairs(seed)
    unseen_set = set(unseen)
    seen = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in unseen_set]
    total = n_train + n_heldout + videos
    done = 0
    t_start = time.perf_counter()
    for split, count, main_pairs in (("train", n_train, seen), ("heldout", n_heldout, unseen)):
        (out / split).mkdir(parents=True, exist_ok=True)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(count):
                scene = _skewed_scene(seed, split, i, main_pairs, seen, skew if split == "train" else None)
                rel = f"{split}/{i:05d}.png"
                render(scene["objects"], scene["background"], size).save(out / rel, format="PNG")
                fh.write(json.dumps(_record(rel, scene)) + "\n")
                done += 1
                if progress is not None:
                    progress(done, total)
    image_seconds = time.perf_counter() - t_start
    if videos > 0:
        vsize = min(128, max(64, size)) // 2 * 2
        (out / "videos").mkdir(parents=True, exist_ok=True)
        with open(out / "videos.jsonl", "w", encoding="utf-8") as fh:
            for i in range(videos):
                rng = random.Random(f"{seed}:video:{i}")
                rel = f"videos/{i:03d}.mp4"
                fh.write(json.dumps(_make_video(rng, seen, out / rel, rel, vsize, 10)) + "\n")
                done += 1
                if progress is not None:
                    progress(done, total)
    meta = {
        "seed": seed, "size": size, "counts": {"train": n_train, "heldout": n_heldout, "videos": videos},
        "unseen_pairs": [list(p) for p in unseen],
        "unseen_note": "these (colour, shape) pairs never appear in any training image or video; every held-out "
                       "image has one as its main object (objects[0]) and its caption names it",
        "shapes": list(SHAPES), "colours": list(COLOURS), "sizes": list(SIZES), "positions": list(POSITIONS),
        "textures": list(TEXTURES), "backgrounds": list(BACKGROUNDS),
        "caption_templates": sum(len(t) for t in TEMPLATES.values()),
        "templates_by_kind": {k: len(t) for k, t in TEMPLATES.items()},
    }
    if skew is not None:
        meta["skew"] = {"field": skew[0], "value": skew[1], "share": skew[2], "split": "train"}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    n_images = n_train + n_heldout
    return {"out": str(out), "train": n_train, "heldout": n_heldout, "videos": videos,
            "unseen_pairs": unseen, "seconds": round(time.perf_counter() - t_start, 3),
            "images_per_s": round(n_images / image_seconds, 1) if image_seconds > 0 and n_images else 0.0}


def main_synth(args) -> int:
    """CLI entry for ``omnidex synth``: generate with a rich progress bar and print a summary.

    Args:
        args: namespace with out, n_train, n_heldout, seed, size, videos, skew.
    Returns:
        Exit status 0.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    n_train = int(getattr(args, "n_train", 5000))
    n_heldout = int(getattr(args, "n_heldout", 500))
    videos = int(getattr(args, "videos", 0) or 0)
    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("synth", total=n_train + n_heldout + videos)
        result = generate(args.out, n_train=n_train, n_heldout=n_heldout, seed=int(getattr(args, "seed", 0)),
                          size=int(getattr(args, "size", 64)), videos=videos, skew=getattr(args, "skew", None),
                          progress=lambda done, total: bar.update(task, completed=done))
    pairs = ", ".join(f"{c} {s}" for c, s in result["unseen_pairs"])
    print(f"wrote {result['train']} train + {result['heldout']} held-out images"
          + (f" + {result['videos']} videos" if videos else "")
          + f" to {result['out']} in {result['seconds']:.1f} s ({result['images_per_s']:.0f} images/s)")
    print(f"unseen (colour, shape) pairs: {pairs}")
    return 0
