"""One-word search for words printed in pictures: signs, slides, receipts, rotated, recompressed, over photos.

Each picture shows a few words no other picture shows. After indexing (OCR on), every word is
searched on its own; the picture must rank first. Word recall is also read straight from the
stored OCR text, with and without the split-word stream (:mod:`omnidex.encoders.wordsplit`), to
show what splitting glued words adds.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CONDITIONS = ("sign_tight", "slide", "receipt_12px", "rotated", "jpeg_q15", "photo_35", "photo_20")


def vocabulary(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct common English words of 5..9 letters (from wordsegment's frequency table)."""
    import wordsegment

    wordsegment.load()
    ranked = sorted(wordsegment.UNIGRAMS.items(), key=lambda kv: -kv[1])[1500:9000]
    pool = [w for w, _ in ranked if 5 <= len(w) <= 9 and w.isalpha()]
    rng = np.random.default_rng(seed)
    return [str(w) for w in rng.choice(pool, size=n, replace=False)]


def _font(size: int, kind: str = "bold"):
    from PIL import ImageFont

    name = {"bold": "DejaVuSans-Bold.ttf", "mono": "DejaVuSansMono.ttf", "sans": "DejaVuSans.ttf"}[kind]
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _tight_line(draw, xy, words: list[str], font, fill, gap_em: float = 0.12) -> None:
    """Words on one line with a narrow gap (as on signs: what makes OCR glue them)."""
    x, y = xy
    for w in words:
        draw.text((x, y), w, font=font, fill=fill)
        x += draw.textlength(w, font=font) + gap_em * font.size


def render(condition: str, words: list[str], photo, rng):
    """One picture showing ``words`` under ``condition``."""
    from PIL import Image, ImageDraw

    if condition in ("sign_tight", "rotated"):
        font, upper = _font(64), [w.upper() for w in words]
        width = int(sum(font.getlength(w) for w in upper) + 0.12 * 64 * len(upper) + 60)
        img = Image.new("RGB", (width, 260), tuple(int(c) for c in rng.integers(0, 90, 3)))
        _tight_line(ImageDraw.Draw(img), (30, 90), upper, font, (255, 255, 255))
        if condition == "rotated":
            img = img.rotate(float(rng.uniform(5, 12)) * rng.choice([-1, 1]), expand=True, fillcolor=(255, 255, 255))
        return img
    if condition in ("slide", "jpeg_q15"):
        img = Image.new("RGB", (1024, 576), (255, 255, 255))
        d = ImageDraw.Draw(img)
        d.text((60, 50), words[0].capitalize(), font=_font(54), fill=(20, 20, 90))
        for i, w in enumerate(words[1:]):
            d.text((90, 180 + 70 * i), f"- {w} and more", font=_font(34, "sans"), fill=(30, 30, 30))
        return _jpeg(img, 15) if condition == "jpeg_q15" else img
    if condition == "receipt_12px":
        img = Image.new("RGB", (360, 240), (250, 248, 240))
        d = ImageDraw.Draw(img)
        for i, w in enumerate(words):
            d.text((14, 20 + 24 * i), f"{w.upper():<12} {rng.uniform(1, 40):6.2f}", font=_font(12, "mono"), fill=(10, 10, 10))
        return img
    opacity = 0.35 if condition == "photo_35" else 0.20
    return _over_photo(photo, words, opacity)


def _over_photo(photo, words: list[str], opacity: float):
    """Words drawn at ``opacity`` over a photograph, each light where the photograph under it is
    dark and dark where it is light (as a person captioning a photo would; an ink chosen from the
    whole photograph's mean drew some words dark on dark, unreadable to anyone)."""
    from PIL import Image, ImageDraw

    base = photo.convert("RGB").resize((900, 600))
    grey = np.asarray(base.convert("L"))
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    font = _font(88)
    for i, w in enumerate(words):
        x0, y0, x1, y1 = d.textbbox((40, 60 + 150 * i), w.upper(), font=font)
        ink = 255 if grey[y0:y1, x0:x1].mean() < 128 else 0
        d.text((40, 60 + 150 * i), w.upper(), font=font, fill=(ink, ink, ink, int(255 * opacity)))
    return Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB")


def _jpeg(img, q: int):
    import io

    from PIL import Image

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def build(folder: Path, per_condition: int, photos: list, seed: int = 0) -> list[dict]:
    """Write the pictures: [{"condition", "path", "words"}]."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    words = iter(vocabulary(len(CONDITIONS) * per_condition * 3, seed))
    out = []
    for cond in CONDITIONS:
        for i in range(per_condition):
            ws = [next(words) for _ in range(3)]
            path = folder / f"{cond}_{i}.png"
            render(cond, ws, photos[i % len(photos)], rng).save(path)
            out.append({"condition": cond, "path": str(path), "words": ws})
    return out


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def evaluate(idx, items: list[dict]) -> dict:
    """Per condition: rank-1 of the picture for each one-word query, and word recall in the OCR
    text before (recognised text only) and after (with split words)."""
    from omnidex.encoders.wordsplit import original_text

    rows = idx.store.table("text").search().where("source = 'ocr'").limit(None).to_list()
    text_of = {}
    for r in rows:
        text_of[r["path"]] = text_of.get(r["path"], "") + "\n" + r["text"]
    per: dict[str, dict[str, list[int]]] = {}
    for it in items:
        text = text_of.get(it["path"], "")
        acc = per.setdefault(it["condition"], {"rank1": [], "before": [], "after": []})
        for w in it["words"]:
            acc["before"].append(int(w in _tokens(original_text(text))))
            acc["after"].append(int(w in _tokens(text)))
            hits = idx.search(w, top_k=1)
            acc["rank1"].append(int(bool(hits) and hits[0].path == it["path"]))
    return {c: {k: round(sum(v) / len(v), 4) for k, v in d.items()} | {"n": len(d["rank1"])} for c, d in per.items()}


def run_ocr(work: Path, quick: bool, photos: list, log=print, seed: int = 0, ocr_faint: str = "auto") -> dict:
    """Build, index (OCR on, no CLIP) and evaluate.

    Args:
        work: scratch folder.
        quick: 3 pictures per condition instead of 8.
        photos: natural photographs to print words over.
        log: progress lines.
        seed: the words and the rest drawn (0: the set looked at while tuning; bench/ocr's words
            part keeps 7, over the held-out photographs, for figures on a set never tuned on).
        ocr_faint: the OCR reader's faint-text mode (``IndexConfig.ocr_faint``).
    Returns:
        JSON-ready results per condition.
    """
    from omnidex import Index, IndexConfig

    items = build(work / "ocr", 3 if quick else 8, photos, seed)
    shutil.rmtree(work / "db_ocr", ignore_errors=True)
    idx = Index(work / "db_ocr", IndexConfig(clip_model=None, speech=False, sound=False, series=False,
                                             ocr_faint=ocr_faint))
    idx.add([work / "ocr"])
    log(f"ocr: {len(items)} pictures indexed")
    return evaluate(idx, items)
