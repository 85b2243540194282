"""The CLIP path end to end with a tiny random-initialised CLIP saved to disk (plumbing, not quality)."""
from __future__ import annotations

import numpy as np
import pytest

from omnidex import Index, IndexConfig
from omnidex.config import SearchConfig
from omnidex.errors import StoreMismatch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_clips(tmp_path_factory):
    from omnidex.encoders.clip import save_tiny_clip

    root = tmp_path_factory.mktemp("clips")
    return save_tiny_clip(root / "a", seed=0), save_tiny_clip(root / "b", seed=1)


def test_tiny_clip_vectors_are_stored_with_identity_and_searched(tiny_clips, tmp_path, capsys):
    from omnidex.testing.mediagen import text_image

    media = tmp_path / "m"
    media.mkdir()
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        text_image(f"card {i}", media / f"c{i}.png", bg=colour, fg=(255, 255, 255))
    idx = Index(tmp_path / "db", IndexConfig(clip_model=str(tiny_clips[0]), speech=False, ocr=False))
    report = idx.add([media])
    assert report.count("indexed") == 3 and not report.notices
    spec = idx.store.space_spec("visual")
    assert spec.dim == 16 and spec.identity.startswith("clip:") and str(tiny_clips[0]) in spec.identity
    rows = idx.store.table("visual").to_arrow().to_pylist()
    vecs = np.stack([r["vector"] for r in rows])
    assert vecs.shape == (3, 16) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    hits = idx.search("a red card", top_k=3, min_score=0.0)  # random weights: scores near chance
    assert len(hits) == 3 and all("clip" in h.signals for h in hits), (hits, idx._searcher.models.notices)
    image_hits = idx.search(image=media / "c1.png", top_k=3, min_score=0.0)
    # the same picture is first and has the best visual score (random weights put every picture close
    # to every other, so its calibrated value against the fixed reference sample stays modest)
    assert image_hits[0].path.endswith("c1.png")
    assert image_hits[0].signals["clip"] == max(h.signals.get("clip", 0.0) for h in image_hits) > 0.0
    with pytest.raises(StoreMismatch, match="built with"):
        Index(tmp_path / "db", IndexConfig(clip_model=str(tiny_clips[1]), speech=False, ocr=False)).add([media])
    # searching with another encoder (e.g. a rebuilt bundled model) skips that signal with a warning, once
    from omnidex.spaces import Models
    from omnidex.search.engine import Searcher

    other = Searcher(idx.store, models=Models(IndexConfig(clip_model=str(tiny_clips[1]), speech=False, ocr=False)))
    for _ in range(2):
        hits = other.search(image=media / "c1.png", cfg=SearchConfig(top_k=1))
        assert hits[0].path.endswith("c1.png") and "clip" not in hits[0].signals and "phash" in hits[0].signals
    assert capsys.readouterr().err.count("table 'visual' was built with") == 1


def _photos(tmp_path):
    from omnidex.testing.mediagen import text_image

    media = tmp_path / "m"
    media.mkdir()
    for i in range(3):
        text_image(f"photo {i}", media / f"p{i}.png")
    return media


def test_missing_clip_without_a_bundled_model_is_announced_once_and_ingest_goes_on(tmp_path, monkeypatch):
    import omnidex.spaces as models

    monkeypatch.setattr(models, "bundled_visual_dir", lambda: tmp_path / "no-model")
    idx = Index(tmp_path / "db", IndexConfig(clip_model="openai/clip-vit-base-patch32", speech=False, ocr=False))
    report = idx.add([_photos(tmp_path)])
    assert report.count("indexed") == 3
    assert len(report.notices) == 1 and "openai/clip-vit-base-patch32" in report.notices[0]
    assert "NOT embedded" in report.notices[0]
    assert idx.store.space_spec("visual") is None and idx.store.count("phash") == 3


def test_missing_clip_falls_back_to_the_bundled_offline_model(tmp_path):
    from omnidex.spaces import bundled_visual_dir

    assert (bundled_visual_dir() / "config.json").exists(), "the bundled model is missing: run `make model`"
    idx = Index(tmp_path / "db", IndexConfig(clip_model="openai/clip-vit-base-patch32", speech=False, ocr=False))
    report = idx.add([_photos(tmp_path)])
    assert report.count("indexed") == 3
    assert len(report.notices) == 1 and "openai/clip-vit-base-patch32" in report.notices[0]
    assert "bundled offline visual model" in report.notices[0]
    spec = idx.store.space_spec("visual")
    assert spec.name == "lit" and dict(spec.kwargs)["model"] == "lit:bundled" and spec.dim == 384
    assert idx.store.count("visual") == 3
    # a fresh searcher rebuilds the same encoder from what the store recorded
    hits = Index(tmp_path / "db").search("photo", top_k=3, min_score=0)
    assert hits and any("clip" in h.signals for h in hits)
