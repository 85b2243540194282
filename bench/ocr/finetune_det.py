"""Fine-tune PP-OCRv4's text detector for faint words over busy photographs (an experiment, not
shipped: bench/ocr README, "Tried and not shipped").

    pip install --no-deps onnx2torch==1.5.15          # its torchvision import is stood in for below
    python -m bench.ocr.finetune_det --out /tmp/det --steps 1200
    OMNIDEX_OCR_DET=/tmp/det/det.onnx python ...       # read with it

1. **Into torch.** RapidOCR's detector is a Paddle export whose weights are Constant nodes; they are
   moved to graph initializers and onnx2torch converts the graph (its node converters import
   torchvision for NMS and RoIAlign, which this graph does not use: a stand-in module is put in
   place when torchvision is missing). The converted model matches ONNX Runtime within 2e-5.
2. **Data**, drawn afresh for every batch, seeded: 384 px crops of the dev photographs (never the
   held-out sets: mahotas' and the wheel photographs) at the scales the gate (512 px) and the
   full-size detector (up to 960 px) see, or drawn clutter (ellipses and strokes as wide as
   letters' strokes); on most, 1-3 lines of words (DejaVu faces, 18-100 px) at 15-50 % opacity,
   some more opaque or on signs; JPEG at random quality on some.
3. **Targets.** DB's shrunk word boxes (shrink ratio 0.4) for the faint words, a ring around each
   word ignored, and elsewhere the original detector's own map (distillation). Opaque words
   (``--opaque``): the teacher's map (default: its box shapes for normal text are kept), shrunk
   boxes like the faint words (``positive``: the first run in bench/ocr README), or left out. Loss: BCE with positives weighted + dice; BatchNorm statistics frozen.
4. **Out**: ``<out>/det.onnx`` (dynamic size, PP-OCR's input and output), ``<out>/training.json``
   (loss curve) and ``<out>/loss.png``.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import sys
import time
import types
from pathlib import Path

import numpy as np

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf")
SIDE = 384


def base_detector() -> str:
    """RapidOCR's PP-OCRv4 detector (ONNX) as installed."""
    import rapidocr_onnxruntime

    return glob.glob(str(Path(rapidocr_onnxruntime.__file__).parent / "models" / "*det*.onnx"))[0]


def to_torch(onnx_path: str):
    """The detector as a torch module (eval mode), weights moved from Constant nodes to initializers."""
    import onnx
    from onnx import numpy_helper

    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except ImportError:  # onnx2torch imports it for NMS / RoIAlign converters this graph does not need
            stand_in = types.ModuleType("torchvision")
            stand_in.ops = types.ModuleType("torchvision.ops")

            def _absent(*_a, **_k):
                raise NotImplementedError("torchvision is not installed")

            stand_in.ops.nms = stand_in.ops.roi_align = _absent
            sys.modules["torchvision"] = stand_in
            sys.modules["torchvision.ops"] = stand_in.ops
    import onnx2torch

    model = onnx.load(onnx_path)
    graph = model.graph
    kept = []
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(node.attribute[0].t), node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    net = onnx2torch.convert(model)
    net.eval()  # BatchNorm in eval mode from the start: a training-mode pass would move its statistics
    return net


