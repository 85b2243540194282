"""The learned rerankers of issue 14, item 5: a linear fusion and a small cross-attention model.

Both read the same per-candidate features, chosen to stay put when unrelated files join the
library: each signal's calibrated probability and the reliability its encoder earned, the fused
score, and how much of the query's information (words weighted by their rarity in English, not in
this library) the moment's own words and its file's other words cover. The cross-attention model
also lets every query token attend over the candidate's tokens (its evidence words, the words of
its file around query matches) and over one token per signal; tokens are MiniLM's word pieces,
embedded by a frozen, PCA-reduced copy of MiniLM's input embeddings (bundled, so the query path
needs only ``tokenizers`` and torch). The output logit is Platt-calibrated into a probability.
"""
from __future__ import annotations

import functools
import math
import re

import numpy as np

from .calibrate import fuse, term_weight, terms
from .calibrate import query_weights as weights_in_bits

SIGNALS = ("text", "clip", "fts", "sound", "video", "series")
SOURCES = ("speech", "ocr", "chunk", "frame", "image", "sound", "shot", "caption", "label")
KINDS = ("video", "text", "image", "audio", "series")
EVIDENCE_TOKENS = 40  # word pieces of the moment's own words
CONTEXT_TOKENS = 56  # word pieces of the file's other words (around query matches)
QUERY_TOKENS = 24
CONTEXT_WINDOW = 3  # pieces kept either side of a context piece that the query also has
CLAMP = 5.0  # standardised features are clamped to +-CLAMP
WEAK_SIGNALS = frozenset({"spot"})  # signals whose hits alone are never confident (search.spot)
STEP_BACK_TOP = 10  # a query whose best fused moments lean on signals the model never saw keeps fusion


def hit_payload(h) -> dict:
    """What a reranker reads from a Hit, as a plain dict (also the training pools' form)."""
    return {"path": h.path, "start": float(h.start), "end": float(h.end), "unit": h.unit,
            "score": float(h.score), "modality": h.modality, "source": h.source,
            "signals": dict(h.signals), "reliability": dict(h.reliability or {}),
            "evidence": h.evidence or "", "matched": list(h.matched_words)}


# ------------------------------------------------------------------------------------- features

def query_weights(query: str) -> dict[str, float]:
    """Query term -> share of the query's information (rarity in English, summing to 1)."""
    w = weights_in_bits(query)
    total = sum(w.values())
    return {t: v / total for t, v in w.items()} if total else {}


def _covered(qw: dict[str, float], text: str) -> tuple[float, float]:
    """(weighted, plain) share of the query's terms found among the words of ``text``."""
    if not qw or not text:
        return 0.0, 0.0
    found = set(terms(text)) & set(qw)
    return sum(qw[t] for t in found), len(found) / len(qw)


@functools.lru_cache(maxsize=4096)
def _glued(text: str) -> str:
    """Lower-case letters and digits only: OCR often drops spaces ("TICKETSFROM77"). Kept per text:
    a file's text is read again for each of its moments, and by the next search."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _inside(qw: dict[str, float], glued: str) -> float:
    """Weighted share of the query's terms found anywhere in glued text (spaces ignored)."""
    return sum(w for t, w in qw.items() if t in glued) if glued else 0.0


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


def _novelty(qw: dict[str, float], text: str) -> float:
    """Share of the text's content terms the query does not have (another fact in the same frame)."""
    ts = set(terms(text))
    return len(ts - set(qw)) / len(ts) if ts else 0.0


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1.0 - 1e-4)
    return math.log(p / (1.0 - p))


FEATURES = ([f"logit_{s}" for s in SIGNALS] + [f"rel_{s}" for s in SIGNALS]
            + ["logit_fused", "wcov_evidence", "cov_evidence", "wsub_evidence", "wsub_file", "wsub_file_only",
               "missing", "novelty", "number_match", "number_conflict", "has_evidence", "log_span"]
            + [f"src_{s}" for s in SOURCES] + [f"kind_{k}" for k in KINDS])


