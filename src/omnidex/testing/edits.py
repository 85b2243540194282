"""Everyday edits of a picture (flip, crop, letterbox, rotation, screenshot, recompression, ...),
and the natural sample photographs that installed packages ship, for near-duplicate tests and the
``bench/neardup`` benchmark.

Every edit is a pure function of (image, numpy Generator): the same seed gives the same query.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._require import require

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _pil():
    return require("PIL.Image", "image")


def flip(img, rng):
    """Mirror left-right."""
    return img.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)


def crop50(img, rng):
    """Keep half of the width and half of the height (a quarter of the picture), near the centre."""
    w, h = img.size
    cw, ch = w // 2, h // 2
    x = int(w / 4 + rng.uniform(-0.08, 0.08) * w)
    y = int(h / 4 + rng.uniform(-0.08, 0.08) * h)
    return img.crop((x, y, x + cw, y + ch))


def letterbox(img, rng):
    """Pad to another aspect ratio (16:9 or 9:16 or square) with black, white or blurred bars."""
    pil = _pil()
    w, h = img.size
    aspect = float(rng.choice([16 / 9, 9 / 16, 1.0, 4 / 3]))
    if abs(aspect - w / h) < 0.15:
        aspect *= 1.5
    cw, ch = (int(h * aspect), h) if aspect > w / h else (w, int(w / aspect))
    colour = [(0, 0, 0), (255, 255, 255), (24, 24, 24)][int(rng.integers(3))]
    canvas = pil.new("RGB", (cw, ch), colour)
    canvas.paste(img.convert("RGB"), ((cw - w) // 2, (ch - h) // 2))
    return canvas


def rotate10(img, rng):
    """Rotate by 4..10 degrees either way (corners filled black, canvas expanded)."""
    angle = float(rng.uniform(4, 10)) * (1 if rng.random() < 0.5 else -1)
    return img.convert("RGB").rotate(angle, resample=_pil().Resampling.BICUBIC, expand=True)


def jpeg_heavy(img, rng):
    """Recompress as JPEG at quality 10..20."""
    return _jpeg(img, int(rng.integers(10, 21)))


def grey(img, rng):
    """Grey-scale."""
    return img.convert("L").convert("RGB")


def resize(img, rng):
    """Scale to 30..60 % (or 150 %) of the size."""
    f = float(rng.choice([0.3, 0.45, 0.6, 1.5]))
    w, h = img.size
    return img.resize((max(16, int(w * f)), max(16, int(h * f))), _pil().Resampling.BILINEAR)


def overlay_text(img, rng):
    """A caption in large letters across the picture (meme style)."""
    pil, draw_mod, font_mod = _pil(), require("PIL.ImageDraw", "image"), require("PIL.ImageFont", "image")
    out = img.convert("RGB").copy()
    draw = draw_mod.Draw(out)
    size = max(14, out.height // 9)
    font = font_mod.truetype(str(FONT), size) if FONT.exists() else font_mod.load_default()
    words = ["WHEN THE", "MONDAY HITS", "NOT AGAIN", "LOOK AT THIS", "BEST DAY EVER"]
    for k, y in enumerate((0.05, 0.78)):
        text = words[int(rng.integers(len(words)))]
        draw.text((out.width * 0.05, out.height * y), text, font=font, fill=(255, 255, 255),
                  stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    del pil
    return out


def screenshot(img, rng):
    """The picture inside a larger application window: title bar, side bar, text lines, buttons.

    The picture covers 20..60 % of the window's area, at a random place.
    """
    return screenshot_with_box(img, rng)[0]


def screenshot_with_box(img, rng):
    """:func:`screenshot` and the picture's box (x0, y0, x1, y1) in the window."""
    pil, draw_mod = _pil(), require("PIL.ImageDraw", "image")
    dark = rng.random() < 0.35
    bg, fg, panel = ((32, 33, 36), (220, 220, 220), (48, 49, 54)) if dark else \
        ((250, 250, 250), (40, 40, 40), (235, 236, 240))
    W, H = int(rng.choice([1280, 1440, 1024])), int(rng.choice([800, 900, 768]))
    win = pil.new("RGB", (W, H), bg)
    draw = draw_mod.Draw(win)
    draw.rectangle((0, 0, W, 36), fill=panel)
    side = int(rng.uniform(0.12, 0.22) * W)
    draw.rectangle((0, 36, side, H), fill=panel)
    _text_lines(draw, rng, (12, 50, side - 12, H - 20), fg, 22)
    area = float(rng.uniform(0.2, 0.6)) * W * H
    w, h = img.size
    s = min(np.sqrt(area / (w * h)), (W - side - 40) / w, (H - 80) / h)
    pw, ph = int(w * s), int(h * s)
    x = int(rng.uniform(side + 20, max(side + 21, W - pw - 20)))
    y = int(rng.uniform(50, max(51, H - ph - 20)))
    win.paste(img.convert("RGB").resize((pw, ph), pil.Resampling.LANCZOS), (x, y))
    if x + pw + 60 < W:
        _text_lines(draw, rng, (x + pw + 20, y, W - 20, y + ph), fg, 18)
    _text_lines(draw, rng, (side + 20, min(H - 10, y + ph + 12), W - 20, H - 10), fg, 16)
    for k in range(int(rng.integers(1, 4))):  # a few buttons in the title bar
        draw.rounded_rectangle((W - 110 * (k + 1), 6, W - 110 * k - 20, 30), 6, fill=(66, 133, 244))
    out = _jpeg(win, int(rng.integers(70, 93))) if rng.random() < 0.5 else win
    return out, (x, y, x + pw, y + ph)


