"""On-screen text read while the video decodes (OcrStream) gives the same OCR spans as reading after."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image


class _Frame:
    def __init__(self, image, t):
        self.image, self.t = image, t


class _Reader:
    """Names each picture by its colour and counts the pictures it was asked to read."""

    def __init__(self):
        self.read = 0

    def read_text(self, image):
        self.read += 1
        return "  colour   %d " % image.getpixel((0, 0))[0]


def test_ocr_stream_reads_changed_frames_only_and_maps_texts_back():
    from omnidex.ingest.frame_stream import OcrStream

    imgs = [Image.new("RGB", (64, 36), c) for c in ((10, 10, 10), (10, 10, 10), (200, 0, 0), (200, 0, 0), (10, 10, 10))]
    frames = [_Frame(im, i) for i, im in enumerate(imgs)]
    reader = _Reader()
    stream = OcrStream(reader, batch=2, max_queue=1)
    for f in frames[:4]:
        stream.put(f)
    texts = stream.finish(frames)
    assert texts == ["colour 10", "colour 10", "colour 200", "colour 200", None]  # the last never went in
    assert reader.read == 2  # unchanged frames reuse the text read before


@pytest.mark.slow
def test_streamed_ocr_spans_equal_reading_after_the_scan(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex import IndexConfig
    from omnidex.ingest.extract import extract_video_file, frame_spans, ocr_spans
    from omnidex.spaces import Models
    from omnidex.testing.mediagen import Scene, make_video

    scenes = [Scene(2.0, (30, 60, 200), "HARBOUR GATE"), Scene(2.0, (200, 30, 30), "NORTH TOWER")]
    video = make_video(tmp_path / "v.mp4", scenes, size=(640, 360), fps=25, audio=False)
    cfg = IndexConfig(clip_model=None, speech=False, sound=False, phash=False, frame_fps=1.0)
    models = Models(cfg)
    ext = extract_video_file(Path(video["path"]), cfg, models)
    streamed = [(round(p.start, 3), round(p.end, 3), p.text) for p in ext.pieces if p.source == "ocr"]
    frames = [p for p in ext.pieces if p.source == "frame"]
    after = ocr_spans([_Frame(p.image, p.at) for p in frames], [(p.start, p.end) for p in frames], models)
    assert streamed == [(round(p.start, 3), round(p.end, 3), p.text) for p in after]
    words = " ".join(t for *_, t in streamed).lower()
    assert "harbour" in words and "tower" in words


def test_ingest_ocr_reader_threads_sleep_instead_of_spinning():
    """The reader runs beside decoding and Whisper: ONNX Runtime's spinning intra-op threads
    tripled the CPU per frame on 2 busy cores (bench/video_hour/speed.py measures it), so the
    ingest reader's detection and recognition sessions have spinning off."""
    pytest.importorskip("rapidocr_onnxruntime")
    from omnidex import IndexConfig
    from omnidex.spaces import Models

    reader = Models(IndexConfig(clip_model=None, speech=False, sound=False)).ocr()
    assert reader is not None
    engine = reader._load()
    for session in (engine.text_det.infer.session, engine.text_rec.session.session):
        opts = session.get_session_options()
        assert opts.intra_op_num_threads == reader.threads
        if reader.threads > 1:
            assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
