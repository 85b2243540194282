"""Train the faint-text trigger (:mod:`omnidex.encoders.ocr_trigger`) and write it into the package.

    python -m bench.ocr.train_trigger --out /tmp/trigger            # train, evaluate, plot
    python -m bench.ocr.train_trigger --out /tmp/trigger --install  # and replace the shipped model

Pictures: random views (crop of 45-100 % of the area, mirror, scale to 600-1024 px, light,
contrast, colours, grey, blur, JPEG; a third of them collages of two to four views) of the
**development** photographs only: scikit-image's, scikit-learn's and matplotlib's, and six from
the gradio and ultralytics wheels (:data:`bench.ocr.wheel_photos.TRAIN_WHEELS`). mahotas'
photographs make the validation pictures; the held-out wheel photographs
(:data:`bench.ocr.wheel_photos.WHEELS`) are not touched. On 60 % of them 1-3 words are drawn at 12-60 %
opacity, 4-14 % of the picture's long side high, in one of the DejaVu faces, upper case, capitalised
or lower case, now and then turned up to 12 degrees, each inked against the photograph under it
(mostly) or in a random ink. Words come from wordsegment's table at ranks 9000-40000, apart from
the words the benches draw (ranks 1500-9000). On a quarter of the pictures, with or without words,
faint lines, rings and boxes are drawn too: strokes that are not text.

The network (:func:`Net`) sees the band views and the grey picture at 320 px and is taught, at 1/8 of that size,
where the words' ink is (per-cell BCE) and, per picture, whether there is any (BCE on the
largest cell). The threshold (``--threshold``, 0.9) was chosen on development pictures: no plain
library picture over the dev photographs (bench/ocr library, seeds 5 and 6) reaches 0.85, and the
dev words pictures the trigger finds score 0.96 and more.

Evaluated on: the validation pictures (mahotas); the words pictures of ``bench.ocr.faint_views``
(dev, busier dev, seed-7) split by whether the first reading already sends them to the faint
path; plain library pictures over the dev and the mahotas photographs. Writes
``<out>/results.json``, ``<out>/table.md``, ``<out>/loss.png``, ``<out>/trigger.onnx``,
``<out>/TRAINING.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansCondensed.ttf",
         "DejaVuSansCondensed-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf",
         "DejaVuSans-BoldOblique.ttf", "DejaVuSerifCondensed-Bold.ttf")
CROP = 224  # px: training crops of the 320 px views


def _pool() -> list[str]:
    import wordsegment

    wordsegment.load()
    ranked = sorted(wordsegment.UNIGRAMS.items(), key=lambda kv: -kv[1])[9000:40000]
    return [w for w, _ in ranked if 3 <= len(w) <= 12 and w.isalpha()]


def _view(photo, rng):
    """A random library-like view of a photograph (RGB PIL)."""
    from PIL import Image, ImageEnhance

    w, h = photo.size
    area = rng.uniform(0.45, 1.0)
    aspect = rng.uniform(0.7, 1.4)
    cw = int(min(w, np.sqrt(area * w * h * aspect)))
    ch = int(min(h, np.sqrt(area * w * h / aspect)))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = photo.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    side = int(rng.integers(600, 1025))
    s = side / max(img.size)
    img = img.resize((max(64, int(img.size[0] * s)), max(64, int(img.size[1] * s))), Image.BICUBIC)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.7, 1.3))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))
    r = rng.random()
    if r < 0.15:
        img = img.convert("L").convert("RGB")
    elif r < 0.4:  # other colours: channels shuffled, saturation changed
        img = Image.fromarray(np.asarray(img)[:, :, rng.permutation(3)])
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.3, 1.7))
    if rng.random() < 0.15:
        from PIL import ImageFilter

        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    return img


def _collage(photos, rng):
    """Two to four views of different photographs side by side, or one view (70 %)."""
    from PIL import Image

    first = _view(photos[int(rng.integers(len(photos)))], rng)
    if rng.random() < 0.7:
        return first
    W, H = first.size
    cols, rows = (2, 1) if rng.random() < 0.5 else (2, 2)
    out = Image.new("RGB", (W, H))
    for i in range(cols * rows):
        tile = first if i == 0 else _view(photos[int(rng.integers(len(photos)))], rng)
        w, h = W // cols, H // rows
        out.paste(tile.resize((w, h)), ((i % cols) * w, (i // cols) * h))
    return out


def _font(face: str, size: int):
    from PIL import ImageFont

    from .library import FONT_DIR

    return ImageFont.truetype(str(FONT_DIR / face), size)


def _draw_words(img, rng, pool):
    """Words at low opacity over ``img``; returns (composited RGB, ink alpha H x W float32)."""
    from PIL import Image, ImageDraw

    W, H = img.size
    grey = np.asarray(img.convert("L"), np.float32)
    alpha = np.zeros((H, W), np.float32)
    out = img.convert("RGBA")
    for _ in range(int(rng.integers(1, 4))):
        size = int(max(W, H) * rng.uniform(0.04, 0.14))
        word = str(rng.choice(pool))
        case = rng.random()
        word = word.upper() if case < 0.6 else word.capitalize() if case < 0.8 else word
        font = _font(str(rng.choice(FACES)), size)
        box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), word, font=font)
        tw, th = box[2] - box[0], box[3] - box[1]
        if tw >= W - 8 or th >= H - 8:
            continue
        x, y = int(rng.integers(0, W - tw)) - box[0], int(rng.integers(0, H - th)) - box[1]
        mask = Image.new("L", (W, H), 0)
        ImageDraw.Draw(mask).text((x, y), word, font=font, fill=255)
        if rng.random() < 0.25:
            mask = mask.rotate(float(rng.uniform(-12, 12)), center=(x + tw / 2, y + th / 2), resample=Image.BILINEAR)
        m = np.asarray(mask, np.float32) / 255.0
        if m.max() == 0:
            continue
        if rng.random() < 0.75:  # inked against the photograph under it, as a person captioning it would
            ink = (255, 255, 255) if grey[m > 0.5].mean() < 128 else (0, 0, 0)
        else:
            ink = tuple(int(c) for c in rng.integers(0, 256, 3))
        opacity = rng.uniform(0.12, 0.6)
        layer = Image.new("RGBA", (W, H), ink + (0,))
        layer.putalpha(Image.fromarray((m * 255 * opacity).astype(np.uint8)))
        out = Image.alpha_composite(out, layer)
        alpha = np.maximum(alpha, m)
    return out.convert("RGB"), alpha


def _draw_clutter(img, rng):
    """Faint strokes that are not text: lines, rings, boxes."""
    from PIL import Image, ImageDraw

    W, H = img.size
    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(1, 6))):
        ink = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
        fill = ink + (int(255 * rng.uniform(0.12, 0.6)),)
        width = int(max(W, H) * rng.uniform(0.004, 0.02)) + 1
        x0, y0 = int(rng.integers(0, W)), int(rng.integers(0, H))
        x1, y1 = x0 + int(rng.integers(-W // 2, W // 2)), y0 + int(rng.integers(-H // 2, H // 2))
        kind = rng.integers(0, 3)
        box = [min(x0, x1), min(y0, y1), max(x0, x1) + 1, max(y0, y1) + 1]
        if kind == 0:
            d.line([x0, y0, x1, y1], fill=fill, width=width)
        elif kind == 1:
            d.ellipse(box, outline=fill, width=width)
        else:
            d.rectangle(box, outline=fill, width=width)
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def _jpeg(img, q: int):
    import io

    from PIL import Image

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def sample(photos, rng, pool, words: bool | None = None):
    """One training picture over views of ``photos``: (views (3, h, w) float32, ink cells (h/8, w/8)
    float32, has words)."""
    import cv2

    from omnidex.encoders.ocr_trigger import views

    img = _collage(photos, rng)
    if words is None:
        words = rng.random() < 0.6
    alpha = np.zeros(img.size[::-1], np.float32)
    if words:
        img, alpha = _draw_words(img, rng, pool)
    if rng.random() < 0.25:
        img = _draw_clutter(img, rng)
    if rng.random() < 0.3:
        img = _jpeg(img, int(rng.integers(60, 96)))
    bgr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
    x = views(bgr)
    h, w = x.shape[1:]
    a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
    cells = a.reshape(h // 8, 8, w // 8, 8).max(axis=(1, 3))
    return x, (cells > 0.3).astype(np.float32), bool(words and cells.max() > 0.3)


def Net():
    import torch.nn as nn

    def conv(i, o, stride=1, dil=1):
        return [nn.Conv2d(i, o, 3, stride, padding=dil, dilation=dil), nn.ReLU(inplace=True)]

    return nn.Sequential(*conv(3, 16, 2), *conv(16, 32, 2), *conv(32, 48, 2), *conv(48, 48, dil=2),
                         *conv(48, 48, dil=4), nn.Conv2d(48, 1, 1))


def _crop(x, cells, rng):
    """A CROP x CROP crop (zero-padded where the view is smaller) and its cells."""
    c, h, w = x.shape
    X = np.zeros((c, max(h, CROP), max(w, CROP)), np.float32)
    X[:, :h, :w] = x
    M = np.zeros((max(h, CROP) // 8, max(w, CROP) // 8), np.float32)
    M[:h // 8, :w // 8] = cells
    y0 = int(rng.integers(0, (X.shape[1] - CROP) // 8 + 1)) * 8
    x0 = int(rng.integers(0, (X.shape[2] - CROP) // 8 + 1)) * 8
    return X[:, y0:y0 + CROP, x0:x0 + CROP], M[y0 // 8:(y0 + CROP) // 8, x0 // 8:(x0 + CROP) // 8]


def _auroc(pos, neg) -> float:
    pos, neg = np.asarray(pos), np.asarray(neg)
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def train(out: Path, steps: int, n_train: int, seed: int = 0, log=print) -> dict:
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from omnidex.testing.edits import sample_photos

    from .library import HELDOUT

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    pool = _pool()
    from .wheel_photos import TRAIN_WHEELS, photos as wheel_photos

    photos = {k: Image.open(p).convert("RGB") for k, p in sample_photos().items()}
    dev = [im for k, im in photos.items() if k not in HELDOUT and min(im.size) >= 200]
    dev += list(wheel_photos(wheels=TRAIN_WHEELS).values())
    val = [im for k, im in photos.items() if k in HELDOUT]
    t0 = time.time()
    data = [sample(dev, rng, pool) for _ in range(n_train)]
    log(f"{len(data)} training pictures from {len(dev)} dev photographs in {time.time() - t0:.0f} s")
    vrng = np.random.default_rng(seed + 1)
    vdata = [sample([val[i % len(val)]], vrng, pool, words=bool(i % 2)) for i in range(200)] if val else []
    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    curve = []
    t0 = time.time()
    for step in range(steps):
        batch = [_crop(*data[int(i)][:2], rng) for i in rng.integers(0, len(data), 32)]
        x = torch.from_numpy(np.stack([b[0] for b in batch]))
        m = torch.from_numpy(np.stack([b[1] for b in batch]))[:, None]
        logits = net(x)
        cell = F.binary_cross_entropy_with_logits(logits, m, pos_weight=torch.tensor(4.0))
        top = logits.amax(dim=(1, 2, 3))
        pic = F.binary_cross_entropy_with_logits(top, (m.amax(dim=(1, 2, 3)) > 0).float())
        loss = cell + 0.5 * pic
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append([cell.item(), pic.item()])
        if step % 200 == 199 or step == steps - 1:
            log(f"step {step + 1}/{steps}: cell {np.mean([c[0] for c in curve[-200:]]):.4f} "
                f"picture {np.mean([c[1] for c in curve[-200:]]):.4f} ({time.time() - t0:.0f} s)")
    net.eval()
    with torch.no_grad():
        vs = [(float(torch.sigmoid(net(torch.from_numpy(x[None]))).max()), has) for x, _, has in vdata]
    val_res = {"pictures": len(vs), "auroc": round(_auroc([s for s, h in vs if h], [s for s, h in vs if not h]), 4)}
    log(f"validation (mahotas photographs, synthetic): {val_res}")
    out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 3, 216, 320), str(out / "trigger.onnx"), input_names=["views"],
                      output_names=["heat"], dynamic_axes={"views": {2: "h", 3: "w"}, "heat": {2: "h8", 3: "w8"}},
                      dynamo=False)
    return {"steps": steps, "train_pictures": n_train, "dev_photographs": len(dev), "seed": seed,
            "train_seconds": round(time.time() - t0), "curve": curve, "validation": val_res}


def evaluate(out: Path, threshold: float, log=print) -> dict:
    """Scores of the exported trigger on the benches' pictures, CPU per picture, and the threshold."""
    from PIL import Image

    import omnidex.encoders.ocr as m
    from omnidex.encoders.ocr_trigger import FaintTrigger

    from .faint_views import pictures
    from .library import build, photo_sets

    trig = FaintTrigger(out, threshold=1.0)
    ocr = m.OCR(trigger=False)  # the first reading alone, as before the trigger
    dev, held = photo_sets()
    plain = {}
    for name, photos, seeds in (("dev", dev, (5, 6)), ("mahotas", held, (5,))):
        plain[name] = [it["path"] for s in seeds for it in build(out / "pics" / f"plain_{name}{s}", photos, 60, s, text_every=10 ** 6)
                       if not it["words"]]
    res: dict = {"plain": {}, "words": {}}
    cpu = []

    def score(path):
        """(trigger score where the first reading read nothing, as OCR.first_reading asks it, else 0;
        whether the first reading itself sends the picture to the faint path)"""
        img = Image.open(path).convert("RGB")
        img.thumbnail((1024, 1024))  # as ingest hands it over
        bgr = m._bgr(img)
        first, again = ocr.first_reading(bgr)
        c0 = time.process_time()
        s = trig.score(bgr)
        cpu.append(time.process_time() - c0)
        return (0.0 if first else s), again  # consulted only where nothing was read

    scores = {k: [score(p)[0] for p in v] for k, v in plain.items()}
    for k, v in scores.items():
        res["plain"][k] = {"pictures": len(v), "fires": int(sum(s >= threshold for s in v)),
                           "median_score": round(float(np.median(v)), 4), "max_score": round(float(np.max(v)), 4)}
    for it in pictures(out / "pics" / "words"):
        s, again = score(it["path"])
        key = f"{it['set']}_{it['condition']}"
        r = res["words"].setdefault(key, {"pictures": 0, "first_reading_sends": 0, "trigger_fires": 0, "either": 0,
                                          "scores_not_sent": []})
        r["pictures"] += 1
        r["first_reading_sends"] += int(again)
        r["trigger_fires"] += int(s >= threshold)
        r["either"] += int(again or s >= threshold)
        if not again:
            r["scores_not_sent"].append(round(s, 3))
    res["threshold"] = round(threshold, 4)
    res["cpu_ms_median"] = round(1000 * float(np.median(cpu)), 2)
    log(json.dumps({k: v for k, v in res.items()}, indent=1))
    return res


