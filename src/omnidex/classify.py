"""Zero-shot classification of images and videos with an image-text encoder (CLIP, SigLIP, LiT).

Each label becomes a prompt ensemble: every template is filled with the label, the unit text
vectors are averaged and renormalised. A file's vector is its image's (videos: representative
frames pooled per shot, then the shots averaged); probabilities are a softmax over labels of
``logit_scale * cosine``.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image showing a {}.",
    "a close-up of a {}.",
    "a {} in the scene.",
    "a blurry photo of a {}.",
    "a bright photo of a {}.",
    "a cropped photo of the {}.",
)
DEFAULT_LOGIT_SCALE = 100.0


def label_embeddings(labels: list[str], encoder, templates=DEFAULT_TEMPLATES) -> np.ndarray:
    """Prompt-ensembled label vectors.

    Args:
        labels: class names.
        encoder: text encoder sharing a space with the images.
        templates: format strings with one ``{}`` (a template without ``{}`` gets the label appended).
    Returns:
        float32 (n_labels, dim): per label, the renormalised mean of its templates' unit text vectors.
    """
    from .encoders.base import l2_normalise

    templates = list(templates) or ["{}"]
    texts = [(t.format(label) if "{}" in t else f"{t} {label}") for label in labels for t in templates]
    vecs = l2_normalise(encoder.encode_text(texts)).reshape(len(labels), len(templates), -1)
    return l2_normalise(vecs.mean(axis=1))


def logit_scale(encoder) -> float:
    """The softmax temperature: ``encoder.logit_scale`` (a plain multiplier) when exposed, else the
    exp of a wrapped transformers model's learned ``logit_scale`` (log space, capped at 100), else 100."""
    value = getattr(encoder, "logit_scale", None)
    if value is not None:
        try:
            return float(value() if callable(value) else value)
        except (TypeError, ValueError):
            pass
    inner = getattr(getattr(encoder, "_model", None), "logit_scale", None)
    if inner is not None:
        try:
            return float(min(math.exp(float(inner.detach().reshape(-1)[0]) if hasattr(inner, "detach")
                                      else float(inner)), DEFAULT_LOGIT_SCALE))
        except (TypeError, ValueError, OverflowError):
            pass
    return DEFAULT_LOGIT_SCALE


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _top(probs: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probs, kind="stable")[:max(1, k)]
    return [(labels[i], round(float(probs[i]), 6)) for i in order]


def classify(files, labels, encoder, templates=DEFAULT_TEMPLATES, top_k: int = 3, progress=None) -> list[dict]:
    """Zero-shot classify image and video files.

    Args:
        files: paths.
        labels: class names (at least one).
        encoder: image-text encoder.
        templates: prompt templates, each with one ``{}`` for the label.
        top_k: labels reported per file / shot.
        progress: optional callable ``(done, total, path)``.
    Returns:
        One dict per file, in order: ``{"path", "kind", "top": [(label, prob), ...]}``, videos also
        ``"shots": [{"start", "end", "label", "prob", "top"}]`` (each shot classified on its own);
        a file that cannot be read gives ``{"path", "error"}`` (the message names the file).
    Raises:
        ValueError: no labels.
    """
    from .train.evaluate import embed_video, load_rgb, media_kind

    labels = [str(x).strip() for x in labels if str(x).strip()]
    if not labels:
        raise ValueError("no labels to classify with")
    files = [str(f) for f in files]
    label_vecs = label_embeddings(labels, encoder, templates).astype(np.float64)
    scale = logit_scale(encoder)
    batch = int(getattr(encoder, "batch_size", 32) or 32)

    def probs_of(vecs) -> np.ndarray:
        return _softmax(scale * (np.asarray(vecs, dtype=np.float64) @ label_vecs.T))

    results: list[dict | None] = [None] * len(files)
    pending: list[tuple[int, object]] = []

    def flush():
        if pending:
            p = probs_of(encoder.encode_image([im for _, im in pending]))
            for (i, _), row in zip(pending, p):
                results[i] = {"path": files[i], "kind": "image", "top": _top(row, labels, top_k)}
            pending.clear()

    for i, path in enumerate(files):
        try:
            kind = media_kind(path)
            if kind == "image":
                pending.append((i, load_rgb(path)))
                if len(pending) >= batch:
                    flush()
            elif kind == "video":
                pooled, shots = embed_video(encoder, path, batch)
                shot_rows = []
                for (start, end, vec), row in zip(shots, probs_of(np.stack([s[2] for s in shots]))):
                    top = _top(row, labels, top_k)
                    shot_rows.append({"start": round(start, 3), "end": round(end, 3), "label": top[0][0],
                                      "prob": top[0][1], "top": top})
                results[i] = {"path": path, "kind": "video", "top": _top(probs_of(pooled[None])[0], labels, top_k),
                              "shots": shot_rows}
            else:
                raise ValueError(f"not an image or a video (looks like {kind})")
        except Exception as exc:  # noqa: BLE001 - report per file, keep going
            msg = str(exc)
            results[i] = {"path": path, "error": msg if path in msg else f"{path}: {msg}"}
        if progress:
            progress(i + 1, len(files), path)
    try:
        flush()
    except Exception as exc:  # noqa: BLE001 - the encoder failed on this batch
        for i, _ in pending:
            results[i] = {"path": files[i], "error": f"{files[i]}: {exc}"}
    return [r for r in results if r is not None]


