"""Shot boundaries (cuts, fades) and representative frames on generated videos with known truth.

Every video is made here by ``mediagen.make_video`` (ffmpeg + Pillow); its ``"cuts"`` list is the
ground truth: (time, "cut" | "fade") for every scene boundary.
"""
from __future__ import annotations

import dataclasses
import shutil

import pytest

pytest.importorskip("av")
pytest.importorskip("PIL.Image")

from omnidex.errors import MediaError  # noqa: E402
from omnidex.media import shots as shots_mod  # noqa: E402
from omnidex.media.shots import Shot, ShotScan, choose_scan_strategy, detect_shots  # noqa: E402
from omnidex.media.video import VideoInfo, probe_video  # noqa: E402
from omnidex.testing import mediagen  # noqa: E402
from omnidex.testing.mediagen import Scene  # noqa: E402

if not shutil.which("ffmpeg"):
    pytest.skip("needs Debian ffmpeg", allow_module_level=True)

SIZE = (320, 180)
FPS = 25
R, G, B, Y = (200, 40, 40), (40, 160, 60), (30, 60, 200), (220, 200, 60)
P, C, W, K = (120, 40, 160), (40, 180, 190), (240, 240, 240), (90, 90, 90)

# hard cuts between plain and patterned (moving texture, scrolling bars/checker) scenes
CUT_SCENES = [
    Scene(2.0, R, "ONE"), Scene(1.6, G, "TWO", pattern="noise"), Scene(2.4, B, "THREE", pattern="bars"),
    Scene(1.2, Y, "FOUR"), Scene(2.0, P, "FIVE", pattern="checker"), Scene(0.8, C, "SIX", pattern="noise"),
    Scene(2.2, W, "SEVEN", pattern="bars"), Scene(1.8, K, "EIGHT"),
]
# fades: from black at the start, through black, to black then a cut, a cut then up from black, to black at the end
FADE_SCENES = [
    Scene(2.5, R, "ONE", fade_in=0.6, fade_out=0.5), Scene(2.5, G, "TWO", fade_in=0.5, pattern="noise"),
    Scene(2.5, B, "THREE", fade_out=0.7, pattern="checker"), Scene(2.5, Y, "FOUR", pattern="bars"),
    Scene(2.0, C, "FIVE", fade_in=0.4), Scene(2.5, P, "SIX", fade_out=0.5, fade_in=0.2),
    Scene(2.0, W, "SEVEN", fade_out=0.8),
]
# a mix for the codec / GOP variants
MIX_SCENES = [
    Scene(2.0, R, "ONE"), Scene(1.6, G, "TWO", pattern="noise"), Scene(2.4, B, "THREE", pattern="bars", fade_out=0.5),
    Scene(1.6, Y, "FOUR", fade_in=0.5), Scene(2.0, P, "FIVE", pattern="checker"), Scene(1.2, C, "SIX", pattern="noise"),
    Scene(2.2, W, "SEVEN", pattern="bars"), Scene(1.8, K, "EIGHT"),
]


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    """name -> make_video ground truth (with "path") for every test video."""
    d = tmp_path_factory.mktemp("shots")

    def make(name, scenes, **kw):
        return mediagen.make_video(d / name, scenes, size=SIZE, fps=FPS, audio=False, **kw)

    out = {
        "cuts": make("cuts.mp4", CUT_SCENES),
        "fades": make("fades.mp4", FADE_SCENES),
        "motion": make("motion.mp4", [Scene(12.0, C, "MOVING", pattern="noise")]),
        "hevc": make("hevc.mkv", MIX_SCENES, codec="libx265"),
        "gop250": make("gop250.mp4", MIX_SCENES, gop=250),
        "gop1": make("gop1.mp4", MIX_SCENES, gop=1),
        "gop12": make("gop12.mp4", MIX_SCENES, gop=12),
        "fast": make("fast.mp4", MIX_SCENES, faststart=True),
    }
    data = out["fast"]["path"].read_bytes()
    trunc = d / "truncated.mp4"
    trunc.write_bytes(data[: int(len(data) * 0.6)])
    out["truncated"] = dict(out["fast"], path=trunc)
    return out