class Synth:
    """Crops with words drawn on them, and their target masks."""

    def __init__(self, seed: int, faint_share: float = 0.6, empty_share: float = 0.25, clutter_share: float = 0.25,
                 opaque_positive: bool = False):
        import wordsegment

        from PIL import Image

        from omnidex.testing.edits import sample_photos

        from ..neardup.images import HELDOUT as held  # mahotas' photographs; the wheel photographs are not installed

        self.photos = [np.asarray(Image.open(p).convert("RGB")) for n, p in sorted(sample_photos().items())
                       if n not in held]
        wordsegment.load()
        ranked = sorted(wordsegment.UNIGRAMS.items(), key=lambda kv: -kv[1])
        # words rarer than the benches' vocabularies (ranks 800-12000)
        self.pool = [w for w, _ in ranked[12000:60000] if w.isalpha() and 3 <= len(w) <= 11]
        self.rng = np.random.default_rng(seed)
        self.faint_share, self.empty_share, self.clutter_share = faint_share, empty_share, clutter_share
        self.opaque_positive = opaque_positive

    def clutter(self, h: int, w: int) -> np.ndarray:
        import cv2

        rng = self.rng
        img = np.full((h, w, 3), int(rng.integers(150, 256)), np.uint8)
        for _ in range(int(rng.integers(200, 1600) * h * w / (384 * 384) / 2)):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            col = tuple(int(c) for c in rng.integers(0, 256, 3))
            if rng.random() < 0.8:
                cv2.ellipse(img, (x, y), (int(rng.integers(2, 10)), int(rng.integers(3, 16))),
                            float(rng.uniform(0, 180)), 0, 360, col, -1)
            else:
                cv2.line(img, (x, y), (x + int(rng.integers(-30, 30)), y + int(rng.integers(-30, 30))), col,
                         int(rng.integers(1, 5)))
        return img

    def background(self) -> np.ndarray:
        import cv2

        rng = self.rng
        if rng.random() < self.clutter_share:
            return self.clutter(SIDE, SIDE)
        ph = self.photos[int(rng.integers(len(self.photos)))]
        h, w = ph.shape[:2]
        s = float(rng.choice([512, 512, 720, 960])) / max(h, w)
        im = cv2.resize(ph, (max(SIDE, int(w * s)), max(SIDE, int(h * s))), interpolation=cv2.INTER_AREA)
        y0, x0 = int(rng.integers(0, im.shape[0] - SIDE + 1)), int(rng.integers(0, im.shape[1] - SIDE + 1))
        im = im[y0:y0 + SIDE, x0:x0 + SIDE]
        return np.ascontiguousarray(im[:, ::-1] if rng.random() < 0.5 else im)

    def sample(self):
        """(RGB crop, positive mask, ignore mask, teacher-only mask) for one crop."""
        import cv2
        from PIL import Image, ImageDraw, ImageFont

        rng = self.rng
        im = self.background()
        pos = np.zeros((SIDE, SIDE), np.float32)
        ign = np.zeros((SIDE, SIDE), np.float32)
        opaque = np.zeros((SIDE, SIDE), np.float32)
        if rng.random() < self.empty_share:
            return im, pos, ign, opaque
        base = Image.fromarray(im).convert("RGBA")
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        grey = np.asarray(base.convert("L"))
        kind = rng.random()
        n_lines = int(rng.integers(1, 4))
        px = int(np.exp(rng.uniform(np.log(18), np.log(100))))
        font = ImageFont.truetype(FONT_DIR + FACES[int(rng.integers(len(FACES)))], px)
        y = int(rng.integers(0, max(1, SIDE - int(px * 1.4 * n_lines))))
        for _ in range(n_lines):
            text = " ".join(self.pool[int(rng.integers(len(self.pool)))] for _ in range(int(rng.integers(1, 3))))
            r = rng.random()
            text = text.upper() if r < 0.5 else (text.capitalize() if r < 0.75 else text)
            x = int(rng.integers(-px, max(0, SIDE - px * 3)))
            x0, y0, x1, y1 = d.textbbox((x, y), text, font=font)
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(SIDE, x1), min(SIDE, y1)
            if cx1 - cx0 < px or cy1 - cy0 < px * 0.5:
                y += int(px * 1.4)
                continue
            region = grey[cy0:cy1, cx0:cx1]
            dark = float(region.mean()) < 128 if region.size else True
            faint = kind < self.faint_share
            if faint:
                op = float(rng.uniform(0.15, 0.5))
            elif kind < self.faint_share + (1 - self.faint_share) * 0.6:
                op = float(rng.uniform(0.5, 1.0))
            else:
                op = 1.0
                pad = int(0.3 * px)
                col = tuple(int(c) for c in rng.integers(0, 256, 3))
                d.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=col + (int(255 * rng.uniform(0.5, 1.0)),))
                dark = sum(col) < 384
            ink = (255, 255, 255) if dark else (0, 0, 0)
            if rng.random() < 0.3:
                ink = tuple(int(c) for c in (rng.integers(190, 256, 3) if dark else rng.integers(0, 70, 3)))
            d.text((x, y), text, font=font, fill=ink + (int(255 * op),))
            w, h = x1 - x0, y1 - y0
            shrink = w * h * (1 - 0.4 ** 2) / (2 * (w + h))  # DB's offset for shrink ratio 0.4
            m = int(0.15 * h)
            if faint or self.opaque_positive:
                ign[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = 1
                sx0, sy0, sx1, sy1 = int(x0 + shrink), int(y0 + shrink), int(x1 - shrink), int(y1 - shrink)
                if sx1 > sx0 and sy1 > sy0:
                    pos[max(0, sy0):max(0, sy1), max(0, sx0):max(0, sx1)] = 1
            else:
                opaque[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = 1
            y += int(px * rng.uniform(1.3, 2.2))
            if y > SIDE - px:
                break
        out = np.asarray(Image.alpha_composite(base, layer).convert("RGB"))
        if rng.random() < 0.3:
            ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
            out = cv2.imdecode(buf, 1)[:, :, ::-1]
        return np.ascontiguousarray(out), pos, np.clip(ign - pos, 0, 1), opaque


def _tensor(rgb: np.ndarray) -> np.ndarray:
    return (rgb[:, :, ::-1].astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)  # BGR in [-1, 1]


def train(out: Path, steps: int, lr: float, batch: int, seed: int, opaque: str,
          empty_share: float, log=print) -> dict:
    import onnxruntime as ort
    import torch

    torch.manual_seed(seed)
    base = base_detector()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    teacher = ort.InferenceSession(base, opts, providers=["CPUExecutionProvider"])
    net = to_torch(base)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    synth = Synth(seed, empty_share=empty_share, opaque_positive=opaque == "positive")
    curve, t0 = [], time.time()
    out.mkdir(parents=True, exist_ok=True)
    for step in range(1, steps + 1):
        samples = [synth.sample() for _ in range(batch)]
        x = np.stack([_tensor(s[0]) for s in samples])
        soft = teacher.run(None, {"x": x})[0][:, 0]
        pos, ign, opaque_mask = (np.stack([s[i] for s in samples]) for i in (1, 2, 3))
        target = np.where(pos > 0, 1.0, soft).astype(np.float32)
        weight = (1 - ign).astype(np.float32)
        if opaque == "ignored":  # opaque words: the region is neither taught nor distilled
            weight *= 1 - opaque_mask
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps)) * min(1.0, step / 50)
        tt, wt = torch.from_numpy(target), torch.from_numpy(weight)
        prob = net(torch.from_numpy(x))[:, 0].clamp(1e-6, 1 - 1e-6)
        n_pos = float((tt * wt).sum()) + 1.0
        n_neg = float(((1 - tt) * wt).sum()) + 1.0
        pw = min(5.0, n_neg / n_pos / 3)  # DB: three negatives per positive
        bce = -(wt * (pw * tt * torch.log(prob) + (1 - tt) * torch.log(1 - prob))).sum() / (wt.sum() + 1)
        dice = 1 - 2 * (prob * tt * wt).sum() / ((prob * wt).sum() + (tt * wt).sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            curve.append({"step": step, "loss": round(float(loss), 4), "bce": round(float(bce), 4),
                          "dice": round(float(dice), 4), "s": round(time.time() - t0, 1)})
            log(json.dumps(curve[-1]))
        if step % 200 == 0 or step == steps:
            export(net, out / "det.onnx")
            (out / "training.json").write_text(json.dumps({"steps": step, "of": steps, "lr": lr, "batch": batch,
                                                           "seed": seed, "opaque": opaque,
                                                           "empty_share": empty_share, "curve": curve}, indent=1))
    _plot(curve, out / "loss.png")
    return {"steps": steps, "wall_s": round(time.time() - t0, 1), "final_loss": curve[-1]["loss"] if curve else None}


def export(net, path: Path) -> None:
    import torch

    net.eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 352, 512),), str(path), input_names=["x"],
                      output_names=["sigmoid_0.tmp_0"], opset_version=17, dynamo=False,
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "sigmoid_0.tmp_0": {0: "n", 2: "h", 3: "w"}})


def _plot(curve: list, path: Path) -> None:
    if not curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [c["step"] for c in curve]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for key in ("loss", "bce", "dice"):
        vals = np.convolve([c[key] for c in curve], np.ones(10) / 10, mode="same")
        ax.plot(steps, vals, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    ax.set_title("detector fine-tuning (10-point running mean)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Fine-tune PP-OCRv4's detector for faint words over photographs")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--empty-share", type=float, default=0.25, help="crops without words (negatives)")
    ap.add_argument("--opaque", choices=("teacher", "positive", "ignored"), default="teacher",
                    help="target for words drawn opaque: the original detector's map, shrunk boxes, or none")
    args = ap.parse_args(argv)
    print(json.dumps(train(args.out, args.steps, args.lr, args.batch, args.seed, args.opaque, args.empty_share)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