def features(qw: dict[str, float], hit: dict, file_text: str = "", query_numbers: set[str] | None = None) -> np.ndarray:
    """The candidate's feature vector (names in :data:`FEATURES`), library-independent.

    Probabilities enter as logits (fused scores crowd near 1); the fused score is the noisy-OR of
    the signals named in :data:`SIGNALS` only (signals added to fusion later do not shift it; the
    file's words are read here directly). Coverage is measured both on words
    and on glued text (OCR drops spaces); numbers in the moment that the query does not name count
    against it.

    Args:
        qw: :func:`query_weights` of the query.
        hit: :func:`hit_payload` of the candidate.
        file_text: the other words of its file ("" when unknown).
        query_numbers: the numbers written in the query.
    Returns:
        float32 (len(FEATURES),).
    """
    sig, rel, ev = hit.get("signals", {}), hit.get("reliability", {}), hit.get("evidence", "")
    w_ev, c_ev = _covered(qw, ev)
    s_ev, s_file = _inside(qw, _glued(ev)), _inside(qw, _glued(file_text) + _glued(ev))  # = _glued(file_text + " " + ev)
    qn, en = query_numbers or set(), _numbers(ev)
    span = max(0.0, hit["end"] - hit["start"]) if hit.get("unit") == "s" else 0.0
    row = [_logit(sig.get(s, 0.0)) for s in SIGNALS] + [float(rel.get(s, 0.0)) for s in SIGNALS]
    row += [_logit(fuse({k: v for k, v in sig.items() if k in SIGNALS})), w_ev, c_ev, s_ev, s_file, s_file - s_ev, 1.0 - s_file, _novelty(qw, ev),
            float(bool(qn & en)), float(bool(qn) and bool(en) and not qn & en), float(bool(ev)), math.log1p(span)]
    row += [float(hit.get("source") == s) for s in SOURCES] + [float(hit.get("modality") == k) for k in KINDS]
    return np.asarray(row, dtype=np.float32)


# ------------------------------------------------------------------------------------------ tokens

class Tokens:
    """MiniLM word pieces of queries, evidence and file text, with the match flags the model reads.

    Args:
        tokenizer_file: a ``tokenizer.json`` (MiniLM's WordPiece).
    """

    def __init__(self, tokenizer_file: str):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(tokenizer_file))
        self.tok.no_padding()
        self.tok.no_truncation()
        self._cache: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        """Word-piece ids of ``text`` without [CLS]/[SEP] (cached)."""
        if text not in self._cache:
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[text] = self.tok.encode(text or "", add_special_tokens=False).ids
        return self._cache[text]

    def query(self, text: str) -> tuple[list[int], list[float]]:
        """Query piece ids and each piece's word rarity (bits / 22, 0 for stopwords)."""
        enc = self.tok.encode(text or "", add_special_tokens=False)
        words = re.findall(r"[\w']+", text.lower())
        rar = []
        for wid, (a, b) in zip(enc.word_ids, enc.offsets):
            w = text[a:b].lower()
            word = next((x for x in words if w and w.lstrip("#") in x), w)
            rar.append(math.sqrt(term_weight(word)) / 22.0 if terms(word) else 0.0)
        return enc.ids[:QUERY_TOKENS], rar[:QUERY_TOKENS]