def parse_labels(spec) -> list[str]:
    """Labels from ``"cat,dog,pizza"``, a list of such strings, or ``"@file.txt"`` (one per line,
    blank lines and ``#`` comments skipped)."""
    specs = [spec] if isinstance(spec, str) else list(spec or [])
    out: list[str] = []
    for s in specs:
        s = str(s)
        if s.startswith("@"):
            for line in Path(s[1:]).expanduser().read_text(encoding="utf-8-sig").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append(line)
        else:
            out.extend(x.strip() for x in s.split(",") if x.strip())
    seen: set[str] = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def print_classification(results: list[dict], console=None) -> None:
    """Rich table: file, top labels with probabilities, per-shot labels for videos; errors in red."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .types import format_time

    t = Table(title="zero-shot classification")
    for col in ("file", "labels", "shots"):
        t.add_column(col, overflow="fold")
    for r in results:
        if "error" in r:
            t.add_row(escape(r["path"]), f"[red]{escape(r['error'])}[/]", "")
            continue
        top = "\n".join(f"{escape(lab)} {p:.3f}" for lab, p in r["top"])
        shots = "\n".join(f"{format_time(s['start'])}-{format_time(s['end'])} {escape(s['label'])} {s['prob']:.2f}"
                          for s in r.get("shots", []))
        t.add_row(escape(r["path"]), top, shots)
    (console or Console()).print(t)


def _print_score(score: dict) -> None:
    if score["accuracy"] is None:
        print(f"accuracy: no classified file has a truth row ({score['unlabelled']} without one)")
        return
    print(f"accuracy: {score['accuracy']:.3f} [{score['lo']:.3f}, {score['hi']:.3f}] on {score['n']} files"
          + (f" ({score['unlabelled']} without a truth row)" if score["unlabelled"] else ""))
    if score.get("slices"):
        from .train.slices import print_slices

        print_slices(score["slices"], title="zero-shot accuracy")
        print(f"slice plot: {score['slice_plot']}")


def _cli_labels(spec) -> list[str] | None:
    """The labels of ``omnidex classify --labels``, or None after saying what is wrong: unreadable
    ``@file``, none, or beyond :data:`omnidex.caps.CLI_MAX_LABELS` labels (1,000-class sets fit; the
    HTTP API allows 64, see :mod:`omnidex.caps`) or :data:`~omnidex.caps.MAX_LABEL_CHARS` characters."""
    from .caps import CLI_MAX_LABELS, check_labels

    try:
        labels = parse_labels(spec)
    except OSError as exc:
        print(f"error: cannot read labels: {exc}", file=sys.stderr)
        return None
    if not labels:
        print("error: give --labels \"cat,dog\" or --labels @labels.txt", file=sys.stderr)
        return None
    try:
        return check_labels(labels, CLI_MAX_LABELS, "per run (a 1,000-class set such as ImageNet's fits; "
                                                    "is --labels the right file?)")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def truth_table(truth_file, label_field: str = "label", slice_field: str | None = None) -> dict[str, tuple]:
    """``realpath -> (true label, slice value)`` from a CSV/JSONL file with ``path`` and ``label_field``
    (dots reach inside JSONL values: ``objects.0.shape``); relative paths resolve against the file's folder.

    Raises:
        OmnidexError: unreadable file, or no row with a path and a label (the message names the file).
    """
    import os

    from .errors import OmnidexError
    from .train.slices import MISSING, field_value, read_rows

    base = Path(truth_file).expanduser().resolve().parent
    table: dict[str, tuple] = {}
    for _, row in read_rows(Path(truth_file).expanduser()):
        path, label = row.get("path"), field_value(row, label_field)
        if not path or label in (None, ""):
            continue
        value = field_value(row, slice_field) if slice_field else None
        table[os.path.realpath(base / str(path).strip())] = (str(label), MISSING if value in (None, "") else str(value))
    if not table:
        raise OmnidexError(f"{truth_file}: no row with 'path' and {label_field!r}")
    return table


def accuracy_by_slice(results: list[dict], truth: dict[str, tuple], slice_field: str | None) -> dict:
    """Top-1 accuracy of classified files against ``truth`` (see :func:`truth_table`), overall with a
    bootstrap interval, and per slice value with the best-worst gap when ``slice_field`` is given.

    Returns:
        ``{"n", "accuracy", "lo", "hi", "unlabelled", "slices"?}`` (files with an error or without a
        truth row are not scored; ``unlabelled`` counts the latter).
    """
    import os

    from .train.slices import bootstrap_ci, slice_report

    correct, values, unlabelled = [], [], 0
    for r in results:
        if "error" in r:
            continue
        t = truth.get(os.path.realpath(r["path"]))
        if t is None:
            unlabelled += 1
            continue
        correct.append(float(r["top"][0][0] == t[0]))
        values.append(t[1])
    if not correct:
        return {"n": 0, "accuracy": None, "lo": None, "hi": None, "unlabelled": unlabelled}
    lo, hi = bootstrap_ci(np.array(correct))
    out = {"n": len(correct), "accuracy": float(np.mean(correct)), "lo": lo, "hi": hi, "unlabelled": unlabelled}
    if slice_field:
        out["slices"] = slice_report(values, {"accuracy": np.array(correct)}, slice_field)
    return out


def main_classify(args) -> int:
    """``omnidex classify``: zero-shot labels for image/video files.

    Args (attributes of ``args``):
        files: paths.
        labels: ``"cat,dog,pizza"`` or ``"@labels.txt"`` (one label per line).
        template: list of templates (repeatable ``--template``; replaces the defaults) or None.
        clip: encoder spec (see ``omnidex.train.evaluate.encoder_from_spec``); None = default CLIP, offline the bundled model.
        top: labels per file (default 3).
        truth: optional CSV/JSONL with ``path`` and the true label (``label_field``, default "label"):
            accuracy is reported, per value of ``slice`` too (bootstrap intervals, gap, ``slice_plot``).
        json: print JSON.
    Returns:
        0 when at least one file was classified (bad files are reported, not fatal), 1 when none
        could be (or the encoder could not be loaded), 2 on bad arguments.
    """
    from .errors import OmnidexError
    from .train.evaluate import encoder_from_spec

    labels = _cli_labels(getattr(args, "labels", None))
    if labels is None:
        return 2
    files = list(getattr(args, "files", None) or [])
    if not files:
        print("error: no files to classify", file=sys.stderr)
        return 2
    templates = list(getattr(args, "template", None) or DEFAULT_TEMPLATES)
    try:
        encoder = encoder_from_spec(getattr(args, "clip", None))
        results = classify(files, labels, encoder, templates=templates, top_k=int(getattr(args, "top", None) or 3))
    except (OmnidexError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    truth_file, field = getattr(args, "truth", None), getattr(args, "slice", None)
    score = None
    if field and not truth_file:
        print("error: --slice needs --truth FILE (the true labels and the field)", file=sys.stderr)
        return 2
    if truth_file:
        try:
            score = accuracy_by_slice(results, truth_table(truth_file, getattr(args, "label_field", None) or "label",
                                                           field), field)
        except (OmnidexError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if score.get("slices"):
            from .train.slices import plot_slices

            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in field)
            plot = Path(getattr(args, "slice_plot", None) or f"classify-slices-{safe}.png").expanduser()
            score["slice_plot"] = str(plot_slices(score["slices"], plot, title="zero-shot accuracy"))
    if getattr(args, "json", False):
        print(json.dumps({"results": results, "accuracy": score} if score is not None else results, indent=2))
        for r in results:
            if "error" in r:
                print(f"warning: {r['error']}", file=sys.stderr)
    else:
        print_classification(results)  # errors are rows of the table
        if score is not None:
            _print_score(score)
    return 0 if any("error" not in r for r in results) else 1
