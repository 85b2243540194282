"""Sentence-transformer text towers (MiniLM) on ONNX Runtime with ``tokenizers``: no torch on the query path.

A cold ``omnidex search`` used to spend seconds importing sentence-transformers and torch to embed
one query. Here the tower (transformer, mean pooling, unit length) is exported once with torch and
kept in the cache folder beside a sidecar that records the torch vectors of probe sentences. The
export is published only when ONNX Runtime's vectors agree with torch's on those probes; every
later load checks the session against the recorded torch vectors again (a few milliseconds, no
torch), so a stale or broken file is never used silently: torch then does the work, with a notice.

Which runtime a text tower uses: ``OMNIDEX_TEXT_RUNTIME`` (``auto``, the default: ONNX on CPU when
onnxruntime and tokenizers are installed; ``onnx``; ``torch``: the sentence-transformers path).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .._env import cache_dir
from .._require import require

ENV = "OMNIDEX_TEXT_RUNTIME"
TEXT_RUNTIMES = ("auto", "onnx", "torch")
EXPORT_VERSION = "2"  # part of the cache key: bump when the export recipe changes (2: weights beside the graph)
AGREEMENT = 0.999  # least cosine with torch on every probe sentence (a query vector moves every ranking)
PROBE = ("a photo of a dog running on the beach at sunset", "quarterly results", "x",
         "Mix flour, water and salt. Let the dough rise overnight, then bake it in a hot oven.")


def wanted_runtime(runtime: str | None = None, device: str = "cpu") -> str:
    """"onnx" or "torch": ``runtime`` (else ``$OMNIDEX_TEXT_RUNTIME``, else auto) resolved for ``device``.

    Raises:
        ValueError: an unknown runtime name (the message lists the choices).
    """
    choice = (runtime or os.environ.get(ENV, "") or "auto").strip().lower()
    if choice not in TEXT_RUNTIMES:
        raise ValueError(f"text runtime '{choice}' ({ENV}): use one of {', '.join(TEXT_RUNTIMES)}")
    if choice == "torch" or device != "cpu":
        return "torch"
    if choice == "onnx":
        return "onnx"
    import importlib.util

    have = all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))
    return "onnx" if have else "torch"


def fingerprint(path: str | Path) -> str:
    """:func:`omnidex.encoders.base.dir_fingerprint` of a model directory, remembered in the cache folder
    per (file names, sizes, modification times, inodes) so a cold start does not hash 90 MB again."""
    from .base import WEIGHT_SUFFIXES, dir_fingerprint

    root = Path(path).resolve()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    sig = "|".join(f"{f}:{s.st_size}:{s.st_mtime_ns}:{s.st_ino}" for f in files for s in [f.stat()])
    memo = cache_dir() / "fingerprints" / (hashlib.sha256(sig.encode()).hexdigest()[:24] + ".txt")
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    fp = dir_fingerprint(root)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(fp)
        tmp.replace(memo)
    except OSError:  # a read-only cache only costs hashing again
        pass
    return fp


def export_path(identity: str) -> Path:
    """Cache file of a text tower's ONNX export (its sidecar has the same stem, ``.json``)."""
    key = f"{identity}|sentence-onnx|v{EXPORT_VERSION}"
    return cache_dir() / "onnx" / f"text-{hashlib.sha256(key.encode()).hexdigest()[:24]}.onnx"


class SentenceTower:
    """An exported sentence tower: texts -> unit rows through ``tokenizers`` and ONNX Runtime.

    Args:
        onnx_file: the exported graph.
        tokenizer_file: the model's ``tokenizer.json``.
        max_length: word pieces kept per text (sentence-transformers' ``max_seq_length``).
    """

    def __init__(self, onnx_file: Path, tokenizer_file: Path, max_length: int):
        from .fastpath import OrtTower

        self.tok = word_pieces(tokenizer_file, max_length)
        self.tower = OrtTower(onnx_file)
        self.dim = 0  # set from the sidecar by open_tower

    def __call__(self, texts: list[str]) -> np.ndarray:
        """float32 (n, dim) unit rows."""
        return np.asarray(self.tower.run(tokens(self.tok, texts)), np.float32)


def word_pieces(tokenizer_file: Path, max_length: int):
    """A ``tokenizers.Tokenizer`` that truncates to ``max_length`` pieces and pads a batch to its longest."""
    tokenizers = require("tokenizers", "text")
    tok = tokenizers.Tokenizer.from_file(str(tokenizer_file))
    tok.enable_truncation(max_length=int(max_length))
    pad = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=pad if pad is not None else 0, pad_token="[PAD]")
    return tok


def tokens(tok, texts: list[str]) -> dict:
    """The arrays the graph takes: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64)."""
    encs = tok.encode_batch([str(t).strip() for t in texts])  # sentence-transformers strips too
    return {"input_ids": np.asarray([e.ids for e in encs], np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encs], np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encs], np.int64)}


