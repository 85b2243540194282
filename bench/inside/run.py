"""Inside the MP4 on longer files: agreement with ffprobe and time, side by side in one run.

Run from the repository root::

    python -m bench.inside.run --out bench/results/inside           # full run (make bench-inside)
    python -m bench.inside.run --out /tmp/inside --quick            # 60 s / 10 s files

Files are generated with the ffmpeg CLI (testsrc2, B-frames): H.264 + AAC in MP4 (10 min), the same
stream-copied into a fragmented MP4 (``frag_keyframe+empty_moov``) and into MPEG-TS (Annex B), and
H.265 in MP4 (60 s, open GOPs with CRA). For each file:

* agreement: every packet's pts, dts, size and keyframe flag against ffprobe ``-show_packets``, and
  every frame's picture type and packet size against ffprobe ``-show_frames`` (target: no mismatch);
* time (median of 5 runs, 3 for packets; this process vs an ffprobe subprocess, whose start-up of
  about 0.2 s is included): the box tree (``isobmff.parse_file``) vs ``ffprobe -show_format
  -show_streams``; every packet of every stream with NAL units (``packets.read_packets``) vs
  ``ffprobe -show_packets`` (JSON); peak Python memory of the box parse.

Writes ``<out>/results.json``, ``<out>/table.md`` and ``<out>/inside.png``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
import tracemalloc
from pathlib import Path

FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
SRC = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]


def make_media(d: Path, quick: bool) -> dict[str, Path]:
    """The four files (generated once per folder)."""
    d.mkdir(parents=True, exist_ok=True)
    long_s, hevc_s = (60, 10) if quick else (600, 60)
    files = {"h264.mp4": d / "h264.mp4", "h264_frag.mp4": d / "h264_frag.mp4", "h264.ts": d / "h264.ts",
             "h265.mp4": d / "h265.mp4"}

    def run(*args):
        subprocess.run([*FFMPEG, *args], check=True)

    if not files["h264.mp4"].exists():
        run(*SRC, "-f", "lavfi", "-i", "sine=r=44100", "-t", str(long_s), "-pix_fmt", "yuv420p", "-c:v", "libx264",
            "-preset", "veryfast", "-g", "50", "-c:a", "aac", str(files["h264.mp4"]))
    if not files["h264_frag.mp4"].exists():
        run("-i", str(files["h264.mp4"]), "-c", "copy", "-movflags", "frag_keyframe+empty_moov",
            str(files["h264_frag.mp4"]))
    if not files["h264.ts"].exists():
        run("-i", str(files["h264.mp4"]), "-c", "copy", str(files["h264.ts"]))
    if not files["h265.mp4"].exists():
        run(*SRC, "-t", str(hevc_s), "-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "fast",
            "-x265-params", "log-level=error", "-tag:v", "hvc1", str(files["h265.mp4"]))
    return files


def _ffprobe(path: Path, *args: str, video_only: bool = True) -> dict:
    select = ["-select_streams", "v:0"] if video_only else []
    out = subprocess.run(["ffprobe", "-v", "error", *select, *args, "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _median_s(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(path: Path) -> dict:
    """Agreement and timings for one file."""
    from omnidex.media.isobmff import parse_file
    from omnidex.media.packets import read_packets

    listing = read_packets(path, stream=0)
    ours = listing["packets"]
    theirs = _ffprobe(path, "-show_packets")["packets"]
    packet_bad = sum((a["pts"], a["dts"], a["size"], a["keyframe"]) !=
                     (int(b["pts"]), int(b["dts"]) if "dts" in b else a["dts"], int(b["size"]), "K" in b["flags"])
                     for a, b in zip(ours, theirs)) + abs(len(ours) - len(theirs))
    by_pts = {p["pts"]: p for p in ours}
    frames = _ffprobe(path, "-show_frames")["frames"]
    frame_bad = sum(by_pts.get(int(f["pts"]), {}).get("picture_type") != f["pict_type"]
                    or by_pts[int(f["pts"])]["size"] != int(f["pkt_size"]) for f in frames)
    types = {k: sum(p["picture_type"] == k for p in ours) for k in ("I", "P", "B")}
    row = {"file": path.name, "bytes": path.stat().st_size, "packets": len(ours), "frames": len(frames),
           "types": types, "packet_mismatches": packet_bad, "frame_type_mismatches": frame_bad}
    if path.suffix == ".mp4":
        tree = parse_file(path)
        tracemalloc.start()
        parse_file(path)
        row["boxes_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
        row.update(boxes=tree["box_count"], damage=len(tree["damage"]),
                   boxes_s=round(_median_s(lambda: parse_file(path)), 4),
                   ffprobe_streams_s=round(_median_s(lambda: _ffprobe(path, "-show_format", "-show_streams",
                                                                      video_only=False)), 4))
    row["all_packets"] = len(read_packets(path)["packets"])  # every stream, as timed on both sides
    row["packets_s"] = round(_median_s(lambda: read_packets(path), 3), 3)
    row["ffprobe_packets_s"] = round(_median_s(lambda: _ffprobe(path, "-show_packets", video_only=False), 3), 3)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| file | MB | video packets | I/P/B | packet mismatches | frame-type mismatches | boxes | box tree s | "
             "ffprobe streams s | all packets | packets+NAL s | ffprobe packets s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["types"]
        lines.append(f"| {r['file']} | {r['bytes'] / 2**20:.1f} | {r['packets']} | {t['I']}/{t['P']}/{t['B']} | "
                     f"{r['packet_mismatches']} | {r['frame_type_mismatches']} | {r.get('boxes', '-')} | "
                     f"{r.get('boxes_s', '-')} | {r.get('ffprobe_streams_s', '-')} | {r['all_packets']} | {r['packets_s']} | "
                     f"{r['ffprobe_packets_s']} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [r["file"] for r in rows]
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r["packets_s"] for r in rows], height=0.4, label="omnidex packets + NAL types")
    ax.barh([i - 0.2 for i in y], [r["ffprobe_packets_s"] for r in rows], height=0.4, label="ffprobe -show_packets")
    ax.set_yticks(list(y), names)
    ax.set_xlabel("seconds (median)")
    ax.set_title("Listing every packet of every stream (same files, one run)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/inside"))
    ap.add_argument("--quick", action="store_true", help="60 s H.264, 10 s H.265")
    args = ap.parse_args(argv)
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        raise SystemExit("bench/inside needs the ffmpeg and ffprobe commands (scripts/setup-system.sh)")
    args.out.mkdir(parents=True, exist_ok=True)
    files = make_media(args.out / ("media-quick" if args.quick else "media"), args.quick)
    rows = []
    for name, path in files.items():
        rows.append(measure(path))
        print(json.dumps(rows[-1]), flush=True)
    ok = all(r["packet_mismatches"] == 0 and r["frame_type_mismatches"] == 0 for r in rows)
    result = {"quick": args.quick, "rows": rows, "target": "no mismatch with ffprobe", "target_met": ok}
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    (args.out / "table.md").write_text(table(rows) + f"\nTarget (no mismatch with ffprobe): {'met' if ok else 'NOT met'}\n")
    plot(rows, args.out / "inside.png")
    print(table(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
