"""The train -> eval -> index loop from the command line, on a tiny synthetic data set (plumbing)."""
from __future__ import annotations

import json

import pytest

from omnidex import Index, IndexConfig
from omnidex.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from omnidex.train.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, n_train=96, n_heldout=32, seed=3, size=64)
    return out


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    args = ["train", str(data / "train.jsonl"), "--val", str(data / "heldout.jsonl"), "--out", str(run),
            "--steps", "12", "--batch", "16", "--seed", "1"]
    assert main(args) == 0
    return run


def test_train_writes_a_model_directory_with_curves(model):
    assert (model / "model" / "config.json").exists() and (model / "model" / "model.safetensors").exists()
    assert (model / "curves.png").exists() and (model / "similarity.png").exists()
    history = json.loads((model / "history.json").read_text())["history"]
    assert len(history) == 12 and all("loss" in h and "temperature" in h for h in history)


def test_resume_without_a_checkpoint_is_a_clear_error(data, tmp_path, capsys):
    assert main(["train", str(data / "train.jsonl"), "--out", str(tmp_path / "nothing"), "--resume",
                 "--steps", "2"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_eval_and_index_use_the_trained_model(model, data, tmp_path, capsys):
    spec = f"lit:{model / 'model'}"
    assert main(["eval", str(data / "heldout.jsonl"), "--clip", spec, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 32 and 0.0 <= res["text_to_item"]["R@1"] <= 1.0
    idx = Index(tmp_path / "db", IndexConfig(clip_model=spec, ocr=False, speech=False))
    report = idx.add([data / "heldout"])
    assert report.count("indexed") == 32 and not report.notices
    spec_row = idx.store.space_spec("visual")
    assert spec_row.name == "lit" and dict(spec_row.kwargs)["model"] == spec
    hits = Index(tmp_path / "db").search("a red circle", top_k=5, modality="image", min_score=0)
    assert len(hits) == 5 and all("clip" in h.signals for h in hits)


def test_bad_rows_are_reported_and_the_good_rows_train(data, tmp_path, capsys):
    rows = [json.loads(x) for x in (data / "train.jsonl").read_text().splitlines()[:40]]
    bad = tmp_path / "pairs.jsonl"  # lives elsewhere than the images: absolute paths
    good = "\n".join(json.dumps({**r, "path": str(data / r["path"])}) for r in rows)
    bad.write_text(good + "\n" + "\n".join([json.dumps({"path": str(data / "train/missing.png"), "caption": "a ghost"}),
                                           json.dumps({"path": str(data / "train/00001.png"), "caption": "  "}),
                                           json.dumps({**rows[0], "path": str(data / rows[0]["path"])}),
                                           "not json"]) + "\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "run"), "--steps", "2", "--batch", "8"]) == 0
    err = capsys.readouterr().err
    assert "missing file" in err and "empty caption" in err and "duplicate" in err and "malformed" in err
    few = tmp_path / "few.jsonl"
    few.write_text(json.dumps({"path": str(data / "train/missing.png"), "caption": "a ghost"}) + "\n")
    assert main(["train", str(few), "--out", str(tmp_path / "run2"), "--steps", "2"]) == 2
    assert "few.jsonl" in capsys.readouterr().err
