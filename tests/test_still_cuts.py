"""Slides whose words change on the same background are shots too (issue 14: their text was never read)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

SLIDES = ["Agenda", "Q3 REVENUE +20%", "Coast train timetable", "Solar roof results", "Thank you"]


@pytest.mark.parametrize("bg", [(30, 60, 140), (240, 240, 235)])
def test_text_changes_on_a_still_background_are_cuts(tmp_path, bg):
    from omnidex.media.shots import detect_shots
    from omnidex.testing.mediagen import Scene, make_video

    out = make_video(tmp_path / "deck.mp4", [Scene(3.0, bg, t) for t in SLIDES], audio=False, size=(320, 180))
    scan = detect_shots(out["path"] if isinstance(out, dict) else out)
    starts = [s.start for s in scan.shots][1:]
    assert len(starts) == len(SLIDES) - 1 and all(abs(a - b) <= 0.2 for a, b in zip(starts, (3, 6, 9, 12)))


def test_a_still_picture_with_no_change_stays_one_shot(tmp_path):
    from omnidex.media.shots import detect_shots
    from omnidex.testing.mediagen import Scene, make_video

    out = make_video(tmp_path / "still.mp4", [Scene(12.0, (30, 60, 140), "Agenda")], audio=False, size=(320, 180))
    assert len(detect_shots(out["path"] if isinstance(out, dict) else out).shots) == 1
