"""Shot boundaries: omnidex against PySceneDetect on the moment corpus, side by side in one run.

    python -m bench.shots.run --out bench/results/shots            # 24 videos (make bench-shots)
    python -m bench.shots.run --out /tmp/shots --quick             # 6 videos

Each video is scanned by every detector in turn (same machine, same moment, so load hits all of
them alike); boundaries are scored against the corpus truth with bench.moments' matching (one to
one, within +-0.5 s). Speed is seconds of video per wall second of the scan. Writes results.json,
table.md and shots.png.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench.moments.run import TOLERANCE_S, prf, score_shots

# PySceneDetect configurations: its default content detector, the adaptive one, and content plus its
# fade-to-black detector (what catches fades through black)
PEERS = ("scenedetect-content", "scenedetect-adaptive", "scenedetect-content+threshold")
DETECTORS = ("omnidex",) + PEERS


def omnidex_boundaries(path: str) -> list[dict]:
    """Shot starts after the first, as omnidex's ingest finds them (representative frames included)."""
    from omnidex.media.shots import detect_shots

    return [{"t": float(s.start), "type": s.transition} for s in detect_shots(path).shots[1:]]


def scenedetect_boundaries(path: str, name: str) -> list[dict]:
    """Scene starts after the first from PySceneDetect (PyAV backend, its default downscaling)."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, ThresholdDetector, open_video

    video = open_video(path, backend="pyav")
    sm = SceneManager()
    if name == "scenedetect-adaptive":
        sm.add_detector(AdaptiveDetector())
    else:
        sm.add_detector(ContentDetector())
    if name == "scenedetect-content+threshold":
        sm.add_detector(ThresholdDetector())
    sm.detect_scenes(video)
    return [{"t": float(getattr(a, "seconds", None) or a.get_seconds()), "type": "cut"} for a, _ in sm.get_scene_list()[1:]]


def detect(name: str, path: str) -> list[dict]:
    """Boundaries of one video by one detector."""
    return omnidex_boundaries(path) if name == "omnidex" else scenedetect_boundaries(path, name)


def pooled(per_video: list[dict]) -> dict:
    """Micro-averaged P/R/F1 (all boundaries; recall of cuts and of fades) and speed."""
    ok = [p for p in per_video if "error" not in p]
    out = {"all": prf(sum(p["score"]["all"]["tp"] for p in ok), sum(p["score"]["all"]["predicted"] for p in ok),
                      sum(p["score"]["all"]["truth"] for p in ok))}
    for kind in ("cut", "fade"):
        n = sum(p["score"][kind]["truth"] for p in ok)
        found = sum(p["score"][kind]["found"] for p in ok)
        out[f"recall_{kind}"] = round(found / n, 4) if n else None
    video_s = sum(p["duration"] for p in ok)
    wall = sum(p["wall_s"] for p in ok)
    out["video_s"] = round(video_s, 2)
    out["wall_s"] = round(wall, 3)
    out["speed_x"] = round(video_s / wall, 2) if wall else None  # seconds of video per second
    out["median_speed_x"] = round(statistics.median(p["duration"] / p["wall_s"] for p in ok), 2) if ok else None
    out["errors"] = len(per_video) - len(ok)
    return out


def run(out: Path, n_videos: int = 24, seed: int = 0, log=print) -> dict:
    """Build (or reuse) the corpus, scan every video with every detector, score and time them."""
    from bench.moments.corpus import build_corpus

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    videos = build_corpus(out / f"corpus_n{n_videos}_seed{seed}", n_videos, seed)
    for name in DETECTORS:  # warm-up: imports and first-use costs stay out of the timings
        detect(name, videos[0]["file"])
    per: dict[str, list[dict]] = {name: [] for name in DETECTORS}
    for v in videos:
        truth = [{"t": b["t"], "type": b["type"]} for b in v["boundaries"]]
        for name in DETECTORS:
            t0 = time.perf_counter()
            try:
                pred = detect(name, v["file"])
            except Exception as exc:  # noqa: BLE001 - one failing video must not end the benchmark
                per[name].append({"name": v["name"], "error": f"{type(exc).__name__}: {exc}"})
                continue
            wall = time.perf_counter() - t0
            sc = score_shots(truth, pred)
            sc.pop("pairs")
            per[name].append({"name": v["name"], "codec": v["codec"], "duration": v["duration"], "wall_s": round(wall, 4),
                              "score": sc, "pred": [round(p["t"], 3) for p in pred]})
        log(f"{v['name']}: " + ", ".join(f"{n} F1 {per[n][-1]['score']['all']['f1'] if 'score' in per[n][-1] else 'err'}"
                                           f" {per[n][-1].get('wall_s', 0):.2f}s" for n in DETECTORS))
    res = {"config": {"videos": n_videos, "seed": seed, "tolerance_s": TOLERANCE_S, "cpus": os.cpu_count(),
                      "python": sys.version.split()[0], "scenedetect": _version("scenedetect")},
           "pooled": {name: pooled(per[name]) for name in DETECTORS}, "per_video": per}
    om = res["pooled"]["omnidex"]
    res["omnidex_vs_best_peer"] = {
        "f1_minus_best_peer_f1": round(om["all"]["f1"] - max(res["pooled"][p]["all"]["f1"] or 0 for p in PEERS), 4),
        "speed_ratio_vs_fastest_peer": round(om["speed_x"] / max(res["pooled"][p]["speed_x"] or 1e-9 for p in PEERS), 2)}
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "table.md").write_text(table(res))
    plot(res, out / "shots.png")
    return res


def _version(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def table(res: dict) -> str:
    """Markdown table: one row per detector."""
    cfg = res["config"]
    lines = [f"# Shot boundaries: omnidex vs PySceneDetect {cfg['scenedetect']} (PyAV backend)", "",
             f"{cfg['videos']} moment-corpus videos (seed {cfg['seed']}), boundaries matched within "
             f"+-{cfg['tolerance_s']} s; speed = seconds of video per wall second, all detectors on each "
             f"video in turn in one run ({cfg['cpus']} CPUs).", "",
             "| detector | precision | recall | F1 | cut recall | fade recall | speed (x real time, pooled) | median per video |",
             "|---|---|---|---|---|---|---|---|"]
    for name, p in res["pooled"].items():
        a = p["all"]
        lines.append(f"| {name} | {a['precision']} | {a['recall']} | {a['f1']} | {p['recall_cut']} | {p['recall_fade']} "
                     f"| {p['speed_x']} | {p['median_speed_x']} |")
    cmp_ = res["omnidex_vs_best_peer"]
    lines += ["", f"omnidex F1 minus the best peer's: {cmp_['f1_minus_best_peer_f1']:+.4f}; "
                  f"speed over the fastest peer: {cmp_['speed_ratio_vs_fastest_peer']}x "
                  f"(target: F1 at least as good, faster)."]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    """F1 and speed bars per detector."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res["pooled"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.barh(names, [res["pooled"][n]["all"]["f1"] or 0 for n in names], color="tab:blue")
    a.set_xlim(0, 1)
    a.set_title(f"boundary F1 (+-{res['config']['tolerance_s']} s)")
    b.barh(names, [res["pooled"][n]["speed_x"] or 0 for n in names], color="tab:green")
    b.set_title("seconds of video per second")
    for ax in (a, b):
        ax.invert_yaxis()
    b.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/results/shots")
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="6 videos")
    args = ap.parse_args(argv)
    res = run(Path(args.out), 6 if args.quick else args.videos, args.seed)
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
