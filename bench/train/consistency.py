"""Which held-out images a caption is literally true of (for the benchmark's ambiguity ceiling).

Many generated captions fit several images ("a scene with a small orange square and another
shape"). ``caption_spec`` reads back what a caption states from the generator's own vocabulary,
``satisfies`` checks an image's scene record against it. From these the benchmark reports the
R@k a ranker perfect on meaning but random among equally valid images would reach, and the
model's "semantic" R@k (a top-k image the caption is true of counts).
"""
from __future__ import annotations

import re

import numpy as np

from omnidex.testing.scenes import (_BACKGROUND_WORDS, _POSITION_WORDS, _SIZE_WORDS, _TEXTURE_WORDS, COLOURS,
                                 SHAPES)

_SIZE = {w: k for k, ws in _SIZE_WORDS.items() for w in ws}
_TEXTURE = {w: k for k, ws in _TEXTURE_WORDS.items() for w in ws if w}
_POSITION = sorted(((p, k) for k, ps in _POSITION_WORDS.items() for p in ps), key=lambda x: -len(x[0]))
_SHAPE_FORMS = {form: s for s in SHAPES for form in (s, s + "s", s + "es")}
_RELATIONS = ("to the left of", "to the right of", "above", "below", "next to", "beside", "near", " and ")


def _object(words: list[str]) -> dict:
    d: dict = {}
    for w in words:
        if w in _SIZE:
            d["size"] = _SIZE[w]
        elif w in _TEXTURE:
            d["texture"] = _TEXTURE[w]
        elif w in COLOURS:
            d["colour"] = w
        elif w in _SHAPE_FORMS:
            d["shape"] = _SHAPE_FORMS[w]
    return d


def caption_spec(caption: str, kind: str) -> dict:
    """What a generated caption states: main object attributes, position, background, counts, other object."""
    c, spec = caption, {}
    bg = re.search(r"on a (\w+) background", c)
    if bg:
        spec["bg"] = [k for k, ws in _BACKGROUND_WORDS.items() if bg.group(1) in ws]
        c = c.replace(bg.group(0), "")
    for phrase, where in _POSITION:
        if phrase in c:
            spec["pos"], c = where, c.replace(phrase, "")
            break
    if kind == "count":
        m = re.search(r"\b(two|three)\b (.*)", c)
        spec["count"] = {"two": 2, "three": 3}[m.group(1)]
        spec["main"] = _object(m.group(2).split())
        return spec
    if "two other shapes" in c:
        spec["n"] = 3
    elif "another shape" in c:
        spec["n"] = 2
    elif "among other shapes" in c:
        spec["n_min"] = 2
    rel = next((r for r in _RELATIONS if r in c), None)
    if kind == "relation" and rel:
        a, b = c.split(rel, 1)
        spec["main"], spec["other"] = _object(re.findall(r"[a-z]+", a)), _object(re.findall(r"[a-z]+", b))
    else:
        spec["main"] = _object(re.findall(r"[a-z]+", c))
    return spec


def satisfies(spec: dict, record: dict) -> bool:
    """Whether the scene ``record`` (objects, background) makes the caption ``spec`` true."""
    objs, main = record["objects"], record["objects"][0]

    def has(o, d):
        return all(o[k] == v for k, v in d.items())

    if "bg" in spec and record["background"] not in spec["bg"]:
        return False
    if "count" in spec:
        return len(objs) == spec["count"] and all(has(o, spec["main"]) for o in objs)
    if not has(main, spec["main"]) or ("pos" in spec and main["position"] != spec["pos"]):
        return False
    if ("n" in spec and len(objs) != spec["n"]) or ("n_min" in spec and len(objs) < spec["n_min"]):
        return False
    return "other" not in spec or any(has(o, spec["other"]) for o in objs[1:])


def ambiguity(rows: list[dict], sim: np.ndarray, ks=(1, 5)) -> dict:
    """Ceiling and semantic recall for captions ``rows[i]["caption"]`` against images ``rows``.

    Args:
        rows: held-out records (caption, kind, objects, background); caption i belongs to image i.
        sim: (n_captions, n_images) similarities.
    Returns:
        ``{"ceiling_R@k", "semantic_R@k", "valid_images_median"}``.
    """
    valid = np.zeros((len(rows), len(rows)), dtype=bool)
    for i, r in enumerate(rows):
        spec = caption_spec(r["caption"], r["kind"])
        valid[i] = [satisfies(spec, x) for x in rows]
        valid[i, i] = True  # its own image, even where the reading above misses a phrase
    n = valid.sum(axis=1)
    order = np.argsort(-sim, axis=1)
    out = {"valid_images_median": float(np.median(n))}
    for k in ks:
        out[f"ceiling_R@{k}"] = float(np.mean(np.minimum(1.0, k / n)))
        out[f"semantic_R@{k}"] = float(np.mean([valid[i, order[i, :k]].any() for i in range(len(rows))]))
    return out
