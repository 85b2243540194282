"""Fairness slices: metrics per value of a metadata field, with bootstrap confidence intervals, the gap
between the best and the worst slice, and the sampling weights that balance a training set on a field.

A field is a column of a CSV pairs/queries file, or a key of its JSONL rows; dotted names reach into
nested values (``objects.0.colour`` is the main object's colour in ``omnidex synth`` output).
"""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import OmnidexError

BOOTSTRAP = 2000  # resamples for the confidence intervals
CONFIDENCE = 0.95
MISSING = "(missing)"


def field_value(row: dict, field: str):
    """``row[field]``, following dots through dicts and lists (``objects.0.colour``); None when absent."""
    if field in row:
        return row[field]
    cur = row
    for part in field.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit() and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def read_rows(source: str | Path) -> list[tuple[int, dict]]:
    """(line number, row dict) of a CSV/TSV, JSONL or JSON-list file.

    Raises:
        OmnidexError: unreadable file or a line that is not a JSON object (the message names the file and line).
    """
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise OmnidexError(f"{path}: cannot read: {exc}") from exc
    if path.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        return [(i, dict(r)) for i, r in enumerate(reader, 2)]
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise OmnidexError(f"{path}: not JSON ({exc})") from exc
        return [(i, r) for i, r in enumerate(rows, 1) if isinstance(r, dict)]
    out = []
    for i, raw in enumerate(text.splitlines(), 1):
        if raw.strip() and not raw.lstrip().startswith("#"):
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise OmnidexError(f"{path}:{i}: not JSON ({exc})") from exc
            if isinstance(row, dict):
                out.append((i, row))
    return out


def _label(v) -> str:
    if v is None or v == "":
        return MISSING
    return v if isinstance(v, str) else json.dumps(v)


def pair_values(source: str | Path, field: str, pairs: Sequence, root: str | Path | None = None) -> list[str]:
    """The value of ``field`` for each pair (``.path``, ``.caption``) read from the pairs file ``source``.

    Rows are matched on (resolved path, caption), as ``omnidex.train.pairs.load_pairs`` resolves them
    (relative paths against ``root`` or the file's folder). A pair whose row lacks the field gets "(missing)".

    Raises:
        OmnidexError: ``source`` is a folder, or no row of it has ``field`` (the message names the file).
    """
    src = Path(source)
    if src.is_dir():
        raise OmnidexError(f"{src}: slicing needs a pairs file with a metadata column (.csv/.jsonl), not a folder")
    base = str(Path(root) if root is not None else src.parent)
    table: dict[tuple[str, str], str] = {}
    found = False
    for _, row in read_rows(src):
        p, c = row.get("path"), row.get("caption")
        if not p or c is None:
            continue
        v = field_value(row, field)
        found = found or v not in (None, "")
        table[(os.path.realpath(os.path.join(base, str(p).strip())), str(c).strip())] = _label(v)
    if not found:
        raise OmnidexError(f"{src}: no row has a field {field!r} to slice on")
    return [table.get((os.path.realpath(str(p.path)), str(p.caption).strip()), MISSING) for p in pairs]


def balance_weights(values: Sequence[str]) -> np.ndarray:
    """Sampling weights that give every value of a field the same expected share: 1 / count, summing to 1."""
    counts = Counter(values)
    w = np.array([1.0 / counts[v] for v in values], dtype=np.float64)
    return w / w.sum()


