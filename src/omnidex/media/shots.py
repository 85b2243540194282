"""Shot boundaries (hard cuts, fades through black) and representative frames in one decode pass.

Features (per decoded frame; all scaling is done by a reused FFmpeg scaler in C): a 48x27 RGB
thumbnail, its mean luma and share of bright samples, and a soft 4-bin-per-channel colour
histogram (about 0.1 ms of Python/numpy per frame). The frame-pair score is ``s = P + H``: P is the
mean absolute thumbnail difference and H the histogram distance (half the L1 norm), both in [0, 1].

Hard cuts: decoded frame ``i`` starts a new shot when ``s_i >= CUT_MIN`` (or ``H_i >= HIST_CUT_MIN``)
and it is ``CUT_RATIO`` times the larger of the medians of the ``CONTEXT`` scores before and after
it (an adaptive threshold: a cut is a spike; steady motion, scrolling patterns and luma ramps are
not), or, between two still stretches, when ``s_i >= STILL_CUT_MIN`` (slides whose words change on
the same background), when the frames either side of the spike also differ (a one-frame flash comes back), and
when the current shot is at least ``min_shot_s`` long. Decisions lag ``CONTEXT`` decoded frames.

Fades: a run of black frames (mean luma <= ``DEEP_Y`` with few bright samples, or <= ``BLACK_Y``
with next to none: a dark scene that shows something, such as a small bright object, is content, so
cuts into and out of it are cuts, and fading into or out of it ramps through real black) between two
stretches of content is one "fade" boundary at its darkest point (the middle of the darkest
frames); the ramps into and out of it are never cuts (both medians above are high there). Black at
the very start (fade in from black) or at the very end (fade out to black) is not a boundary.

Decoding (``strategy``, chosen by ``choose_scan_strategy`` from the GOP and frame rate):
"ref-frames" decodes reference frames only (``skip_frame="NONREF"``: x264's non-reference
B-frames are never reconstructed, about 40-50 % of the frames); a cut is then
located to the first decoded frame after it (within a frame or two at >= 20 fps). "keyframes"
sends keyframe packets only to the decoder: every n-th when every frame is a keyframe, or all of
them for long/slow GOP-dense files, where each notable change between two keyframes (a colour
histogram jump, a loose score spike, a big luma change, a change to or from black) is checked by
seeking and decoding the frames between them, which yields the exact cuts and fades there (several
when shots are shorter than the GOP; such a shot is represented by its middle frame) or nothing.
"decode" decodes every frame: below 20 fps, or what a ref-frames scan turned out to be when the
codec had no non-reference frames to drop (VP9, AV1 as encoded by mediagen). Frame threading is
used from 720p up only: at 360p it cost about 25 % more CPU and gained no wall time on the 2-core
reference machine, while a 720p full decode ran about 1.6x faster with it.

Representative frames: each shot is split into segments, a new one when ``2 / rate`` seconds have
passed or, after ``0.5 / rate`` seconds, when the picture has changed by ``CHANGE_T`` since the
segment began (``rate = min(sample_fps, max_frames / duration)``), so long shots and shots with
a lot of motion get more frames. A segment holds at most one candidate per ``0.25 / rate`` s bin
(the stillest frame there, as a decoded frame held by reference: no conversion) and finally picks
the candidate that is stillest and closest to the segment's mean picture. Frames in the first
``EDGE`` decoded frames / ``EDGE_S`` seconds of a shot, right before a cut or black, in or next to
a luma ramp (fades), or black are not candidates (a shot with none falls back to its stillest
non-black frame, the brightest of a shot that is all fades). Only picked frames are converted to
PIL, when their segment closes.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from .._require import require
from ..errors import MediaError
from . import pyav
from .video import Converter, Frame, VideoInfo, probe_video

THUMB_W, THUMB_H = 48, 27  # feature thumbnail (scaled by FFmpeg)
HIST_BINS = 4  # soft histogram bins per RGB channel
CUT_MIN = 0.15  # smallest pair score that can be a hard cut
HIST_CUT_MIN = 0.1  # ... or smallest histogram distance (with the same ratio test on H alone)
SPARSE_RATIO = 2.0  # keyframes only: a looser spike makes a candidate, checked by dense decoding
LUMA_JUMP = 0.3  # keyframes only: a relative luma change this big makes a candidate (fades)
CUT_RATIO = 3.0  # a cut's score over the larger median of its neighbours' scores
CONTEXT = 3  # neighbours each side for that median
STILL_CUT_MIN = 0.02  # a smaller change is a cut too when everything around it is still (slides' text) ...
STILL_MAX = 0.015  # ... i.e. no neighbour pair score within CONTEXT on either side exceeds this ...
STILL_RATIO = 3.0  # ... and it is this many times their larger median (floored at STILL_FLOOR)
STILL_FLOOR = 0.004  # compression noise of a still picture
FLASH_KEEP = 0.5  # the frames either side of a cut must differ by at least this share of its score
BASE_FLOOR = 0.02  # floor of the neighbour median (static scenes)
BLACK_Y = 24.0  # mean luma (0-255) at or below which a frame can be black
BLACK_BRIGHT = 64  # channel level counted as bright
BLACK_SHARE = 0.02  # ... and at most this share of bright samples makes it black
DEEP_Y = 12.0  # ... when its mean luma is at most this (near black: a faint logo does not matter)
VISIBLE_SHARE = 0.004  # ... else when at most this share is bright (above it a dark scene shows content)
DARKEST_TOL = 2.0  # luma within this of a black run's minimum counts as its darkest point
DIP_Y = 48.0  # a dark frame (mean luma at most this) ...
DIP_FRAC = 0.5  # ... at most this share of the brightest frame within CONTEXT on each side is a fade
EDGE = 2  # decoded frames after a shot start / before a cut / around a luma ramp that are not candidates
EDGE_S = 0.2  # nor the first seconds of a shot
RAMP_STEP = 0.025  # relative luma change per decoded frame that counts as a ramp step (two in a row)
CHANGE_T = 0.04  # picture change (mean abs difference) that opens a new segment
REFINE_GAP = 0.1  # seconds between decoded frames above which a cut is refined by seeking
KEY_MAX_GAP = 1.0  # keyframes at most this far apart (mean) make a file "GOP-dense"
KEY_STEP_S = 0.08  # intra-only files: decode every keyframe this far apart (12.5 per second)
KEY_COST = 2.0  # decoding a keyframe costs about this many other frames (measured: x264, 360p)
REF_SHARE = 0.6  # share of frames a NONREF decode is expected to reconstruct (x264 defaults: ~0.5)
SEEK_OVERHEAD = 3.0  # decoded-frame equivalents per seek
KEY_GAIN = 0.6  # keyframes must cost at most this share of a reference-frame scan
DECODE_PIXELS_PER_S = 1.5e8  # pixels/s one core of the reference machine decodes (H.264)
SPEED_TARGET = 40.0  # the scan should run at least this many times faster than real time
LONG_VIDEO_S = 1800.0  # "very long" files use keyframes when GOP-dense even if fast enough
SHOT_GUESS_S = 4.0  # expected seconds per shot (cost of refining boundaries)
THREAD_MIN_PIXELS = 1280 * 720  # frame threading from this size up (below it costs ~25 % more CPU for no gain)
STRATEGIES = ("ref-frames", "keyframes", "decode")


@dataclass(frozen=True)
class Shot:
    """One shot: a continuous stretch between two boundaries."""

    start: float  # seconds (first shot starts at the video's first frame time)
    end: float  # seconds (= next shot's start; last shot ends at the video end)
    transition: str  # how this shot begins: "start" (first shot), "cut" or "fade"
    frames: tuple[float, ...]  # times (s) of the representative frames chosen for this shot, ascending


@dataclass
class ShotScan:
    """What ``detect_shots`` found and how it decoded."""

    shots: list[Shot]
    frames: list[Frame]  # representative frames of all shots, sorted by t (times equal those in Shot.frames)
    strategy: str  # "ref-frames", "keyframes" or "decode"
    decoded: int  # frames decoded
    errors: list[str]  # decode/demux errors met (damaged files); the scan keeps what decoded
    seconds: float  # wall seconds spent


def choose_scan_strategy(info: VideoInfo) -> tuple[str, int]:
    """Pick how to decode for shot detection, from the file's GOP structure and frame rate.

    Args:
        info: probed video.
    Returns:
        (strategy, keyframe stride): "keyframes" when every frame is a keyframe (decode every
        stride-th one, about ``KEY_STEP_S`` apart); "decode" below 20 fps (dropping non-reference
        frames would leave gaps wider than ``REFINE_GAP``); "keyframes" when keyframes are dense
        (``mean_gop <= KEY_MAX_GAP``), the file is long or slow to decode (a reference-frame scan
        would be slower than ``SPEED_TARGET`` x real time at ``DECODE_PIXELS_PER_S``), and keyframes
        plus boundary refinement cost less than ``KEY_GAIN`` of a reference-frame scan (costs in
        decoded frames: ``n_frames * REF_SHARE`` against ``keyframes * KEY_COST`` plus, per expected
        boundary, a GOP of reference frames and a seek); else "ref-frames".
    """
    n = max(1, info.n_frames)
    keys = len(info.keyframe_times)
    fps = info.fps or 25.0
    if keys >= 0.9 * n:  # intra-only: every packet decodes alone, NONREF would drop nothing
        return "keyframes", max(1, int(fps * KEY_STEP_S + 1e-6))
    if fps * REFINE_GAP < 2.0:  # low frame rate: dropping a frame would leave gaps wider than REFINE_GAP
        return "decode", 1
    ref_cost = n * REF_SHARE
    if keys and info.mean_gop <= KEY_MAX_GAP:
        predicted_s = ref_cost * info.width * info.height / DECODE_PIXELS_PER_S
        slow = predicted_s > info.duration / SPEED_TARGET
        refine = info.duration / SHOT_GUESS_S * (info.mean_gop * fps * REF_SHARE + SEEK_OVERHEAD)
        if (slow or info.duration >= LONG_VIDEO_S) and keys * KEY_COST + refine < KEY_GAIN * ref_cost:
            return "keyframes", 1
    return "ref-frames", 1


def detect_shots(path, info: VideoInfo | None = None, *, max_side: int = 384, sample_fps: float = 0.5,
                 max_frames: int = 900, min_shot_s: float = 0.4, stats: dict | None = None,
                 on_frame=None) -> ShotScan:
    """Find shot boundaries and pick representative frames, decoding the video once.

    Args:
        path: video file.
        info: ``probe_video(path)`` output (probed here when None).
        max_side: longest side of the representative frames.
        sample_fps: about how many representative frames per second overall (content decides where).
        max_frames: cap on the representative frames.
        min_shot_s: no cut closer than this to the previous boundary.
        stats: if given, filled with {"decoded", "fps_decoded", "errors", "strategy", "decode_s"
            (seconds waiting on the decoder), "analyse_s" (features, decisions, picked-frame conversion)}.
        on_frame: called with each representative Frame as soon as it is converted (mid-scan, so a
            consumer can embed frames while decoding goes on); the result's frames are the same
            objects, less any dropped later by the ``max_frames`` cap or a fade replacing a cut.
    Returns:
        A ShotScan; shots tile [first frame time, video end].
    Raises:
        MediaError: not a readable video, or no frame could be decoded.
    """
    av = require("av", "video")
    started = time.perf_counter()
    info = info or probe_video(path)
    strategy, stride = choose_scan_strategy(info)
    errors: list[str] = []
    with pyav.open_container(av, path) as container:
        stream = pyav.video_stream(path, container)
        scanner = _Scanner(path, info, stream, max_side, sample_fps, max_frames, min_shot_s, errors)
        scanner.convert.on_frame = on_frame
        scanner.run(container, stream, strategy, stride)
    if not scanner.n:
        raise MediaError(path, f"no video frame could be decoded ({'; '.join(errors[:2]) or 'empty stream'})")
    if strategy == "ref-frames" and scanner.decoded_main >= 0.95 * max(1, info.n_frames):
        strategy = "decode"  # nothing was dropped: it was a full decode
    shots, frames = scanner.result()
    seconds = time.perf_counter() - started
    if stats is not None:
        stats.update(decoded=scanner.decoded, fps_decoded=scanner.decoded / seconds if seconds > 0 else 0.0,
                      errors=errors, strategy=strategy, decode_s=scanner.convert.wait_s,
                      analyse_s=max(0.0, seconds - scanner.convert.wait_s))
    return ShotScan(shots=shots, frames=frames, strategy=strategy, decoded=scanner.decoded, errors=errors,
                    seconds=seconds)


class _Features:
    """Thumbnail features of decoded frames, computed with a reused FFmpeg scaler.

    Everything after the scaler works on 48x27 uint8 pixels: one ``bincount`` gives the 256-level
    counts per channel, from which the soft histogram (a 256x4 assignment matrix), the mean luma and
    the share of bright pixels follow.
    """

    def __init__(self):
        from av.video.reformatter import VideoReformatter

        self._scaler = VideoReformatter()
        self._offsets = np.array([0, 256, 512], np.intp)
        x = np.arange(256) * ((HIST_BINS - 1) / 255.0)
        lo = np.minimum(x.astype(np.intp), HIST_BINS - 2)
        soft = np.zeros((256, HIST_BINS))
        soft[np.arange(256), lo] = 1.0 - (x - lo)
        soft[np.arange(256), lo + 1] = x - lo
        npix = THUMB_W * THUMB_H
        self._soft = soft / (3 * npix)  # the histogram sums to 1 over the 3 channels
        self._levels = np.arange(256, dtype=np.float64) / npix
        self._luma = np.array([0.299, 0.587, 0.114])
        self._bright = 1.0 / (3 * npix)

    def __call__(self, frame) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """(thumb uint8 HxWx3, histogram (3 * HIST_BINS,), mean luma 0-255, black?) of a decoded frame."""
        small = self._scaler.reformat(frame, THUMB_W, THUMB_H, "rgb24", interpolation="AREA", threads=1)
        thumb = small.to_ndarray()
        counts = np.bincount((thumb + self._offsets).ravel(), minlength=768).reshape(3, 256)
        hist = (counts @ self._soft).ravel()
        y = float(counts @ self._levels @ self._luma)
        bright = counts[:, BLACK_BRIGHT:].sum() * self._bright
        black = bright <= BLACK_SHARE and (y <= DEEP_Y or (y <= BLACK_Y and bright <= VISIBLE_SHARE))
        return thumb, hist, y, black


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 thumbnails, in [0, 1]."""
    return float(np.abs(a.astype(np.int16) - b).sum()) / (a.size * 255.0)


