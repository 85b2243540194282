"""`make bench` runs every benchmark module in its own process and gathers their tables."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.bench  # a benchmark smoke run: make test-bench
def test_suite_runs_a_benchmark_and_writes_summary_and_json(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "bench.suite", "--quick", "--only", "scale", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "suite-quick.json").read_text())
    assert doc["machine"]["cpus"] >= 1 and [b["name"] for b in doc["benches"]] == ["scale"]
    scale = doc["benches"][0]
    assert scale["rc"] == 0 and scale["results"]["results"][0]["rows"] == 10_000
    first = scale["results"]["results"][0]
    assert first["exact"]["recall@10"] == 1.0
    # queries went through the ONNX text tower (the default) and torch's, side by side
    assert first["search"]["text_runtime"] == "onnx" and first["search_torch"]["text_runtime"] == "torch"
    assert first["search"]["queries"] == 180 and first["search"]["tokens_p50"] == 10
    # the full-size (ViT-B/32) text tower on ONNX Runtime gives torch's vectors; int8 close to them
    agree = first["text_agreement"]
    assert agree["onnx"]["runtime"] == "onnx" and agree["onnx"]["min_cos"] >= 0.99999
    assert agree["onnx-int8"]["runtime"] == "onnx-int8" and agree["onnx-int8"]["min_cos"] >= 0.99
    summary = (out / "SUMMARY-quick.md").read_text()
    assert "## scale:" in summary and "| 10,000 | exact |" in summary and "![scale](scale/scale.png)" in summary


def test_suite_refuses_an_unknown_benchmark(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench.suite", "--only", "nope", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown benchmark" in proc.stderr
