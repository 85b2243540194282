"""Synthetic scenes: 1-3 coloured shapes (shape, colour, size, position, texture) on a background,
rendered with antialiasing (drawn at 3x, box-downsampled), with natural captions.

Used by training data (``omnidex.train.synth``), the demo, and search's fixed score references and
domain gates (``omnidex.search.reference`` / ``domain``), so it lives below all of them.
"""
from __future__ import annotations

import colorsys
import math
import random

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


def pick_background(rng: random.Random, colours: list[str]) -> dict:
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


def render_background(bg: dict, w: int):
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
        background: a background spec (see ``pick_background``).
        size: output side in pixels.
        base: an already rendered background at ``size * SCALE`` (reused for video frames).
    Returns:
        An RGB PIL image of size x size.
    """
    from PIL import ImageDraw

    w = size * SCALE
    canvas = base.copy() if base is not None else render_background(background, w)
    draw = ImageDraw.Draw(canvas)
    for obj in reversed(objects):
        _draw_object(canvas, draw, obj, w)
    return canvas.reduce(SCALE)


# ----------------------------------------------------------------------------- scenes & captions

def article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith(("s", "x")) else "s")


def describe(rng: random.Random, obj: dict, plural: bool = False) -> str:
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


def make_object(rng: random.Random, pair: tuple[str, str], position: str, size: str | None = None,
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
        objects = [make_object(rng, main_pair, p, size, texture) for p in positions]
    else:
        objects = [make_object(rng, main_pair, positions[0])]
        for p in positions[1:]:
            pair = rng.choice(other_pairs)
            while pair == main_pair:
                pair = rng.choice(other_pairs)
            objects.append(make_object(rng, pair, p))
    background = pick_background(rng, [o["colour"] for o in objects])
    main = objects[0]
    fields = {
        "a_desc": article(describe(rng, main)),
        "pos": rng.choice(_POSITION_WORDS[main["position"]]),
        "bg": rng.choice(_BACKGROUND_WORDS[background["kind"]]),
    }
    if kind == "relation":
        fields["a_desc2"] = article(describe(rng, objects[1]))
        fields["rel"] = _relation(rng, main, objects[1])
    elif kind == "distractors":
        fields["others"] = "another shape" if n == 2 else "two other shapes"
    elif kind == "count":
        fields["count"] = _NUMBERS[n]
        fields["desc_pl"] = describe(rng, main, plural=True)
    caption = rng.choice(TEMPLATES[kind]).format(**fields)
    return {"kind": kind, "objects": objects, "background": background, "caption": caption}