def _pair(a_thumb, a_hist, b_thumb, b_hist) -> float:
    """Pair score P + H of two frames' features."""
    return _dist(a_thumb, b_thumb) + 0.5 * float(np.abs(a_hist - b_hist).sum())


class _Segment:
    """A stretch of a shot that gets one representative frame."""

    def __init__(self, t: float, thumb: np.ndarray, bin_s: float):
        self.t0 = self.t_last = t
        self.anchor = thumb
        self.total = np.zeros(thumb.shape, np.float32)
        self.count = 0
        self.bin_s = bin_s
        self.cands: dict[int, tuple] = {}  # bin -> (score, t, thumb, decoded frame)

    def add(self, t: float, thumb: np.ndarray, score: float, vframe) -> None:
        self.t_last = t
        self.total += thumb
        self.count += 1
        b = int((t - self.t0) / self.bin_s)
        best = self.cands.get(b)
        if best is None or score < best[0]:
            self.cands[b] = (score, t, thumb, vframe)

    def pick(self, prev_t: float | None, gap: float):
        """The candidate that is still and typical (least motion + distance to the segment's mean),
        preferring those at least ``gap`` seconds after the shot's previous pick."""
        mean = self.total / max(1, self.count)
        cands = list(self.cands.values())
        if prev_t is not None:
            cands = [c for c in cands if c[1] - prev_t >= gap] or cands
        return min(cands, key=lambda c: c[0] + float(np.abs(c[2] - mean).mean()) / 255.0)


