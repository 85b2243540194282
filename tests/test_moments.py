"""Moments across a library: shot-aware transcript windows, search within one file, clip-in-video."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from omnidex import Index, IndexConfig
from omnidex.encoders.whisper import Transcript, TranscriptSegment, Word
from omnidex.ingest.extract import speech_windows


def _transcript(words):
    ws = tuple(Word(a, b, t, 0.9) for a, b, t in words)
    return Transcript("en", (TranscriptSegment(ws[0].start, ws[-1].end, "".join(w.text for w in ws), ws),), 20.0)


def test_speech_windows_split_at_cuts_in_pauses_but_not_inside_running_speech():
    tr = _transcript([(0.0, 0.4, " the"), (0.45, 0.9, " harbour"), (0.95, 1.5, " lights"),
                      (2.0, 2.4, " came"), (2.45, 3.0, " on"), (3.05, 3.6, " slowly")])
    assert len(speech_windows(tr, 12.0)) == 1
    # a cut in the 0.5 s pause at 1.5-2.0 s ends the window there
    parts = speech_windows(tr, 12.0, cuts=(1.7,))
    assert [(p.start, p.end) for p in parts] == [(0.0, 1.5), (2.0, 3.6)]
    # a cut between words that follow each other closely does not split the sentence
    assert len(speech_windows(tr, 12.0, cuts=(0.92,))) == 1
    # a cut far away from any pause changes nothing
    assert len(speech_windows(tr, 12.0, cuts=(9.0,))) == 1


COLORS = [(200, 40, 40), (40, 160, 60), (30, 60, 200), (220, 200, 40), (160, 40, 180), (40, 180, 190)]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from omnidex.testing.mediagen import Narration, Scene, make_video

    root = tmp_path_factory.mktemp("lib")
    media = root / "media"
    media.mkdir()
    long = make_video(media / "long.mp4", [Scene(5.0, c, f"SCENE {i}") for i, c in enumerate(COLORS)],
                      [Narration(1.0, "The ferry leaves the harbour at noon."),
                       Narration(21.0, "Bring warm clothes for the mountain hike.")], size=(320, 180))
    other = make_video(media / "other.mp4", [Scene(6.0, (90, 90, 90), "OTHER"), Scene(6.0, (250, 250, 250), "WHITE")],
                       [Narration(1.0, "The ferry leaves the harbour at noon.")], size=(320, 180))
    queries = root / "queries"
    queries.mkdir()
    ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    # a 6 s excerpt, re-encoded smaller and at another quality: the same pixels, different bytes
    subprocess.run(ffmpeg + ["-ss", "11.32", "-i", str(long["path"]), "-t", "6", "-vf", "scale=256:144",
                             "-c:v", "libx264", "-crf", "30", "-an", str(queries / "excerpt.mp4")], check=True)
    # the whole video re-encoded: a near-duplicate
    subprocess.run(ffmpeg + ["-i", str(long["path"]), "-vf", "scale=240:136", "-c:v", "libx264", "-crf", "32",
                             "-an", str(queries / "copy.mp4")], check=True)
    make_video(queries / "unrelated.mp4", [Scene(4.0, (10, 10, 10), "NOTHING LIKE IT")], audio=False, size=(320, 180))
    db = root / "db"
    idx = Index(db, IndexConfig(clip_model=None, ocr=False))
    report = idx.add([media])
    assert report.count("indexed") == 2, report.to_dict()
    return {"idx": idx, "db": db, "long": long, "other": other, "queries": queries}


@pytest.mark.slow
def test_file_info_keeps_shots_and_language(library):
    info = library["idx"].store.file_info([str(library["long"]["path"])])[str(library["long"]["path"])]
    starts = [s[0] for s in info["shots"]]
    truth = [s[0] for s in library["long"]["scenes"]]
    assert len(starts) == len(truth) and all(abs(a - b) <= 0.1 for a, b in zip(starts, truth))
    assert info["language"] == "en"


@pytest.mark.slow
def test_search_within_one_file(library):
    idx = library["idx"]
    both = idx.search("when does the boat depart", top_k=5, modality="speech")
    assert {h.path for h in both[:2]} == {str(library["long"]["path"]), str(library["other"]["path"])}
    only = idx.search("when does the boat depart", top_k=5, in_path=library["other"]["path"])
    assert only and {h.path for h in only} == {str(library["other"]["path"])}
    said = library["other"]["speech"][0]
    top = only[0]
    assert top.source == "speech" and top.start <= said[0] + 0.3 and top.end >= said[1] - 0.3


@pytest.mark.slow
def test_spoken_moment_is_snapped_to_words_and_tells_its_evidence(library):
    hit = library["idx"].search("what to wear for a walk in the hills", top_k=3, in_path=library["long"]["path"])[0]
    said = library["long"]["speech"][1]
    inter = min(hit.end, said[1]) - max(hit.start, said[0])
    union = max(hit.end, said[1]) - min(hit.start, said[0])
    assert inter / union >= 0.6, (hit, said)
    assert "text" in hit.signals and "warm" in hit.evidence.lower()


@pytest.mark.slow
def test_video_query_finds_the_excerpt_to_the_frame(library):
    hits = library["idx"].search(video=library["queries"] / "excerpt.mp4", top_k=3)
    assert hits, "the excerpt was not found"
    top = hits[0]
    assert top.path == str(library["long"]["path"]) and top.source == "clip"
    assert abs(top.start - 11.32) <= 0.05 and abs(top.end - 17.32) <= 0.1, top
    assert top.signals["align"] > 0.7 and "occurs" in top.evidence


@pytest.mark.slow
def test_video_query_flags_near_duplicates_and_ignores_unrelated(library):
    top = library["idx"].search(video=library["queries"] / "copy.mp4", top_k=3)[0]
    assert top.path == str(library["long"]["path"]) and "near-duplicate" in top.evidence
    assert abs(top.start) <= 0.05 and top.score > 0.6
    unrelated = library["idx"].search(video=library["queries"] / "unrelated.mp4", top_k=3)
    assert all(h.score < 0.3 for h in unrelated), unrelated


@pytest.mark.slow
def test_cli_search_video_and_in(library, capsys):
    from omnidex.cli import main

    assert main(["search", "--video", str(library["queries"] / "excerpt.mp4"), "--db", str(library["db"]),
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"] == str(library["long"]["path"]) and hits[0]["source"] == "clip"
    assert main(["search", "ferry", "--in", str(library["other"]["path"]), "--db", str(library["db"]), "--json"]) == 0
    assert {h["path"] for h in json.loads(capsys.readouterr().out)} == {str(library["other"]["path"])}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Awkward real-world inputs, each indexed in one run beside a good file."""
    from omnidex.testing.mediagen import Narration, Scene, make_video

    d = tmp_path_factory.mktemp("broken")
    ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    scenes = [Scene(3.0, (200, 40, 40), "ONE"), Scene(3.0, (40, 40, 200), "TWO")]
    talk = make_video(d / "talk.mp4", scenes, [Narration(0.5, "Please close the garden gate behind you.")], gop=25)
    files = {"good": talk["path"]}
    files["audio_only"] = d / "audio_only.mp4"
    subprocess.run(ffmpeg + ["-i", str(talk["path"]), "-vn", "-c", "copy", str(files["audio_only"])], check=True)
    files["rotated"] = make_video(d / "phone.mp4", scenes, audio=False, rotate=90, size=(320, 180))["path"]
    files["vfr"] = d / "vfr.mp4"
    subprocess.run(ffmpeg + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                             "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50:duration=2",
                             "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-fps_mode", "vfr",
                             "-c:v", "libx264", "-preset", "ultrafast", str(files["vfr"])], check=True)
    files["zero_audio"] = d / "zero_audio.mkv"  # an audio stream without a single packet
    subprocess.run(ffmpeg + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
                             "anullsrc=r=44100:cl=mono,atrim=end_sample=0", "-t", "2", "-map", "0:v", "-map", "1:a",
                             "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(files["zero_audio"])],
                   check=True)
    whole = make_video(d / "whole.mp4", scenes * 2, audio=False, gop=25, faststart=True)["path"]
    files["truncated"] = d / "truncated.mp4"  # index intact, the data cut at 60 %
    files["truncated"].write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    late = make_video(d / "late.mp4", scenes, audio=False)["path"]
    files["no_moov"] = d / "no_moov.mp4"  # the index (written at the end) cut off
    files["no_moov"].write_bytes(late.read_bytes()[: int(late.stat().st_size * 0.6)])
    whole.unlink()
    late.unlink()
    idx = Index(d / "db", IndexConfig(clip_model=None, ocr=False))
    report = idx.add([d])
    return idx, {o.path: o for o in report.outcomes}, files


