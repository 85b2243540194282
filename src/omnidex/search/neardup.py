"""Near-duplicate image search that survives what people do to pictures.

Two stages:

1. **Candidates** from global descriptors: the query is looked up in the ``phash`` space as a
   whole, mirrored, with letterbox bars trimmed, and as each picture found inside it (a
   screenshot's photo, :mod:`omnidex.media.regions`). Indexed screenshots carry extra ``region``
   rows for the pictures inside them, so a photo finds the screenshot that shows it. Rows the
   visual (CLIP) space returned join the candidates when that space exists.
2. **Verification** of the best candidates with local features (:mod:`omnidex.encoders.localfeat`):
   keypoints that agree on one similarity transform between the query (or its mirror, or the
   picture inside it) and the candidate (or a picture inside it). A crop, a rotation, a
   screenshot and a recompressed copy keep hundreds of agreeing keypoints; another photo of the
   same scene keeps far fewer, and an unrelated picture none.

A candidate's probability is the verification's when keypoints agree; otherwise its global
similarity, halved when both pictures had keypoints enough to be verified and were not.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..errors import MediaError, StoreMismatch
from .calibrate import background_stats, calibrate
from .moments import Candidate

PER_VIEW = 40  # phash rows fetched per query view
VERIFY_TOP = 40  # candidates (by global similarity) verified with local features
VERIFY_EXTRA = 6  # visual-space (CLIP) candidates verified as well
TEXTURED = 60  # keypoints a picture needs before a failed verification counts against it
UNVERIFIED_DAMP = 0.5  # global probability kept by a textured candidate that failed verification
CACHE_SIZE = 256  # candidate pictures whose keypoints are kept in memory


@dataclass
class QueryViews:
    """The pictures a query stands for, and their keypoints."""

    images: list  # whole, trimmed of bars, pictures inside (PIL images)
    names: list[str]  # "whole" | "trimmed" | "region"
    feats: list  # keypoints of whole, mirrored whole, and each region (localfeat.Features)


def query_views(image) -> QueryViews:
    """What a query image is looked up as: itself, without bars, and the pictures inside it.

    Args:
        image: the query PIL image.
    Returns:
        QueryViews (keypoints included).
    """
    from ..encoders import localfeat
    from ..media.regions import picture_regions, trim_borders

    img = image.convert("RGB")
    images, names = [img], ["whole"]
    box = trim_borders(img)
    if box is not None:
        images.append(img.crop(box))
        names.append("trimmed")
    for box in picture_regions(img):
        images.append(img.crop(box))
        names.append("region")
    feats = [localfeat.extract(img), localfeat.extract(localfeat.mirrored(img))]
    feats += [localfeat.extract(im) for im, n in zip(images, names) if n == "region"]
    return QueryViews(images, names, feats)


def image_candidates(searcher, image, where: str | None, cfg, visual: list[Candidate] = ()) -> list[Candidate]:
    """Near-duplicate candidates of a query image, verified, as ``phash`` signal candidates.

    Args:
        searcher: the :class:`~omnidex.search.engine.Searcher` (its store and phash encoder).
        image: the query PIL image.
        where: SQL prefilter or None.
        cfg: search options (``candidates`` caps the rows returned).
        visual: candidates of the visual space for the same query (verified too).
    Returns:
        Candidates (one per row), probability from verification or global similarity.
    """
    try:
        enc = searcher.encoder("phash")
    except StoreMismatch as exc:
        print(f"omnidex: warning: {exc}; near-duplicate search is skipped", file=sys.stderr)
        return []
    if enc is None:
        return []
    if importlib.util.find_spec("cv2") is None:  # no OpenCV: the whole picture's descriptor only
        return searcher.vector_candidates("phash", "phash", lambda e: e.encode_image([image])[0], where, cfg)
    views = query_views(image)
    pool = _global_pool(searcher.store, enc, views, where)
    order = sorted(pool.values(), key=lambda c: -c.p)
    extra = [c for c in sorted(visual, key=lambda c: -c.p) if c.row["id"] not in pool][:VERIFY_EXTRA]
    checked = _verify_rows([c.row for c in order[:VERIFY_TOP]] + [c.row for c in extra], views)
    out = [_scored(c, checked.get(c.row["id"])) for c in order]
    out += [Candidate("phash", p, _as_picture(c.row)) for c in extra
            if (p := _verified_p(checked.get(c.row["id"]))) > 0]
    return sorted(out, key=lambda c: -c.p)[: cfg.candidates]


def _global_pool(store, enc, views: QueryViews, where: str | None) -> dict[str, Candidate]:
    """row id -> best calibrated global candidate over every view (and its mirror)."""
    from ..encoders.localfeat import mirrored

    pictures = [im for v in views.images for im in (v, mirrored(v))]
    vectors = enc.encode_image(pictures)
    background = store.background("phash")
    pool: dict[str, Candidate] = {}
    for vec in vectors:
        mean, sd = background_stats(vec, background)
        for row in store.vector_search("phash", vec, PER_VIEW, where):
            p = calibrate(row["_sim"], mean, sd)
            if row["id"] not in pool or p > pool[row["id"]].p:
                pool[row["id"]] = Candidate("phash", p, row)
    return pool


def _verified_p(verdict) -> float:
    from ..encoders.localfeat import probability

    return probability(verdict[0]) if verdict is not None else 0.0


def _scored(c: Candidate, verdict) -> Candidate:
    """The candidate's probability after verification (see the module docstring)."""
    row = _as_picture(c.row)
    if verdict is None:
        return Candidate("phash", c.p, row)
    p, textured = _verified_p(verdict), verdict[1]
    if p > 0:
        return Candidate("phash", p, row)
    return Candidate("phash", c.p * (UNVERIFIED_DAMP if textured else 1.0), row)