@pytest.fixture(scope="session")
def scans(videos):
    """name -> (VideoInfo, ShotScan, stats) with the default settings."""
    out = {}
    for name, gt in videos.items():
        info = probe_video(gt["path"])
        stats: dict = {}
        out[name] = (info, detect_shots(gt["path"], info, stats=stats), stats)
    return out


def _match(found: list[tuple[float, str]], truth: list[tuple[float, str]], tol: float):
    """Greedy nearest matching: ([(truth, found)] pairs within tol, unmatched truth, unmatched found)."""
    pairs, free = [], list(found)
    missed = []
    for t, kind in truth:
        best = min(free, key=lambda f: abs(f[0] - t), default=None)
        if best is not None and abs(best[0] - t) <= tol:
            pairs.append(((t, kind), best))
            free.remove(best)
        else:
            missed.append((t, kind))
    return pairs, missed, free


def _boundaries(scan: ShotScan) -> list[tuple[float, str]]:
    return [(s.start, s.transition) for s in scan.shots[1:]]


def _check_structure(scan: ShotScan, info: VideoInfo, max_side: int = 384) -> None:
    """Shots tile the video, frames are sorted, inside their shot, and match ShotScan.frames."""
    shots = scan.shots
    assert shots and shots[0].transition == "start"
    assert shots[0].start == pytest.approx(info.start_time, abs=1e-6)
    for a, b in zip(shots, shots[1:]):
        assert a.end == b.start and b.transition in ("cut", "fade")
    for s in shots:
        assert s.start < s.end
        assert list(s.frames) == sorted(s.frames)
        assert all(s.start <= t < s.end for t in s.frames)
    assert [f.t for f in scan.frames] == sorted(t for s in shots for t in s.frames)
    for f in scan.frames:
        assert f.image.mode == "RGB" and max(f.image.size) <= max_side


# ---------------------------------------------------------------- hard cuts


def test_hard_cuts_exact_recall_and_precision(videos, scans):
    gt = videos["cuts"]
    info, scan, stats = scans["cuts"]
    _check_structure(scan, info)
    assert scan.strategy == "ref-frames"
    truth = gt["cuts"]
    assert all(kind == "cut" for _, kind in truth) and len(truth) == len(CUT_SCENES) - 1
    pairs, missed, extra = _match(_boundaries(scan), truth, 0.5)
    assert not missed and not extra, (missed, extra)
    for (t, _), (found, kind) in pairs:
        assert kind == "cut"
        assert abs(found - t) <= 0.1  # reference frames only, still within a frame or two
    assert scan.shots[-1].end == pytest.approx(gt["duration"], abs=0.05)


def test_ref_frames_decode_fewer_frames_than_the_file_has(scans):
    info, scan, stats = scans["cuts"]  # x264 defaults: B-frames, most of them non-reference
    assert scan.strategy == "ref-frames"
    assert scan.decoded < 0.8 * info.n_frames
    assert set(stats) >= {"decoded", "fps_decoded", "errors", "strategy"}
    assert stats["decoded"] == scan.decoded and stats["strategy"] == scan.strategy and stats["fps_decoded"] > 0
    assert scan.errors == [] and scan.seconds > 0


def test_representative_frames_avoid_boundaries(videos, scans):
    info, scan, _ = scans["cuts"]
    one_frame = 1.0 / FPS
    for shot in scan.shots:
        assert len(shot.frames) >= 1
        for t in shot.frames:
            if shot.transition != "start":
                assert t > shot.start + 1.5 * one_frame  # not the first frame of the shot
            assert t < shot.end - 1.5 * one_frame  # nor the last


