"""Inside the MP4: the ISO-BMFF box tree, packets with their NAL units, and the hex dump.

Media is encoded here with PyAV (libx264/libx265, AAC; a fragmented MP4 with
``movflags=frag_keyframe+empty_moov``). Packet and frame facts are compared with ffprobe
(``-show_packets``/``-show_frames``, Debian ffmpeg, installed by scripts/setup-system.sh). Damaged
and hostile files are built byte by byte, and hypothesis mutates real MP4 bytes: the parser must
only ever report damage.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

av = pytest.importorskip("av")

from omnidex.errors import MediaError  # noqa: E402
from omnidex.media import isobmff, nal  # noqa: E402
from omnidex.media.inside import inside  # noqa: E402
from omnidex.media.isobmff import find, hexdump, parse_bytes, parse_file  # noqa: E402
from omnidex.media.packets import gop_strip, read_packets  # noqa: E402

FRAMES, GOP, SIZE = 50, 25, (160, 120)
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None,
                                   reason="ffprobe (Debian ffmpeg) is not installed: run scripts/setup-system.sh")


def encode(path: Path, codec: str = "libx264", fmt_options: dict | None = None, audio: bool = False) -> Path:
    """FRAMES frames of a moving gradient at 25 fps, fixed GOP of 25 with B-frames (+ a 440 Hz AAC tone)."""
    with av.open(str(path), "w", options=fmt_options or {}) as c:
        v = c.add_stream(codec, rate=25)
        v.width, v.height, v.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        v.codec_context.gop_size = GOP
        v.codec_context.max_b_frames = 2
        if codec == "libx265":
            v.options = {"x265-params": f"log-level=error:keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=2"}
        else:
            v.options = {"sc_threshold": "0", "bf": "2"}
        a = None
        if audio:
            a = c.add_stream("aac", rate=44100)
            a.layout = "mono"
        yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
        for i in range(FRAMES):
            img = np.stack([(xx * 2 + i * 4) % 256, (yy * 2 + i * 3) % 256, (xx + yy + i * 7) % 256], -1)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(int(44100 * FRAMES / 25)) / 44100
            wav = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(wav), 1024):
                af = av.AudioFrame.from_ndarray(wav[None, k:k + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 44100, k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def remux(src: Path, dst: Path) -> Path:
    """Stream-copy the video into MPEG-TS (Annex B start codes instead of length prefixes)."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.size:
                p.stream = s
                o.mux(p)
    return dst


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("isobmff")
    files = {"h264": encode(d / "h264.mp4", audio=True), "h265": encode(d / "h265.mp4", codec="libx265"),
             "frag": encode(d / "frag.mp4", fmt_options={"movflags": "frag_keyframe+empty_moov"})}
    files["ts"] = remux(files["h264"], d / "h264.ts")
    return files


def ffprobe(path: Path, what: str) -> list[dict]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", f"-show_{what}", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[what]


def one(tree: dict, kind: str, n: int = 0) -> dict:
    return find(tree["boxes"], kind)[n]["fields"]


# ---------------------------------------------------------------------------------------------- the tree


def test_h264_tree_fields(media):
    tree = parse_file(media["h264"])
    assert tree["damage"] == [] and tree["size"] == media["h264"].stat().st_size
    assert [b["type"] for b in tree["boxes"]][:1] == ["ftyp"] and "isom" in one(tree, "ftyp")["compatible_brands"]
    assert one(tree, "mvhd")["timescale"] == 1000 and one(tree, "mvhd")["duration"] == 2000
    video, audio = tree["tracks"]
    assert (video["handler"], video["codec"], video["track_id"]) == ("vide", "avc1", 1)
    assert (video["width"], video["height"], video["samples"], video["sync_samples"]) == (160, 120, FRAMES, 2)
    assert video["seconds"] == 2.0 and one(tree, "tkhd")["width"] == 160
    avcc = one(tree, "avcC")
    assert avcc["profile"] == "High" and avcc["length_size"] == 4
    assert (avcc["sps"][0]["width"], avcc["sps"][0]["height"]) == SIZE
    assert (audio["handler"], audio["codec"], audio["sample_rate"], audio["channels"]) == ("soun", "mp4a", 44100, 1)
    esds = one(tree, "esds")
    assert (esds["object_type"], esds["audio_object_type"], esds["sample_rate"]) == (0x40, 2, 44100)
    stts, stsz = one(tree, "stts"), one(tree, "stsz")
    assert stts["sample_count"] == FRAMES and stts["total_duration"] == 2 * one(tree, "mdhd")["timescale"]
    with av.open(str(media["h264"])) as c:
        sizes = [p.size for p in c.demux(c.streams.video[0]) if p.size]
    assert stsz["sample_count"] == FRAMES and stsz["total_bytes"] == sum(sizes) and stsz["max_size"] == max(sizes)
    assert one(tree, "ctts")["sample_count"] == FRAMES  # B-frames: presentation differs from decode order
    assert one(tree, "stss")["first_samples"] == [1, 26]
    assert one(tree, "elst")["entry_count"] == 1
    mdat = find(tree["boxes"], "mdat")[0]["fields"]
    assert mdat["data_start"] <= video["chunk_offset_min"] and video["chunk_offset_max"] < mdat["data_end"]


