"""Frames of video clips for shot-level models (X-CLIP, VideoMAE): ``n`` instants per span, decoded
in one pass over the video."""
from __future__ import annotations

from pathlib import Path


def sample_times(start: float, end: float, n: int) -> list[float]:
    """``n`` instants spread evenly over [start, end): the middles of ``n`` equal parts."""
    step = max(end - start, 0.0) / n
    return [start + step * (i + 0.5) for i in range(n)]


def clip_frames(path: str | Path, spans: list[tuple[float, float]], n: int, max_side: int = 256) -> list[list]:
    """``n`` frames per span, decoded in one pass over the video (PIL RGB, longest side ``max_side``).

    Args:
        path: video file.
        spans: (start, end) seconds, e.g. the shots.
        n: frames per span.
        max_side: frames are shrunk to this.
    Returns:
        One list of ``n`` frames per span (the frame shown at each sampled instant).
    """
    from .._require import require

    av = require("av", "video")
    targets = sorted((t, i, j) for i, (a, b) in enumerate(spans) for j, t in enumerate(sample_times(a, b, n)))
    out: list[list] = [[None] * n for _ in spans]
    last = [None, None]  # (decoded frame, its picture): frames are assigned in time order

    def picture(frame):
        if last[0] is not frame:
            im = frame.to_image()
            im.thumbnail((max_side, max_side))
            last[:] = [frame, im]
        return last[1]

    k, prev = 0, None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                t = float(frame.time if frame.time is not None else 0.0)
                while k < len(targets) and targets[k][0] < t:
                    _, i, j = targets[k]
                    out[i][j] = picture(prev if prev is not None else frame)
                    k += 1
                if k == len(targets):
                    break
                prev = frame
        except av.error.FFmpegError:  # damaged tail: the instants after it take the last good frame
            pass
    for _, i, j in targets[k:]:
        if prev is not None:
            out[i][j] = picture(prev)
    return [[f for f in clip if f is not None] for clip in out]