def bootstrap_ci(hits: np.ndarray, reps: int = BOOTSTRAP, seed: int = 0,
                 confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``hits`` (0/1 or any numbers)."""
    hits = np.asarray(hits, dtype=np.float64)
    if len(hits) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = hits[rng.integers(0, len(hits), size=(reps, len(hits)))].mean(axis=1)
    a = (1 - confidence) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def slice_report(values: Sequence[str], metrics: dict[str, np.ndarray], field: str, reps: int = BOOTSTRAP,
                 seed: int = 0, confidence: float = CONFIDENCE, main: str | None = None) -> dict:
    """Per-slice means with bootstrap intervals, and the best-worst gap with its own interval.

    Args:
        values: the slice value of each query (same order as the metric arrays).
        metrics: name -> per-query numbers (e.g. ``{"R@1": ranks <= 1}`` or ``{"accuracy": correct}``).
        field: the field's name (reported).
        reps / seed / confidence: bootstrap resamples, seed, interval level.
        main: the metric the best and worst slices are picked on (default: the first).
    Returns:
        ``{"field", "confidence", "bootstrap", "slices": [{"value", "n", METRIC: {"mean", "lo", "hi"}}],
        "gap": {"metric", "best", "worst", "gap", "lo", "hi", "significant"}}``; the gap's interval
        resamples each slice's queries independently; ``significant`` when it excludes 0.
    """
    values = [str(v) for v in values]
    names = list(metrics)
    main = main or names[0]
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    for k, a in arrays.items():
        if len(a) != len(values):
            raise ValueError(f"metric {k} has {len(a)} entries for {len(values)} slice values")
    groups: dict[str, np.ndarray] = {}
    for v in sorted(set(values)):
        groups[v] = np.flatnonzero(np.array(values) == v)
    slices = []
    for j, (v, idx) in enumerate(groups.items()):
        row = {"value": v, "n": int(len(idx))}
        for k in names:
            lo, hi = bootstrap_ci(arrays[k][idx], reps, seed + 101 * j, confidence)
            row[k] = {"mean": float(arrays[k][idx].mean()), "lo": lo, "hi": hi}
        slices.append(row)
    out = {"field": field, "confidence": confidence, "bootstrap": reps, "slices": slices, "gap": None}
    if len(slices) >= 2:
        best = max(slices, key=lambda r: r[main]["mean"])
        worst = min(slices, key=lambda r: r[main]["mean"])
        a, b = arrays[main][groups[best["value"]]], arrays[main][groups[worst["value"]]]
        rng = np.random.default_rng(seed + 7)
        diffs = (a[rng.integers(0, len(a), size=(reps, len(a)))].mean(axis=1)
                 - b[rng.integers(0, len(b), size=(reps, len(b)))].mean(axis=1))
        q = (1 - confidence) / 2
        lo, hi = float(np.quantile(diffs, q)), float(np.quantile(diffs, 1 - q))
        out["gap"] = {"metric": main, "best": best["value"], "worst": worst["value"],
                      "gap": float(best[main]["mean"] - worst[main]["mean"]), "lo": lo, "hi": hi,
                      "significant": bool(lo > 0)}
    return out


def print_slices(report: dict, title: str = "slices", console=None) -> None:
    """A rich table of :func:`slice_report`: one row per value, each metric as mean [lo, hi]."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    names = [k for k in report["slices"][0] if k not in ("value", "n")] if report["slices"] else []
    pct = int(round(report["confidence"] * 100))
    t = Table(title=escape(f"{title}: by {report['field']} ({pct}% bootstrap intervals)"))
    t.add_column(escape(report["field"]))
    t.add_column("n", justify="right")
    for k in names:
        t.add_column(escape(k), justify="right")
    for r in report["slices"]:
        t.add_row(escape(r["value"]), str(r["n"]),
                  *[f"{r[k]['mean']:.3f} [{r[k]['lo']:.3f}, {r[k]['hi']:.3f}]" for k in names])
    con = console or Console()
    con.print(t)
    g = report.get("gap")
    if g:
        verdict = "real (interval excludes 0)" if g["significant"] else "not distinguishable from 0"
        con.print(f"gap in {escape(g['metric'])}: {escape(g['best'])} - {escape(g['worst'])} = {g['gap']:.3f} "
                  f"[{g['lo']:.3f}, {g['hi']:.3f}]: {verdict}")


def plot_slices(report: dict, path: str | Path, title: str = "") -> Path:
    """Bar chart of every metric per slice with the bootstrap intervals as error bars (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slices = report["slices"]
    names = [k for k in slices[0] if k not in ("value", "n")] if slices else []
    x = np.arange(len(slices))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(slices) * max(1, len(names)) / 2 + 2), 3.6))
    for j, k in enumerate(names):
        m = np.array([r[k]["mean"] for r in slices])
        err = np.array([[r[k]["mean"] - r[k]["lo"] for r in slices], [r[k]["hi"] - r[k]["mean"] for r in slices]])
        ax.bar(x + (j - (len(names) - 1) / 2) * width, m, width, yerr=np.clip(err, 0, None), capsize=3, label=k)
    ax.set_xticks(x, [f"{r['value']}\n(n={r['n']})" for r in slices], fontsize=8)
    ax.set_ylim(0, 1.05)
    g = report.get("gap")
    sub = f"; gap {g['gap']:.2f} [{g['lo']:.2f}, {g['hi']:.2f}]" if g else ""
    ax.set_title((title + ": " if title else "") + f"by {report['field']}{sub}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