@needs_ffprobe
def test_h265_tree_fields_agree_with_ffprobe(media):
    tree = parse_file(media["h265"])
    assert tree["damage"] == []
    hvcc = one(tree, "hvcC")
    stream = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(media["h265"])],
                                       check=True, capture_output=True, text=True).stdout)["streams"][0]
    assert hvcc["profile"] == stream["profile"] == "Main"
    assert hvcc["level_idc"] == stream["level"]  # ffprobe prints general_level_idc (30 x level)
    assert (hvcc["sps"][0]["width"], hvcc["sps"][0]["height"]) == (stream["width"], stream["height"]) == SIZE
    assert len(hvcc["vps"]) == len(hvcc["pps"]) == 1
    assert tree["tracks"][0]["samples"] == FRAMES


def test_fragmented_tree(media):
    tree = parse_file(media["frag"])
    assert tree["damage"] == []
    assert tree["tracks"][0]["samples"] == 0  # empty_moov: the samples live in the fragments
    assert find(tree["boxes"], "trex")[0]["fields"]["track_id"] == 1
    moofs = [b for b in tree["boxes"] if b["type"] == "moof"]
    assert len(moofs) == tree["fragments"]["moof_count"] == FRAMES // GOP  # frag_keyframe: one per GOP
    assert tree["fragments"]["samples_per_track"] == {"1": FRAMES}
    assert [find(m["children"], "mfhd")[0]["fields"]["sequence_number"] for m in moofs] == [1, 2]
    tfdt = [f["fields"]["base_media_decode_time"] for f in find(tree["boxes"], "tfdt")]
    assert tfdt == [0, GOP * 512]  # 12800 ticks a second, 25 fps
    truns = [f["fields"] for f in find(tree["boxes"], "trun")]
    with av.open(str(media["frag"])) as c:
        total = sum(p.size for p in c.demux(c.streams.video[0]) if p.size)
    assert sum(t["total_bytes"] for t in truns) == total
    mdats = [b for b in tree["boxes"] if b["type"] == "mdat"]
    assert len(mdats) == len(moofs) and sum(m["fields"]["bytes"] for m in mdats) == total


# ---------------------------------------------------------------------------------------------- packets


@needs_ffprobe
@pytest.mark.parametrize("name", ["h264", "h265", "frag", "ts"])
def test_packets_and_frame_types_agree_with_ffprobe(media, name):
    listing = read_packets(media[name], stream=0)
    ours = listing["packets"]
    theirs = ffprobe(media[name], "packets")
    assert len(ours) == len(theirs) == FRAMES
    for a, b in zip(ours, theirs):
        assert (a["pts"], a["dts"], a["size"], a["keyframe"]) == (int(b["pts"]), int(b["dts"]), int(b["size"]),
                                                                  "K" in b["flags"])
        assert "nal_error" not in a
    by_pts = {p["pts"]: p for p in ours}
    frames = ffprobe(media[name], "frames")
    assert len(frames) == FRAMES
    for f in frames:
        p = by_pts[int(f["pts"])]
        assert (p["picture_type"], p["size"]) == (f["pict_type"], int(f["pkt_size"]))
    assert {p["picture_type"] for p in ours} == {"I", "P", "B"}
    assert sum(p["irap"] for p in ours) == FRAMES // GOP == sum(p["keyframe"] for p in ours)
    units = {u for p in ours for u in p["nal_units"]}
    if name == "h265":
        assert "IDR_N_LP" in units or "IDR_W_RADL" in units
    else:
        assert {"IDR", "slice", "SEI"} <= units
    if name == "ts":
        assert listing["streams"][0]["nal_format"] == "Annex B" and {"SPS", "PPS"} <= units
    else:
        assert listing["streams"][0]["nal_format"] == "length-prefixed (4 bytes)"


def test_gop_strip(media):
    strip = gop_strip(media["h264"])
    frames = strip["frames"]
    assert len(frames) == FRAMES and strip["codec"] == "h264"
    assert [f["pts_time"] for f in frames] == sorted(f["pts_time"] for f in frames)  # display order
    assert [i for i, f in enumerate(frames) if f["key"]] == [0, GOP]
    assert all(frames[i]["type"] == "I" for i in (0, GOP))
    assert strip["counts"]["B"] > 0 and strip["counts"]["P"] > 0 and strip["counts"]["?"] == 0
    assert strip["total_bytes"] == sum(f["size"] for f in frames)
    assert len(gop_strip(media["h264"], max_frames=10)["frames"]) == 10