def _text_lines(draw, rng, box, colour, step: int) -> None:
    """Grey bars and short words standing in for UI text inside ``box``."""
    x0, y0, x1, y1 = box
    y = y0
    while y + step <= y1 and x1 - x0 > 30:
        length = int(rng.uniform(0.3, 1.0) * (x1 - x0))
        draw.text((x0, y), "".join(rng.choice(list("abcdefghij klmnop qrstu vwxyz"), size=max(3, length // 8))),
                  fill=colour)
        y += step


def _jpeg(img, quality: int):
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    out = _pil().open(buf)
    out.load()
    return out


EDITS = {"flip": flip, "crop50": crop50, "letterbox": letterbox, "rotate10": rotate10,
         "screenshot": screenshot, "jpeg_q15": jpeg_heavy, "grey": grey, "resize": resize,
         "text_overlay": overlay_text}


def same_scene(img, rng):
    """A different shot of the same scene: the view moved by a third, a perspective change, other light.

    Args:
        img: the photograph.
        rng: numpy Generator.
    Returns:
        (the source: the left 70 % of the photograph, the distractor: another view of the scene).
    """
    cv2 = require("cv2", "image")
    rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    source = rgb[:, : int(w * 0.7)]
    x0 = int(w * rng.uniform(0.3, 0.36))
    view = rgb[:, x0:].astype(np.float32)
    vh, vw = view.shape[:2]
    j = 0.07 * min(vw, vh)
    src = np.float32([[0, 0], [vw, 0], [vw, vh], [0, vh]])
    dst = src + rng.uniform(-j, j, size=(4, 2)).astype(np.float32)
    warped = cv2.warpPerspective(view, cv2.getPerspectiveTransform(src, dst), (vw, vh),
                                 borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.8, 1.15, size=3)
    out = np.clip((warped / 255.0) ** rng.uniform(0.8, 1.2) * gain * 255.0, 0, 255).astype(np.uint8)
    return _pil().fromarray(source), _pil().fromarray(out)


def sample_photos() -> dict[str, Path]:
    """Natural photographs shipped inside installed packages (scikit-image, scikit-learn, matplotlib,
    mahotas).

    Returns:
        name -> file, for those present (empty when none of the packages is installed).
    """
    import importlib.util

    wanted = {"skimage": ("data", ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
                                   "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
                                   "motorcycle_right.png", "retina.jpg", "rocket.jpg", "brick.png",
                                   "grass.png", "gravel.png", "clock_motion.png", "cell.png"]),
              "sklearn": ("datasets/images", ["china.jpg", "flower.jpg"]),
              "matplotlib": ("mpl-data/sample_data", ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"]),
              "mahotas": ("demos/data", ["DepartmentStore.jpg", "lena.jpg", "luispedro.jpg", "nuclear.png"])}
    out: dict[str, Path] = {}
    for pkg, (sub, names) in wanted.items():
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(list(spec.submodule_search_locations)[0]) / sub
        for name in names:
            if (folder / name).exists():
                out[Path(name).stem] = folder / name
    return out


__all__ = ["EDITS", "same_scene", "sample_photos", "screenshot"]
