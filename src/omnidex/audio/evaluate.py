"""Text->sound retrieval metrics on generated sounds with known classes.

Each class's canonical caption is one query; the gallery is every held-out clip; a clip is relevant
when it belongs to the query's class. Ties are ranked pessimistically (relevant last), and chance
levels are given beside every recall so a number can be judged.
"""
from __future__ import annotations

import math

import numpy as np

KS = (1, 5, 10)


def _chance(n: int, m: int, k: int) -> float:
    """P(at least one of m relevant among n lands in a random top k)."""
    k = min(k, n)
    return 1.0 if n - m < k else 1.0 - math.comb(n - m, k) / math.comb(n, k)


def _first_relevant(scores: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """1-based rank of the first relevant column of each row (ties: relevant ranked last)."""
    order = np.lexsort((rel.astype(np.int8), -scores), axis=1)
    ranked = np.take_along_axis(rel, order, axis=1)
    return np.argmax(ranked, axis=1) + 1


def text_to_sound(sound_emb: np.ndarray, sound_keys: list, query_emb: np.ndarray, query_keys: list,
                  subsets: dict | None = None) -> dict:
    """Class-level text->sound recall and sound->text accuracy.

    Args:
        sound_emb: (n_clips, d) unit rows.
        sound_keys: class key of each clip.
        query_emb: (n_queries, d) unit rows, one canonical caption per class.
        query_keys: class key of each query.
        subsets: optional name -> set of class keys to report separately (e.g. unseen combinations).
    Returns:
        ``{"queries", "gallery", "R@1", "R@5", "R@10", "chance": {...}, "sound_to_text_acc",
        "sound_to_text_chance", "per_query": [{"key", "rank"}], name: {...} per subset}``.
    """
    s = np.asarray(sound_emb, np.float64)
    q = np.asarray(query_emb, np.float64)
    sk = [tuple(k) for k in sound_keys]
    qk = [tuple(k) for k in query_keys]
    rel = np.array([[a == b for a in sk] for b in qk], dtype=bool)
    first = _first_relevant(q @ s.T, rel)
    own = np.array([qk.index(k) if k in qk else -1 for k in sk])
    best = np.argmax(s @ q.T, axis=1)
    out = _summary(first, rel, np.ones(len(qk), bool))
    out.update(queries=len(qk), gallery=len(sk),
               sound_to_text_acc=float(np.mean(best[own >= 0] == own[own >= 0])) if (own >= 0).any() else 0.0,
               sound_to_text_chance=1.0 / max(1, len(qk)),
               per_query=[{"key": "/".join(k), "rank": int(r)} for k, r in zip(qk, first)])
    for name, keys in (subsets or {}).items():
        mask = np.array([k in keys for k in qk])
        if mask.any():
            sub = _summary(first, rel, mask)
            sub["queries"] = int(mask.sum())
            clips = np.array([k in keys for k in sk])
            sub["sound_to_text_acc"] = float(np.mean(best[clips] == own[clips])) if clips.any() else 0.0
            out[name] = sub
    return out


def _summary(first: np.ndarray, rel: np.ndarray, mask: np.ndarray) -> dict:
    n = rel.shape[1]
    out = {f"R@{k}": float(np.mean(first[mask] <= k)) for k in KS}
    out["chance"] = {f"R@{k}": float(np.mean([_chance(n, int(m), k) for m in rel[mask].sum(axis=1)])) for k in KS}
    out["median_rank"] = float(np.median(first[mask]))
    return out


def evaluate_sound_set(encode_audio, encode_text, sound_set, subsets: dict | None = None) -> dict:
    """:func:`text_to_sound` for a :class:`omnidex.audio.synth.SoundSet` and two encoding callables."""
    keys = list(dict.fromkeys(sound_set.keys))
    queries = [sound_set.canonical[k] for k in keys]
    return text_to_sound(encode_audio(sound_set.clips), sound_set.keys, encode_text(queries), keys, subsets)
