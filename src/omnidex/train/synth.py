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

import colorsys
import json
import math
import random
import time
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "heart", "cross", "diamond", "hexagon")
COLOURS = {
    "red": (220, 30, 30),
    "green": (40, 170, 40),
    "blue": (40, 80, 230),
    "yellow": (240, 220, 30),
    "purple": (140, 50, 180),
    "orange": (250, 140, 20),
    "pink": (250, 130, 190),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "brown": (130, 80, 35),
}
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "centre")
TEXTURES = ("plain", "striped", "dotted")
BACKGROUNDS = ("plain-light", "plain-dark", "gradient", "noise")
UNSEEN_FRACTION = 0.15  # share of (colour, shape) pairs held out of training
MAX_UNSEEN_PER_ATTRIBUTE = 2  # so that every colour and every shape keeps most of its pairs in training
SCALE = 3  # render at 3x and box-downsample: antialiasing

_CENTRES = {"left": (0.19, 0.5), "right": (0.81, 0.5), "top": (0.5, 0.19), "bottom": (0.5, 0.81), "centre": (0.5, 0.5)}
_RADIUS = {"small": 0.11, "large": 0.175}
_SIZE_WORDS = {"small": ("small", "small", "little", "tiny"), "large": ("large", "large", "big")}
_TEXTURE_WORDS = {"plain": ("", "", "plain", "solid"), "striped": ("striped",), "dotted": ("dotted", "spotted")}
_POSITION_WORDS = {
    "left": ("on the left", "at the left", "on the left side"),
    "right": ("on the right", "at the right", "on the right side"),
    "top": ("at the top", "near the top", "at the top of the image"),
    "bottom": ("at the bottom", "near the bottom", "at the bottom of the image"),
    "centre": ("in the centre", "in the middle", "in the center"),
}
_BACKGROUND_WORDS = {"plain-light": ("light", "pale", "white"), "plain-dark": ("dark", "black"),
                     "gradient": ("gradient", "shaded"), "noise": ("noisy", "speckled")}
_NUMBERS = {2: "two", 3: "three"}

# Caption templates by scene kind. {a_desc}: main object with article; {a_desc2}: the other object;
# {pos}: main position phrase; {rel}: spatial relation; {count}/{desc_pl}: count scenes; {bg}: background.
TEMPLATES = {
    "single": (
        "{a_desc}",
        "{a_desc} {pos}",
        "there is {a_desc} {pos}",
        "a picture of {a_desc}",
        "{a_desc} on a {bg} background",
        "{pos}, {a_desc}",
        "an image showing {a_desc} {pos}",
        "{a_desc} {pos} on a {bg} background",
    ),
    "relation": (
        "{a_desc} {rel} {a_desc2}",
        "there is {a_desc} {rel} {a_desc2}",
        "{a_desc} and {a_desc2}",
        "a picture of {a_desc} {rel} {a_desc2}",
    ),
    "distractors": (
        "{a_desc} {pos}",
        "{a_desc} {pos} among other shapes",
        "a scene with {a_desc} and {others}",
        "there is {a_desc} {pos}",
    ),
    "count": (
        "{count} {desc_pl}",
        "there are {count} {desc_pl}",
        "{count} {desc_pl} on a {bg} background",
        "a picture of {count} {desc_pl}",
    ),
}
_KIND_WEIGHTS = (("single", 0.35), ("relation", 0.25), ("distractors", 0.2), ("count", 0.2))


# ----------------------------------------------------------------------------- held-out pairs

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

