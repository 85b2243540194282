"""Video-to-video search: where does a clip occur inside indexed videos, and which videos are near-duplicates.

Coarse to fine:

1. The clip is sampled densely (``QUERY_FPS``) and each sample is looked up in the near-duplicate
   (``phash``) space among indexed video frames. An indexed frame was taken at instant ``at`` of
   its video, so a match with the clip's sample at clip time q votes for the clip starting at
   ``at - q``. Per video, the offset that the most indexed frames agree on (votes binned by
   ``VOTE_TOLERANCE_S``, weighted by match probability) wins; its coverage is the share of the
   video's indexed frames inside the placed clip that the clip matched there.
2. Around that offset, both the clip and the video are decoded at full frame rate into tiny
   thumbnails, and the offset is refined to the frame by minimising their difference. Two
   differences are combined: of the normalised grey layout (structure, blind to brightness) and
   of the raw colours (so a grey scene never passes for a black one with the same layout). The
   worse of the two gives the alignment similarity (1 = same pixels, 0 = unrelated); it survives
   re-encoding and scaling.
3. Around that start (and over the range of starts that fit about as well), :mod:`.clip_align`
   compares the clip's key frames with every video frame at 128 px wide and places the start to
   the frame, with the range of starts its pixels cannot tell apart (``FINE_ALIGN``).

The score is coverage x alignment. A clip about as long as the video it matches is reported as a
near-duplicate of that video.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import SearchConfig
from ..errors import MediaError, OmnidexError
from ..store import sql_str
from ..types import Hit
from . import clip_align
from .calibrate import background_stats, calibrate

QUERY_FPS = 8.0  # clip samples looked up per second: an indexed frame always has a sample near it
MAX_QUERY_FRAMES = 240  # longer clips are sampled more sparsely
MIN_P = 0.5  # a frame match below this calibrated probability does not vote
VOTE_TOLERANCE_S = 0.25  # votes this close count as the same placement
REFINE_S = 1.0  # the fine search looks at least this far either side of the coarse offset
MAX_REFINE_S = 6.0  # ... and as far as the widest gap between indexed frames near it, up to this
THUMB = (32, 18)  # width, height of the alignment thumbnails
QUERY_SAMPLES = 150  # clip frames compared per candidate shift
MAX_PER_VIDEO = 3  # separate occurrences reported per video
NEAR_DUP_RATIO = 0.85  # clip covers at least this share of the video (and vice versa): near-duplicate
_INDEPENDENT_MAD = 2.0 / math.sqrt(math.pi)  # mean |x - y| of two independent standard normals
COLOUR_SCALE = 0.2  # mean colour difference (0..1 per channel) that counts as unrelated
COLOUR_BIAS = 0.01  # a constant colour shift up to this (0..1, 2.5 grey levels) is re-encoding, not content


def find_clip(store, clip: str | Path, cfg: SearchConfig, where: str | None, phash) -> list[Hit]:
    """Moments where ``clip`` occurs, best first.

    Args:
        store: the open Store.
        clip: path of the query video.
        cfg: search options (top_k, candidates, min_score).
        where: SQL prefilter from modality/path options, or None.
        phash: the near-duplicate encoder of the store's ``phash`` space, or None.
    Returns:
        Hits with ``source == "clip"``; ``signals`` holds "frames" (share of the video's indexed
        frames inside the placement that the clip matched) and "align" (pixel alignment
        similarity at the refined offset).
    Raises:
        OmnidexError: no phash space, or the clip is not a readable video.
    """
    from ..media.video import probe_video, sample_frames

    if phash is None:
        raise OmnidexError("a video query needs the near-duplicate (phash) space; this index has none")
    info = probe_video(clip)
    _, frames = sample_frames(clip, fps=QUERY_FPS, max_frames=MAX_QUERY_FRAMES, max_side=256, info=info)
    vectors = phash.encode_image([f.image for f in frames])
    scope = "kind = 'video' AND source = 'frame'" + (f" AND ({where})" if where else "")
    votes: dict[str, list[tuple[float, str, float]]] = {}
    background = store.background("phash")
    for f, vec in zip(frames, vectors):
        mean, sd = background_stats(vec, background)
        for row in store.vector_search("phash", vec, cfg.candidates, scope):
            p = calibrate(row["_sim"], mean, sd)
            if p >= MIN_P:
                at = row["at"] if row.get("at") is not None else row["start"]
                votes.setdefault(row["path"], []).append((at - (f.t - info.start_time), row["id"], p))
    durations = store.file_info(sorted(votes))
    query = _Thumbs.of(clip, info.start_time, info.start_time + info.duration, samples=QUERY_SAMPLES)
    size = clip_align.fine_size(info.width, info.height)
    decoded: list = []

    def fine_query():  # the clip at the fine stage's size, decoded once, when a video needs it
        if not decoded:
            span = min(info.duration, clip_align.FINE_CLIP_S)
            decoded.append(clip_align.Frames.decode(clip, info.start_time, info.start_time + span, size,
                                                    samples=clip_align.FINE_FRAMES))
        return decoded[0]

    hits = []
    for path, vs in votes.items():
        instants = _frame_instants(store, path)
        for offset, coverage in _placements(vs, instants, info.duration):
            video_s = durations.get(path, {}).get("duration", 0.0)
            hit = _refine_recentred(path, offset, coverage, query, info.duration, video_s,
                                    refine_radius(instants, offset, info.duration))
            if hit is not None and FINE_ALIGN and "inside the clip" not in hit.evidence and hit.start > 0:
                hit = _precise(hit, fine_query, size, info.duration, video_s)
            if hit is not None and hit.score >= cfg.min_score:
                hits.append(hit)
    return _distinct(sorted(hits, key=lambda h: -h.score))[: cfg.top_k]


def _distinct(hits: list[Hit]) -> list[Hit]:
    """Best first, without a second hit of the same video starting within 0.5 s of a better one, or
    inside a better one's start range (two coarse placements can refine to the same spot); of two
    such hits the one whose start is surer is kept, at the better score."""
    out: list[Hit] = []
    for h in hits:
        same = [i for i, o in enumerate(out) if o.path == h.path and (abs(o.start - h.start) < 0.5 or _within(h, o))]
        if not same:
            out.append(h)
        elif _span(h) < _span(out[same[0]]) and _within(h, out[same[0]]):
            out[same[0]] = replace(h, score=out[same[0]].score, signals=out[same[0]].signals)
    return out


def _span(h: Hit) -> float:
    return (h.start_range[1] - h.start_range[0]) if h.start_range else 0.0


def _within(h: Hit, o: Hit) -> bool:
    """Whether ``h`` starts inside ``o``'s start range (wider than a frame or two)."""
    return bool(o.start_range) and o.start_range[0] - 1e-3 <= h.start <= o.start_range[1] + 1e-3 and _span(o) > 0.1