class _ShotBuilder:
    """A shot being built: its start, its picked frames, its open segment, its fallback."""

    def __init__(self, start: float, transition: str, first_idx: int, first_t: float):
        self.start = start
        self.transition = transition
        self.first_idx = first_idx  # first non-black decoded frame of the shot
        self.first_t = first_t
        self.frames: list[Frame] = []
        self.segment: _Segment | None = None
        self.fallback: tuple | None = None  # (score, t, vframe)
        self.content = False  # a non-black frame was seen in it


class _Scanner:
    """The single pass: features -> cut decisions (lag CONTEXT) -> shots and picks (lag CONTEXT + EDGE)."""

    def __init__(self, path, info: VideoInfo, stream, max_side, sample_fps, max_frames, min_shot_s, errors):
        av = require("av", "video")
        self.av, self.path, self.info, self.errors = av, path, info, errors
        self.max_side, self.max_frames, self.min_shot_s = max_side, max(1, int(max_frames)), min_shot_s
        self.sar = pyav.sar(stream)
        duration = max(info.duration, 1e-3)
        rate = max(1e-6, min(sample_fps, self.max_frames / duration))
        self.t_max, self.t_min = 2.0 / rate, 0.5 / rate
        self.features = _Features()
        self.convert = Converter(max_side, self.sar)  # picked frames (its scaler is not the features')
        # per decoded frame (index i): time, pair score with i-1 (s = P + H), H, P, mean luma, black
        self.t: list[float] = []
        self.s: list[float] = []
        self.h: list[float] = []
        self.p: list[float] = []
        self.y: list[float] = []
        self.black: list[bool] = []
        self.event: dict[int, list] = {}  # decoded frame -> [("cut" | "fade", boundary time, frame | None)]
        self.recent: deque = deque(maxlen=CONTEXT + EDGE + 4)  # (i, thumb, hist, vframe)
        self.n = 0
        self.decoded = self.decoded_main = 0
        self.decided = 0  # frames whose boundary event is decided
        self.placed = 0  # frames handed to the shot builder
        self.shots: list[tuple[_ShotBuilder, float]] = []  # closed shots and their end times
        self.cur: _ShotBuilder | None = None
        self.in_black = False
        self.black_run: list[int] = []
        self.seen_content = False
        self.refiner = None  # (container, stream) for seek-and-decode refinement
        self.sparse = False  # keyframes only: candidate boundaries are verified by dense decoding
        self.damaged = False  # the main decode met demux/decode errors
        self.first_content = None  # first decoded frame that is not black

    # -- decoding ---------------------------------------------------------------------------
    def run(self, container, stream, strategy: str, stride: int) -> None:
        keep = None
        if strategy == "keyframes":
            self.sparse = stride * self.info.mean_gop > REFINE_GAP
            stream.codec_context.skip_frame = "NONKEY"
            tb = float(stream.time_base)
            step = stride / (self.info.fps or 25.0) - 0.5 / (self.info.fps or 25.0)
            next_t = [-math.inf]

            def keep(packet) -> bool:
                if not packet.is_keyframe or packet.pts is None:
                    return False
                t = packet.pts * tb
                if stride > 1 and t < next_t[0]:
                    return False
                next_t[0] = t + step
                return True
        else:
            if self.info.width * self.info.height >= THREAD_MIN_PIXELS:
                stream.thread_type = "AUTO"
            if strategy == "ref-frames":
                try:
                    stream.codec_context.skip_frame = "NONREF"
                except Exception as exc:  # noqa: BLE001 - a codec without it decodes everything
                    self.errors.append(f"skip_frame NONREF unsupported: {exc}")
        last_t = -math.inf
        damage: list[str] = []
        try:
            for frame in self.convert.timed(pyav.frames(container, stream, damage, keep)):
                self.decoded += 1
                self.decoded_main += 1
                t = frame.time
                if t is None or t <= last_t:
                    continue
                last_t = t
                self._push(float(t), frame)
            self._finish()
        finally:
            self.damaged = bool(damage)
            self.errors[:0] = damage
            if self.refiner is not None:
                self.refiner[0].close()
                self.refiner = None

    def _push(self, t: float, frame) -> None:
        thumb, hist, y, black = self.features(frame)
        i = self.n
        if self.recent:
            _, pthumb, phist, _ = self.recent[-1]
            motion = _dist(thumb, pthumb)
            hd = 0.5 * float(np.abs(hist - phist).sum())
        else:
            motion = hd = 0.0
        self.t.append(t)
        self.s.append(motion + hd)
        self.h.append(hd)
        self.p.append(motion)
        self.y.append(y)
        self.black.append(black)
        if not black and self.first_content is None:
            self.first_content = i
        self.recent.append((i, thumb, hist, frame))
        self.n += 1
        while self.decided < self.n - CONTEXT:
            self._decide_cut(self.decided)
            self.decided += 1
        while self.placed < self.decided - EDGE and self.placed < self.n - EDGE - 2:
            self._place(self.placed)
            self.placed += 1

    def _finish(self) -> None:
        while self.decided < self.n:
            self._decide_cut(self.decided)
            self.decided += 1
        while self.placed < self.n:
            self._place(self.placed)
            self.placed += 1

    def _item(self, i: int):
        """(thumb, hist, vframe) of a recent frame."""
        for j, thumb, hist, vframe in reversed(self.recent):
            if j == i:
                return thumb, hist, vframe
        raise KeyError(i)

    # -- hard cuts ------------------------------------------------------------------------------
    def _decide_cut(self, i: int) -> None:
        """Record the boundary events at decoded frame i: [(kind "cut" | "fade", exact time, frame to
        represent the shot that event starts when it ends before frame i, else None)]."""
        s, h, y = self.s, self.h, self.y
        if i == 0:
            return
        if self.sparse:  # keyframes only: anything notable is checked by decoding the frames between
            lum = max(y[i], y[i - 1])
            if (self.black[i] != self.black[i - 1] or h[i] >= HIST_CUT_MIN or _spike(s, i, CUT_MIN, SPARSE_RATIO)
                    or _still_cut(s, i)
                    or (lum >= 2 * BLACK_Y and abs(y[i] - y[i - 1]) >= LUMA_JUMP * lum)):
                events = self._dense(i)
                if events:
                    self.event[i] = events
            return
        if self.black[i] or self.black[i - 1]:
            return  # transitions to and from black are handled as black runs
        if _dip(y, i, self.n):
            self.event[i] = [("fade", self.t[i], None)]
            return
        if not (_spike(s, i, CUT_MIN, CUT_RATIO) or _spike(h, i, HIST_CUT_MIN, CUT_RATIO) or _still_cut(s, i)):
            return
        if i + 1 < self.n:  # a flash comes back: the frames either side look alike
            a_thumb, a_hist, _ = self._item(i - 1)
            b_thumb, b_hist, _ = self._item(i + 1)
            if not self.black[i + 1] and _pair(a_thumb, a_hist, b_thumb, b_hist) < FLASH_KEEP * s[i]:
                return
        events = [("cut", self.t[i], None)]
        if self.t[i] - self.t[i - 1] > max(REFINE_GAP, 1.5 / (self.info.fps or 25.0)):  # frames were skipped
            events = self._dense(i)[-1:] or events
        self.event[i] = events

    def _dense(self, i: int) -> list[tuple[str, float, object]]:
        """Seek and decode every frame between decoded frames i-1 and i (and CONTEXT after): cuts at
        spikes (not inside luma ramps), fades at the darkest point of black runs or of dark dips, in
        time order and at least ``min_shot_s`` apart; empty for a gradual change."""
        t0, t1 = self.t[i - 1], self.t[i]
        ts, ss, hs, ys, bs, vfs, prev, extra = [], [], [], [], [], [], None, 0
        try:
            if self.refiner is None:
                container = pyav.open_container(self.av, self.path)
                self.refiner = (container, pyav.video_stream(self.path, container))
            container, stream = self.refiner
            container.seek(int(math.floor(t0 / float(stream.time_base))), stream=stream, backward=True)
            for frame in pyav.frames(container, stream, []):
                self.decoded += 1
                if frame.time is None or frame.time < t0 - 1e-6:
                    continue
                thumb, hist, lum, black = self.features(frame)
                hd = 0.5 * float(np.abs(prev[1] - hist).sum()) if prev is not None else 0.0
                ts.append(float(frame.time))
                ss.append(_dist(prev[0], thumb) + hd if prev is not None else 0.0)
                hs.append(hd)
                ys.append(lum)
                bs.append(black)
                vfs.append(frame)
                prev = (thumb, hist)
                if frame.time >= t1 - 1e-6:
                    extra += 1
                    if extra > CONTEXT:
                        break
        except Exception as exc:  # noqa: BLE001 - refinement is best effort
            self.errors.append(f"boundary refinement failed: {exc}")
            return []
        inside = [k for k in range(1, len(ts)) if ts[k] <= t1 + 1e-6]
        found: list[tuple[float, str, int]] = []  # (time, kind, dense index where the new shot's content starts)
        k = 0
        while k < len(inside):
            j = inside[k]
            if bs[j]:  # a black run: a fade between content before it and content after it
                run = [j]
                while k + 1 < len(inside) and bs[inside[k + 1]]:
                    k += 1
                    run.append(inside[k])
                before = any(not bs[r] for r in range(run[0])) or (
                    self.first_content is not None and self.first_content < i - 1)
                after = run[-1] + 1 < len(ts) and not bs[run[-1] + 1]  # the fade ends inside (or at t1)
                if before and after:
                    low = min(ys[r] for r in run)
                    dark = [ts[r] for r in run if ys[r] <= low + DARKEST_TOL]
                    found.append((0.5 * (dark[0] + dark[-1]), "fade", run[-1] + 1))
            elif not bs[j] and not bs[j - 1] and _dip(ys, j):
                found.append((ts[j], "fade", j + 1))
            elif (not bs[j] and not bs[j - 1] and not _in_ramp(ys, j)
                  and (_spike(ss, j, CUT_MIN, CUT_RATIO) or _spike(hs, j, HIST_CUT_MIN, CUT_RATIO)
                       or _still_cut(ss, j))):
                found.append((ts[j], "cut", j))
            k += 1
        events: list[tuple[float, str, int]] = []
        for ev in found:  # at least min_shot_s apart; a fade wins over a cut next to it
            if events and ev[0] - events[-1][0] < self.min_shot_s:
                if ev[1] == "fade" and events[-1][1] == "cut":
                    events[-1] = ev
                continue
            events.append(ev)
        out = []
        for n, (at, kind, start) in enumerate(events):
            frame = None
            if n + 1 < len(events):  # the shot ends before frame i: represent it by its middle frame
                stop = next((k for k in range(len(ts)) if ts[k] >= events[n + 1][0] - 1e-6), len(ts))
                middle = [k for k in range(start, stop) if not bs[k]] or list(range(start, max(start + 1, stop)))
                frame = vfs[middle[len(middle) // 2]] if middle and middle[0] < len(vfs) else None
            out.append((kind, at, frame))
        return out

    # -- shots and representative frames --------------------------------------------------------
    def _place(self, i: int) -> None:
        t = self.t[i]
        if self.cur is None:
            self.cur = _ShotBuilder(min(self.info.start_time, t), "start", i, t)
        if self.sparse:
            self._place_sparse(i)
            return
        if self.black[i]:
            if not self.in_black:
                self.in_black = True
                self.black_run = []
                if self.seen_content:
                    self._close_segment(self.cur, final=False)
            self.black_run.append(i)
            self._fallback(self.cur, i, penalty=10.0)
            return
        if self.in_black:
            self.in_black = False
            if self.seen_content:
                self._boundary(self._darkest(self.black_run), "fade", i)
            else:
                self.cur.first_idx, self.cur.first_t = i, t
        elif i in self.event:
            self._events(i)
        self.seen_content = True
        self._candidate(self.cur, i)

    def _place_sparse(self, i: int) -> None:
        """Keyframes only: boundaries come from the dense checks alone (black runs included)."""
        if i in self.event:
            self._events(i)
        if self.black[i]:
            self._fallback(self.cur, i, penalty=10.0)
            return
        if not self.seen_content and self.cur.transition == "start":
            self.cur.first_idx, self.cur.first_t = i, self.t[i]
        self.seen_content = True
        self._candidate(self.cur, i)

    def _events(self, i: int) -> None:
        t = self.t[i]
        for kind, at, frame in self.event[i]:
            if kind == "fade" or at - self.cur.first_t >= self.min_shot_s:
                self._boundary(at, kind, i, first_t=min(t, at))
                if frame is not None:  # a shot that lies between two keyframes
                    self.cur.fallback = (0.0, float(frame.time), frame)
                    self.cur.content = True

    def _darkest(self, run: list[int]) -> float:
        low = min(self.y[j] for j in run)
        dark = [self.t[j] for j in run if self.y[j] <= low + DARKEST_TOL]
        return 0.5 * (dark[0] + dark[-1])

    def _boundary(self, t: float, kind: str, i: int, first_t: float | None = None) -> None:
        cur = self.cur
        if self.shots and t - cur.start < self.min_shot_s and kind == "fade":
            # a fade right after a boundary (a cut into the fade): the fade replaces it
            self._discard(cur)
            prev, _ = self.shots.pop()
            cur = prev
        else:
            self._close_segment(cur, final=True)
        self.shots.append((cur, t))
        self.cur = _ShotBuilder(t, kind, i, self.t[i] if first_t is None else first_t)

    def _discard(self, shot: _ShotBuilder) -> None:
        shot.frames.clear()
        shot.segment = shot.fallback = None

    def _eligible(self, i: int) -> bool:
        """Not right after the shot start, not right before a cut/black, not in or near a luma ramp."""
        if i - self.cur.first_idx < EDGE or self.t[i] - self.cur.first_t < EDGE_S:
            return False
        end = min(self.n, i + EDGE + 1)
        if any(j in self.event or self.black[j] for j in range(i + 1, end)):
            return False
        y = self.y
        steps = []
        for j in range(max(1, i - EDGE - 1), min(self.n, i + EDGE + 3)):
            d = y[j] - y[j - 1]
            steps.append(d if abs(d) >= max(1.0, RAMP_STEP * max(y[j], y[j - 1])) else 0.0)
        return not any(a * b > 0 for a, b in zip(steps, steps[1:]))

    def _candidate(self, shot: _ShotBuilder, i: int) -> None:
        shot.content = True
        t = self.t[i]
        thumb, _, vframe = self._item(i)
        still = self.p[i] + (self.p[i + 1] if i + 1 < self.n else self.p[i])
        if not self._eligible(i):
            self._fallback(shot, i, penalty=1.0)
            return
        seg = shot.segment
        if seg is not None and seg.cands:
            elapsed = t - seg.t0
            if elapsed >= self.t_max or (elapsed >= self.t_min and _dist(thumb, seg.anchor) >= CHANGE_T):
                self._close_segment(shot, final=False, tail=False)
                seg = None
        if seg is None:
            seg = shot.segment = _Segment(t, thumb, self.t_min / 2)
        seg.add(t, thumb, still, vframe)
        self._fallback(shot, i, penalty=0.0)

    def _fallback(self, shot: _ShotBuilder, i: int, penalty: float) -> None:
        if shot.frames or (shot.segment is not None and shot.segment.cands):
            shot.fallback = None
            return
        # stillest, and brightest: a shot that is all fade in / fade out falls back to its peak
        score = self.p[i] + (self.p[i + 1] if i + 1 < self.n else self.p[i]) - self.y[i] / 255.0 + penalty
        if shot.fallback is None or score < shot.fallback[0]:
            shot.fallback = (score, self.t[i], self._item(i)[2])

    def _close_segment(self, shot: _ShotBuilder, final: bool, tail: bool = True) -> None:
        """Convert the open segment's pick (or, on a final close of an empty shot, its fallback).

        ``tail``: the segment ends the shot's content; a short one adds no frame to a shot that has one.
        """
        seg, shot.segment = shot.segment, None
        if seg is not None and seg.cands:
            if not (tail and shot.frames and seg.t_last - seg.t0 < self.t_min / 2):
                prev_t = shot.frames[-1].t if shot.frames else None
                shot.frames.append(self._convert(seg.pick(prev_t, self.t_min / 2)[3]))
        if final and not shot.frames and shot.fallback is not None:
            shot.frames.append(self._convert(shot.fallback[2]))
        if final:
            shot.fallback = None

    def _convert(self, vframe) -> Frame:
        """A picked frame as a Frame (scaled to ``max_side`` by the reused scaler; ``on_frame`` is told)."""
        return self.convert(vframe)

    # -- result ------------------------------------------------------------------------------
    def result(self) -> tuple[list[Shot], list[Frame]]:
        info = self.info
        fps = info.fps or 25.0
        end = self.t[-1] + 1.0 / fps
        if not self.damaged:  # a damaged file ends where decoding stopped
            end = max(end, info.start_time + info.duration)
        if self.cur is not None:
            if self.shots and not self.cur.content:
                prev, _ = self.shots.pop()  # a fade to black at the very end is no boundary
                self.cur = prev
            self._close_segment(self.cur, final=True)
            self.shots.append((self.cur, end))
            self.cur = None
        self._cap()
        shots, frames = [], []
        for builder, stop in self.shots:
            picked = sorted((f for f in builder.frames if builder.start - 1e-6 <= f.t < stop), key=lambda f: f.t)
            frames.extend(picked)
            shots.append(Shot(builder.start, stop, builder.transition, tuple(f.t for f in picked)))
        return shots, sorted(frames, key=lambda f: f.t)

    def _cap(self) -> None:
        """Drop picks over ``max_frames``: extra picks of the richest shots first, then whole short shots."""
        total = sum(len(b.frames) for b, _ in self.shots)
        while total > self.max_frames:
            richest = max((b for b, _ in self.shots), key=lambda b: len(b.frames))
            if len(richest.frames) > 1:
                richest.frames.pop(len(richest.frames) // 2)
            else:
                shortest = min(((b, e) for b, e in self.shots if b.frames), key=lambda be: be[1] - be[0].start)[0]
                shortest.frames.clear()
            total -= 1


def _spike(x: list[float], i: int, floor: float, ratio: float) -> bool:
    """x[i] >= floor and ``ratio`` times the larger median of its CONTEXT neighbours each side
    (x[0] is no pair score and is left out)."""
    if x[i] < floor:
        return False
    base = max(_median(x[max(1, i - CONTEXT):i]), _median(x[i + 1:i + 1 + CONTEXT]), BASE_FLOOR)
    return x[i] >= ratio * base


def _still_cut(x: list[float], i: int) -> bool:
    """A small change between two still stretches: a slide whose words changed on the same background.

    The pair score of such a cut is far below ``CUT_MIN`` (only the text area changes), but every
    neighbour within CONTEXT on both sides is still (compression noise only), so the change is a spike.
    """
    if x[i] < STILL_CUT_MIN:
        return False
    before, after = x[max(1, i - CONTEXT):i], x[i + 1:i + 1 + CONTEXT]
    if len(before) < CONTEXT or len(after) < CONTEXT or max(before + after) > STILL_MAX:
        return False
    return x[i] >= STILL_RATIO * max(_median(before), _median(after), STILL_FLOOR)


def _dip(y: list[float], i: int, n: int | None = None) -> bool:
    """A dark local luma minimum with much brighter frames within CONTEXT on both sides: a fade
    whose black frame was not decoded (a skipped B-frame, or a fade that stops just short of black)."""
    n = len(y) if n is None else n
    if i < 1 or i + 1 >= n or y[i] > DIP_Y or y[i] > min(y[i - 1], y[i + 1]):
        return False
    return (max(y[max(0, i - CONTEXT):i]) * DIP_FRAC >= y[i]
            and max(y[i + 1:min(n, i + CONTEXT + 1)]) * DIP_FRAC >= y[i])


def _in_ramp(y: list[float], k: int) -> bool:
    """The luma step into frame k continues a step of the same sign before or after it (a fade ramp,
    not a cut: a cut's luma jump stands alone, or turns, as in a cut into a fade-in)."""
    def step(j: int) -> float:
        if j < 1 or j >= len(y):
            return 0.0
        d = y[j] - y[j - 1]
        return d if abs(d) >= max(2.0, RAMP_STEP * max(y[j], y[j - 1])) else 0.0

    d = step(k)
    return d != 0.0 and (d * step(k - 1) > 0 or d * step(k + 1) > 0)


def _median(values: list[float]) -> float:
    """Median of a short list (0 when empty)."""
    if not values:
        return 0.0
    v = sorted(values)
    k = len(v) // 2
    return v[k] if len(v) % 2 else 0.5 * (v[k - 1] + v[k])
