"""Synthetic compositional data set (omnidex.train.synth) and pairs-file validation (omnidex.train.pairs)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from omnidex.errors import OmnidexError
from omnidex.train import synth
from omnidex.train.pairs import Pair, load_pairs

N_TRAIN, N_HELDOUT = 150, 40


def _tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "a"
    result = synth.generate(out, n_train=N_TRAIN, n_heldout=N_HELDOUT, seed=3, videos=2)
    print(f"synth speed: {result['images_per_s']} images/s")  # logged, not asserted
    return out, result


def test_synth_deterministic(dataset, tmp_path):
    out, _ = dataset
    again = tmp_path / "b"
    synth.generate(again, n_train=N_TRAIN, n_heldout=N_HELDOUT, seed=3, videos=2)
    assert _tree_digest(out) == _tree_digest(again)
    other = tmp_path / "c"
    synth.generate(other, n_train=20, n_heldout=5, seed=4)
    assert (other / "train.jsonl").read_text() != "\n".join((out / "train.jsonl").read_text().splitlines()[:20])


def test_synth_counts_captions_and_splits(dataset):
    out, result = dataset
    meta = json.loads((out / "meta.json").read_text())
    train, held = _jsonl(out / "train.jsonl"), _jsonl(out / "heldout.jsonl")
    assert len(train) == N_TRAIN == len(list((out / "train").glob("*.png")))
    assert len(held) == N_HELDOUT == len(list((out / "heldout").glob("*.png")))
    assert meta["counts"] == {"train": N_TRAIN, "heldout": N_HELDOUT, "videos": 2}
    assert meta["caption_templates"] >= 10
    unseen = {tuple(p) for p in meta["unseen_pairs"]}
    assert unseen == set(result["unseen_pairs"])
    assert 0.1 <= len(unseen) / (len(meta["colours"]) * len(meta["shapes"])) <= 0.2
    for rec in train + held:
        main = rec["objects"][0]
        assert main["colour"] in rec["caption"] and main["shape"] in rec["caption"], rec
        assert 1 <= len(rec["objects"]) <= 3
        assert (out / rec["path"]).exists()
        assert rec["background"] in synth.BACKGROUNDS
    for rec in train:
        assert not any((o["colour"], o["shape"]) in unseen for o in rec["objects"]), rec
    for rec in held:
        assert (rec["objects"][0]["colour"], rec["objects"][0]["shape"]) in unseen, rec
    # every colour and every shape is still seen in training (the pairs are what is new)
    assert {o["colour"] for r in train for o in r["objects"]} == set(synth.COLOURS)
    assert {o["shape"] for r in train for o in r["objects"]} == set(synth.SHAPES)
    assert len({r["caption"] for r in train}) > N_TRAIN * 0.8  # varied captions


def test_synth_image_sizes(dataset, tmp_path):
    from PIL import Image

    out, _ = dataset
    with Image.open(out / "train" / "00000.png") as im:
        assert im.size == (64, 64) and im.mode == "RGB"
    synth.generate(tmp_path / "big", n_train=3, n_heldout=1, seed=0, size=96)
    with Image.open(tmp_path / "big" / "heldout" / "00000.png") as im:
        assert im.size == (96, 96)


def test_unseen_pairs_keep_every_attribute():
    for seed in range(20):
        unseen = synth.unseen_pairs(seed)
        seen = {(c, s) for c in synth.COLOURS for s in synth.SHAPES} - set(unseen)
        assert {c for c, _ in seen} == set(synth.COLOURS) and {s for _, s in seen} == set(synth.SHAPES)


def test_synth_videos_decode(dataset):
    import av

    out, _ = dataset
    videos = _jsonl(out / "videos.jsonl")
    assert len(videos) == 2
    for rec in videos:
        assert 2.0 <= rec["duration"] <= 4.0 and rec["caption"]
        with av.open(str(out / rec["path"])) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert abs(len(frames) - rec["duration"] * rec["fps"]) <= 1
        assert 64 <= frames[0].shape[0] <= 128
        assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1  # something moved


# ----------------------------------------------------------------------------- pairs

@pytest.fixture()
def media(tmp_path):
    """A folder with good images, a truncated PNG, a zero-byte file, a WAV and a text file."""
    from PIL import Image

    from omnidex.testing.mediagen import write_wav

    for i in range(4):
        Image.new("RGB", (16, 16), (60 * i, 0, 0)).save(tmp_path / f"img{i}.png")
    data = (tmp_path / "img0.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    write_wav(tmp_path / "tone.wav", np.zeros(800, np.float32), 8000)
    return tmp_path


def test_load_pairs_csv_problems(media):
    rows = [
        "path,caption,extra",                 # line 1
        "img0.png,a red square,x",            # 2 good
        "img1.png,  ,x",                      # 3 empty caption
        "missing.png,nothing here,x",         # 4 missing
        "img0.png,a red square,y",            # 5 duplicate of 2
        "broken.png,truncated,x",             # 6 undecodable
        "empty.png,zero bytes,x",             # 7 zero-byte
        "tone.wav,a sound,x",                 # 8 modality audio
        "img2.png",                           # 9 missing column
        "../outside.png,escapes,x",           # 10 missing, outside the root
        "img3.png,\"a caption, with a comma\",x",  # 11 good
        "img0.png,another caption for img0,x",     # 12 good (same file, new caption)
    ]
    (media / "pairs.csv").write_text("\n".join(rows) + "\n")
    report = load_pairs(media / "pairs.csv")
    assert [(p.path.name, p.caption) for p in report.pairs] == [
        ("img0.png", "a red square"), ("img3.png", "a caption, with a comma"), ("img0.png", "another caption for img0")]
    assert all(p.modality == "image" and isinstance(p, Pair) for p in report.pairs)
    assert report.total_rows == 11
    got = {p.row: p.reason for p in report.problems}
    assert all(p.source == "pairs.csv" for p in report.problems)
    assert set(got) == {3, 4, 5, 6, 7, 8, 9, 10}
    assert got[3] == "empty caption"
    assert got[4].startswith("missing file") and "missing.png" in got[4]
    assert got[5] == "duplicate of row 2"
    assert got[6].startswith("unreadable file")
    assert got[7].startswith("unreadable file") and "zero-byte" in got[7]
    assert got[8] == "modality audio, expected image"
    assert got[9].startswith("malformed line") and "caption" in got[9]
    assert got[10].startswith("missing file") and "outside the root" in got[10]
    assert "3 pairs from 11 rows" in report.summary() and "duplicate" in report.summary()


def test_load_pairs_jsonl_and_root(media, tmp_path_factory):
    lists = tmp_path_factory.mktemp("lists")
    lines = [
        json.dumps({"path": "img0.png", "caption": "zero"}),
        "{not json",
        "",
        json.dumps({"path": "img1.png"}),
        json.dumps(["img1.png", "a list"]),
        json.dumps({"path": str(media / "img1.png"), "caption": "absolute path that exists"}),
        json.dumps({"path": "tone.wav", "caption": "a sound"}),
        json.dumps({"path": "img2.png", "caption": 5}),
    ]
    (lists / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    report = load_pairs(lists / "pairs.jsonl", root=media)
    assert [p.caption for p in report.pairs] == ["zero", "absolute path that exists"]
    got = {p.row: p.reason for p in report.problems}
    assert got[2].startswith("malformed line: bad JSON")
    assert 3 not in got  # blank lines are skipped, not problems
    assert got[4] == "malformed line: missing key caption"
    assert got[5].startswith("malformed line: expected a JSON object")
    assert got[7] == "modality audio, expected image"
    assert got[8].startswith("malformed line")
    # asking for audio keeps the audio row and reports the images
    audio = load_pairs(lists / "pairs.jsonl", root=media, modality="audio", min_pairs=1)
    assert [p.path.name for p in audio.pairs] == ["tone.wav"]
    assert {p.row: p.reason for p in audio.problems}[1] == "modality image, expected audio"


def test_load_pairs_sidecar_folder(media):
    folder = media / "side"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.png").write_bytes((media / "img1.png").read_bytes())
    (folder / "a.txt").write_text("caption a\n")
    (folder / "b.caption").write_text("caption b")
    (folder / "orphan.txt").write_text("no image")
    report = load_pairs(folder)
    assert [(p.path.name, p.caption) for p in report.pairs] == [("a.png", "caption a"), ("b.png", "caption b")]
    got = {p.source: p.reason for p in report.problems}
    assert got["c.png"].startswith("no caption sidecar")
    assert got["orphan.txt"] == "caption sidecar without a media file"
    assert report.total_rows == 4


def test_load_pairs_too_few_names_file(media):
    (media / "bad.jsonl").write_text(json.dumps({"path": "missing.png", "caption": "x"}) + "\n"
                                     + json.dumps({"path": "img0.png", "caption": "ok"}) + "\n")
    with pytest.raises(OmnidexError) as err:
        load_pairs(media / "bad.jsonl", min_pairs=2)
    msg = str(err.value)
    assert "bad.jsonl" in msg and "1 usable pairs of 2 rows" in msg and "missing.png" in msg
    with pytest.raises(OmnidexError, match="path"):
        (media / "nohead.csv").write_text("file,text\nimg0.png,x\n")
        load_pairs(media / "nohead.csv")