def test_long_and_moving_shots_get_more_frames(videos, scans):
    _, scan, _ = scans["cuts"]
    by_text = dict(zip([s.text for s in CUT_SCENES], scan.shots))
    assert len(by_text["FOUR"].frames) == 1  # short (1.2 s), plain, static
    assert len(by_text["EIGHT"].frames) == 1
    assert len(by_text["SEVEN"].frames) >= 2  # 2.2 s of scrolling bars
    assert len(by_text["THREE"].frames) >= 2
    info, motion, _ = scans["motion"]
    _check_structure(motion, info)
    assert len(motion.shots) == 1  # strong motion is no cut
    assert len(motion.shots[0].frames) >= 4
    assert len(motion.frames) > max(len(by_text["FOUR"].frames), len(by_text["EIGHT"].frames))
    gaps = [b - a for a, b in zip(motion.shots[0].frames, motion.shots[0].frames[1:])]
    assert min(gaps) > 0.3  # spread over the shot, not bunched


def test_budget_knobs(videos):
    path = videos["motion"]["path"]
    few = detect_shots(path, sample_fps=0.5, max_frames=2)
    assert len(few.frames) == 2
    more = detect_shots(path, sample_fps=2.0, max_side=160)
    assert len(more.frames) > len(detect_shots(path).frames)
    assert all(max(f.image.size) <= 160 for f in more.frames)
    cuts = detect_shots(videos["cuts"]["path"], max_frames=3)
    assert len(cuts.frames) <= 3 and len(cuts.shots) == len(CUT_SCENES)


# ---------------------------------------------------------------- fades


def test_fades_through_from_and_to_black(videos, scans):
    gt = videos["fades"]
    info, scan, _ = scans["fades"]
    _check_structure(scan, info)
    truth = gt["cuts"]
    assert [k for _, k in truth] == ["fade", "cut", "fade", "fade", "fade", "fade"]
    pairs, missed, extra = _match(_boundaries(scan), truth, 0.5)
    assert not missed and not extra, (missed, extra)  # no boundary for the fade in at 0 or out at the end
    for (t, kind), (found, found_kind) in pairs:
        assert found_kind == kind
        assert abs(found - t) <= (0.1 if kind == "cut" else 0.5)


def test_representative_frames_avoid_fades(videos, scans):
    gt = videos["fades"]
    _, scan, _ = scans["fades"]
    two = 2.0 / FPS
    ramps = []  # time spans of fade frames, widened by two frames each side
    for (start, end, _), scene in zip(gt["scenes"], FADE_SCENES):
        if scene.fade_in:
            ramps.append((start - two, start + scene.fade_in + two))
        if scene.fade_out:
            ramps.append((end - scene.fade_out - two, end + two))
    for shot in scan.shots:
        assert shot.frames
        for t in shot.frames:
            assert not any(a <= t <= b for a, b in ramps), (t, ramps)


# ---------------------------------------------------------------- codecs, GOPs, strategies


@pytest.mark.parametrize("name", ["hevc", "gop250", "gop1", "gop12"])
def test_codecs_and_gops(videos, scans, name):
    gt = videos[name]
    info, scan, _ = scans[name]
    _check_structure(scan, info)
    pairs, missed, extra = _match(_boundaries(scan), gt["cuts"], 0.5)
    assert not missed and not extra, (missed, extra)
    for (t, kind), (found, found_kind) in pairs:
        assert found_kind == kind
        if kind == "cut":
            assert abs(found - t) <= 0.1
    assert all(shot.frames for shot in scan.shots)


def test_strategy_follows_gop_structure(scans):
    assert scans["gop1"][1].strategy == "keyframes"  # intra-only: every other keyframe, nothing else
    assert scans["gop1"][1].decoded <= 0.6 * scans["gop1"][0].n_frames
    assert scans["gop250"][1].strategy == "ref-frames"
    assert scans["gop250"][1].decoded < scans["gop250"][0].n_frames
    assert choose_scan_strategy(scans["gop12"][0])[0] == "ref-frames"  # short and cheap: no need to skip