def _unit_polygon(shape: str) -> list[tuple[float, float]] | None:
    """Outline of ``shape`` in unit coordinates (radius ~1 around the origin); None for circle."""
    if shape == "circle":
        return None
    if shape == "square":
        h = 0.82
        return [(-h, -h), (h, -h), (h, h), (-h, h)]
    if shape == "triangle":
        return [(math.cos(a) * 1.05, math.sin(a) * 1.05 + 0.15) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if shape == "star":
        pts = []
        for k in range(10):
            r = 1.0 if k % 2 == 0 else 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((r * math.cos(a), r * math.sin(a) + 0.08))
        return pts
    if shape == "heart":
        pts = []
        for k in range(36):
            t = 2 * math.pi * k / 36
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            pts.append((x / 16.5, -y / 16.5 + 0.1))
        return pts
    if shape == "cross":
        a, b = 0.32, 0.92
        return [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a),
                (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
    if shape == "diamond":
        return [(0, -1), (0.72, 0), (0, 1), (-0.72, 0)]
    if shape == "hexagon":
        return [(math.cos(k * math.pi / 3), math.sin(k * math.pi / 3)) for k in range(6)]
    raise ValueError(f"unknown shape {shape!r}")


_POLYGONS = {s: _unit_polygon(s) for s in SHAPES}
_TEXTURE_CACHE: dict[tuple[str, int], object] = {}


def _texture_mask(texture: str, w: int):
    """An L image (w x w) that is 255 where the texture's marks are (stripes or dots)."""
    key = (texture, w)
    if key not in _TEXTURE_CACHE:
        from PIL import Image

        ys, xs = np.mgrid[0:w, 0:w]
        if texture == "striped":
            period = max(4, w // 9)
            on = ((xs + ys) % period) < period * 0.45
        else:  # dotted
            period = max(4, w // 11)
            cy = (ys % period) - period / 2 + 0.5
            cx = (xs % period) - period / 2 + 0.5
            on = cx * cx + cy * cy <= (period * 0.28) ** 2
        _TEXTURE_CACHE[key] = Image.fromarray((on * 255).astype(np.uint8), "L")
    return _TEXTURE_CACHE[key]


def _jitter_colour(rng: random.Random, name: str) -> tuple[int, int, int]:
    """The named colour with a small hue/saturation/brightness jitter."""
    r, g, b = (v / 255 for v in COLOURS[name])
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    h = (h + rng.uniform(-0.02, 0.02)) % 1.0
    s = min(1.0, max(0.0, s + rng.uniform(-0.08, 0.05)))
    if name == "white":
        v = rng.uniform(0.9, 1.0)
    elif name == "black":
        v = rng.uniform(0.02, 0.12)
    else:
        v = min(1.0, max(0.0, v + rng.uniform(-0.08, 0.06)))
    return tuple(int(round(255 * x)) for x in colorsys.hsv_to_rgb(h, s, v))


def _mark_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Colour of an object's stripes/dots: a darker shade, or a lighter one for dark colours."""
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    if lum > 110:
        return tuple(int(c * 0.45) for c in rgb)
    return tuple(int(c * 0.45 + 255 * 0.55) for c in rgb)


def _grey_rgb(rng: random.Random, v_lo: float, v_hi: float, s_hi: float) -> tuple[int, int, int]:
    """A low-saturation colour of brightness in [v_lo, v_hi]."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0, s_hi), rng.uniform(v_lo, v_hi))
    return tuple(int(round(255 * x)) for x in rgb)


def _pick_background(rng: random.Random, colours: list[str]) -> dict:
    """A background spec that contrasts with the objects (no white on light, no black on dark)."""
    allowed = [b for b in BACKGROUNDS
               if not (b == "plain-light" and ("white" in colours or "yellow" in colours))
               and not (b == "plain-dark" and ("black" in colours or "brown" in colours))]
    kind = rng.choice(allowed)
    if kind == "plain-light":
        return {"kind": kind, "rgb": _grey_rgb(rng, 0.78, 0.9, 0.12)}
    if kind == "plain-dark":
        return {"kind": kind, "rgb": _grey_rgb(rng, 0.18, 0.3, 0.15)}
    if kind == "gradient":
        return {"kind": kind, "rgb": _grey_rgb(rng, 0.3, 0.5, 0.2), "rgb2": _grey_rgb(rng, 0.55, 0.72, 0.2),
                "direction": rng.choice(("horizontal", "vertical", "diagonal"))}
    return {"kind": kind, "rgb": _grey_rgb(rng, 0.38, 0.6, 0.2), "seed": rng.getrandbits(31)}


def _render_background(bg: dict, w: int):
    """The background as an RGB PIL image of w x w pixels."""
    from PIL import Image

    if bg["kind"] in ("plain-light", "plain-dark"):
        return Image.new("RGB", (w, w), bg["rgb"])
    if bg["kind"] == "gradient":
        t = np.linspace(0.0, 1.0, w, dtype=np.float32)
        if bg["direction"] == "horizontal":
            tt = np.broadcast_to(t[None, :], (w, w))
        elif bg["direction"] == "vertical":
            tt = np.broadcast_to(t[:, None], (w, w))
        else:
            tt = (t[None, :] + t[:, None]) / 2
        a, b = np.asarray(bg["rgb"], np.float32), np.asarray(bg["rgb2"], np.float32)
        arr = a + (b - a) * tt[..., None]
        return Image.fromarray((arr + 0.5).astype(np.uint8), "RGB")
    nrng = np.random.default_rng(bg["seed"])
    # mostly brightness variation, a little colour: the noise must not look like coloured objects
    coarse = (np.asarray(bg["rgb"], np.float32) + nrng.uniform(-40, 40, (6, 6, 1)).astype(np.float32)
              + nrng.uniform(-10, 10, (6, 6, 3)).astype(np.float32))
    coarse_img = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8), "RGB").resize((w, w), Image.BICUBIC)
    fine_n = max(8, w // SCALE)
    grain = nrng.integers(-22, 23, (fine_n, fine_n, 1), dtype=np.int16)
    grain = np.repeat(np.repeat(grain, -(-w // fine_n), axis=0), -(-w // fine_n), axis=1)[:w, :w]
    arr = np.clip(np.asarray(coarse_img, np.int16) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _draw_object(canvas, draw, obj: dict, w: int) -> None:
    """Draw one object (with fields shape, rgb, texture, cx, cy, r in [0, 1] units) onto the canvas."""
    from PIL import Image, ImageChops, ImageDraw

    cx, cy, r = obj["cx"] * w, obj["cy"] * w, obj["r"] * w
    poly = _POLYGONS[obj["shape"]]
    pts = None if poly is None else [(cx + x * r, cy + y * r) for x, y in poly]

    def paint(d, fill):
        if pts is None:
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            d.polygon(pts, fill=fill)

    paint(draw, obj["rgb"])
    if obj["texture"] != "plain":
        mask = Image.new("L", (w, w), 0)
        paint(ImageDraw.Draw(mask), 255)
        canvas.paste(_mark_colour(obj["rgb"]), (0, 0), ImageChops.multiply(mask, _texture_mask(obj["texture"], w)))


def render(objects: list[dict], background: dict, size: int, base=None):
    """Render objects (drawn last-to-first, so ``objects[0]`` is on top) on a background.

    Args:
        objects: dicts with shape, rgb, texture, cx, cy, r (centre and radius as fractions of the side).
        background: a background spec (see ``_pick_background``).
        size: output side in pixels.
        base: an already rendered background at ``size * SCALE`` (reused for video frames).
    Returns:
        An RGB PIL image of size x size.
    """
    from PIL import ImageDraw

    w = size * SCALE
    canvas = base.copy() if base is not None else _render_background(background, w)
    draw = ImageDraw.Draw(canvas)
    for obj in reversed(objects):
        _draw_object(canvas, draw, obj, w)
    return canvas.reduce(SCALE)


# ----------------------------------------------------------------------------- scenes & captions

def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith(("s", "x")) else "s")


def _describe(rng: random.Random, obj: dict, plural: bool = False) -> str:
    """Words for an object: optional size and texture, then colour and shape."""
    words = []
    if rng.random() < 0.6:
        words.append(rng.choice(_SIZE_WORDS[obj["size"]]))
    if obj["texture"] != "plain" or rng.random() < 0.5:
        tex = rng.choice(_TEXTURE_WORDS[obj["texture"]]) if rng.random() < 0.85 else ""
        if tex:
            words.append(tex)
    words.append(obj["colour"])
    words.append(_plural(obj["shape"]) if plural else obj["shape"])
    return " ".join(words)


def _relation(rng: random.Random, main: dict, other: dict) -> str:
    """Spatial relation of ``main`` to ``other`` ("to the left of", "above", "next to", ...)."""
    dx, dy = main["cx"] - other["cx"], main["cy"] - other["cy"]
    if rng.random() < 0.3 or max(abs(dx), abs(dy)) < 0.2:
        return rng.choice(("next to", "beside", "near"))
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


def _make_object(rng: random.Random, pair: tuple[str, str], position: str, size: str | None = None,
                 texture: str | None = None) -> dict:
    colour, shape = pair
    size = size or rng.choice(SIZES)
    texture = texture or rng.choices(TEXTURES, (0.5, 0.25, 0.25))[0]
    x, y = _CENTRES[position]
    return {"shape": shape, "colour": colour, "size": size, "position": position, "texture": texture,
            "rgb": _jitter_colour(rng, colour), "cx": x + rng.uniform(-0.025, 0.025),
            "cy": y + rng.uniform(-0.025, 0.025), "r": _RADIUS[size] * rng.uniform(0.92, 1.05)}


def make_scene(rng: random.Random, main_pairs: list, other_pairs: list) -> dict:
    """Sample one scene: its objects (main first), background, kind and caption.

    Args:
        rng: the image's random generator.
        main_pairs: (colour, shape) pairs the main object may take.
        other_pairs: pairs the other objects (distractors) may take.
    Returns:
        dict with kind, objects (with render fields), background, caption.
    """
    kind = rng.choices([k for k, _ in _KIND_WEIGHTS], [w for _, w in _KIND_WEIGHTS])[0]
    main_pair = rng.choice(main_pairs)
    n = {"single": 1, "relation": 2, "distractors": rng.choice((2, 3)), "count": rng.choice((2, 3))}[kind]
    positions = rng.sample(POSITIONS, n)
    if kind == "count":
        size, texture = rng.choice(SIZES), rng.choices(TEXTURES, (0.5, 0.25, 0.25))[0]
        objects = [_make_object(rng, main_pair, p, size, texture) for p in positions]
    else:
        objects = [_make_object(rng, main_pair, positions[0])]
        for p in positions[1:]:
            pair = rng.choice(other_pairs)
            while pair == main_pair:
                pair = rng.choice(other_pairs)
            objects.append(_make_object(rng, pair, p))
    background = _pick_background(rng, [o["colour"] for o in objects])
    main = objects[0]
    fields = {
        "a_desc": _article(_describe(rng, main)),
        "pos": rng.choice(_POSITION_WORDS[main["position"]]),
        "bg": rng.choice(_BACKGROUND_WORDS[background["kind"]]),
    }
    if kind == "relation":
        fields["a_desc2"] = _article(_describe(rng, objects[1]))
        fields["rel"] = _relation(rng, main, objects[1])
    elif kind == "distractors":
        fields["others"] = "another shape" if n == 2 else "two other shapes"
    elif kind == "count":
        fields["count"] = _NUMBERS[n]
        fields["desc_pl"] = _describe(rng, main, plural=True)
    caption = rng.choice(TEMPLATES[kind]).format(**fields)
    return {"kind": kind, "objects": objects, "background": background, "caption": caption}


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
    main = _make_object(rng, rng.choice(pairs), "centre")
    objects = [main]
    if rng.random() < 0.5:
        pair = rng.choice(pairs)
        other = _make_object(rng, pair, rng.choice(sides), size="small")
        objects.append(other)
    background = _pick_background(rng, [o["colour"] for o in objects])
    caption = f"{_article(_describe(rng, main))} {rng.choice(phrases)}"
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
            base = _render_background(shot["background"], size * SCALE)
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


# ----------------------------------------------------------------------------- driver

def generate(out: str | Path, n_train: int = 5000, n_heldout: int = 500, seed: int = 0, size: int = 64,
             videos: int = 0, progress=None) -> dict:
    """Write the synthetic data set under ``out``.

    Args:
        out: output folder (created; existing files of the same names are overwritten).
        n_train: training images (only seen (colour, shape) pairs).
        n_heldout: held-out images (main object from an unseen pair; distractors seen).
        seed: the seed; same seed, same bytes.
        size: image side in pixels (e.g. 64, 96, 128).
        videos: short MP4 videos to write as well (seen pairs only, 10 fps, 2-4 s).
        progress: optional callable ``progress(done, total)`` called as items are written.
    Returns:
        A summary dict: out, train, heldout, videos, unseen_pairs, seconds, images_per_s.
    """
    from PIL import Image  # noqa: F401 - fail early when Pillow is missing

    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
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
                rng = random.Random(f"{seed}:{split}:{i}")
                scene = make_scene(rng, main_pairs, seen)
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
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    n_images = n_train + n_heldout
    return {"out": str(out), "train": n_train, "heldout": n_heldout, "videos": videos,
            "unseen_pairs": unseen, "seconds": round(time.perf_counter() - t_start, 3),
            "images_per_s": round(n_images / image_seconds, 1) if image_seconds > 0 and n_images else 0.0}


def main_synth(args) -> int:
    """CLI entry for ``omnidex synth``: generate with a rich progress bar and print a summary.

    Args:
        args: namespace with out, n_train, n_heldout, seed, size, videos.
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
                          size=int(getattr(args, "size", 64)), videos=videos,
                          progress=lambda done, total: bar.update(task, completed=done))
    pairs = ", ".join(f"{c} {s}" for c, s in result["unseen_pairs"])
    print(f"wrote {result['train']} train + {result['heldout']} held-out images"
          + (f" + {result['videos']} videos" if videos else "")
          + f" to {result['out']} in {result['seconds']:.1f} s ({result['images_per_s']:.0f} images/s)")
    print(f"unseen (colour, shape) pairs: {pairs}")
    return 0
