"""Faster CPU inference: image and text towers on ONNX Runtime (fp32 or int8 weights), a lean image front end.

A runtime changes how a tower is computed, never which space its vectors live in: the encoder
identity stays that of the weights, and a tower that cannot be exported or run, or whose vectors
disagree with torch's on a probe, falls back to torch with one notice (nothing stops for it).

The text tower matters for query latency: one short query through CLIP's 12-layer text tower
streams ~150 MB of fp32 weights, and ONNX Runtime's kernels do that about twice as fast as
torch's at the same precision (int8 weights: four times less to read).

The front end decodes a JPEG at a reduced DCT scale that is still at least the size the
processor resizes to, resizes only the region the processor's centre crop keeps (one pass, the
processor's own filter) and normalises in NumPy; a thread prepares the next batch while the
current one runs (Pillow decodes and resizes without holding the GIL).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._env import cache_dir, cores, set_torch_threads  # noqa: F401 - re-exported
from .._require import require
from ..errors import OmnidexError

RUNTIMES = ("torch", "onnx", "onnx-int8")  # torch fp32 | ONNX Runtime fp32 | ONNX Runtime, int8 weights (dynamic)
# what a runtime applies to: "visual" = the image tower of the visual space (ingest), "query" = its text
# tower (text queries and labels; "auto", the default, is ONNX fp32 where onnxruntime is installed)
RUNTIME_SPACES = ("visual", "query")
EXPORT_VERSION = "1"  # part of the cache key: bump when the export recipe changes
AGREEMENT = {"onnx": 0.999, "onnx-int8": 0.95}  # least cosine with torch on a probe batch before a session is used
TEXT_AGREEMENT = {"onnx": 0.999, "onnx-int8": 0.99}  # a query vector moves every ranking: stricter for text
PROBE_TEXTS = ("a photo of a dog running on the beach at sunset", "quarterly results", "x")
ONNX_EXTRA = "fast"


def parse_runtimes(values) -> tuple[tuple[str, str], ...]:
    """Validate ``SPACE=RUNTIME`` strings (the CLI's ``--runtime``).

    Args:
        values: e.g. ``["visual=onnx-int8"]``.
    Returns:
        ((space, runtime), ...) ready for ``IndexConfig.runtimes``.
    Raises:
        OmnidexError: malformed, an unknown space or an unknown runtime (the message lists the choices).
    """
    out: dict[str, str] = {}
    for value in values or ():
        space, sep, runtime = str(value).partition("=")
        space, runtime = space.strip(), runtime.strip()
        allowed = RUNTIMES + (("auto",) if space == "query" else ())
        if not sep or space not in RUNTIME_SPACES or runtime not in allowed:
            raise OmnidexError(f"--runtime '{value}': expected SPACE=RUNTIME with SPACE one of "
                               f"{', '.join(RUNTIME_SPACES)} and RUNTIME one of {', '.join(RUNTIMES)}"
                               f" (query also auto)")
        out[space] = runtime
    return tuple(sorted(out.items()))


def resolve_text_runtime(runtime: str, device: str) -> str:
    """The text runtime "auto" stands for: torch when ``$OMNIDEX_TEXT_RUNTIME`` is ``torch`` (the switch
    of :mod:`omnidex.encoders.onnx_text`) or off CPU, else ONNX fp32 when onnxruntime imports (and onnx,
    to export, or a cached export that loads without torch)."""
    if runtime != "auto":
        return runtime
    if device != "cpu" or os.environ.get("OMNIDEX_TEXT_RUNTIME", "").strip().lower() == "torch":
        return "torch"
    import importlib.util

    have = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
    return "onnx" if have else "torch"


def onnx_path(identity: str, runtime: str, height: int, width: int) -> Path:
    """Cache file of one (weights identity, runtime, input size; 0x0 for a text tower)."""
    key = f"{identity}|{runtime}|{height}x{width}|v{EXPORT_VERSION}"
    return cache_dir() / "onnx" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.onnx"


# ----------------------------------------------------------------------------- image front end

@dataclass(frozen=True)
class ImagePrep:
    """A CLIP-style processor as plain numbers: resize, centre crop, rescale, normalise.

    Built by ``from_processor``; equivalent to the processor's PIL path to within two grey levels
    (with ``draft`` JPEG decoding, to within the DCT scaling's smoothing).
    """

    shortest_edge: int | None  # resize the short side to this, keeping the aspect (CLIP) ...
    size_hw: tuple[int, int] | None  # ... or resize to exactly (height, width) (SigLIP)
    crop_hw: tuple[int, int] | None  # centre crop after the resize
    resample: int  # Pillow filter (3 = bicubic)
    scale: tuple[float, ...]  # per channel: rescale / std
    shift: tuple[float, ...]  # per channel: -mean / std

    @classmethod
    def from_processor(cls, processor) -> "ImagePrep | None":
        """The prep of a transformers image processor, or None when it does something else (padding, tiling)."""
        ip = getattr(processor, "image_processor", processor)
        get = lambda obj, k: obj.get(k) if isinstance(obj, dict) else getattr(obj, k, None)  # noqa: E731
        size, crop = getattr(ip, "size", None), getattr(ip, "crop_size", None)
        if not getattr(ip, "do_resize", False) or getattr(ip, "do_pad", None) or size is None \
                or get(size, "longest_edge") or not isinstance(getattr(ip, "resample", None), int):
            return None
        short, hw = get(size, "shortest_edge"), (get(size, "height"), get(size, "width"))
        size_hw = hw if all(hw) and not short else None
        crop_hw = (get(crop, "height"), get(crop, "width")) if getattr(ip, "do_center_crop", False) else None
        if (not short and not size_hw) or (crop_hw and not all(crop_hw)):
            return None
        if crop_hw and max(crop_hw) > (short or min(size_hw)):
            return None  # the processor would pad: not this path
        rescale = float(ip.rescale_factor) if getattr(ip, "do_rescale", False) else 1.0
        mean, std = (ip.image_mean, ip.image_std) if getattr(ip, "do_normalize", False) else ((0.0,) * 3, (1.0,) * 3)
        mean, std = np.broadcast_to(np.asarray(mean, np.float64), 3), np.broadcast_to(np.asarray(std, np.float64), 3)
        return cls(short, size_hw, crop_hw, int(ip.resample), tuple(map(float, rescale / std)),
                   tuple(map(float, -mean / std)))

    @property
    def out_hw(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return self.crop_hw or self.size_hw or (self.shortest_edge, self.shortest_edge)

    def resized(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the processor resizes a ``width`` x ``height`` image to (before cropping)."""
        if self.size_hw:
            return self.size_hw[1], self.size_hw[0]
        s = self.shortest_edge
        return (s, int(s * height / width)) if width <= height else (int(s * width / height), s)

    def __call__(self, image, out: np.ndarray, size: tuple[int, int] | None = None) -> None:
        """Write one RGB PIL image, preprocessed, into ``out`` (3, H, W).

        Args:
            image: RGB PIL image (possibly decoded at a reduced scale).
            out: float32 destination.
            size: (width, height) of the image before any reduced-scale decoding; default its size.
        """
        w, h = size or image.size
        nw, nh = self.resized(w, h)
        ch, cw = self.crop_hw or (nh, nw)
        left, top = (nw - cw) // 2, (nh - ch) // 2
        fx, fy = image.size[0] / nw, image.size[1] / nh  # resized -> actual pixel coordinates
        box = (left * fx, top * fy, (left + cw) * fx, (top + ch) * fy)
        pixels = np.asarray(image.resize((cw, ch), self.resample, box=box)).transpose(2, 0, 1)
        np.multiply(pixels, np.asarray(self.scale, np.float32)[:, None, None], out=out)
        out += np.asarray(self.shift, np.float32)[:, None, None]

    def batch(self, items: list) -> np.ndarray:
        """Preprocess PIL images and/or image file paths into one float32 (n, 3, H, W) array."""
        h, w = self.out_hw
        out = np.empty((len(items), 3, h, w), np.float32)
        for i, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                image, size = decode(item, self)
            else:
                image, size = to_rgb(item), None
            self(image, out[i], size)
        return out


def to_rgb(image):
    """RGB view of a PIL image, transparency composited over white (as transformers' processors do)."""
    Image = require("PIL.Image", "image")
    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def decode(path, prep: ImagePrep | None = None):
    """Decode an image file upright and RGB; a JPEG at the smallest DCT scale that keeps ``prep``'s resize size.

    Args:
        path: image file.
        prep: the model's prep (None: full-size decode).
    Returns:
        (image, (width, height) upright at full scale).
    Raises:
        MediaError: unreadable, or more pixels than the decompression-bomb limit.
    """
    Image, ImageOps = require("PIL.Image", "image"), require("PIL.ImageOps", "image")
    from ..errors import MediaError
    from ..media.image import DEFAULT_MAX_PIXELS

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > DEFAULT_MAX_PIXELS:
                raise MediaError(path, f"{w}x{h} pixels: over the decompression-bomb limit")
            turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            if turned:
                w, h = h, w
            if prep is not None and im.format == "JPEG":
                nw, nh = prep.resized(w, h)
                im.draft("RGB", (nh, nw) if turned else (nw, nh))
            im.load()
            return to_rgb(ImageOps.exif_transpose(im)), (w, h)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the file
        raise MediaError(path, f"not a readable image: {exc}") from exc


def prefetched(chunks, prepare):
    """Yield ``prepare(chunk)`` for each chunk while a thread already prepares the next one.

    Args:
        chunks: an iterable of work items (e.g. batches of images).
        prepare: the function run in the worker thread.
    Returns:
        An iterator of prepared chunks, in order.
    """
    it = iter(chunks)
    with ThreadPoolExecutor(1, thread_name_prefix="omnidex-prep") as pool:
        first = next(it, None)
        pending = pool.submit(prepare, first) if first is not None else None
        while pending is not None:
            ready = pending.result()
            nxt = next(it, None)
            pending = pool.submit(prepare, nxt) if nxt is not None else None
            yield ready


# ----------------------------------------------------------------------------- ONNX Runtime image tower

def session_options(ort, threads: int, log_level: int = 3):
    """ONNX Runtime session options as omnidex runs its sessions: ``threads`` intra-op threads, one
    inter-op thread, every graph optimisation, and no spinning where ``OMP_WAIT_POLICY`` is PASSIVE
    (omnidex sets it, like torch's OpenMP threads): idle threads sleep instead of busy-waiting on
    cores that decoding, Whisper or other searches share.

    Args:
        ort: the ``onnxruntime`` module.
        threads: intra-op threads.
        log_level: ONNX Runtime's log severity (3: errors only).
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = log_level
    passive = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0" if passive else "1")
    return opts


class OrtTower:
    """An exported tower in an ONNX Runtime session: pixels or token ids in, unit rows out."""

    def __init__(self, path: Path):
        ort = require("onnxruntime", ONNX_EXTRA)
        opts = session_options(ort, cores())
        self.path = path
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._inputs = [(i.name, np.int64 if "int64" in i.type else np.float32) for i in self._session.get_inputs()]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """An image tower's single input (float32 pixels) -> unit rows."""
        return self.run({self._inputs[0][0]: pixels})

    def run(self, feed: dict) -> np.ndarray:
        """Named inputs (e.g. a tokenizer's ``input_ids`` and ``attention_mask``) -> the first output."""
        return self._session.run(None, {name: np.ascontiguousarray(feed[name], dtype)
                                        for name, dtype in self._inputs})[0]


def ort_image_tower(model, identity: str, runtime: str, prep: ImagePrep, reference):
    """An ONNX Runtime image tower for ``runtime``, exported once and cached, checked against torch.

    Args:
        model: the transformers image-text model (``get_image_features``).
        identity: the encoder identity (cache key, with runtime and input size).
        runtime: "onnx" or "onnx-int8".
        prep: the model's image front end (input size; the probe images of the agreement check).
        reference: the torch image function, float32 pixels -> unit rows.
    Returns:
        (tower or None, notice or None): None and a notice saying why when torch must be used.
    """
    if runtime not in AGREEMENT:
        raise OmnidexError(f"unknown runtime '{runtime}': use one of {', '.join(RUNTIMES)}")
    path = onnx_path(identity, runtime, *prep.out_hw)
    return _verified(path, lambda: export_image_tower(model, path, prep.out_hw, int8=runtime == "onnx-int8"),
                     lambda tower: tower, _probe_pixels(prep), reference, AGREEMENT[runtime], runtime, "image")


def _verified(path: Path, export, wrap, probe, reference, least: float, runtime: str, what: str):
    """Export to ``path`` unless cached, open it, and keep it only if it agrees with torch on ``probe``.

    Returns:
        (``wrap(session)``, None), or (None, notice) when anything failed: torch then does the work.
    """
    try:
        if not path.exists():
            export()
        fn = wrap(OrtTower(path))
        agree = float(np.min(np.sum(fn(probe) * reference(probe), axis=1)))
        if not agree >= least:
            raise RuntimeError(f"its vectors agree with torch at cosine {agree:.4f} < {least}")
        return fn, None
    except Exception as exc:  # noqa: BLE001 - any failure: torch does the work, one notice says why
        where = f"; delete {path} to export again" if path.exists() else ""
        return None, f"runtime '{runtime}' unavailable for the {what} tower ({exc}{where}); using torch fp32 instead"


def _probe_pixels(prep: ImagePrep) -> np.ndarray:
    """Two smooth synthetic pictures (gradients, stripes, a disc), preprocessed: the agreement probe."""
    h, w = prep.out_hw
    y, x = np.mgrid[0:h, 0:w] / np.float32(max(h, w))
    disc = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.08).astype(np.float32)
    first = np.stack([230 * x, 200 * y, 60 + 150 * disc])
    second = np.stack([128 + 100 * np.sin(12 * x), 90 + 80 * disc, 200 * (1 - y)])
    scale, shift = (np.asarray(v, np.float32)[:, None, None] for v in (prep.scale, prep.shift))
    return np.stack([first, second]).astype(np.float32) * scale + shift


def _image_tower(model):
    """The graph to export: pixels -> image embedding -> unit length (torch imported lazily)."""
    torch = require("torch", "clip")

    class ImageTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return _unit_rows(self.model.get_image_features(pixel_values=pixel_values))

    return ImageTower().eval()


def _unit_rows(out):
    """A tower's output (tensor, or v5 output object with ``pooler_output``) at unit length, in the graph."""
    torch = require("torch", "clip")
    emb = out if isinstance(out, torch.Tensor) else out.pooler_output
    return emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _publish(src: Path, path: Path, int8: bool) -> None:
    """Quantise ``src`` to int8 (or take it as it is) beside it, then move the result to ``path`` in one rename."""
    final = src.with_name("final.onnx")
    if int8:
        _quantize(src, final)
    else:
        src.replace(final)
    os.replace(final, path)


def export_image_tower(model, path: Path, hw: tuple[int, int], int8: bool = False) -> Path:
    """Export pixels -> unit embedding to ONNX, fuse attention, optionally quantise; write ``path`` atomically.

    Args:
        model: transformers image-text model.
        path: destination ``.onnx``.
        hw: input (height, width); the batch axis is dynamic.
        int8: quantise MatMul/Attention weights to int8 (activations quantised per batch at run time).
    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp, quiet():
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        _torch_export(model, raw, hw)
        _publish(fused if _fuse(model, raw, fused) else raw, path, int8)
    return path


def _torch_export(model, out: Path, hw: tuple[int, int]) -> None:
    """torch -> ONNX with eager attention (its pattern is what ORT fuses); the legacy exporter, else dynamo."""
    torch = require("torch", "clip")
    require("onnx", ONNX_EXTRA)
    wrapper, dummy = _image_tower(model), torch.zeros(2, 3, *hw)
    with eager(model):
        names = dict(input_names=["pixel_values"], output_names=["embeds"])
        try:
            torch.onnx.export(wrapper, (dummy,), str(out), dynamo=False, opset_version=17, **names,
                              dynamic_axes={"pixel_values": {0: "n"}, "embeds": {0: "n"}})
        except Exception:  # noqa: BLE001 - the legacy exporter is going away: the dynamo one
            batch = torch.export.Dim("n", min=1, max=4096)
            torch.onnx.export(wrapper, (dummy,), str(out), dynamo=True, external_data=False, **names,
                              dynamic_shapes={"pixel_values": {0: batch}})


def _fuse(model, src: Path, out: Path) -> bool:
    """ORT's transformer fusions (attention, LayerNorm, QuickGelu) for a CLIP-like tower; False if not possible."""
    try:
        optimizer = require("onnxruntime.transformers.optimizer", ONNX_EXTRA)
        vision = getattr(model.config, "vision_config", model.config)
        fused = optimizer.optimize_model(str(src), model_type="clip", opt_level=0,
                                         num_heads=int(getattr(vision, "num_attention_heads", 0)),
                                         hidden_size=int(getattr(vision, "hidden_size", 0)))
        fused.save_model_to_file(str(out))
        return True
    except Exception:  # noqa: BLE001 - an unfused graph is still a correct one
        return False


def _quantize(src: Path, out: Path) -> None:
    """Dynamic int8: weights int8 per tensor, activations uint8 scaled per batch (no calibration set)."""
    onnx = require("onnx", ONNX_EXTRA)
    q = require("onnxruntime.quantization", ONNX_EXTRA)
    q.quantize_dynamic(str(src), str(out), weight_type=q.QuantType.QInt8,
                       op_types_to_quantize=["MatMul", "Attention"],
                       extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


# ----------------------------------------------------------------------------- ONNX Runtime text tower

def ort_text_tower(model, identity: str, runtime: str, tokenize, reference):
    """An ONNX Runtime text tower for ``runtime``, exported once and cached, checked against torch.

    Args:
        model: the transformers image-text model (``get_text_features``).
        identity: the encoder identity (cache key, with the runtime).
        runtime: "onnx" or "onnx-int8".
        tokenize: texts -> dict of int arrays as the model takes them (``input_ids``, maybe ``attention_mask``).
        reference: the torch text function, texts -> unit rows.
    Returns:
        (function texts -> unit rows, or None; notice or None): None and a notice saying why when
        torch must be used.
    """
    if runtime not in TEXT_AGREEMENT:
        raise OmnidexError(f"unknown runtime '{runtime}': use one of {', '.join(RUNTIMES)}")
    path = onnx_path(identity, "text-" + runtime, 0, 0)
    probe = list(PROBE_TEXTS)  # different lengths: the padded batch path is what gets checked
    return _verified(path, lambda: export_text_tower(model, path, tokenize(probe), int8=runtime == "onnx-int8"),
                     lambda tower: (lambda texts: tower.run(tokenize(texts))), probe, reference,
                     TEXT_AGREEMENT[runtime], runtime, "text")


def export_text_tower(model, path: Path, tokens: dict, int8: bool = False) -> Path:
    """Export token ids -> unit embedding to ONNX (batch and length dynamic), optionally int8; atomically.

    Args:
        model: transformers image-text model.
        path: destination ``.onnx``.
        tokens: an example batch from the model's tokenizer (its keys become the graph's inputs).
        int8: quantise MatMul weights to int8 (the token embedding table stays float32).
    Returns:
        ``path``.
    """
    torch = require("torch", "clip")
    require("onnx", ONNX_EXTRA)
    names = list(tokens)
    example = tuple(torch.from_numpy(np.asarray(tokens[n], np.int64)) for n in names)

    class TextTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return _unit_rows(self.model.get_text_features(**dict(zip(names, inputs))))

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp, quiet(), eager(model):
        raw = Path(tmp) / "raw.onnx"
        axes = {n: {0: "n", 1: "t"} for n in names}
        torch.onnx.export(TextTower().eval(), example, str(raw), dynamo=False, opset_version=17, input_names=names,
                          output_names=["embeds"], dynamic_axes={**axes, "embeds": {0: "n"}})
        _publish(raw, path, int8)
    return path


# ----------------------------------------------------------------------------- text tower without torch

COLD_PROBE = PROBE_TEXTS + ("Gate 14 Departures, BEACH PARTY 2026: a long caption that goes on " * 6,)


def cold_text_file(identity: str, runtime: str) -> Path:
    """Sidecar of a text export that lets it load without torch (tokenizer, settings, torch's probe vectors)."""
    return onnx_path(identity, "text-" + runtime, 0, 0).with_suffix(".cold.json")


def save_cold_text(identity: str, runtime: str, tokenizer, text_kwargs: dict, tokenize, tower, reference) -> str | None:
    """Record what a later process needs to run the exported text tower with ``tokenizers`` alone.

    Written only when the ``tokenizers`` copy of the tokenizer gives exactly the processor's arrays on
    the probe texts (one batch and one by one), with torch's probe vectors for the check at each load.

    Args:
        identity / runtime: the export's key.
        tokenizer: the processor's transformers tokenizer.
        text_kwargs: the padding/truncation options the encoder tokenizes with.
        tokenize: the encoder's own texts -> arrays function (the processor).
        tower: the verified ONNX function, texts -> rows.
        reference: torch's texts -> unit rows.
    Returns:
        None when written, else why not (torch stays needed for text; nothing else changes).
    """
    try:
        settings = {"max_length": int(text_kwargs.get("max_length") or tokenizer.model_max_length),
                    "pad_to": text_kwargs.get("max_length") if text_kwargs.get("padding") == "max_length" else None,
                    "pad_id": int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
                    "pad_token": str(tokenizer.pad_token or ""), "tokenizer": _tokenizer_json(tokenizer)}
        tok = _cold_tokenizer(settings)
        for batch in [list(COLD_PROBE)] + [[t] for t in COLD_PROBE]:
            want, got = tokenize(batch), _cold_tokens(tok, batch)
            for name, arr in want.items():
                if not np.array_equal(np.asarray(arr, np.int64), got[name]):
                    raise ValueError(f"the tokenizers copy gives other {name} than the processor")
        probe = list(COLD_PROBE)
        meta = {**settings, "probe": probe, "reference": np.asarray(reference(probe), np.float32).round(7).tolist(),
                "dim": int(np.asarray(tower(probe[:1])).shape[1]), "runtime": runtime, "identity": identity}
        path = cold_text_file(identity, runtime)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(__import__("json").dumps(meta))
        os.replace(tmp, path)
        return None
    except Exception as exc:  # noqa: BLE001 - a text tower that still needs torch is slower, not wrong
        return f"text tower kept on torch for cold starts ({type(exc).__name__}: {exc})"


def cold_text_tower(identity: str, runtime: str):
    """The exported text tower of ``identity`` with ``tokenizers`` and ONNX Runtime only (no torch).

    Returns:
        (texts -> rows, dim) when the export and its sidecar exist and the session still gives torch's
        recorded probe vectors (least cosine ``TEXT_AGREEMENT[runtime]``), else None (load the model).
    """
    import json

    path, side = onnx_path(identity, "text-" + runtime, 0, 0), cold_text_file(identity, runtime)
    if runtime not in TEXT_AGREEMENT or not (path.is_file() and side.is_file()):
        return None
    try:
        meta = json.loads(side.read_text())
        tok, tower = _cold_tokenizer(meta), OrtTower(path)
        fn = lambda texts: tower.run(_cold_tokens(tok, texts))  # noqa: E731
        got = np.asarray(fn(meta["probe"]), np.float32)
        got /= np.maximum(np.linalg.norm(got, axis=1, keepdims=True), 1e-12)
        agree = float(np.min(np.sum(got * np.asarray(meta["reference"], np.float32), axis=1)))
        return (fn, int(meta["dim"])) if agree >= TEXT_AGREEMENT[runtime] else None
    except Exception:  # noqa: BLE001 - anything odd: load the model as before
        return None


def _tokenizer_json(tokenizer) -> str:
    """A transformers tokenizer as a ``tokenizers`` JSON string (fast ones directly, slow ones converted)."""
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    if backend is None:
        convert = require("transformers.convert_slow_tokenizer", "clip")
        backend = convert.convert_slow_tokenizer(tokenizer)
    return backend.to_str()


def _cold_tokenizer(settings: dict):
    tokenizers = require("tokenizers", "text")
    tok = tokenizers.Tokenizer.from_str(settings["tokenizer"])
    tok.no_padding()
    tok.enable_truncation(max_length=int(settings["max_length"]))
    tok.enable_padding(pad_id=int(settings["pad_id"]), pad_token=settings["pad_token"],
                       length=int(settings["pad_to"]) if settings.get("pad_to") else None)
    return tok


def _cold_tokens(tok, texts: list[str]) -> dict:
    encs = tok.encode_batch(list(texts))
    return {"input_ids": np.asarray([e.ids for e in encs], np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encs], np.int64)}


class eager:
    """Eager attention while exporting: its graph is plain MatMul/Softmax that ORT runs and fuses."""

    def __init__(self, model):
        self.model, self.before = model, getattr(model.config, "_attn_implementation", None)

    def __enter__(self):
        if self.before and self.before != "eager" and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation("eager")
        return self

    def __exit__(self, *exc):
        if self.before and self.before != "eager" and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(self.before)
        return False


class quiet:
    """Silence exporter / quantiser chatter (tracer warnings, 'consider pre-processing' log lines)."""

    def __enter__(self):
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.root.level
        logging.root.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        logging.root.setLevel(self._level)
        self._warn.__exit__(*exc)
        return False