def test_cost_rule_on_synthetic_infos():
    base = VideoInfo(path="x.mp4", duration=600.0, fps=25.0, width=640, height=360, codec="h264", n_frames=15000,
                     keyframe_times=tuple(i * 10.0 for i in range(60)), has_audio=False, rotation=0)
    assert choose_scan_strategy(base) == ("ref-frames", 1)
    # 1080p with a keyframe every 0.5 s: a reference-frame scan would be slow, keyframes + refinement win
    dense = dataclasses.replace(base, width=1920, height=1080, keyframe_times=tuple(i * 0.5 for i in range(1200)))
    assert choose_scan_strategy(dense) == ("keyframes", 1)
    # a very long 360p file with dense keyframes
    long = dataclasses.replace(base, duration=7200.0, n_frames=180000,
                               keyframe_times=tuple(i * 1.0 for i in range(7200)))
    assert choose_scan_strategy(long) == ("keyframes", 1)
    # same but with sparse keyframes: keyframes cannot locate cuts, decode reference frames
    sparse = dataclasses.replace(dense, keyframe_times=tuple(i * 5.0 for i in range(120)))
    assert choose_scan_strategy(sparse)[0] == "ref-frames"
    intra = dataclasses.replace(base, keyframe_times=tuple(i / 25 for i in range(15000)))
    assert choose_scan_strategy(intra) == ("keyframes", 2)  # every other frame, each decodes alone
    assert choose_scan_strategy(dataclasses.replace(base, fps=10.0, n_frames=6000))[0] == "decode"


def test_keyframe_scan_refines_boundaries(videos, monkeypatch):
    gt = videos["gop12"]
    info = probe_video(gt["path"])
    monkeypatch.setattr(shots_mod, "choose_scan_strategy", lambda info: ("keyframes", 1))
    scan = detect_shots(gt["path"], info)
    assert scan.strategy == "keyframes"
    _check_structure(scan, info)
    pairs, missed, extra = _match(_boundaries(scan), gt["cuts"], 0.5)
    assert not missed and not extra, (missed, extra)
    for (t, kind), (found, _) in pairs:
        if kind == "cut":
            assert abs(found - t) <= 0.1  # refined by decoding the frames between two keyframes
    assert scan.decoded < 0.6 * info.n_frames


def test_full_decode_agrees(videos, monkeypatch):
    gt = videos["cuts"]
    info = probe_video(gt["path"])
    monkeypatch.setattr(shots_mod, "choose_scan_strategy", lambda info: ("decode", 1))
    scan = detect_shots(gt["path"], info)
    assert scan.strategy == "decode" and scan.decoded == info.n_frames
    pairs, missed, extra = _match(_boundaries(scan), gt["cuts"], 0.1)
    assert not missed and not extra


# ---------------------------------------------------------------- damage


def test_truncated_file_keeps_shots_before_damage(videos, scans):
    gt = videos["truncated"]
    info, scan, _ = scans["truncated"]
    assert scan.shots and scan.frames
    end = scan.shots[-1].end
    assert end < gt["duration"] * 0.8
    before = [(t, k) for t, k in gt["cuts"] if t < end - 0.5]
    assert len(before) >= 3
    pairs, missed, extra = _match([b for b in _boundaries(scan) if b[0] < end - 0.5], before, 0.5)
    assert not missed and not extra, (missed, extra)
    assert all(kind == fk for (_, kind), (_, fk) in pairs)


def test_no_decodable_frame_raises(videos, tmp_path):
    gt = videos["fast"]
    info = probe_video(gt["path"])
    data = gt["path"].read_bytes()
    mdat = data.find(b"mdat")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: mdat + 8] + bytes(len(data) - mdat - 8))  # index intact, frame data zeroed
    with pytest.raises(MediaError):
        detect_shots(broken, info)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 4096)
    with pytest.raises(MediaError):
        detect_shots(junk)


# ---------------------------------------------------------------- mediagen


