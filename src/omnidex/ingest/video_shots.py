"""Shot-level video embeddings (X-CLIP, VideoMAE): sample each shot's frames, embed one vector per
shot into the ``video`` space, and (VideoMAE) keep the predicted labels as searchable text."""
from __future__ import annotations

from pathlib import Path

from ..media.clips import clip_frames
from ..types import Piece

LABELS_KEPT = 3  # top labels of a shot stored as text evidence
MIN_LABEL_P = 0.05  # labels less likely than this are not stored


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
        rows: ``embed.piece_rows`` (pieces, vectors, base) -> rows.
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
