"""Bounded coverage-guided fuzzing of the parsers that read untrusted bytes (``fuzz/``).

Each target runs under atheris for ``OMNIDEX_FUZZ_SECONDS`` (default 8 s here; ``make fuzz`` runs
them longer) from the committed seeds, and every input that once broke a target
(``fuzz/regressions/<target>/``) is replayed. A finding is any exception a target's function does
not document, a hang (20 s) or a crash.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

from fuzz.targets import TARGETS, run_one  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REGRESSIONS = ROOT / "fuzz" / "regressions"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_regressions_stay_fixed(target):
    for path in sorted((REGRESSIONS / target).glob("*")):
        run_one(target, path.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_bounded_fuzz_run_finds_nothing(target, tmp_path):
    seconds = int(os.environ.get("OMNIDEX_FUZZ_SECONDS", "8"))
    out = subprocess.run([sys.executable, "-m", "fuzz.run", target, "--seconds", str(seconds), "--work", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
    findings = list((tmp_path / "findings" / target).glob("*"))
    assert out.returncode == 0 and not findings, (findings, out.stderr[-3000:])
    assert "number_of_executed_units" in out.stderr