def test_mediagen_cuts_truth_and_fade_rendering(videos):
    gt = videos["fades"]
    bounds = [start for start, _, _ in gt["scenes"][1:]]
    assert [t for t, _ in gt["cuts"]] == pytest.approx(bounds)
    assert videos["cuts"]["cuts"] == [(b, "cut") for b in [s for s, _, _ in videos["cuts"]["scenes"][1:]]]
    assert Scene(1.0, R).pattern == "plain" and Scene(1.0, R).fade_in == 0.0 == Scene(1.0, R).fade_out
    import numpy as np
    frames = list(mediagen._scene_frames([Scene(0.4, W, "X", fade_in=0.2, fade_out=0.2)], SIZE, FPS))
    lum = [np.asarray(f).mean() for f in frames]
    assert lum[0] < 1 and lum[-1] < 1 and lum[len(lum) // 2] > 150  # black at both ends, full in the middle
    for pattern in ("noise", "bars", "checker"):
        a, b = list(mediagen._scene_frames([Scene(0.12, G, "", pattern=pattern)], SIZE, FPS))[:2]
        assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() > 2  # the pattern moves
    with pytest.raises(ValueError):
        list(mediagen._scene_frames([Scene(0.1, G, pattern="spiral")], SIZE, FPS))


def test_shot_is_frozen():
    shot = Shot(0.0, 1.0, "start", (0.5,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        shot.start = 2.0  # type: ignore[misc]


# ---------------------------------------------------------------- dark (near-black) scenes

D = (20, 20, 20)  # near black; the scene still shows its moving circle
# cut into a dark scene, out of it into bars, a fade into a dark scene, a cut between bars, a dark last scene
DARK_SCENES = [
    Scene(2.0, B, "ONE"), Scene(2.5, D, ""), Scene(2.0, R, "X", pattern="bars"), Scene(2.0, G, "TWO", fade_out=0.5),
    Scene(2.5, D, "", fade_in=0.5), Scene(2.0, Y, "", pattern="bars"), Scene(2.0, R, "", pattern="bars"),
    Scene(2.5, D, ""),
]


@pytest.fixture(scope="session")
def dark_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("dark")
    return {name: mediagen.make_video(d / f"{name}.mp4", DARK_SCENES, size=(640, 360), fps=FPS, audio=False, **kw)
            for name, kw in (("gop250", {}), ("gop12", {"gop": 12}))}


def _check_dark(gt, scan, info):
    _check_structure(scan, info)
    truth = gt["cuts"]
    assert [k for _, k in truth] == ["cut", "cut", "cut", "fade", "cut", "cut", "cut"]
    pairs, missed, extra = _match(_boundaries(scan), truth, 0.5)
    assert not missed and not extra, (missed, extra)  # the last (dark) scene is no fade out
    for (t, kind), (found, found_kind) in pairs:
        assert found_kind == kind
        if kind == "cut":
            assert abs(found - t) <= 0.1
    assert all(shot.frames for shot in scan.shots)  # a dark scene is a shot with content


def test_dark_scenes_are_shots_not_fades(dark_videos):
    gt = dark_videos["gop250"]
    info = probe_video(gt["path"])
    scan = detect_shots(gt["path"], info)
    assert scan.strategy == "ref-frames"
    _check_dark(gt, scan, info)


def test_dark_scenes_keyframe_scan(dark_videos, monkeypatch):
    gt = dark_videos["gop12"]
    info = probe_video(gt["path"])
    _check_dark(gt, detect_shots(gt["path"], info), info)
    monkeypatch.setattr(shots_mod, "choose_scan_strategy", lambda info: ("keyframes", 1))
    scan = detect_shots(gt["path"], info)
    assert scan.strategy == "keyframes"
    _check_dark(gt, scan, info)


def test_black_frames_versus_dark_content():
    import numpy as np

    feats = shots_mod._Features()
    av = pytest.importorskip("av")

    def black(arr) -> bool:
        return feats(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr, np.uint8), format="rgb24"))[3]

    frame = np.zeros((180, 320, 3), np.uint8)
    assert black(frame)  # black
    assert black(frame + 20)  # flat near-black: nothing to see
    frame[120:150, 100:130] = 255  # a small bright object (about 1.6 % of the picture)
    assert black(frame // 40)  # faded almost to black: the object is dim
    dark = frame.copy()
    dark[frame == 0] = 20
    assert not black(dark)  # a dark scene with visible content
    logo = np.zeros((180, 320, 3), np.uint8)
    logo[5:15, 5:25] = 255  # a small logo on black stays black
    assert black(logo)