def test_nal_readers_on_hand_made_units():
    # ue(v): 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3
    r = nal.BitReader(bytes([0b10100110, 0b01000000]))
    assert [r.ue(), r.ue(), r.ue(), r.ue()] == [0, 1, 2, 3]
    assert nal.unescape(b"\x00\x00\x03\x01\x00\x00\x03") == b"\x00\x00\x01\x00\x00"
    # H.264 slice: first_mb_in_slice=0 ('1'), slice_type=7 ('0001000' = I, all slices) -> I
    assert nal.h264_slice_type(bytes([0x65, 0b10001000, 0])) == "I"
    assert nal.h264_slice_type(bytes([0x41, 0b10100000])) == "B"  # ue 0 ("1"), then ue 1 ("010") = B
    assert nal.h264_slice_type(bytes([0x41, 0b11000000])) == "P"  # ue 0, ue 0 = P
    units, err = nal.split_length_prefixed(b"\x00\x00\x00\x02\x65\x88\x00\x00\x00\x09\x41", 4)
    assert units == [b"\x65\x88", b"\x41"] and "claims 9 bytes" in err
    assert nal.split_annexb(b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00") == [b"\x67\x42", b"\x68\xce"]
    assert nal.h264_sps(b"\x67")["error"].startswith("SPS")
    assert "error" in nal.avcc(b"\x01\x64") and "error" in nal.hvcc(b"\x01" * 10)


# ---------------------------------------------------------------------------------------------- hex dump


def test_hexdump_names_the_boxes(media):
    path = media["h264"]
    data = path.read_bytes()
    tree = parse_file(path)
    dump = hexdump(path, 0, 40, tree=tree)
    assert bytes.fromhex(" ".join(r["hex"] for r in dump["rows"])) == data[:40]
    ftyp_size = tree["boxes"][0]["size"]
    assert dump["segments"][:2] == [{"start": 0, "end": 8, "path": "ftyp", "part": "header"},
                                    {"start": 8, "end": ftyp_size, "path": "ftyp", "part": "payload"}]
    assert dump["rows"][0]["path"] == "ftyp (header)" and dump["rows"][0]["ascii"][4:8] == "ftyp"
    stsz = find(tree["boxes"], "stsz")[0]
    dump = hexdump(path, stsz["offset"] + 12, 8, tree=tree)
    assert dump["segments"] == [{"start": stsz["offset"] + 12, "end": stsz["offset"] + 20,
                                 "path": "moov/trak/mdia/minf/stbl/stsz", "part": "payload"}]
    assert hexdump(path, -16, 100, tree=tree)["length"] == 16  # from the end, clipped to the file
    with pytest.raises(MediaError, match="outside the file"):
        hexdump(path, len(data) + 5, 4)


def test_inside_combines_and_rejects(media, tmp_path):
    out = inside(media["h264"], boxes=True, packets=True, hex_spec="0x0:16")
    assert out["boxes"]["tracks"][0]["codec"] == "avc1" and len(out["packets"]["packets"]) > FRAMES
    assert out["hex"]["rows"][0]["offset"] == 0 and json.dumps(out)
    with pytest.raises(MediaError, match="OFFSET"):
        inside(media["h264"], hex_spec="twelve")
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"\x01\x02 just some text, not boxes")
    with pytest.raises(MediaError, match="not an ISO-BMFF"):
        inside(text, boxes=True)
    with pytest.raises(MediaError, match="cannot read"):
        parse_file(tmp_path / "missing.mp4")


# ---------------------------------------------------------------------------------------------- damage


def box(kind: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, kind) + payload


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")


def problems(tree: dict) -> str:
    return " | ".join(d["problem"] for d in tree["damage"])


def test_truncated_file_is_damage(media):
    data = media["frag"].read_bytes()
    tree = parse_bytes(data[: len(data) - 1000])
    assert "the file is cut off" in problems(tree) and "reach past the file" in problems(tree)
    assert tree["boxes"][-1]["truncated"] is True


