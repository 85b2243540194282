"""ViT image towers and embedding maps (issue 19, part 4)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from omnidex.cli import main
from omnidex.nets.lit import LitConfig, LitModel, ViTTower, load_lit
from omnidex.train.synth import generate

TINY_VIT = dict(arch="vit", input_size=32, patch=8, vit_dim=48, vit_depth=2, vit_heads=2)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(out, n_train=48, n_heldout=24, seed=4, size=32)
    return out


def test_vit_tower_shapes_and_positions():
    cfg = LitConfig(**TINY_VIT)
    vit = ViTTower(cfg)
    assert vit.pos.shape == (1, 1 + 16, 48) and len(vit.blocks) == 2
    x = torch.rand(3, 3, 32, 32)
    assert vit(x).shape == (3, cfg.embed_dim)
    # positional embeddings make it position-aware: swapping the left and right halves changes the output
    swapped = torch.cat([x[..., 16:], x[..., :16]], dim=-1)
    assert not torch.allclose(vit(x), vit(swapped), atol=1e-5)
    with pytest.raises(ValueError, match="multiple of patch"):
        LitModel(LitConfig(arch="vit", input_size=30, patch=8))
    with pytest.raises(ValueError, match="arch"):
        LitModel(LitConfig(arch="mlp"))


def test_vit_trains_saves_loads_and_encodes(synth, tmp_path):
    from omnidex.encoders.registry import build
    from omnidex.train.contrastive import TrainConfig, train
    from omnidex.train.pairs import load_pairs

    pairs = load_pairs(synth / "train.jsonl").pairs
    model = LitModel(LitConfig(**TINY_VIT), seed=0)
    before = [p.detach().clone() for p in model.image.parameters()]
    cfg = TrainConfig(steps=4, batch_size=16, lr=1e-3, warmup_steps=1, out_dir=tmp_path / "run",
                      checkpoint_every=0, eval_every=0, plots=False, device="cpu")
    res = train(model, pairs, None, cfg, progress=False)
    assert len(res.history) == 4 and all(np.isfinite(h["loss"]) for h in res.history)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.image.parameters()))  # it learned something
    meta = json.loads((res.model_dir / "config.json").read_text())
    assert meta["architecture"] == "lit-vit" and meta["version"] == 2 and meta["config"]["arch"] == "vit"
    loaded = load_lit(res.model_dir)
    assert isinstance(loaded.image, ViTTower)
    from PIL import Image

    images = [Image.open(p.path).convert("RGB") for p in pairs[:5]]
    want = model.encode_images(images)
    assert np.allclose(loaded.encode_images(images), want, atol=1e-5)
    enc = build("lit", model=str(res.model_dir))  # what index/search load
    got = enc.encode_image(images)
    assert got.shape == (5, 384) and np.allclose(got, want, atol=1e-4)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-4)


def test_cnn_models_still_save_as_version_1(tmp_path):
    LitModel(LitConfig(input_size=32, widths=(8, 8, 8, 8)), seed=0).save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["version"] == 1 and meta["architecture"] == "lit-resnet-coord" and meta["config"]["arch"] == "cnn"
    assert type(load_lit(tmp_path / "m").image).__name__ == "ImageTower"


@pytest.mark.slow  # the train command end to end (like tests/test_train_cli.py)
def test_train_cli_arch_vit(synth, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(synth / "train.jsonl"), "--val", str(synth / "heldout.jsonl"), "--out", str(out),
                 "--arch", "vit", "--image-size", "32", "--steps", "2", "--batch", "8"]) == 0
    assert json.loads((out / "model" / "config.json").read_text())["config"]["arch"] == "vit"
    assert main(["train", str(synth / "train.jsonl"), "--out", str(tmp_path / "bad"), "--arch", "vit",
                 "--image-size", "30", "--steps", "1"]) == 2
    assert "multiple of patch" in capsys.readouterr().err


def test_plot_embeddings_before_and_after(synth, tmp_path, capsys):
    untrained = tmp_path / "untrained"
    LitModel(LitConfig(input_size=64, widths=(24, 48, 96, 192)), seed=9).save(untrained)
    maps = tmp_path / "maps"
    assert main(["eval", str(synth / "heldout.jsonl"), "--clip", f"lit:{untrained}", "--against", "lit:bundled",
                 "--plot-embeddings", str(maps), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    png, page = maps / "embeddings.png", maps / "embeddings_3d.html"
    assert png.stat().st_size > 10_000 and res["embedding_maps"] == {"png": str(png), "html": str(page)}
    text = page.read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I)  # no external URL of any kind
    assert "<script src" not in text and "<link" not in text and "<canvas" in text
    data = json.loads(re.search(r'<script type="application/json" id="maps">(.*?)</script>', text, re.S).group(1))
    assert [m["label"] for m in data] == [f"lit:{untrained}", "lit:bundled"]
    for m in data:
        assert len(m["texts"]["xyz"]) == 24 and len(m["items"]["xyz"]) == 24
        assert all(len(p) == 3 for p in m["items"]["xyz"]) and max(m["texts"]["owner"]) < 24
    # contrastive alignment is visible: true pairs are much closer than random ones only after training
    before, after = data[0]["alignment"], data[1]["alignment"]
    assert after["margin"] > 0.2 and after["margin"] > before["margin"] + 0.15


def test_pca_orders_axes_by_variance():
    from omnidex.train.embedmap import pca

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * np.array([10, 3, 1, 0.1, 0.1])
    proj, share = pca(x, 3)
    assert proj.shape == (200, 3) and share[0] > share[1] > share[2] and share[0] > 0.85
    assert np.argmax(np.abs(np.corrcoef(proj[:, 0], x[:, 0])[0, 1])) == 0 and abs(np.corrcoef(proj[:, 0], x[:, 0])[0, 1]) > 0.99


def test_max_seconds_stops_on_time_and_decays_the_rate(synth, tmp_path):
    import time

    from omnidex.train.contrastive import TrainConfig, train
    from omnidex.train.pairs import load_pairs

    pairs = load_pairs(synth / "train.jsonl").pairs
    model = LitModel(LitConfig(**TINY_VIT), seed=0)
    model.prepare_texts([p.caption for p in pairs])
    cfg = TrainConfig(steps=100_000, max_seconds=2.0, batch_size=8, warmup_steps=2, out_dir=tmp_path / "run",
                      checkpoint_every=0, eval_every=0, plots=False, save_model=False, device="cpu")
    t0 = time.perf_counter()
    hist = train(model, pairs, None, cfg, progress=False).history
    assert 2 < len(hist) < 100_000 and time.perf_counter() - t0 < 30
    lrs = [h["lr"] for h in hist]
    assert lrs[1] == pytest.approx(cfg.lr) and lrs[-1] < 0.5 * cfg.lr  # warmed up, then decayed on time
