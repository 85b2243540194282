"""Embed extracted pieces into store rows, one list per vector space."""
from __future__ import annotations

import time

import numpy as np

from . import timing
from ..encoders.wordsplit import without_guesses
from ..types import Extracted
from .extract import words_json
from ..spaces import Models

TEXT_SOURCES = ("chunk", "ocr", "speech", "caption")
IMAGE_SOURCES = ("image", "frame")


def embed_pieces(ext: Extracted, base: dict, models: Models) -> dict[str, list[dict]]:
    """Rows per space for one file.

    Args:
        ext: the file's pieces.
        base: provenance columns shared by every row (path, sha256, mtime, kind, batch).
        models: encoders.
    Returns:
        space -> rows with a ``vector`` column; spaces whose encoder is unavailable are absent.
    """
    out: dict[str, list[dict]] = {}
    texts = [p for p in ext.pieces if p.source in TEXT_SOURCES]
    images = [p for p in ext.pieces if p.source in IMAGE_SOURCES]
    if texts and (enc := models.encoder("text")) is not None:
        with timing.stage("text", len(texts)):
            # OCR's guessed words stay out of the vector (full-text search weighs them instead)
            out["text"] = piece_rows(texts, enc.encode_text([without_guesses(p.text) if p.source == "ocr" else p.text
                                                             for p in texts]), base)
    if images and (enc := models.encoder("visual")) is not None:
        out["visual"] = piece_rows(images, _visual_vectors(enc, images), base)
    if images and (enc := models.encoder("phash")) is not None:
        with timing.stage("phash", len(images)):
            regions = region_pieces(images)  # a screenshot's photo gets a row of its own
            out["phash"] = piece_rows(images + regions, _encode_images(enc, [p.image for p in images + regions]), base)
    sounds = [p for p in ext.pieces if p.source == "sound"]
    if sounds and (enc := models.encoder("sound")) is not None:
        out["sound"] = piece_rows(sounds, enc.encode_audio([p.audio for p in sounds]), base)
    series = [p for p in ext.pieces if p.source == "series"]
    if series:
        from ..series.ingest import series_rows

        out.update(series_rows(series, base, models, piece_rows))
    shots = [p for p in ext.pieces if p.source == "shot"]
    if shots:  # video-model vectors per shot; a classifier's labels join the text space
        from .video_shots import embed_shots

        for space, rows in embed_shots(shots, base, models, piece_rows).items():
            out.setdefault(space, []).extend(rows)
    return out


def region_pieces(pieces: list) -> list:
    """Pictures inside still images (the photo in a screenshot) as ``region`` pieces for the
    near-duplicate space, so the photo alone finds the screenshot (video frames are not searched)."""
    from ..errors import MissingExtra
    from ..media.regions import picture_regions
    from ..types import Piece

    out = []
    for p in pieces:
        if p.source == "image":
            try:
                boxes = picture_regions(p.image)
            except MissingExtra:  # no OpenCV: whole pictures only
                return []
            out += [Piece("region", p.start, p.end, p.unit, image=p.image.crop(b)) for b in boxes]
    return out


def _visual_vectors(enc, pieces: list) -> np.ndarray:
    """Visual vectors of image pieces: those embedded while decoding (``Piece.vector``) as they are,
    the rest encoded here."""
    vectors = [p.vector for p in pieces]
    todo = [i for i, v in enumerate(vectors) if v is None]
    if todo:
        t0 = time.perf_counter()
        fresh = _encode_images(enc, [pieces[i].image for i in todo])
        timing.add("clip", time.perf_counter() - t0, len(todo))
        for k, i in enumerate(todo):
            vectors[i] = fresh[k]
    return np.stack([np.asarray(v, np.float32) for v in vectors])


def _encode_images(enc, images: list, batch: int = 32) -> np.ndarray:
    parts = [enc.encode_image(images[i:i + batch]) for i in range(0, len(images), batch)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, enc.dim), np.float32)


def piece_rows(pieces, vectors: np.ndarray, base: dict) -> list[dict]:
    rows = []
    for i, (p, v) in enumerate(zip(pieces, vectors)):
        rows.append({**base, "id": f"{base['sha256'][:16]}:{p.source}:{i}", "source": p.source,
                     "start": float(p.start), "end": float(p.end), "unit": p.unit,
                     "at": float(p.start if p.at is None else p.at),
                     "text": p.text, "words": p.spots or words_json(p.words),
                     "vector": np.asarray(v, dtype=np.float32)})
    return rows
