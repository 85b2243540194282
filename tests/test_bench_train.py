"""The benchmark's caption reader: every generated caption is true of its own image, and it can be false."""
import json

from bench.train.consistency import ambiguity, caption_spec, satisfies
from omnidex.train.synth import generate


def test_every_caption_is_true_of_its_own_image(tmp_path):
    generate(tmp_path, n_train=0, n_heldout=300, seed=3, size=32)
    rows = [json.loads(line) for line in (tmp_path / "heldout.jsonl").read_text().splitlines()]
    for r in rows:
        assert satisfies(caption_spec(r["caption"], r["kind"]), r), r["caption"]
    # ... and false of most others: a caption fits a handful of the 300 images, not all
    fits = [sum(satisfies(caption_spec(r["caption"], r["kind"]), x) for x in rows) for r in rows]
    assert sorted(fits)[len(fits) // 2] < 30


def test_spec_reads_each_attribute():
    rec = {"objects": [{"shape": "star", "colour": "purple", "size": "small", "position": "left", "texture": "dotted"},
                       {"shape": "circle", "colour": "red", "size": "large", "position": "right", "texture": "plain"}],
           "background": "noise"}
    assert satisfies(caption_spec("a small dotted purple star to the left of a big red circle", "relation"), rec)
    assert not satisfies(caption_spec("a small dotted purple star to the left of a big blue circle", "relation"), rec)
    assert not satisfies(caption_spec("a large purple star on the left", "distractors"), rec)
    assert not satisfies(caption_spec("a purple star on the right", "single"), rec)
    assert not satisfies(caption_spec("a purple star on a dark background", "single"), rec)
    assert not satisfies(caption_spec("two purple stars", "count"), rec)
    assert satisfies(caption_spec("a scene with a purple star and another shape", "distractors"), rec)
    assert not satisfies(caption_spec("a scene with a purple star and two other shapes", "distractors"), rec)


def test_ambiguity_of_a_perfect_and_a_reversed_ranker():
    rows = [{"caption": f"a {c} square", "kind": "single",
             "objects": [{"shape": "square", "colour": c, "size": "large", "position": "centre", "texture": "plain"}],
             "background": "noise"} for c in ("red", "red", "blue", "green")]
    import numpy as np

    res = ambiguity(rows, np.eye(4))
    assert res["ceiling_R@1"] == (0.5 + 0.5 + 1 + 1) / 4 and res["semantic_R@1"] == 1.0
    assert ambiguity(rows, -np.eye(4))["semantic_R@1"] < 1.0
