"""Property: everything a hit shows comes from inside it (issue 14, item 1).

Random libraries of candidate rows (speech windows with words, frames, OCR runs, sound windows,
shots) and random shot lists go through the same two steps as a search (``merge_moments`` then
``snap_to_shots``); every timed hit must show a frame inside its span, words from inside it, and
be no longer than its evidence plus the snapping margin.
"""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from omnidex.config import SearchConfig
from omnidex.search.moments import SNAP_S, Candidate, merge_moments, snap_to_shots

SOURCES = ("speech", "frame", "ocr", "sound", "shot")
WORDS = ("ferry", "harbour", "revenue", "solar", "train", "coast", "permit", "roof")


@st.composite
def rows(draw, path: str, duration: float):
    source = draw(st.sampled_from(SOURCES))
    start = draw(st.floats(0, duration - 0.5, allow_nan=False))
    length = draw(st.floats(0.3, 12.0 if source == "speech" else 8.0, allow_nan=False))
    end = min(duration, start + length)
    row = {"id": f"{path}:{source}:{start}", "path": path, "kind": "video", "source": source, "unit": "s",
           "start": start, "end": end, "text": "", "words": "", "at": None}
    if source in ("frame", "ocr", "shot"):
        row["at"] = draw(st.floats(start, end, allow_nan=False))
    if source in ("speech", "ocr"):
        n = draw(st.integers(1, 5))
        picked = [draw(st.sampled_from(WORDS)) for _ in range(n)]
        row["text"] = " ".join(picked)
        if source == "speech":
            step = (end - start) / n
            row["words"] = json.dumps([[start + i * step, start + (i + 1) * step, w] for i, w in enumerate(picked)])
    signal = {"speech": "text", "ocr": draw(st.sampled_from(["text", "fts"])), "frame": "clip",
              "sound": "sound", "shot": "video"}[source]
    return Candidate(signal, draw(st.floats(0.01, 0.99)), row)


@st.composite
def library(draw):
    cands, shots_by = [], {}
    for f in range(draw(st.integers(1, 3))):
        path, duration = f"/lib/v{f}.mp4", draw(st.floats(5, 90))
        cands += draw(st.lists(rows(path, duration), min_size=1, max_size=30))
        cuts = sorted(set(draw(st.lists(st.floats(0.5, duration - 0.5), max_size=8))))
        edges = [0.0] + cuts + [duration]
        shots_by[path] = [[a, b, "cut"] for a, b in zip(edges, edges[1:]) if b > a]
    return cands, shots_by


def _span(c: Candidate) -> tuple[float, float]:
    if c.row["source"] == "speech" and c.row["words"]:
        w = json.loads(c.row["words"])
        return w[0][0], w[-1][1]
    return c.row["start"], c.row["end"]


@settings(max_examples=300, deadline=None)
@given(library(), st.sampled_from(["ferry harbour", "solar roof", "a red car", ""]))
def test_every_timed_hit_shows_evidence_from_inside_it(lib, query):
    cands, shots_by = lib
    cfg = SearchConfig(top_k=50)
    for raw in merge_moments(cands, cfg, query):
        same = [c for c in cands if c.row["path"] == raw.path and c.row["source"] == raw.source]
        # no chaining: a moment is the hull of overlapping evidence of its own kind, never more
        assert any(_span(c)[0] == raw.start for c in same) and any(_span(c)[1] == raw.end for c in same)
        assert raw.end - raw.start <= cfg.max_moment_s
        hit = snap_to_shots(raw, shots_by[raw.path], cfg.max_moment_s)
        assert hit.frame_time is not None and hit.start <= hit.frame_time <= hit.end
        if hit.source in ("speech", "sound", "shot") or hit.shot is None:
            assert hit.end - hit.start <= raw.end - raw.start + 2 * SNAP_S + 1e-9
        for w in hit.matched_words:  # highlighted words are words of the evidence shown
            assert w in hit.evidence
        if hit.evidence:  # and that evidence is the text of a row that overlaps the moment
            assert any(c.row["text"] and _span(c)[0] <= raw.end and _span(c)[1] >= raw.start
                       and hit.evidence in (c.row["text"], _words_inside(c, raw)) for c in cands
                       if c.row["path"] == hit.path)


def _words_inside(c: Candidate, hit) -> str:
    if not c.row["words"]:
        return ""
    return " ".join(w[2] for w in json.loads(c.row["words"]) if w[0] >= hit.start - 0.05 and w[1] <= hit.end + 0.05)


def test_a_frame_at_the_end_of_a_shot_keeps_its_shot():
    """Found by the property above: a frame row whose picture is the last of one shot but whose span
    reaches mostly into the next must not be snapped to the next shot alone (its picture would lie
    outside the hit)."""
    row = {"id": "/lib/v0.mp4:frame:0.8125", "path": "/lib/v0.mp4", "kind": "video", "source": "frame", "unit": "s",
           "start": 0.8125, "end": 2.0, "text": "", "words": "", "at": 0.8125}
    cfg = SearchConfig(top_k=50)
    (raw,) = merge_moments([Candidate("clip", 0.5, row)], cfg, "ferry harbour")
    hit = snap_to_shots(raw, [[0.0, 0.875, "cut"], [0.875, 5.0, "cut"]], cfg.max_moment_s)
    assert hit.frame_time == 0.8125
    assert (hit.start, hit.end) == (0.0, 5.0) and hit.shot == (0.0, 5.0)
