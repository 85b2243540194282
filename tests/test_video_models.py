"""Video-level models: tiny random-initialised X-CLIP and VideoMAE (real transformers architectures,
saved with save_pretrained to a tmp dir) load from the local dir, embed clips, and give one vector
per shot of the declared dimension in the index's ``video`` space (VideoMAE labels as text)."""
import numpy as np
import pytest

from omnidex.encoders.registry import build

pytestmark = pytest.mark.slow  # transformers models and an ingest: several seconds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from omnidex.encoders.videomae import save_tiny_videomae
    from omnidex.encoders.xclip import save_tiny_xclip

    root = tmp_path_factory.mktemp("video-models")
    return {"xclip": save_tiny_xclip(root / "xclip"), "videomae": save_tiny_videomae(root / "videomae")}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from omnidex.testing.mediagen import Scene, make_video

    out = tmp_path_factory.mktemp("video") / "two_shots.mp4"
    return make_video(out, [Scene(3.0, (200, 40, 40), "RED"), Scene(3.0, (40, 60, 210), "BLUE")], audio=False)


def _clip(colour, n=6):
    from PIL import Image

    return [Image.new("RGB", (48, 40), tuple(max(0, c - 10 * i) for c in colour)) for i in range(n)]


def test_xclip_embeds_texts_and_clips_in_one_space(tiny, video):
    enc = build("xclip", model=str(tiny["xclip"]))
    assert enc.identity.startswith("xclip:") and enc.dim == 16 and enc.num_frames == 4
    assert enc.modalities == {"text", "video"}
    t = enc.encode_text(["a red car", "a blue sky"])
    v = enc.encode_video([_clip((200, 0, 0)), _clip((0, 0, 200), n=2), str(video["path"])])
    for arr, n in ((t, 2), (v, 3)):
        assert arr.dtype == np.float32 and arr.shape == (n, 16)
        assert np.allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(v[0], v[1])  # different clips, different vectors


def test_videomae_embeds_and_labels_clips(tiny):
    enc = build("videomae", model=str(tiny["videomae"]))
    assert enc.identity.startswith("videomae:") and enc.dim == 32 and enc.modalities == {"video"}
    vecs, labels = enc.analyse([_clip((200, 0, 0)), _clip((0, 200, 0))])
    assert vecs.shape == (2, 32) and vecs.dtype == np.float32
    assert {name for name, _ in labels[0]} == {"juggling", "cooking", "dancing"}
    assert sum(p for _, p in labels[0]) == pytest.approx(1.0, abs=1e-4)
    assert labels[0][0][1] >= labels[0][-1][1]  # likeliest first


def test_the_kind_of_video_model_is_read_from_its_config(tiny):
    from omnidex.errors import EncoderUnavailable
    from omnidex.spaces import video_encoder

    assert video_encoder(str(tiny["xclip"])) == ("xclip", str(tiny["xclip"]))
    assert video_encoder(str(tiny["videomae"])) == ("videomae", str(tiny["videomae"]))
    assert video_encoder("microsoft/xclip-base-patch32")[0] == "xclip"
    assert video_encoder("videomae:/some/dir") == ("videomae", "/some/dir")
    with pytest.raises(EncoderUnavailable, match="cannot tell"):
        video_encoder("someone/some-model")


def _index(tmp_path, video, model):
    from omnidex import Index
    from omnidex.config import IndexConfig

    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, speech=False, ocr=False, video_model=str(model)))
    report = idx.add([video["path"]])
    assert report.count("indexed") == 1, report.to_dict()
    return idx, report


def test_xclip_gives_one_vector_per_shot_in_the_index_and_answers_text(tmp_path, tiny, video):
    idx, _ = _index(tmp_path, video, tiny["xclip"])
    spec = idx.store.space_spec("video")
    assert spec.name == "xclip" and spec.dim == 16 and dict(spec.kwargs)["model"] == str(tiny["xclip"])
    rows = idx.store.table("video").to_arrow().to_pylist()
    assert len(rows) == 2 and all(len(r["vector"]) == 16 and r["source"] == "shot" for r in rows)
    assert [round(r["start"], 1) for r in rows] == [0.0, 3.0] and rows[1]["end"] == pytest.approx(6.0, abs=0.1)
    assert idx.stats()["spaces"]["video"] == {"rows": 2, "encoder": spec.identity, "dim": 16,
                                              "search": {"index": "exact (in memory)"}}
    hits = idx.search("a red screen", top_k=5, min_score=0.0)  # a fresh searcher rebuilds X-CLIP from the store
    assert hits and all("video" in h.signals for h in hits)


def test_videomae_labels_become_searchable_text(tmp_path, tiny, video):
    idx, _ = _index(tmp_path, video, tiny["videomae"])
    assert idx.store.space_spec("video").dim == 32 and idx.store.count("video") == 2
    labels = [r for r in idx.store.table("text").to_arrow().to_pylist() if r["source"] == "label"]
    assert len(labels) == 2 and all(r["unit"] == "s" for r in labels)
    assert all(any(n in r["text"] for n in ("juggling", "cooking", "dancing")) for r in labels)
    word = labels[0]["text"].split(" (")[0]
    hits = idx.search(word, top_k=3, modality="label")
    assert hits and hits[0].source == "label" and word in hits[0].evidence


def test_a_missing_video_model_is_announced_and_ingest_goes_on(tmp_path, video):
    idx, report = _index(tmp_path, video, tmp_path / "no-such-model")
    assert any(n.startswith("video:") and "NOT embedded" in n for n in report.notices)
    assert idx.store.space_spec("video") is None