def open_tower(model_dir: Path, identity: str, load_torch) -> tuple[SentenceTower | None, str | None]:
    """The ONNX tower of a sentence-transformers directory: the cached export when it still agrees
    with the torch vectors recorded beside it, else exported now with ``load_torch()``.

    Args:
        model_dir: the model directory (``tokenizer.json`` is read from it).
        identity: the encoder identity (cache key).
        load_torch: returns the loaded ``SentenceTransformer`` (called only to export).
    Returns:
        (tower, None), or (None, notice saying why) when torch must do the work.
    """
    path = export_path(identity)
    side = path.with_suffix(".json")
    try:
        if not (path.is_file() and side.is_file()):
            export_sentence_tower(load_torch(), model_dir, path)
        meta = json.loads(side.read_text())
        tower = SentenceTower(path, model_dir / "tokenizer.json", meta["max_length"])
        agree = _agreement(tower, meta)
        if not agree >= AGREEMENT:
            raise RuntimeError(f"its vectors agree with torch's recorded ones at cosine {agree:.5f} < {AGREEMENT}")
        tower.dim = int(meta["dim"])
        return tower, None
    except Exception as exc:  # noqa: BLE001 - any failure: torch does the work, one notice says why
        where = f"; delete {path} to export again" if path.exists() else ""
        return None, f"ONNX text tower unavailable ({type(exc).__name__}: {exc}{where}); using torch instead"


def _agreement(tower: SentenceTower, meta: dict) -> float:
    """Least cosine between the session's probe vectors and torch's, recorded at export."""
    ref = np.asarray(meta["reference"], np.float32)
    got = tower(list(meta["probe"]))
    if got.shape != ref.shape:
        return -1.0
    return float(np.min(np.sum(got * ref, axis=1)))


def export_sentence_tower(st_model, model_dir: Path, path: Path) -> Path:
    """Export a sentence-transformers model (transformer + mean/CLS pooling + unit length) to ``path``.

    The file and its sidecar (max length, dim, probe sentences, torch's probe vectors) are
    published together, and only when ONNX Runtime agrees with torch on the probes.

    Args:
        st_model: a loaded ``SentenceTransformer`` (Transformer, Pooling[, Normalize]).
        model_dir: its directory (``tokenizer.json``).
        path: destination ``.onnx``.
    Raises:
        RuntimeError / ValueError: an architecture this exporter does not mirror, or disagreement.
    """
    torch = require("torch", "text")
    require("onnx", "fast")
    from .fastpath import eager, quiet

    transformer, mode = _parts(st_model)
    tokenizer_file = Path(model_dir) / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ValueError(f"{model_dir} has no tokenizer.json")
    max_length = int(st_model.max_seq_length)
    reference = _torch_vectors(st_model, list(PROBE))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp, quiet(), eager(transformer), torch.no_grad():
        raw = Path(tmp) / "raw.onnx"
        names = ["input_ids", "attention_mask", "token_type_ids"]
        probe = tokens(word_pieces(tokenizer_file, max_length), list(PROBE))
        example = tuple(torch.from_numpy(probe[n]) for n in names)
        torch.onnx.export(_pooled(torch, transformer, mode), example, str(raw), dynamo=False, opset_version=17,
                          input_names=names, output_names=["embeds"],
                          dynamic_axes={**{n: {0: "n", 1: "t"} for n in names}, "embeds": {0: "n"}})
        meta = {"max_length": max_length, "dim": int(reference.shape[1]), "pooling": mode, "probe": list(PROBE),
                "reference": reference.round(7).tolist(), "export_version": EXPORT_VERSION}
        agree = _agreement(SentenceTower(raw, tokenizer_file, max_length), meta)
        if not agree >= AGREEMENT:
            raise RuntimeError(f"exported tower agrees with torch at cosine {agree:.5f} < {AGREEMENT}")
        meta["agreement"] = round(agree, 6)
        graph = _weights_beside(raw, Path(tmp) / "graph.onnx", path.name + ".data")
        side = Path(tmp) / "side.json"
        side.write_text(json.dumps(meta))
        os.replace(Path(tmp) / (path.name + ".data"), path.parent / (path.name + ".data"))
        os.replace(side, path.with_suffix(".json"))
        os.replace(graph, path)  # last: the graph exists only with its weights and sidecar in place
    return path


def _weights_beside(src: Path, out: Path, data_name: str) -> Path:
    """Rewrite ``src`` as a graph file plus one weights file ``data_name`` beside it: ONNX Runtime maps
    such weights from disk instead of parsing them into a second copy (peak memory of a cold query
    ~85 MB lower for MiniLM)."""
    onnx = require("onnx", "fast")
    model = onnx.load(str(src))
    onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=1024)
    return out


def _parts(st_model):
    """(the transformers model, pooling mode) of a sentence-transformers model, or ValueError."""
    mods = list(st_model)
    kinds = [type(m).__name__ for m in mods]
    if len(mods) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or any(
            k != "Normalize" for k in kinds[2:]):
        raise ValueError(f"modules {kinds}: only Transformer + Pooling (+ Normalize) are exported")
    pool = mods[1]
    mode = getattr(pool, "pooling_mode", None) or ("mean" if getattr(pool, "pooling_mode_mean_tokens", False)
                                                   else "cls" if getattr(pool, "pooling_mode_cls_token", False) else "")
    if mode not in ("mean", "cls"):
        raise ValueError(f"pooling '{mode}' is not exported (mean and cls are)")
    return getattr(mods[0], "auto_model", None) or mods[0].model, mode


def _pooled(torch, transformer, mode: str):
    """The graph to export: token arrays -> pooled, unit-length sentence vectors."""

    class Tower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            hidden = out[0]
            if mode == "cls":
                emb = hidden[:, 0]
            else:
                m = attention_mask.unsqueeze(-1).to(hidden.dtype)
                emb = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
            return emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    return Tower().eval()


def _torch_vectors(st_model, texts: list[str]) -> np.ndarray:
    """sentence-transformers' own unit vectors (the reference every export is checked against)."""
    from .base import l2_normalise

    return l2_normalise(st_model.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False))


__all__ = ["ENV", "SentenceTower", "export_sentence_tower", "fingerprint", "open_tower", "wanted_runtime"]