@pytest.mark.slow
def test_broken_inputs_get_clear_messages_and_what_can_be_salvaged(broken):
    idx, outcomes, files = broken
    out = {name: outcomes[str(path)] for name, path in files.items()}
    assert out["good"].status == "indexed" and "shots" in out["good"].reason
    # an MP4 holding only sound is indexed as audio, with its speech
    assert out["audio_only"].status == "indexed" and out["audio_only"].kind == "audio", out["audio_only"]
    hits = idx.search("shut the gate to the garden", top_k=3, in_path=files["audio_only"])
    assert hits and hits[0].source == "speech"
    # rotated phone video and variable frame rate: indexed normally
    for name in ("rotated", "vfr"):
        assert out[name].status == "indexed" and out[name].segments > 0, out[name]
    # an audio stream without packets does not sink the pictures
    assert out["zero_audio"].status == "indexed" and out["zero_audio"].segments > 0, out["zero_audio"]
    # a truncated file keeps what decoded and says it is truncated
    assert out["truncated"].status == "indexed" and "truncated" in out["truncated"].reason, out["truncated"]
    info = idx.store.file_info([str(files["truncated"])])[str(files["truncated"])]
    assert 2 <= len(info["shots"]) <= 4 and info["duration"] < 12.0
    # a missing index cannot be salvaged: a clear reason naming what is wrong
    assert out["no_moov"].status in ("failed", "skipped") and "moov" in out["no_moov"].reason, out["no_moov"]


