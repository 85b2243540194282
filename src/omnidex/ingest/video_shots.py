"""Shot-level video embeddings (X-CLIP, VideoMAE): sample each shot's frames, embed one vector per
shot into the ``video`` space, and (VideoMAE) keep the predicted labels as searchable text."""
from __future__ import annotations

from pathlib import Path

from ..types import Piece

LABELS_KEPT = 3  # top labels of a shot stored as text evidence
MIN_LABEL_P = 0.05  # labels less likely than this are not stored


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


def shot_pieces(path: Path, shots: list, models) -> list[Piece]:
    """One ``shot`` piece per shot, holding the frames the video model takes (none without a model)."""
    enc = models.encoder("video")
    if enc is None or not shots:
        return []
    spans = [(float(s[0]), float(s[1])) for s in shots]
    clips = clip_frames(path, spans, enc.num_frames)
    return [Piece("shot", a, b, "s", image=clip, at=(a + b) / 2) for (a, b), clip in zip(spans, clips) if clip]


def embed_shots(shots: list[Piece], base: dict, models, rows) -> dict[str, list[dict]]:
    """Rows of the ``video`` space (one per shot) and, for a classifier, label rows of the text space.

    Args:
        shots: pieces from :func:`shot_pieces`.
        base: provenance columns.
        models: encoders.
        rows: ``embed._rows`` (pieces, vectors, base) -> rows.
    """
    enc = models.encoder("video")
    if enc is None or not shots:
        return {}
    clips = [p.image for p in shots]
    if hasattr(enc, "analyse"):
        vectors, labels = enc.analyse(clips)
    else:
        vectors, labels = enc.encode_video(clips), None
    out = {"video": rows([_frameless(p) for p in shots], vectors, base)}
    text_enc = models.encoder("text")
    if labels and text_enc is not None:
        pieces = [Piece("label", p.start, p.end, "s", text=_label_text(ls), at=p.at)
                  for p, ls in zip(shots, labels) if _label_text(ls)]
        if pieces:
            out["text"] = rows(pieces, text_enc.encode_text([p.text for p in pieces]), base)
    return out


def _frameless(p: Piece) -> Piece:
    return Piece(p.source, p.start, p.end, p.unit, text=p.text, at=p.at)


def _label_text(labels: list[tuple[str, float]]) -> str:
    """``juggling (61%), cooking (22%)``: the likeliest labels of a shot."""
    kept = [(name, p) for name, p in labels[:LABELS_KEPT] if p >= MIN_LABEL_P]
    return ", ".join(f"{name} ({p:.0%})" for name, p in kept)