def context_ids(ctx: list[int], qset: set[int], limit: int = CONTEXT_TOKENS) -> list[int]:
    """The file's pieces near pieces the query also has (the start of the file when none): every
    piece within CONTEXT_WINDOW of a query piece, in order, at most ``limit``."""
    found = [i for i, t in enumerate(ctx) if t in qset]
    if not found:
        return list(ctx[: limit // 3])
    out: list[int] = []
    done = 0  # pieces before this one are already in ``out`` or left out
    for i in found:
        lo, hi = max(i - CONTEXT_WINDOW, done), min(len(ctx), i + CONTEXT_WINDOW + 1)
        if lo < hi:
            out.extend(ctx[lo:hi])
            done = hi
        if len(out) >= limit:
            break
    return out[:limit]


def _candidate_tokens(tokens: Tokens, qset: set[int], hit: dict, file_text: str) -> tuple[list[int], list[int]]:
    """A candidate's key pieces (moment words, then file words near query matches) and segments."""
    ev = tokens.ids(hit.get("evidence", ""))[:EVIDENCE_TOKENS]
    ctx = context_ids(tokens.ids(file_text), qset) if file_text else []
    return ev + ctx, [0] * len(ev) + [1] * len(ctx)


def encode(tokens: Tokens, query: str, hits: list[dict], context: dict[str, str] | None = None) -> dict:
    """One query's candidates as the model's numpy inputs (every array has N = len(hits) rows).

    Args:
        tokens: the piece tokenizer (None: features only, for the linear fusion).
        query: query text.
        hits: :func:`hit_payload` dicts.
        context: path -> the file's words.
    Returns:
        {"q_ids" (N, Lq), "q_x" (N, Lq, 3), "q_pad", "k_ids" (N, Lk), "k_seg", "k_inq", "k_pad",
         "sig" (N, signals, 3), "feats" (N, F)}.
    """
    context = context or {}
    if tokens is None:  # the linear fusion reads features only
        qw, qn = query_weights(query), _numbers(query)
        feats = [features(qw, h, context.get(h["path"], ""), qn) for h in hits]
        return {"feats": np.stack(feats) if feats else np.zeros((0, len(FEATURES)), np.float32)}
    qids, rar = tokens.query(query)
    qids, rar = (qids, rar) if qids else ([0], [0.0])
    qset, qw, n, lq, lk = set(qids), query_weights(query), len(hits), len(qids), EVIDENCE_TOKENS + CONTEXT_TOKENS
    qnum = _numbers(query)
    out = {"q_ids": np.tile(np.asarray(qids, np.int64), (n, 1)), "q_x": np.zeros((n, lq, 3), np.float32),
           "q_pad": np.zeros((n, lq), bool), "k_ids": np.zeros((n, lk), np.int64), "k_seg": np.zeros((n, lk), np.int64),
           "k_inq": np.zeros((n, lk), np.float32), "k_pad": np.ones((n, lk), bool),
           "sig": np.zeros((n, len(SIGNALS), 3), np.float32), "feats": np.zeros((n, len(FEATURES)), np.float32)}
    out["q_x"][:, :, 0] = np.asarray(rar, np.float32)
    file_pieces: dict[str, set] = {}  # a file's text is read once for all its moments
    for i, h in enumerate(hits):
        text = context.get(h["path"], "")
        ids, seg = _candidate_tokens(tokens, qset, h, text)
        if text and text not in file_pieces:
            file_pieces[text] = set(tokens.ids(text))
        ev, fl = set(t for t, s in zip(ids, seg) if s == 0), file_pieces.get(text, set())
        out["q_x"][i, :, 1] = [float(t in ev) for t in qids]
        out["q_x"][i, :, 2] = [float(t in fl or t in ev) for t in qids]
        out["k_ids"][i, :len(ids)], out["k_seg"][i, :len(ids)] = ids, seg
        out["k_inq"][i, :len(ids)] = [float(t in qset) for t in ids]
        out["k_pad"][i, :len(ids)] = False
        sig, rel = h.get("signals", {}), h.get("reliability", {})
        out["sig"][i] = [[sig.get(s, 0.0), rel.get(s, 0.0), float(s in sig)] for s in SIGNALS]
        out["feats"][i] = features(qw, h, text, qnum)
    return out


def pad_query(enc: dict, lq: int) -> dict:
    """Pad one encoded pool's query pieces to ``lq`` (to stack pools of different queries)."""
    out = dict(enc)
    if "q_ids" not in enc:
        return out
    extra = lq - enc["q_ids"].shape[1]
    if extra > 0:
        n = enc["q_ids"].shape[0]
        out["q_ids"] = np.concatenate([enc["q_ids"], np.zeros((n, extra), np.int64)], 1)
        out["q_x"] = np.concatenate([enc["q_x"], np.zeros((n, extra, 3), np.float32)], 1)
        out["q_pad"] = np.concatenate([enc["q_pad"], np.ones((n, extra), bool)], 1)
    return out


# ------------------------------------------------------------------------------------------ runtime

def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (what the torch modules use)."""
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


class NumpyNet:
    """The forward pass of :mod:`omnidex.search.rerank_net`'s modules in NumPy (no torch on the query path).

    Args:
        cfg: the saved config.json.
        state: the saved tensors as float32 arrays.
    """

    def __init__(self, cfg: dict, state: dict[str, np.ndarray]):
        self.cfg, self.w = cfg, state
        if "emb.weight" in state:  # frozen embeddings: project the whole table once, then look rows up
            self.table = self._lin("proj", state["emb.weight"]).astype(np.float32)

    def _lin(self, name: str, x: np.ndarray) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _attend(self, q: np.ndarray, k: np.ndarray, kpad: np.ndarray) -> np.ndarray:
        """Multi-head attention of q (N, Lq, d) over k (N, Lk, d); padded keys ignored."""
        d, h = q.shape[-1], self.cfg["heads"]
        wi, bi = self.w["attn.in_proj_weight"], self.w["attn.in_proj_bias"]
        qq, kk, vv = (x @ wi[i * d:(i + 1) * d].T + bi[i * d:(i + 1) * d] for i, x in enumerate((q, k, k)))
        n, lq, lk, dh = q.shape[0], q.shape[1], k.shape[1], d // h
        qq, kk, vv = (x.reshape(n, -1, h, dh).transpose(0, 2, 1, 3) for x in (qq, kk, vv))
        att = qq @ kk.transpose(0, 1, 3, 2) / np.sqrt(dh)
        att = np.where(kpad[:, None, None, :], -1e9, att)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        out = (att @ vv).transpose(0, 2, 1, 3).reshape(n, lq, d)
        return self._lin("attn.out_proj", out)

    def __call__(self, b: dict) -> np.ndarray:
        """Logit per candidate, shape (N,)."""
        w, x = self.w, np.clip((b["feats"] - self.w["shift"]) * self.w["scale"], -CLAMP, CLAMP)
        lin = self._lin("linear", x)[:, 0]
        if self.cfg["kind"] == "linear":
            return lin
        q = self.table[b["q_ids"]] + self._lin("q_extra", b["q_x"])
        k = self.table[b["k_ids"]] + w["k_seg.weight"][b["k_seg"]] + self._lin("k_extra", b["k_inq"][..., None])
        s = w["sig"][None] + self._lin("sig_val", b["sig"])
        keys = np.concatenate([k, s], 1)
        kpad = np.concatenate([b["k_pad"], np.zeros(s.shape[:2], bool)], 1)
        h = _layer_norm(q + self._attend(q, keys, kpad), w["norm.weight"], w["norm.bias"])
        h = h + self._lin("ff.2", _gelu(self._lin("ff.0", h)))
        live = (~b["q_pad"])[..., None].astype(np.float32)
        mean = (h * live).sum(1) / np.maximum(live.sum(1), 1.0)
        mx = np.where(live > 0, h, -1e4).max(1)
        z = np.concatenate([mean, mx, x], -1)
        return lin + self._lin("head.2", _gelu(self._lin("head.0", z)))[:, 0]


class LearnedReranker:
    """A saved reranker (linear fusion or cross-attention) as a :class:`~omnidex.search.rerank.Reranker`.

    Args:
        model_dir: folder with config.json, model.safetensors (and tokenizer.json for cross-attention).
    """

    def __init__(self, model_dir):
        import json
        from pathlib import Path

        from safetensors.numpy import load_file

        root = Path(model_dir)
        self.config = json.loads((root / "config.json").read_text())
        self.name = self.config.get("name", self.config["kind"])
        self.tokens = Tokens(str(root / "tokenizer.json")) if self.config["kind"] != "linear" else None
        state = {k: v.astype(np.float32) for k, v in load_file(str(root / "model.safetensors")).items()}
        self.net = NumpyNet(self.config, state)
        self.a, self.b = self.config.get("calibration", [1.0, 0.0])
        self.seen = set(self.config.get("signals_seen", SIGNALS))

    def in_domain(self, hits: list[dict]) -> bool:
        """Whether the model has seen the signals that carry the best fused moments.

        A moment whose strongest signal never occurred in training (pictures matched by the
        visual model: the generated libraries never exercise it) is outside what the model
        knows; the query is then left to fusion, as an encoder out of its domain steps back.
        Signals that only ever make weak hits (:data:`WEAK_SIGNALS`: words spotted in faint
        pictures; the engine holds such hits under the confidence threshold) do not take the
        query from the model.
        """
        for h in sorted(hits, key=lambda h: -h["score"])[:STEP_BACK_TOP]:
            sig = h.get("signals") or {}
            if sig and max(sig, key=sig.get) not in self.seen | WEAK_SIGNALS:
                return False
        return True

    def logits(self, query: str, hits: list[dict], context: dict[str, str] | None = None) -> np.ndarray:
        """Raw logits for :func:`hit_payload` dicts."""
        if not hits:
            return np.zeros(0, np.float32)
        enc = encode(self.tokens, query, hits, context)
        if "sig" in enc:  # signal tokens of signals never seen in training say nothing
            enc["sig"][:, [i for i, s in enumerate(SIGNALS) if s not in self.seen]] = 0.0
        return self.net(enc)

    def probabilities(self, query: str, hits: list[dict], context: dict[str, str] | None = None) -> np.ndarray:
        """Calibrated probability that each candidate is the exact answer."""
        z = self.a * self.logits(query, hits, context) + self.b
        return 1.0 / (1.0 + np.exp(-z))

    def rescore(self, query: str, hits: list, context: dict[str, str] | None = None) -> list[float]:
        """One probability per Hit, in the order given (see :class:`~omnidex.search.rerank.Reranker`);
        the fused scores unchanged when the query lies outside the model's domain (:meth:`in_domain`)."""
        payload = [hit_payload(h) for h in hits]
        if not self.in_domain(payload):
            return [float(h.score) for h in hits]
        return [float(p) for p in self.probabilities(query, payload, context)]


__all__ = ["FEATURES", "SIGNALS", "LearnedReranker", "NumpyNet", "Tokens", "context_ids", "encode", "features", "hit_payload",
           "pad_query", "query_weights"]