def table(tr: dict, ev: dict) -> str:
    lines = [f"Trigger: {tr['steps']} steps on {tr['train_pictures']} pictures from {tr['dev_photographs']} dev photographs "
             f"({tr['train_seconds']} s); validation AUROC (mahotas, synthetic, {tr['validation']['pictures']} pictures): "
             f"{tr['validation']['auroc']}; threshold {ev['threshold']}; {ev['cpu_ms_median']} ms CPU per picture (median)", "",
             "| words pictures | n | first reading sends to the faint path | trigger fires | either |", "|---|---|---|---|---|"]
    for k, r in ev["words"].items():
        lines.append(f"| {k} | {r['pictures']} | {r['first_reading_sends']} | {r['trigger_fires']} | {r['either']} |")
    lines += ["", "| plain library pictures | n | trigger fires | median score | largest score |", "|---|---|---|---|---|"]
    for k, r in ev["plain"].items():
        lines.append(f"| {k} photographs | {r['pictures']} | {r['fires']} | {r['median_score']} | {r['max_score']} |")
    return "\n".join(lines) + "\n"


def plot(tr: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = np.asarray(tr["curve"])
    k = 50
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, name in enumerate(("cells (where the ink is)", "pictures (any words)")):
        ax.plot(np.convolve(c[:, i], np.ones(k) / k, mode="valid"), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("BCE (moving mean of 50)")
    ax.set_title("faint-text trigger: training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train the faint-text trigger")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--pictures", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.9, help="score from which the faint path runs")
    ap.add_argument("--evaluate-only", action="store_true", help="evaluate the model already in --out again")
    ap.add_argument("--install", action="store_true", help="copy the model into src/omnidex/models/faint-trigger")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    if args.evaluate_only:
        tr = json.loads((out / "results.json").read_text())["train"]
    else:
        tr = train(out, args.steps, args.pictures, args.seed)
    ev = evaluate(out, args.threshold)
    (out / "TRAINING.json").write_text(json.dumps({"threshold": ev["threshold"], "command": "python -m bench.ocr.train_trigger "
                                                   f"--out DIR --steps {tr['steps']} --pictures {tr['train_pictures']} --seed {tr['seed']}",
                                                   **{k: v for k, v in tr.items() if k != "curve"}, "evaluation": ev}, indent=1))
    (out / "results.json").write_text(json.dumps({"train": tr, "evaluation": ev}))
    (out / "table.md").write_text(table(tr, ev))
    plot(tr, out / "loss.png")
    print((out / "table.md").read_text())
    if args.install:
        import shutil

        from omnidex.encoders.ocr_trigger import MODEL_DIR

        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("trigger.onnx", "TRAINING.json"):
            shutil.copy(out / name, MODEL_DIR / name)
        shutil.copy(out / "loss.png", MODEL_DIR / "loss.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