@pytest.mark.slow
def test_duplicates_lists_copies_and_excerpts_across_the_library(library, tmp_path, capsys):
    import shutil

    from omnidex.cli import main

    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(library["long"]["path"], lib / "long.mp4")
    shutil.copy(library["other"]["path"], lib / "other.mp4")
    shutil.copy(library["queries"] / "copy.mp4", lib / "copy_small.mp4")
    shutil.copy(library["queries"] / "excerpt.mp4", lib / "excerpt.mp4")
    idx = Index(tmp_path / "db", IndexConfig(clip_model=None, ocr=False, speech=False))
    idx.add([lib])
    found = idx.duplicates()
    pairs = {(d["relation"], Path(d["path"]).name, Path(d["other"]).name) for d in found}
    dup = {p for p in pairs if p[0] == "near-duplicate"}
    assert dup == {("near-duplicate", "copy_small.mp4", "long.mp4")} or dup == {("near-duplicate", "long.mp4", "copy_small.mp4")}, found
    inside = [d for d in found if d["relation"] == "inside" and Path(d["path"]).name == "excerpt.mp4"]
    assert {Path(d["other"]).name for d in inside} == {"long.mp4", "copy_small.mp4"}, found
    in_long = next(d for d in inside if Path(d["other"]).name == "long.mp4")
    assert abs(in_long["start"] - 11.32) <= 0.05
    assert not any("other.mp4" in (Path(d["path"]).name, Path(d["other"]).name) for d in found), found
    assert main(["duplicates", "--db", str(tmp_path / "db"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(found)