def test_hostile_sizes_are_reported():
    big_stsz = box(b"stsz", b"\0\0\0\0" + struct.pack(">II", 0, 0xFFFFFFFF) + b"\0" * 16)
    cases = {
        "size 0 inside": (FTYP + box(b"moov", box(b"free", b"", size=0) + b"\0" * 8), "size 0 (to the end of the file)"),
        "tiny size": (FTYP + box(b"moov", b"", size=3), "smaller than a box header"),
        "overrun": (FTYP + box(b"moov", box(b"trak", b"\0" * 4, size=500)) + box(b"free", b"\0" * 600),
                    "overruns its parent"),
        "64-bit huge": (FTYP + struct.pack(">I4sQ", 1, b"mdat", 1 << 62), "cut off"),
        "64-bit tiny": (FTYP + struct.pack(">I4sQ", 1, b"mdat", 9), "smaller than its own header"),
        "garbage type": (FTYP + b"\x00\x00\x00\x10\x01\x02\x03\x04" + b"\0" * 8, "not a box type"),
        "absurd count": (FTYP + box(b"moov", big_stsz), "room for 4"),
        "stray bytes": (FTYP + b"\x07\x07\x07", "stray byte"),
    }
    for name, (data, expected) in cases.items():
        tree = parse_bytes(data)
        assert expected in problems(tree), (name, tree["damage"])
    ok = parse_bytes(FTYP + struct.pack(">I4sQ", 1, b"free", 24) + b"\0" * 8 + box(b"mdat", b"", size=0) + b"x" * 20)
    assert [b["type"] for b in ok["boxes"]] == ["ftyp", "free", "mdat"] and ok["boxes"][2]["size"] == 28
    assert "64-bit size 24" in ok["notes"][0]["problem"] and "runs to the end" in ok["notes"][1]["problem"]


def test_walk_is_bounded():
    deep = box(b"free")
    for _ in range(200):
        deep = box(b"moov", deep)
    assert "nested deeper than" in problems(parse_bytes(FTYP + deep))
    many = FTYP + box(b"free") * (isobmff.MAX_BOXES + 10)
    tree = parse_bytes(many)
    assert tree["box_count"] == isobmff.MAX_BOXES + 1 and "more than" in problems(tree)
    tracemalloc.start()
    huge = FTYP + box(b"moov", box(b"trak", box(b"stco", b"\0" * 4 + struct.pack(">I", 0x7FFFFFFF))))
    parse_bytes(huge)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # a claimed 2**31 entries costs nothing


# ---------------------------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def seeds(media) -> list[bytes]:
    return [media["h264"].read_bytes()[:20000] + media["h264"].read_bytes()[-3000:], media["frag"].read_bytes()[:6000]]


def _box_offsets(data: bytes) -> list[int]:
    tree = parse_bytes(data)
    out = []

    def walk(boxes):
        for b in boxes:
            out.append(b["offset"])
            walk(b.get("children", []))

    walk(tree["boxes"])
    return out


MUTATIONS = st.lists(st.tuples(st.sampled_from(["truncate", "size", "insert", "bytes"]),
                               st.integers(0, 1 << 30), st.binary(min_size=1, max_size=24)), min_size=1, max_size=4)


@settings(max_examples=250, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(seed=st.integers(0, 1), mutations=MUTATIONS, size=st.sampled_from([0, 1, 7, 8, 15, 16, 0xFFFFFFFF, None]))
def test_fuzzed_mp4_bytes_only_ever_report_damage(seeds, seed, mutations, size):
    data = bytearray(seeds[seed])
    for kind, where, blob in mutations:
        offsets = _box_offsets(bytes(data)) or [0]
        at = offsets[where % len(offsets)]
        if kind == "truncate":
            data = data[: where % (len(data) + 1)]
        elif kind == "size":  # rewrite a real box's size field
            value = size if size is not None else int.from_bytes(blob[:4].ljust(4, b"\0"), "big")
            data[at:at + 4] = value.to_bytes(4, "big")
        elif kind == "insert":  # a new box (maybe lying about its size) where a real one starts
            data[at:at] = box(blob[:4].ljust(4, b"a"), blob[4:], size=size)
        else:
            data[at + 8:at + 8 + len(blob)] = blob
    tracemalloc.start()
    tree = parse_bytes(bytes(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 << 20
    assert tree["size"] == len(data) and tree["box_count"] <= isobmff.MAX_BOXES + 1
    json.dumps(tree)
    for b in find(tree["boxes"], "mdat"):
        assert b["offset"] + b.get("header", 8) <= len(data)


def test_cli_flags(media, capsys):
    from omnidex import cli

    assert cli.main(["probe", str(media["frag"]), "--boxes", "--packets", "--hex", "0:32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["boxes"]["fragments"]["moof_count"] == 2 and len(out["packets"]["packets"]) == FRAMES
    assert out["hex"]["segments"][0]["path"] == "ftyp"
    assert cli.main(["probe", str(media["h265"]), "--boxes"]) == 0
    text = capsys.readouterr().out
    assert "hvcC" in text and "profile=Main" in text and "track track_id=1 handler=vide codec=hev1" in text
    assert cli.main(["probe", str(media["h264"]), "--packets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(" K I " in line and "IDR" in line for line in lines)
    assert cli.main(["probe", str(media["h264"]), "--hex", "nonsense"]) == 2
    assert "OFFSET[:LEN]" in capsys.readouterr().err