def _as_picture(row: dict) -> dict:
    """A ``region`` row stands for its whole image in the results."""
    if row.get("source") == "region":
        return {**row, "source": "image", "text": ""}
    return row


def _verify_rows(rows: list[dict], views: QueryViews) -> dict[str, tuple]:
    """row id -> (best Verdict, whether both sides had keypoints enough) for each row's picture."""
    from ..encoders.localfeat import verify

    out: dict[str, tuple] = {}
    q_whole, q_mirror, q_regions = views.feats[0], views.feats[1], views.feats[2:]
    q_textured = max(len(f) for f in views.feats) >= TEXTURED
    for row in rows:
        feats = _candidate_feats(row)
        if feats is None:
            continue
        whole, regions = feats[0], feats[1:]
        best = verify(q_whole, whole, q_mirror)
        for cand in regions:  # the query inside a picture the candidate shows
            best = max(best, verify(q_whole, cand, q_mirror), key=lambda v: v.strength)
        for q in q_regions:  # the picture inside the query is the candidate
            best = max(best, verify(q, whole), key=lambda v: v.strength)
        textured = q_textured and max(len(f) for f in feats) >= TEXTURED
        out[row["id"]] = (best, textured)
    return out


_CACHE: "OrderedDict[tuple, list]" = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _candidate_feats(row: dict) -> list | None:
    """Keypoints of a candidate's picture and of the pictures inside it (cached), or None when
    the file is gone or unreadable."""
    from ..encoders import localfeat
    from ..media.regions import picture_regions

    key = (row["path"], row.get("mtime"), row.get("at") if row.get("kind") == "video" else None)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    try:
        img = _load_picture(row)
    except (MediaError, OSError):
        return None
    feats = [localfeat.extract(img)] + [localfeat.extract(img.crop(b)) for b in picture_regions(img)]
    with _CACHE_LOCK:
        _CACHE[key] = feats
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return feats


def _load_picture(row: dict):
    """The indexed picture of a row: the image file, or the video frame shown at ``at``."""
    if row.get("kind") == "video":
        from ..media.contact import frame_at

        at = row.get("at") if row.get("at") is not None else row["start"]
        return frame_at(row["path"], float(at))
    from ..media.image import load_image

    img = load_image(row["path"])
    img.thumbnail((1024, 1024))  # as ingest saw it
    return img


__all__ = ["image_candidates", "query_views"]
