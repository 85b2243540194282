"""Fine-tuning a (tiny, random) transformers CLIP with the contrastive trainer: what trains in each mode,
LoRA merge round-trip, learning, and the ``omnidex train --mode projections --base DIR`` command."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from PIL import Image, ImageDraw  # noqa: E402

from omnidex.encoders.clip import save_tiny_clip  # noqa: E402
from omnidex.encoders.registry import build  # noqa: E402
from omnidex.train.contrastive import TrainConfig, train  # noqa: E402
from omnidex.train.finetune import ClipFinetune, trainable_names  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220), "yellow": (235, 220, 30)}
SHAPES = ("circle", "square")


def _image(colour: str, shape: str) -> Image.Image:
    im = Image.new("RGB", (32, 32), (128, 128, 128))
    d = ImageDraw.Draw(im)
    box = (6, 6, 26, 26)
    (d.ellipse if shape == "circle" else d.rectangle)(box, fill=COLOURS[colour])
    return im


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("tinyclip") / "clip", seed=0)


@pytest.fixture(scope="module")
def pairs() -> list[tuple[Image.Image, str]]:
    return [(_image(c, s), f"a {c} {s}") for c in COLOURS for s in SHAPES]


def _cfg(tmp_path: Path, steps: int, lr: float, batch: int = 8) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=lr, warmup_steps=0, out_dir=tmp_path / "run",
                       checkpoint_every=0, eval_every=0, device="cpu", save_model=False, plots=False)


def _run(model, pairs, tmp_path, steps=3, lr=1e-2):
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(model, pairs, None, _cfg(tmp_path, steps, lr), progress=False)
    after = dict(model.named_parameters())
    trainable = set(trainable_names(model))
    for name, old in before.items():
        if name in trainable:
            assert not torch.equal(old, after[name].detach()), f"{name} should have trained"
        else:
            assert torch.equal(old, after[name].detach()), f"{name} should be frozen"
    return trainable, result


def test_projections_mode_trains_only_the_projections_and_temperature(tiny, pairs, tmp_path):
    model = ClipFinetune(tiny, mode="projections")
    trainable, _ = _run(model, pairs, tmp_path)
    assert trainable == {"model.logit_scale", "model.visual_projection.weight", "model.text_projection.weight"}


def test_last_mode_trains_the_last_blocks_norms_and_projections(tiny, pairs, tmp_path):
    model = ClipFinetune(tiny, mode="last", last_blocks=1)
    trainable, _ = _run(model, pairs, tmp_path)
    for tower in ("vision_model", "text_model"):
        assert any(n.startswith(f"model.{tower}.encoder.layers.1.") for n in trainable)
        assert not any(n.startswith(f"model.{tower}.encoder.layers.0.") for n in trainable)
        assert not any(n.startswith(f"model.{tower}.embeddings.") for n in trainable)
    assert {"model.vision_model.post_layernorm.weight", "model.text_model.final_layer_norm.weight",
            "model.visual_projection.weight", "model.text_projection.weight", "model.logit_scale"} <= trainable
    assert "model.vision_model.pre_layrnorm.weight" not in trainable


def test_full_mode_trains_everything(tiny, pairs, tmp_path):
    model = ClipFinetune(tiny, mode="full")
    trainable, _ = _run(model, pairs, tmp_path, lr=1e-3)
    assert trainable == {n for n, _ in model.named_parameters()}


def test_lora_trains_adapters_only_and_merges_into_a_plain_clip_dir(tiny, pairs, tmp_path):
    pytest.importorskip("peft")
    model = ClipFinetune(tiny, mode="lora", lora_rank=4, seed=1)
    trainable, _ = _run(model, pairs, tmp_path, steps=4)
    adapters = trainable - {n for n in trainable if n.endswith("logit_scale")}
    assert adapters and all(".lora_A." in n or ".lora_B." in n for n in adapters)
    assert all(("q_proj" in n or "v_proj" in n) for n in adapters)
    assert any("vision_model" in n for n in adapters) and any("text_model" in n for n in adapters)
    assert sum(n.endswith("logit_scale") for n in trainable) == 1

    out = model.save(tmp_path / "merged")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "clip" and not (out / "adapter_config.json").exists()
    enc, base = build("clip", model=str(out)), build("clip", model=str(tiny))
    images, texts = [p[0] for p in pairs], [p[1] for p in pairs]
    model.eval()
    with torch.no_grad():
        mem_img, mem_txt = model.embed_images(images).numpy(), model.embed_texts(texts).numpy()
    np.testing.assert_allclose(enc.encode_image(images), mem_img, atol=1e-4)
    np.testing.assert_allclose(enc.encode_text(texts), mem_txt, atol=1e-4)
    assert np.abs(base.encode_image(images) - mem_img).max() > 1e-3
    assert np.abs(base.encode_text(texts) - mem_txt).max() > 1e-3
    # the in-memory model is still the adapted one (the merge worked on a copy)
    assert any(".lora_A." in n for n, _ in model.named_parameters())


def test_loss_falls_when_fine_tuning_the_projections(tiny, pairs, tmp_path):
    model = ClipFinetune(tiny, mode="projections")
    result = train(model, pairs, None, _cfg(tmp_path, 30, 2e-2), progress=False)
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def test_bad_mode_is_refused(tiny):
    with pytest.raises(ValueError, match="mode"):
        ClipFinetune(tiny, mode="everything")


def test_cli_fine_tunes_and_exports_a_clip_directory(tiny, pairs, tmp_path, capsys):
    from omnidex.cli import main

    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i, (im, caption) in enumerate(pairs):
        im.save(data / f"{i:02d}.png")
        rows.append(json.dumps({"path": f"{i:02d}.png", "caption": caption}))
    (data / "pairs.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert main(["train", str(data / "pairs.jsonl"), "--mode", "projections", "--base", str(tiny),
                 "--out", str(out), "--steps", "5", "--batch", "4"]) == 0
    enc = build("clip", model=str(out / "model"))
    assert enc.encode_text(["a red circle"]).shape == (1, 16)
    assert f"--clip {out / 'model'}" in capsys.readouterr().err.replace("\n", "")
    assert main(["train", str(data / "pairs.jsonl"), "--mode", "lora", "--out", str(tmp_path / "x"),
                 "--steps", "1"]) == 2
    assert "--base" in capsys.readouterr().err
