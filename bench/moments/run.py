"""Moment benchmark on a generated video library: shot boundaries, spoken moments, ingest speed.

Run from the repository root::

    python -m bench.moments.run --out bench/results/moments          # full run (make bench-moments)
    python -m bench.moments.run --out /tmp/m --quick                 # 8 videos, speed on 6

What it measures (see bench/moments/README.md for the definitions):

1. Shots: ``omnidex.media.shots.detect_shots`` on every video; boundaries (starts of shots after
   the first) against the generated scene boundaries, +-0.5 s, one-to-one greedy matching;
   precision/recall/F1 overall and for hard cuts and fades.
2. Spoken moments: every video indexed into one library (no CLIP, Whisper ``--whisper``); each
   narrated phrase searched with a PARAPHRASED query (top 5); moment recall@1/@5 at temporal
   IoU >= 0.5 with the real spoken span, R@1 at any overlap, mean IoU of the top hit.
3. Speed: video seconds indexed per wall second (speech on; speech off; speech and OCR off), and
   decode time of the frame sampler's chosen strategy vs decoding every frame.

Writes ``<out>/results.json`` and plots, and prints a table with every target and PASS/FAIL.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TOLERANCE_S = 0.5  # shot boundary match window (either side)
IOU_OK = 0.5  # a moment is correct at temporal IoU >= this with the spoken span
TOP_K = 5
TARGETS = {"shot_f1_cut": 0.95, "r_at_1": 0.8, "mean_iou": 0.6, "speed_x": 20.0}


# ----------------------------------------------------------------------------------------- metrics

def temporal_iou(a0: float, a1: float, b0: float, b1: float) -> float:
    """Intersection over union of two time spans (0 when disjoint or either is empty)."""
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = (a1 - a0) + (b1 - b0) - inter
    return inter / union if union > 0 else 0.0


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    """Whether two closed spans share at least one instant."""
    return a0 <= b1 and b0 <= a1


def match_boundaries(truth: list[float], pred: list[float], tol: float = TOLERANCE_S) -> list[tuple[int, int]]:
    """One-to-one greedy matching: closest (truth, prediction) pairs first, within ``tol`` seconds.

    Returns:
        Matched (truth index, prediction index) pairs.
    """
    pairs = sorted((abs(t - p), i, j) for i, t in enumerate(truth) for j, p in enumerate(pred) if abs(t - p) <= tol)
    used_t, used_p, out = set(), set(), []
    for _, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            out.append((i, j))
    return out


def prf(tp: int, n_pred: int, n_truth: int) -> dict:
    """Precision, recall and F1 from counts (None where undefined)."""
    p = tp / n_pred if n_pred else None
    r = tp / n_truth if n_truth else None
    f = 2 * p * r / (p + r) if p and r else (0.0 if (p is not None and r is not None) else None)
    return {"precision": _r(p), "recall": _r(r), "f1": _r(f), "tp": tp, "predicted": n_pred, "truth": n_truth}


def _r(x, nd: int = 4):
    return None if x is None else round(float(x), nd)


def score_shots(truth: list[dict], pred: list[dict]) -> dict:
    """Boundary scores of one video (or of pooled lists) by transition type.

    ``truth``: [{"t", "type": "cut"|"fade"}]; ``pred``: [{"t", "type": "cut"|"fade"|...}].
    Matching ignores the type. Overall: all predictions vs all truths. Per type T: recall = share of
    true T boundaries matched by any prediction; precision = share of predictions labelled T that
    matched any true boundary. ``label_agreement``: matched pairs whose types agree.
    """
    pairs = match_boundaries([b["t"] for b in truth], [p["t"] for p in pred])
    out = {"all": prf(len(pairs), len(pred), len(truth))}
    for kind in ("cut", "fade"):
        found = sum(1 for i, _ in pairs if truth[i]["type"] == kind)
        n_truth = sum(1 for b in truth if b["type"] == kind)
        labelled = [j for j, p in enumerate(pred) if p["type"] == kind]
        right = sum(1 for _, j in pairs if pred[j]["type"] == kind)
        p = right / len(labelled) if labelled else None
        r = found / n_truth if n_truth else None
        f = 2 * p * r / (p + r) if p and r else (0.0 if (p is not None and r is not None) else None)
        out[kind] = {"precision": _r(p), "recall": _r(r), "f1": _r(f), "truth": n_truth, "found": found,
                     "predicted": len(labelled), "predicted_correct": right}
    out["label_agreement"] = _r(sum(truth[i]["type"] == pred[j]["type"] for i, j in pairs) / len(pairs)) if pairs else None
    out["pairs"] = pairs
    return out


def _where(t: float, scenes: list) -> str:
    """Background of the scene containing ``t``."""
    for a, b, _, bg in scenes:
        if a <= t < b:
            return bg
    return "end"


# ------------------------------------------------------------------------------------------- stages

def run_shots(videos: list[dict], progress) -> dict:
    """Detect shots in every video and score the boundaries."""
    try:
        from omnidex.media.shots import detect_shots
    except ImportError as exc:
        return {"available": False, "error": f"omnidex.media.shots not importable: {exc}"}
    per_video, all_truth, all_pred, fp_where, miss_kind = [], [], [], {}, {}
    task = progress.add_task("shots", total=len(videos))
    for v in videos:
        t0 = time.perf_counter()
        try:
            scan = detect_shots(v["file"])
        except Exception as exc:  # noqa: BLE001 - one failing video must not end the benchmark
            per_video.append({"name": v["name"], "error": f"{type(exc).__name__}: {exc}"})
            progress.advance(task)
            continue
        wall = time.perf_counter() - t0
        pred = [{"t": round(float(s.start), 3), "type": str(s.transition)} for s in scan.shots[1:]]
        truth = [{"t": b["t"], "type": b["type"]} for b in v["boundaries"]]
        sc = score_shots(truth, pred)
        matched_p = {j for _, j in sc["pairs"]}
        matched_t = {i for i, _ in sc["pairs"]}
        for j, p in enumerate(pred):
            if j not in matched_p:
                key = _where(p["t"], v["scenes"])
                fp_where[key] = fp_where.get(key, 0) + 1
        for i, b in enumerate(truth):
            if i not in matched_t:
                miss_kind[b["type"]] = miss_kind.get(b["type"], 0) + 1
        errs = [round(pred[j]["t"] - truth[i]["t"], 3) for i, j in sc["pairs"]]
        per_video.append({
            "name": v["name"], "codec": v["codec"], "gop": v["gop"], "strategy": getattr(scan, "strategy", None),
            "decoded": getattr(scan, "decoded", None), "scan_s": _r(getattr(scan, "seconds", wall), 3),
            "wall_s": _r(wall, 3), "n_shots": len(scan.shots), "truth": truth, "pred": pred,
            "offsets_s": errs, **{k: sc[k] for k in ("all", "cut", "fade", "label_agreement")}})
        for b in truth:
            all_truth.append(dict(b, video=v["name"]))
        for p in pred:
            all_pred.append(dict(p, video=v["name"]))
        progress.advance(task)
    ok = [p for p in per_video if "error" not in p]
    pooled = {}
    for kind in ("all", "cut", "fade"):
        if kind == "all":
            tp = sum(p["all"]["tp"] for p in ok)
            pooled[kind] = prf(tp, sum(p["all"]["predicted"] for p in ok), sum(p["all"]["truth"] for p in ok))
        else:
            n_truth = sum(p[kind]["truth"] for p in ok)
            found = sum(p[kind]["found"] for p in ok)
            n_pred = sum(p[kind]["predicted"] for p in ok)
            right = sum(p[kind]["predicted_correct"] for p in ok)
            pr = right / n_pred if n_pred else None
            rc = found / n_truth if n_truth else None
            f = 2 * pr * rc / (pr + rc) if pr and rc else (0.0 if (pr is not None and rc is not None) else None)
            pooled[kind] = {"precision": _r(pr), "recall": _r(rc), "f1": _r(f), "truth": n_truth, "found": found,
                            "predicted": n_pred, "predicted_correct": right}
    agree = [a for p in ok for a in [p["label_agreement"]] if a is not None]
    offsets = [e for p in ok for e in p["offsets_s"]]
    return {"available": True, "tolerance_s": TOLERANCE_S, "pooled": pooled,
            "label_agreement_mean": _r(statistics.mean(agree)) if agree else None,
            "median_abs_offset_s": _r(statistics.median(abs(e) for e in offsets), 3) if offsets else None,
            "false_positives_by_background": fp_where, "misses_by_type": miss_kind,
            "errors": [p for p in per_video if "error" in p],
            "per_video": [{k: val for k, val in p.items()} for p in per_video]}


def _realpath(p: str) -> str:
    return os.path.realpath(str(p))


def _classify(q: dict, hit) -> dict:
    """Top-hit diagnosis: correct, wrong file, or right file with bad boundaries."""
    if hit is None:
        return {"outcome": "no_hit"}
    if _realpath(hit.path) != _realpath(q["file"]):
        return {"outcome": "wrong_file"}
    iou = temporal_iou(hit.start, hit.end, q["start"], q["end"])
    d = {"start_err_s": round(hit.start - q["start"], 3), "end_err_s": round(hit.end - q["end"], 3),
         "len_ratio": round((hit.end - hit.start) / max(1e-6, q["end"] - q["start"]), 3)}
    if iou >= IOU_OK:
        return {"outcome": "correct", **d}
    if not overlaps(hit.start, hit.end, q["start"], q["end"]):
        return {"outcome": "right_file_no_overlap", **d}
    if d["len_ratio"] > 1.5:
        return {"outcome": "right_file_too_long", **d}
    if d["len_ratio"] < 1 / 1.5:
        return {"outcome": "right_file_too_short", **d}
    return {"outcome": "right_file_shifted", **d}


def evaluate_queries(idx, qs: list[dict], progress, label: str = "queries", field: str = "query") -> dict:
    """Search each query over the whole library and score the top-5 moments."""
    rows, lat = [], []
    task = progress.add_task(label, total=len(qs))
    for q in qs:
        t0 = time.perf_counter()
        hits = idx.search(q[field], top_k=TOP_K)
        lat.append((time.perf_counter() - t0) * 1000)
        ious = [temporal_iou(h.start, h.end, q["start"], q["end"]) if _realpath(h.path) == _realpath(q["file"]) else 0.0
                for h in hits]
        anyov = [(_realpath(h.path) == _realpath(q["file"]) and overlaps(h.start, h.end, q["start"], q["end"]))
                 for h in hits]
        rank = next((k + 1 for k, x in enumerate(ious) if x >= IOU_OK), None)
        file_rank = next((k + 1 for k, h in enumerate(hits) if _realpath(h.path) == _realpath(q["file"])), None)
        top = hits[0] if hits else None
        rows.append({
            "query": q[field], "phrase": q["phrase"], "truth": {"file": q["name"], "start": q["start"], "end": q["end"]},
            "voice": q["voice"], "wpm": q["wpm"],
            "top": None if top is None else {"file": Path(top.path).name, "start": round(top.start, 3),
                                             "end": round(top.end, 3), "score": round(top.score, 4),
                                             "modality": top.modality, "signals": top.signals,
                                             "evidence": (top.evidence or "")[:200]},
            "iou": round(ious[0], 4) if ious else 0.0, "rank": rank, "file_rank": file_rank,
            "any_overlap_at_1": bool(anyov and anyov[0]), **_classify(q, top)})
        progress.advance(task)
    n = len(rows) or 1
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    right_file = [r for r in rows if "start_err_s" in r]
    summary = {
        "queries": len(rows),
        "r_at_1": round(sum(r["rank"] == 1 for r in rows) / n, 4),
        "r_at_5": round(sum(r["rank"] is not None for r in rows) / n, 4),
        "r_at_1_any_overlap": round(sum(r["any_overlap_at_1"] for r in rows) / n, 4),
        "file_r_at_1": round(sum(r["file_rank"] == 1 for r in rows) / n, 4),
        "file_r_at_5": round(sum(r["file_rank"] is not None for r in rows) / n, 4),
        "mean_iou": round(sum(r["iou"] for r in rows) / n, 4),
        "outcomes": outcomes,
        "latency_ms_median": round(statistics.median(lat), 1) if lat else None,
    }
    if right_file:
        summary["right_file_top_hits"] = {
            "n": len(right_file),
            "median_start_err_s": round(statistics.median(r["start_err_s"] for r in right_file), 3),
            "median_end_err_s": round(statistics.median(r["end_err_s"] for r in right_file), 3),
            "median_len_ratio": round(statistics.median(r["len_ratio"] for r in right_file), 3),
            "mean_iou": round(statistics.mean(r["iou"] for r in right_file), 4)}
    return {"summary": summary, "per_query": rows}


def _index(db: Path, files: list[str], cfg, progress, label: str, warm=None):
    """Index ``files`` into a fresh db; returns (Index, wall seconds, report dict).

    ``warm``: an Index whose loaded encoders are reused, so model loading is not counted.
    """
    from omnidex import Index

    shutil.rmtree(db, ignore_errors=True)
    idx = Index(db, cfg)
    if warm is not None and getattr(warm, "_models", None) is not None:
        idx._models = warm._models  # encoders already loaded (same config): time ingest, not loading
    task = progress.add_task(label, total=len(files))

    def cb(done, total, path):
        progress.update(task, completed=done, total=total)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0, c0 = time.perf_counter(), time.process_time()
    report = idx.add(list(files), progress=cb)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    progress.update(task, completed=len(files))
    rep = report.to_dict()
    rep["cpu_s"], rep["load_before"] = cpu, load
    return idx, wall, rep


def _warm(db: Path, warm_video: Path, cfg):
    """Load the encoders of ``cfg`` by indexing one short video; returns (Index, seconds)."""
    from omnidex import Index

    shutil.rmtree(db, ignore_errors=True)
    idx = Index(db, cfg)
    t0 = time.perf_counter()
    idx.add([str(warm_video)])
    return idx, time.perf_counter() - t0


def _warm_video(folder: Path) -> Path:
    """A 4-second narrated video used only to load models."""
    from omnidex.testing.mediagen import Narration, Scene, make_video

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "warmup.mp4"
    if not out.exists():
        make_video(out, [Scene(2.0, (10, 120, 200), "WARM UP"), Scene(2.0, (200, 120, 10), "READY")],
                   [Narration(0.3, "warming up the models")], size=(640, 360))
    return out


def _speed_row(label: str, wall: float, report: dict, files: list[str], durations: dict) -> dict:
    """Video seconds per wall second, counting only the files that were really indexed."""
    by_name = {_realpath(f): durations[f] for f in files}
    indexed = [o for o in report["files"] if o["status"] == "indexed"]
    secs = sum(by_name.get(_realpath(o["path"]), 0.0) for o in indexed)
    failed = [(Path(o["path"]).name, o["reason"]) for o in report["files"] if o["status"] != "indexed"]
    cpu = report.get("cpu_s")
    return {"label": label, "videos": len(files), "indexed": len(indexed), "video_s": round(secs, 2),
            "wall_s": round(wall, 3), "x_realtime": round(secs / wall, 2) if wall > 0 and indexed else None,
            "cpu_s": round(cpu, 2) if cpu else None,
            "x_realtime_per_cpu_s": round(secs / cpu, 2) if cpu and indexed else None,
            "load_before": None if report.get("load_before") is None else round(report["load_before"], 2),
            "not_indexed": failed, "notices": report.get("notices", [])}


def _full_decode(path: str) -> int:
    """Decode every video frame with PyAV (frame threading); returns the frame count."""
    import av

    n = 0
    with av.open(path) as container:
        container.streams.video[0].thread_type = "AUTO"
        for _ in container.decode(video=0):
            n += 1
    return n


def _best_of(repeats: int, fn):
    """(fastest wall seconds over ``repeats`` calls, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_decode(videos: list[dict], shots: dict, max_side: int, progress, repeats: int = 3) -> dict:
    """Per video: probe, sample_frames(auto), sample_frames(decode) and a full PyAV decode, each
    timed as the fastest of ``repeats`` runs (the shot scan's time is its single run in stage 1)."""
    from omnidex.media.video import probe_video, sample_frames

    scan_s = {p["name"]: p.get("scan_s") for p in shots.get("per_video", []) if "error" not in p}
    rows = []
    task = progress.add_task("decode timing", total=len(videos))
    for v in videos:
        path = v["file"]
        t0 = time.perf_counter()
        info = probe_video(path)
        probe_s = time.perf_counter() - t0
        row = {"name": v["name"], "codec": info.codec, "gop_s": round(info.mean_gop, 2), "duration": round(info.duration, 2),
               "n_frames": info.n_frames, "probe_s": round(probe_s, 4)}
        for strat in ("auto", "decode"):
            st: dict = {}
            secs, (used, frames) = _best_of(repeats, lambda: sample_frames(
                path, fps=0.5, strategy=strat, info=info, stats=st, max_side=max_side))
            row[f"{strat}_s"] = round(secs, 4)
            row[f"{strat}_decoded"] = st.get("decoded")
            if strat == "auto":
                row["auto_strategy"], row["samples"] = used, len(frames)
        secs, n = _best_of(repeats, lambda: _full_decode(path))
        row["full_decode_s"], row["full_decoded"] = round(secs, 4), n
        row["shot_scan_s"] = scan_s.get(v["name"])
        row["full_over_auto"] = round(row["full_decode_s"] / row["auto_s"], 2) if row["auto_s"] > 0 else None
        row["decode_over_auto"] = round(row["decode_s"] / row["auto_s"], 2) if row["auto_s"] > 0 else None
        rows.append(row)
        progress.advance(task)

    def med(key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return round(statistics.median(vals), 4) if vals else None

    strategies: dict[str, int] = {}
    for r in rows:
        strategies[r["auto_strategy"]] = strategies.get(r["auto_strategy"], 0) + 1
    return {"repeats": repeats, "per_video": rows, "median_full_over_auto": med("full_over_auto"),
            "median_decode_over_auto": med("decode_over_auto"), "median_auto_s": med("auto_s"),
            "median_decode_s": med("decode_s"), "median_full_decode_s": med("full_decode_s"),
            "median_shot_scan_s": med("shot_scan_s"), "strategies": strategies,
            "total": {k: round(sum(r[k] or 0 for r in rows), 3) for k in ("auto_s", "decode_s", "full_decode_s", "shot_scan_s")}}


# --------------------------------------------------------------------------------------- reporting

def _status(value, target, higher: bool = True) -> str:
    if target is None or value is None:
        return "info" if value is not None else "n/a"
    return "PASS" if (value >= target if higher else value <= target) else "FAIL"


def summary_rows(res: dict) -> list[tuple[str, object, object, str]]:
    """(metric, value, target, status) for the printed table and the JSON."""
    rows = []
    sh = res.get("shots", {})
    if sh.get("available"):
        for kind in ("all", "cut", "fade"):
            d = sh["pooled"][kind]
            target = TARGETS["shot_f1_cut"] if kind == "cut" else None  # the target is on hard cuts
            rows.append((f"shots {kind}: P / R / F1 (+-{TOLERANCE_S}s)",
                         f"{_fmt(d['precision'])} / {_fmt(d['recall'])} / {_fmt(d['f1'])}", target,
                         _status(d["f1"], target)))
        rows.append(("shots: type agreement of matched", sh["label_agreement_mean"], None, _status(sh["label_agreement_mean"], None)))
    else:
        rows.append(("shots", "not run: " + sh.get("error", "?"), None, "n/a"))
    mo = res.get("moments", {}).get("summary")
    if mo:
        rows.append(("moments R@1 (IoU>=0.5)", mo["r_at_1"], TARGETS["r_at_1"], _status(mo["r_at_1"], TARGETS["r_at_1"])))
        rows.append(("moments R@5 (IoU>=0.5)", mo["r_at_5"], None, "info"))
        rows.append(("moments R@1 (any overlap)", mo["r_at_1_any_overlap"], None, "info"))
        rows.append(("moments mean IoU of top hit", mo["mean_iou"], TARGETS["mean_iou"], _status(mo["mean_iou"], TARGETS["mean_iou"])))
        rows.append(("file R@1 / R@5", f"{mo['file_r_at_1']} / {mo['file_r_at_5']}", None, "info"))
        ctl = res.get("moments_verbatim", {}).get("summary")
        if ctl:
            rows.append(("control: R@1 / IoU with verbatim phrase", f"{ctl['r_at_1']} / {ctl['mean_iou']}", None, "info"))
    for s in res.get("speed", {}).get("ingest", []):
        bad = f", {len(s['not_indexed'])} NOT indexed" if s["not_indexed"] else ""
        rows.append((f"ingest x realtime: {s['label']} ({s['indexed']}/{s['videos']} videos{bad})", s["x_realtime"],
                     TARGETS["speed_x"], "FAIL" if s["not_indexed"] else _status(s["x_realtime"], TARGETS["speed_x"])))
    rep = res.get("index_report")
    if rep and (rep["failed"] or rep["skipped"]):
        rows.append(("library: files failed / skipped", f"{rep['failed']} / {rep['skipped']}", None, "FAIL"))
    dec = res.get("speed", {}).get("decode")
    if dec:
        rows.append(("decode: median full-decode / auto-sampling time", dec["median_full_over_auto"], None, "info"))
        rows.append(("decode: median decode-strategy / auto time", dec["median_decode_over_auto"], None, "info"))
        rows.append(("decode: median s per video auto / full / shot scan",
                     f"{dec['median_auto_s']} / {dec['median_full_decode_s']} / {dec['median_shot_scan_s']}", None, "info"))
    return rows


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def print_table(res: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"moment benchmark — {res['corpus']['videos']} videos, {res['corpus']['seconds']} s, "
                        f"whisper {res['config']['whisper']}")
    for col in ("metric", "value", "target", "status"):
        table.add_column(col)
    colours = {"PASS": "green", "FAIL": "red", "info": "dim", "n/a": "yellow"}
    for metric, value, target, status in summary_rows(res):
        table.add_row(metric, str(value), "—" if target is None else f">= {target}",
                      f"[{colours.get(status, 'white')}]{status}[/]")
    console.print(table)
    ingest = res.get("speed", {}).get("ingest", [])
    if ingest:
        sp = Table(title="ingest speed detail (model loading excluded)")
        for col in ("config", "videos", "video s", "wall s", "x realtime", "CPU s", "video s / CPU s", "load before"):
            sp.add_column(col)
        for r in ingest:
            sp.add_row(r["label"], f"{r['indexed']}/{r['videos']}", str(r["video_s"]), str(r["wall_s"]),
                       str(r["x_realtime"]), str(r["cpu_s"]), str(r["x_realtime_per_cpu_s"]), str(r["load_before"]))
        console.print(sp)
    bad = [r for r in res.get("moments", {}).get("per_query", []) if r["outcome"] != "correct"]
    if bad:
        ft = Table(title=f"queries whose top hit is not correct ({len(bad)})")
        for col in ("outcome", "IoU", "query", "truth", "top hit", "top hit text"):
            ft.add_column(col)
        for r in bad:
            t, h = r["truth"], r["top"]
            ft.add_row(r["outcome"], f"{r['iou']:.2f}", r["query"], f"{t['file']} {t['start']:.1f}-{t['end']:.1f}",
                       "—" if h is None else f"{h['file']} {h['start']:.1f}-{h['end']:.1f}",
                       "" if h is None else h["evidence"][:80])
        console.print(ft)


def make_plots(res: dict, out: Path) -> list[str]:
    """IoU histogram, speed bars and per-video shot F1; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    rows = res.get("moments", {}).get("per_query", [])
    if rows:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist([r["iou"] for r in rows], bins=[i / 20 for i in range(21)], color="#4477aa", edgecolor="white")
        ax.axvline(IOU_OK, color="red", ls="--", label=f"IoU {IOU_OK}")
        ax.set_xlabel("temporal IoU of the top hit (0 = wrong file)")
        ax.set_ylabel("queries")
        ax.set_title(f"spoken moments: R@1={res['moments']['summary']['r_at_1']}, "
                     f"mean IoU={res['moments']['summary']['mean_iou']}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "iou_hist.png", dpi=110)
        plt.close(fig)
        written.append("iou_hist.png")
    speed = res.get("speed", {})
    if speed.get("ingest") or speed.get("decode"):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        ing = speed.get("ingest", [])
        ax = axes[0]
        ax.bar([s["label"] for s in ing], [s["x_realtime"] or 0 for s in ing], color="#228833")
        ax.axhline(TARGETS["speed_x"], color="red", ls="--", label=f"target {TARGETS['speed_x']:g}x")
        ax.set_ylabel("video seconds / wall second")
        ax.set_title("ingest speed (no CLIP)")
        ax.tick_params(axis="x", labelsize=8)
        ax.legend()
        dec = speed.get("decode", {}).get("per_video", [])
        ax = axes[1]
        if dec:
            import numpy as np

            x = np.arange(len(dec))
            w = 0.27
            ax.bar(x - w, [r["auto_s"] for r in dec], w, label="sample_frames auto")
            ax.bar(x, [r["full_decode_s"] for r in dec], w, label="decode every frame")
            ax.bar(x + w, [r["shot_scan_s"] or 0 for r in dec], w, label="shot scan")
            ax.set_xticks(x, [r["name"].split(".")[0] for r in dec], rotation=90, fontsize=7)
            ax.set_ylabel("seconds")
            ax.set_title("frame decode time per video")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "speed.png", dpi=110)
        plt.close(fig)
        written.append("speed.png")
    per = [p for p in res.get("shots", {}).get("per_video", []) if "error" not in p]
    if per:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        names = [p["name"].split(".")[0] for p in per]
        f1 = [p["all"]["f1"] if p["all"]["f1"] is not None else 0 for p in per]
        colours = ["#cc6677" if p["fade"]["truth"] else "#4477aa" for p in per]
        ax.bar(names, f1, color=colours)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("boundary F1")
        ax.set_title(f"shot boundaries per video (±{TOLERANCE_S}s; red = has fades)")
        ax.tick_params(axis="x", rotation=90, labelsize=7)
        fig.tight_layout()
        fig.savefig(out / "shots_f1.png", dpi=110)
        plt.close(fig)
        written.append("shots_f1.png")
    return written


# ------------------------------------------------------------------------------------------- driver

def run(out: str | Path, n_videos: int = 24, whisper: str = "tiny.en", quick: bool = False,
        speed_videos: int | None = None, seed: int = 0, durations: tuple[float, float] = (20.0, 45.0),
        phrases_per_video: int = 3, plots: bool = True, console=None) -> dict:
    """Run every stage and write ``<out>/results.json``; returns the results dict."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from omnidex import IndexConfig

    from .corpus import build_corpus, describe, queries

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=150)  # logs: keep the tables readable
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    res: dict = {"config": {"videos": n_videos, "whisper": whisper, "quick": quick, "seed": seed,
                            "durations": list(durations), "phrases_per_video": phrases_per_video,
                            "tolerance_s": TOLERANCE_S, "iou_ok": IOU_OK, "top_k": TOP_K, "targets": TARGETS,
                            "cpus": os.cpu_count(), "python": sys.version.split()[0]},
                 "stage_wall_s": {}}
    cols = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=console, transient=False) as progress:
        t0 = time.perf_counter()
        task = progress.add_task("corpus", total=n_videos)
        videos = build_corpus(out / f"corpus_n{n_videos}_seed{seed}", n_videos, seed, durations=durations, phrases_per_video=phrases_per_video,
                              progress=lambda done, total, name: progress.update(task, completed=done))
        progress.update(task, completed=n_videos)
        res["stage_wall_s"]["corpus"] = round(time.perf_counter() - t0, 2)
        res["corpus"] = describe(videos)
        files = [v["file"] for v in videos]
        durations_by_file = {v["file"]: v["duration"] for v in videos}

        t0 = time.perf_counter()
        res["shots"] = run_shots(videos, progress)
        res["stage_wall_s"]["shots"] = round(time.perf_counter() - t0, 2)

        # (a) speech on: the moment library itself
        t0 = time.perf_counter()
        warm_video = _warm_video(out / "warmup")
        cfg_a = IndexConfig(clip_model=None, whisper_model=whisper)
        warm_a, load_a = _warm(out / "db_warmup", warm_video, cfg_a)
        idx, wall_a, rep_a = _index(out / "db_moments", files, cfg_a, progress, "index (speech on)", warm_a)
        speed = [_speed_row("speech+OCR", wall_a, rep_a, files, durations_by_file)]
        res["index_report"] = {k: rep_a[k] for k in ("indexed", "skipped", "failed", "notices", "wall_s")}
        res["index_report"]["problems"] = [(Path(o["path"]).name, o["status"], o["reason"])
                                           for o in rep_a["files"] if o["status"] != "indexed"]
        res["stage_wall_s"]["index_moments"] = round(time.perf_counter() - t0, 2)

        t0 = time.perf_counter()
        qs = queries(videos)
        res["moments"] = evaluate_queries(idx, qs, progress, "queries (paraphrased)")
        res["moments_verbatim"] = evaluate_queries(idx, qs, progress, "queries (verbatim)", field="phrase")
        # control only: keep its summary, and what the index holds for each phrase (the verbatim
        # query's top hit when it is in the right file: roughly what Whisper heard there)
        for row, ctl in zip(res["moments"]["per_query"], res["moments_verbatim"].pop("per_query")):
            row["heard"] = ctl["top"]["evidence"] if ctl["top"] and ctl["top"]["file"] == row["truth"]["file"] else None
        res["stage_wall_s"]["queries"] = round(time.perf_counter() - t0, 2)

        # (b) speech off, (c) speech and OCR off: fresh dbs over the same files (or a subset)
        t0 = time.perf_counter()
        k = speed_videos or (6 if quick else len(files))
        sub = files[: max(1, min(k, len(files)))]
        for label, cfg in (("OCR only (no speech)", IndexConfig(clip_model=None, whisper_model=whisper, speech=False)),
                           ("no speech, no OCR", IndexConfig(clip_model=None, whisper_model=whisper, speech=False, ocr=False))):
            warm, _ = _warm(out / "db_warmup", warm_video, cfg)
            _, wall, rep = _index(out / "db_speed", sub, cfg, progress, f"index ({label})", warm)
            speed.append(_speed_row(label, wall, rep, sub, durations_by_file))
        res["stage_wall_s"]["index_speed"] = round(time.perf_counter() - t0, 2)

        t0 = time.perf_counter()
        res["speed"] = {"ingest": speed, "model_load_s_speech": round(load_a, 2),
                        "note": ("model loading excluded (encoders warmed on a 4 s video first); "
                                 + (f"b/c use the first {len(sub)} of {len(files)} videos" if len(sub) < len(files)
                                    else "all three on the same files")),
                        "decode": run_decode(videos, res["shots"], IndexConfig().frame_max_side, progress,
                                             repeats=1 if quick else 3)}
        res["stage_wall_s"]["decode"] = round(time.perf_counter() - t0, 2)
    for db in ("db_warmup", "db_speed"):
        shutil.rmtree(out / db, ignore_errors=True)
    res["wall_s"] = round(time.perf_counter() - t_start, 1)
    res["summary"] = [{"metric": m, "value": v, "target": t, "status": s} for m, v, t, s in summary_rows(res)]
    if plots:
        try:
            res["plots"] = make_plots(res, out)
        except Exception as exc:  # noqa: BLE001 - plots are optional
            res["plots_error"] = f"{type(exc).__name__}: {exc}"
    for p in res.get("shots", {}).get("per_video", []):
        p.pop("pairs", None)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print_table(res, console)
    console.print(f"wrote {out / 'results.json'} (run took {res['wall_s']} s)")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Moment benchmark on a generated video library.")
    ap.add_argument("--out", type=Path, default=Path("bench/results/moments"))
    ap.add_argument("--videos", type=int, default=None, help="videos in the corpus (default 24; 8 with --quick)")
    ap.add_argument("--whisper", default="tiny.en", help="Whisper model for ingest (default tiny.en)")
    ap.add_argument("--quick", action="store_true", help="8 videos; speed-off configs on 6")
    ap.add_argument("--speed-videos", type=int, default=None,
                    help="videos for the speech-off speed runs (default all; 6 with --quick)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    n = args.videos or (8 if args.quick else 24)
    try:
        run(args.out, n, args.whisper, args.quick, args.speed_videos, args.seed, plots=not args.no_plots)
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - print and fail
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
