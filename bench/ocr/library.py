"""A photo library in which one picture in five shows text, built from natural photographs that
installed packages ship (scikit-image, scikit-learn, matplotlib: the **dev** set; mahotas' demo
photographs: the **held-out** set, never looked at while the OCR gate was tuned).

Every library picture is a different random view of a photograph (crop of 45-100 % of its area,
mirror, scale, light, JPEG quality 70-95), so no two files are the same. On one in five, words are
drawn: 1-3 lines of 1-2 words each, 14-110 px high (on a picture of about 1024 px), in one of nine
DejaVu faces, as plain text in a contrasting colour (opacity 35-100 %), as a caption on a
translucent band, or as a sign on a solid box. The words are common English words of 4-10 letters,
distinct across the library, so word recall can be read straight from the stored OCR text.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSansMono.ttf", "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf",
         "DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf")
HELDOUT = ("DepartmentStore", "lena", "luispedro", "nuclear")  # mahotas: never looked at while tuning
STYLES = ("plain", "band", "sign")


def photo_sets() -> tuple[dict, dict]:
    """(dev, held-out) photographs: name -> RGB PIL image."""
    from PIL import Image

    from omnidex.testing.edits import sample_photos

    dev, held = {}, {}
    for name, path in sample_photos().items():
        img = Image.open(path).convert("RGB")
        if min(img.size) < 200:
            continue
        (held if name in HELDOUT else dev)[name] = img
    return dev, held


def vocabulary(n: int, seed: int) -> list[str]:
    """``n`` distinct common English words of 4..10 letters (wordsegment's frequency table)."""
    import wordsegment

    wordsegment.load()
    ranked = sorted(wordsegment.UNIGRAMS.items(), key=lambda kv: -kv[1])[800:12000]
    pool = sorted(w for w, _ in ranked if 4 <= len(w) <= 10 and w.isalpha())
    rng = np.random.default_rng(seed)
    return [str(w) for w in rng.choice(pool, size=n, replace=False)]


def view(photo, rng):
    """A random view of a photograph: crop, mirror, scale to 640-1400 px, light."""
    from PIL import Image, ImageEnhance

    w, h = photo.size
    frac = float(np.sqrt(rng.uniform(0.45, 1.0)))
    cw, ch = max(64, int(w * frac * rng.uniform(0.85, 1.0))), max(64, int(h * frac * rng.uniform(0.85, 1.0)))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = photo.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = int(rng.integers(640, 1400))
    scale = side / max(img.size)
    img = img.resize((max(32, int(img.width * scale)), max(32, int(img.height * scale))), Image.Resampling.BICUBIC)
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.8, 1.2)))
    return ImageEnhance.Color(img).enhance(float(rng.uniform(0.7, 1.3)))


def draw_words(img, words: list[str], rng):
    """Draw ``words`` (1-2 per line) on ``img`` in a random face, size, colour, opacity and style.

    Returns:
        (picture, facts: style, px, face, opacity).
    """
    from PIL import Image, ImageDraw, ImageFont

    base = img.convert("RGBA")
    # size relative to a 1024 px picture, as ingest sees it (pictures are thumbnailed to 1024)
    px_1024 = float(np.exp(rng.uniform(np.log(14), np.log(110))))
    px = max(10, int(round(px_1024 * max(img.size) / 1024)))
    face = FACES[int(rng.integers(len(FACES)))]
    font = ImageFont.truetype(str(FONT_DIR / face), px)
    style = STYLES[int(rng.integers(len(STYLES)))]
    upper = rng.random() < 0.4
    per_line = 1 if len(words) == 1 or rng.random() < 0.5 else 2
    lines = [" ".join(words[i:i + per_line]) for i in range(0, len(words), per_line)]
    lines = [ln.upper() if upper else ln for ln in lines]
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    widths = [d.textlength(ln, font=font) for ln in lines]
    block_w, line_h = max(widths), int(px * 1.3)
    block_h = line_h * len(lines)
    while block_w > base.width * 0.95 and font.size > 10:  # a line too long for the picture: smaller
        font = ImageFont.truetype(str(FONT_DIR / face), int(font.size * 0.85))
        widths = [d.textlength(ln, font=font) for ln in lines]
        block_w, line_h = max(widths), int(font.size * 1.3)
        block_h = line_h * len(lines)
    px = font.size
    x = int(rng.integers(8, max(9, int(base.width - block_w - 8))))
    y = int(rng.integers(8, max(9, int(base.height - block_h - 8))))
    region = np.asarray(base.convert("L").crop((x, y, int(x + block_w), int(y + block_h))))
    dark_bg = float(region.mean()) < 128 if region.size else True
    opacity = 1.0
    if style == "plain":
        opacity = float(rng.choice([1.0, 1.0, rng.uniform(0.35, 1.0)]))
        ink = (255, 255, 255) if dark_bg else (0, 0, 0)
        if rng.random() < 0.3:
            ink = tuple(int(c) for c in (rng.integers(200, 256, 3) if dark_bg else rng.integers(0, 60, 3)))
    else:
        pad = int(0.35 * px)
        box_rgb = tuple(int(c) for c in rng.integers(0, 256, 3))
        alpha = int(255 * (rng.uniform(0.45, 0.75) if style == "band" else 1.0))
        d.rectangle((x - pad, y - pad, x + block_w + pad, y + block_h + pad), fill=box_rgb + (alpha,))
        ink = (255, 255, 255) if sum(box_rgb) < 384 else (0, 0, 0)
    for i, ln in enumerate(lines):
        d.text((x, y + i * line_h), ln, font=font, fill=ink + (int(255 * opacity),))
    out = Image.alpha_composite(base, layer).convert("RGB")
    return out, {"style": style, "px": int(round(px * 1024 / max(img.size))), "face": face, "opacity": round(opacity, 2)}


def build(folder: Path, photos: dict, n: int, seed: int, text_every: int = 5) -> list[dict]:
    """Write ``n`` library pictures into ``folder``; one in ``text_every`` shows words.

    Args:
        folder: emptied and filled.
        photos: name -> photograph to draw views from.
        n: pictures.
        seed: everything random follows from it.
        text_every: one picture in this many shows text.
    Returns:
        [{"path", "photo", "words" ([] when none), and for text pictures "style", "px", "face",
        "opacity"}], in file order.
    """
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    names = sorted(photos)
    n_text = len(range(0, n, text_every))
    vocab = iter(vocabulary(3 * n_text, seed + 1000))
    out = []
    for i in range(n):
        name = names[int(rng.integers(len(names)))]
        img = view(photos[name], rng)
        item = {"photo": name, "words": []}
        if i % text_every == 0:
            words = [next(vocab) for _ in range(int(rng.integers(1, 4)))]
            img, facts = draw_words(img, words, rng)
            item.update(words=words, **facts)
        path = folder / f"img{i:04d}.jpg"
        img.save(path, "JPEG", quality=int(rng.integers(70, 96)))
        item["path"] = str(path.resolve())
        out.append(item)
    return out