def _frame_instants(store, path: str) -> np.ndarray:
    """Instants of every indexed frame of one video."""
    rows = (store.table("phash").search().where(f"path = {sql_str(path)} AND source = 'frame'")
            .select(["at"]).limit(None).to_list())
    return np.array(sorted(r["at"] for r in rows if r.get("at") is not None))


def _placements(votes, instants: np.ndarray, clip_s: float) -> list[tuple[float, float]]:
    """Clip offsets (clip start in video time) that indexed frames agree on, with their coverage.

    Votes are binned by offset (bins of ``VOTE_TOLERANCE_S``); a candidate placement is a bin with
    its two neighbours, gathering the indexed frames that voted there (each counted once, at its
    best probability), so the work grows with the number of votes, not its square. The
    best-supported placement wins, then the next one at least a clip length away (another
    occurrence), up to ``MAX_PER_VIDEO``.
    """
    bins: dict[int, dict[str, float]] = {}
    sums: dict[int, list[float]] = {}  # bin -> [sum of p * offset, sum of p]
    for offset, row_id, p in votes:
        b = int(np.floor(offset / VOTE_TOLERANCE_S))
        ids = bins.setdefault(b, {})
        ids[row_id] = max(ids.get(row_id, 0.0), p)
        acc = sums.setdefault(b, [0.0, 0.0])
        acc[0] += p * offset
        acc[1] += p
    support = []
    for b in bins:
        best: dict[str, float] = {}
        weighted = total = 0.0
        for nb in (b - 1, b, b + 1):
            for row_id, p in bins.get(nb, {}).items():
                best[row_id] = max(best.get(row_id, 0.0), p)
            if nb in sums:
                weighted += sums[nb][0]
                total += sums[nb][1]
        support.append((sum(best.values()), len(best), weighted / total))
    out: list[tuple[float, float]] = []
    for _, n_matched, centre in sorted(support, key=lambda x: -x[0]):
        if len(out) >= MAX_PER_VIDEO:
            break
        if any(abs(centre - o) < max(clip_s, 1.0) for o, _ in out):
            continue
        inside = np.count_nonzero((instants >= centre - VOTE_TOLERANCE_S) & (instants <= centre + clip_s + VOTE_TOLERANCE_S))
        out.append((centre, min(1.0, n_matched / max(1, inside))))
    return out


