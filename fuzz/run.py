"""Run one fuzz target under atheris (libFuzzer), or replay files through it.

    python -m fuzz.run range --seconds 60                # fuzz for 60 s (corpus: fuzz/corpus/range)
    python -m fuzz.run series --replay fuzz/regressions/series/*

A finding is written to ``fuzz/findings/<target>/crash-...`` (``--work DIR`` moves corpus/ and findings/); copy it to ``fuzz/regressions/<target>/``
once fixed, where tests/test_fuzz.py replays it on every run.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fuzz(name: str, seconds: int, max_len: int, work: Path) -> None:
    """Hand the target to atheris for ``seconds`` (corpus and findings under ``work``); exits the process."""
    import atheris

    with atheris.instrument_imports(include=["omnidex"]):
        from fuzz import targets
        import omnidex.media.probe, omnidex.media.sniff, omnidex.serve.security  # noqa: E401,F401
        import omnidex.media.isobmff, omnidex.media.nal  # noqa: E401,F401
        import omnidex.series.io, omnidex.train.pairs  # noqa: E401,F401

    corpus = work / "corpus" / name
    findings = work / "findings" / name
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    seeds = HERE / "seeds" / name
    argv = [sys.argv[0], f"-max_total_time={seconds}", f"-max_len={max_len}", "-timeout=20",
            f"-rss_limit_mb={_rss_limit_mb()}",
            f"-artifact_prefix={findings}/", "-print_final_stats=1", str(corpus)]
    if seeds.is_dir():
        argv.append(str(seeds))
    atheris.Setup(argv, lambda data: targets.run_one(name, data))
    atheris.Fuzz()


def _rss_limit_mb(room_mb: int = 2048) -> int:
    """libFuzzer's memory limit: ``room_mb`` above where this process starts. Linux carries the RSS
    high-water mark across exec, so a target started from a large process (a test run holding
    models) reads that size as its own from the first input."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + room_mb


def replay(name: str, files: list[str]) -> int:
    """Run every file through the target in this process; 1 when one raised."""
    from fuzz import targets

    bad = 0
    for f in files:
        try:
            targets.run_one(name, Path(f).read_bytes())
        except Exception as exc:  # noqa: BLE001 - report every failing input
            print(f"{f}: {type(exc).__name__}: {exc}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def main(argv=None) -> int:
    """Command line (see the module docstring)."""
    from fuzz.targets import TARGETS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    ap.add_argument("--max-len", dest="max_len", type=int, default=4096, help="longest input (bytes)")
    ap.add_argument("--replay", nargs="*", default=None, help="files to run through the target instead")
    ap.add_argument("--work", type=Path, default=HERE, help="where corpus/ and findings/ go (default fuzz/)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMNIDEX_CACHE", str(HERE / ".cache"))
    if args.replay is not None:
        return replay(args.target, args.replay)
    fuzz(args.target, args.seconds, args.max_len, args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