class _Thumbs:
    """Frames of a stretch of video as normalised grey thumbnails with their times."""

    def __init__(self, times: np.ndarray, grey: np.ndarray, colour: np.ndarray):
        self.times, self.grey, self.colour = times, grey, colour

    @classmethod
    def of(cls, path: str | Path, t0: float, t1: float, samples: int = 0, near: np.ndarray | None = None,
           radius: float = 0.0) -> "_Thumbs":
        """Decode the frames with time in [t0, t1] (seeking to the keyframe before t0) and keep some.

        Args:
            path: video file.
            t0, t1: the stretch in seconds.
            samples: when > 0, keep only the first frame at or after each of this many evenly
                spaced times (memory stays bounded for long clips).
            near: when given (sorted seconds), keep only frames within ``radius`` of one of them.
        """
        from .._require import require
        from ..media import pyav

        av = require("av", "video")
        times, grey, colour, errors = [], [], [], []
        for t, frame in pyav.frames_between(av, path, t0, t1, errors, samples):
            if near is not None and not _is_near(near, t, radius):
                continue
            rgb = frame.to_ndarray(width=THUMB[0], height=THUMB[1], format="rgb24").astype(np.float32) / 255.0
            g = rgb.mean(axis=2).ravel()
            grey.append((g - g.mean()) / (g.std() + 0.015))  # flat frames stay near 0, not noise
            colour.append(rgb.ravel())
            times.append(t)
        if not grey:
            raise MediaError(path, f"no frame decoded between {t0:.2f}s and {t1:.2f}s")
        return cls(np.array(times), np.stack(grey), np.stack(colour))

    def still(self) -> bool:
        """Whether the picture's structure barely changes over the stretch (a near-static shot)."""
        span = float(self.times[-1] - self.times[0])
        change = float(np.abs(self.grey[0] - self.grey[-1]).mean()) / _INDEPENDENT_MAD
        return span > 0 and change / span < STILL_RATE

    def levels(self) -> np.ndarray:
        """Per frame: mean luma (weighted ``CHANGE_MEAN_WEIGHT``) and the mean luma of a coarse grid of cells."""
        if getattr(self, "_levels", None) is None:
            n = len(self.times)
            luma = self.colour.reshape(n, THUMB[1], THUMB[0], 3).mean(axis=3)
            gh, gw = CHANGE_GRID
            cells = luma.reshape(n, gh, THUMB[1] // gh, gw, THUMB[0] // gw).mean(axis=(2, 4)).reshape(n, -1)
            self._levels = np.concatenate([CHANGE_MEAN_WEIGHT * luma.mean(axis=(1, 2))[:, None], cells], axis=1)
        return self._levels

    def index(self, t: np.ndarray) -> np.ndarray:
        """Indices of the frames shown at times ``t`` (the last frame at or before each)."""
        return np.clip(np.searchsorted(self.times, t + 1e-4, side="right") - 1, 0, len(self.times) - 1)

    def distance(self, mine: np.ndarray, other: "_Thumbs", theirs: np.ndarray) -> float:
        """0 for the same pixels, 1 or more for unrelated frames (the worse of structure and colour).

        The colours may differ by a constant of up to ``COLOUR_BIAS`` per channel over the whole
        stretch: re-encoding shifts levels by about a grey level, which on a slowly brightening shot
        would otherwise pass for a time shift."""
        d_grey = float(np.abs(self.grey[mine] - other.grey[theirs]).mean()) / _INDEPENDENT_MAD
        diff = (self.colour[mine] - other.colour[theirs]).reshape(len(mine), -1, 3)
        diff = diff - np.clip(diff.mean(axis=(0, 1)), -COLOUR_BIAS, COLOUR_BIAS)
        d_colour = float(np.abs(diff).mean()) / COLOUR_SCALE
        return max(d_grey, d_colour)


def _is_near(sorted_times: np.ndarray, t: float, radius: float) -> bool:
    """Whether ``t`` lies within ``radius`` of one of ``sorted_times``."""
    i = int(np.searchsorted(sorted_times, t))
    return any(abs(sorted_times[j] - t) <= radius for j in (i - 1, i) if 0 <= j < len(sorted_times))


def _frame_rate(times: np.ndarray) -> float:
    """Frame rate from the smallest common gap between kept frames (25 when unknown)."""
    gaps = np.diff(times)
    gaps = gaps[gaps > 1e-4]
    return float(1.0 / np.percentile(gaps, 10)) if len(gaps) else 25.0


def refine_radius(instants: np.ndarray, offset: float, clip_s: float) -> float:
    """How far either side of the coarse offset the fine search looks.

    The coarse offset comes from votes of indexed frames; where they are sparse (a slow pan or
    zoom, a near-static stretch: shot-aware sampling keeps few frames there) every clip sample
    matches the same indexed frame about equally well, so the vote is only as sharp as the gap
    between indexed frames (a clip sample matches the indexed frame before or after the one it
    shows). The radius is the widest such gap around the placement (``REFINE_S`` .. ``MAX_REFINE_S``).

    Args:
        instants: sorted instants of the video's indexed frames.
        offset: the coarse clip start in video time.
        clip_s: the clip's length.
    Returns:
        Seconds.
    """
    near = instants[(instants >= offset - MAX_REFINE_S) & (instants <= offset + clip_s + MAX_REFINE_S)]
    points = np.concatenate([[offset - MAX_REFINE_S], near, [offset + clip_s + MAX_REFINE_S]])
    widest = float(np.diff(np.sort(points)).max(initial=0.0))
    return float(min(MAX_REFINE_S, max(REFINE_S, widest + 0.25)))


RECENTRE_TRIES = 3  # a best fit on the edge of the searched window moves the window there, at most this often


def _refine_recentred(path: str, offset: float, coverage: float, query: _Thumbs, clip_s: float, video_s: float,
                      radius: float) -> Hit | None:
    """:func:`_refine`, searched again around its answer while that answer lies on the edge of the
    window searched (the coarse vote was off by more than the radius: a flat vote on slow motion)."""
    hit = _refine(path, offset, coverage, query, clip_s, video_s, radius)
    for _ in range(RECENTRE_TRIES - 1):
        if hit is None or hit.start <= 0.0 or abs(hit.start - offset) < radius - 0.1:
            break
        offset = hit.start
        better = _refine(path, offset, coverage, query, clip_s, video_s, radius)
        if better is None or better.score <= hit.score:
            break
        hit = better
    return hit


SMOOTH_FRAMES = 2  # the distance curve over shifts is averaged over this many neighbours each side
FLAT_TOL = 0.03  # shifts whose smoothed distance is within this share of the best fit about equally well ...
STILL_TOL = 0.35  # ... or this share when the clip is still: re-encoding and light changes then outweigh the picture
FLAT_ABS, STILL_ABS = 0.001, 0.01  # ... plus these (distances near 0: the same pixels either way)
STILL_RATE = 0.0075  # a clip whose structure changes less than this per second (grey distance) is still
CHANGE_GRID = (3, 4)  # cells (rows, columns) whose luma changes are compared
CHANGE_MEAN_WEIGHT = 4.0  # weight of the whole frame's luma change beside the cells'
CHANGE_MIN = 0.2  # least correlation of the changes that places a clip
CHANGE_LEAD = 0.08  # ... and by how much it must beat every shift further than CHANGE_PEAK_S away
CHANGE_PEAK_S = 0.1
CHANGE_WINDOW_S = 1.0  # the changes are compared this far either side of the best pixel fit
CHANGE_FIT = 1.5  # ... at shifts whose smoothed pixel distance is at most this many times the best one's
CHANGE_FIT_ABS = 0.02  # ... plus this (distances near 0: the same pixels either way)


def _best_shift(query: _Thumbs, target: _Thumbs, shifts: np.ndarray, q_rel: np.ndarray, offset: float,
                fps: float) -> tuple[float, float, tuple[float, float]]:
    """(shift, distance, interval) where the clip fits the target best (the distance: of the best pixel fit).

    On slow motion neighbouring shifts differ by less than re-encoding noise, so the curve of
    distances is averaged over a few neighbouring shifts first and the centre of its basin wins
    (ties: the shift nearest ``offset``); the distance reported is the raw one there. Near it, the
    shift where the clip's frame-to-frame changes line up with the video's wins when that is clear
    (:func:`_change_shift`: what places a near-static shot). The interval is the start's uncertainty:
    the shifts whose changes correlate about as well when the changes decided, else the shifts whose
    pixels fit within ``FLAT_TOL`` of the best (``STILL_TOL`` for a still clip, whose best pixel fit
    can be off by the time the light takes to change by a re-encoding's level shift).
    """
    q_idx = np.arange(len(q_rel))
    dists = np.full(len(shifts), np.inf)
    for i, s in enumerate(shifts):
        inside = (q_rel + s >= target.times[0] - 0.5 / fps) & (q_rel + s <= target.times[-1] + 0.5 / fps)
        if inside.sum() >= max(1, 0.5 * len(q_rel)):
            dists[i] = query.distance(q_idx[inside], target, target.index(q_rel[inside] + s))
    if not np.isfinite(dists).any():
        return offset, math.inf, (offset, offset)
    smooth = np.array([np.mean(w[np.isfinite(w)]) if np.isfinite(dists[i]) else np.inf
                       for i, w in enumerate(dists[max(0, j - SMOOTH_FRAMES): j + SMOOTH_FRAMES + 1]
                                             for j in range(len(dists)))])
    order = np.lexsort((np.abs(shifts - offset), np.round(smooth, 6)))
    best = int(order[0])
    fit = float(dists[best])  # how well the clip fits here: the score's, whichever shift wins
    still = query.still()
    flat = _flat_interval(shifts, smooth, best, STILL_TOL if still else FLAT_TOL, STILL_ABS if still else FLAT_ABS)
    pick, width = _change_shift(query, target, shifts, q_rel, fps, smooth, best)
    if pick is not None:
        best = pick
        flat = (float(shifts[pick]) - width, float(shifts[pick]) + width)
    return float(shifts[best]), fit, flat


def _flat_interval(shifts: np.ndarray, smooth: np.ndarray, best: int, tol: float, slack: float) -> tuple[float, float]:
    """The span of the shifts whose smoothed distance is within ``tol`` (relative) plus ``slack`` of the best one:
    where the clip's pictures fit about equally well (on a near-static shot the distance undulates
    with the source's keyframes, so the span reaches over bumps)."""
    ok = shifts[smooth <= smooth[best] * (1.0 + tol) + slack]
    return float(min(ok.min(), shifts[best])), float(max(ok.max(), shifts[best]))


def _change_shift(query: _Thumbs, target: _Thumbs, shifts: np.ndarray, q_rel: np.ndarray, fps: float,
                  smooth: np.ndarray, best: int) -> tuple[int | None, float]:
    """Within ``CHANGE_WINDOW_S`` of the best pixel fit, the shift where the clip's frame-to-frame changes
    (of the whole frame's and a coarse grid's luma: light changing, the source encoder's refreshes) line up
    with the video's, when that is clear: a correlation of at least ``CHANGE_MIN``, ``CHANGE_LEAD`` above
    every shift more than ``CHANGE_PEAK_S`` away, at a shift whose pixels fit within ``CHANGE_FIT`` of the
    best. On a near-static shot the pixels fit about equally well over a second or more (and re-encoding
    shifts levels), while the changes still line up to the frame.

    Returns:
        (index into ``shifts``, or None when the changes do not decide; half-width in seconds of the
        shifts whose correlation is within ``CHANGE_LEAD`` of the peak).
    """
    q_idx = np.arange(len(q_rel))
    dq_all = np.diff(query.levels(), axis=0)
    scores = np.full(len(shifts), -np.inf)
    for i, s in enumerate(shifts):
        if abs(s - shifts[best]) > CHANGE_WINDOW_S:
            continue
        inside = (q_rel + s >= target.times[0] - 0.5 / fps) & (q_rel + s <= target.times[-1] + 0.5 / fps)
        pairs = inside[:-1] & inside[1:]
        if pairs.sum() < max(8, 0.5 * len(q_rel)):
            continue
        jt = target.index(q_rel + s)
        dt = (target.levels()[jt[1:]] - target.levels()[jt[:-1]])[pairs]
        dq = dq_all[pairs]
        dq, dt = dq - dq.mean(axis=0), dt - dt.mean(axis=0)
        scores[i] = float((dq * dt).sum() / (math.sqrt(float((dq * dq).sum() * (dt * dt).sum())) + 1e-12))
    if not np.isfinite(scores).any():
        return None, 0.0
    peak = int(np.argmax(scores))
    far = np.abs(shifts - shifts[peak]) > CHANGE_PEAK_S
    rival = float(scores[far & np.isfinite(scores)].max(initial=-1.0))
    if scores[peak] < CHANGE_MIN or scores[peak] - rival < CHANGE_LEAD or smooth[peak] > CHANGE_FIT * smooth[best] + CHANGE_FIT_ABS:
        return None, 0.0
    close = shifts[scores >= scores[peak] - CHANGE_LEAD]
    return peak, float(max(0.5 / fps, np.abs(close - shifts[peak]).max()))


def _refine(path: str, offset: float, coverage: float, query: _Thumbs, clip_s: float,
            video_s: float, radius: float = REFINE_S) -> Hit | None:
    """Frame-accurate placement of the clip within ``radius`` of ``offset``, and its alignment similarity."""
    q_rel = query.times - query.times[0]
    try:  # only the target frames that some shift can compare with are kept
        target = _Thumbs.of(path, max(0.0, offset - radius), offset + clip_s + radius,
                            near=offset + q_rel, radius=radius + 0.1)
    except MediaError:
        return None  # the indexed file changed or went away since indexing
    fps = _frame_rate(target.times)
    # the clip's first frame lands on one of the target's frames: try each one near the coarse offset
    shifts = target.times[np.abs(target.times - offset) <= radius]
    if not len(shifts):
        shifts = offset + np.arange(-radius, radius + 1e-9, 1.0 / fps)
    best_shift, best_d, (lo, hi) = _best_shift(query, target, np.sort(shifts), q_rel, offset, fps)
    if not math.isfinite(best_d):
        return None
    return _placed(path, best_shift, lo, hi, fps, coverage, max(0.0, 1.0 - best_d), clip_s, video_s, "thumbnails")


def _placed(path: str, shift: float, lo: float, hi: float, fps: float, coverage: float, align: float, clip_s: float,
            video_s: float, method: str) -> Hit:
    """The hit for a clip starting at ``shift`` s of ``path`` (``lo``..``hi``: starts that fit about as well)."""
    start = max(0.0, shift)
    end = min(shift + clip_s, video_s) if video_s > 0 else shift + clip_s
    near_dup = video_s > 0 and clip_s >= NEAR_DUP_RATIO * video_s and video_s >= NEAR_DUP_RATIO * clip_s
    what = "near-duplicate of the whole video" if near_dup else "the clip occurs here"
    if not near_dup and video_s > 0 and clip_s > video_s:  # a longer clip holds this video, not the reverse
        what = f"this whole video occurs inside the clip, from {max(0.0, -shift):.2f}s of the clip"
    lo, hi = max(0.0, min(lo, shift)), max(0.0, max(hi, shift))
    where = f"clip starts at {shift:.2f}s"
    if hi - lo > 2.0 / fps:
        where += f", or anywhere from {lo:.2f}s to {hi:.2f}s: the frames fit about equally well there"
    return Hit(path=path, start=start, end=end, unit="s", score=round(coverage * align, 4), modality="video",
               signals={"frames": round(coverage, 4), "align": round(align, 4)},
               evidence=f"{what} ({where}; pixel alignment {align:.2f}; placed by {method})",
               frame_time=start, source="clip", start_range=(round(lo, 3), round(hi, 3)))


FINE_ALIGN = True  # the last stage (:mod:`.clip_align`) places the start among every frame at a larger size


def _precise(hit: Hit, query, size: tuple[int, int], clip_s: float, video_s: float) -> Hit:
    """``hit`` placed again by :func:`.clip_align.align` around its start (``query``: returns the clip's
    frames at ``size``); unchanged when that cannot read the video there."""
    from . import clip_align

    lo, hi = hit.start_range or (hit.start, hit.start)
    res = clip_align.align(query(), hit.path, hit.start, lo, hi, size, video_s)
    if res is None:
        return hit
    lo, hi = res["range"]
    return _placed(hit.path, res["start"], lo, hi, res["fps"], hit.signals["frames"], hit.signals["align"], clip_s,
                   video_s, f"{res['frames']} clip {'key ' if res['key'] else ''}frames against every frame at {size[0]}x{size[1]}")


def duplicate_relation(clip_s: float, video_s: float) -> str | None:
    """How a video found inside another relates to it, from their lengths.

    Args:
        clip_s: length of the video that was looked for (seconds).
        video_s: length of the video it was found in.
    Returns:
        "near-duplicate" (about as long as each other), "inside" (the first is the shorter one),
        or None (the first is the longer one: the relation is the other way round).
    """
    if clip_s <= 0 or video_s <= 0 or (clip_s >= NEAR_DUP_RATIO * video_s and video_s >= NEAR_DUP_RATIO * clip_s):
        return "near-duplicate"
    return "inside" if clip_s < video_s else None


def find_duplicates(store, phash, cfg: SearchConfig, progress=None) -> list[dict]:
    """Every indexed video that is a near-duplicate of, or contained in, another indexed video.

    Each video is run as a clip query against the other videos (so the pixels are checked, not
    only the stored vectors). Each pair is reported once: "inside" only for the shorter video
    inside the longer one, "near-duplicate" for videos of about the same length.

    Args:
        store: the open Store.
        phash: the encoder of the store's ``phash`` space.
        cfg: search options; ``min_score`` is the least score kept.
        progress: optional callable ``(done, total, path)``.
    Returns:
        [{"path", "other", "relation": "near-duplicate" | "inside", "start", "end", "score"}], best
        first; for "inside", ``path`` occurs in ``other`` from ``start`` to ``end`` seconds.
    """
    states = store.file_states()
    videos = sorted(p for p, r in states.items() if r["kind"] == "video" and r["status"] == "indexed" and r["segments"])
    found, seen = [], set()
    for i, path in enumerate(videos):
        if progress:
            progress(i, len(videos), path)
        try:
            hits = find_clip(store, path, cfg, f"path != {sql_str(path)}", phash)
        except OmnidexError:
            continue  # moved or damaged since it was indexed
        for h in hits:
            relation = duplicate_relation(states[path]["duration"], states.get(h.path, {}).get("duration", 0.0))
            key = tuple(sorted((path, h.path)))
            if relation is None or key in seen:
                continue  # the longer video "inside" the shorter: the shorter one's query reports the pair
            seen.add(key)
            found.append({"path": path, "other": h.path, "relation": relation, "start": round(h.start, 3),
                          "end": round(h.end, 3), "score": h.score})
    if progress:
        progress(len(videos), len(videos), "")
    return sorted(found, key=lambda d: -d["score"])


__all__ = ["duplicate_relation", "find_clip", "find_duplicates"]
