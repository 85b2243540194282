"""Typed, frozen configuration passed explicitly from the CLI/API into the library."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = Path("omnidex-data")
DEFAULT_CLIP = "openai/clip-vit-base-patch32"


@dataclass(frozen=True)
class IndexConfig:
    """How files are cut and embedded during ingest."""

    clip_model: str | None = DEFAULT_CLIP  # CLIP/SigLIP hub id or local dir; None disables CLIP
    whisper_model: str = "tiny.en"  # "tiny.en" is bundled offline; other sizes come from the hub
    text_encoder: str = "minilm"  # registry name of the text encoder (transcripts, OCR, documents)
    speech: bool = True  # transcribe audio and video sound tracks
    sound: bool = True  # embed sound windows (audio files, video sound tracks) into the "sound" space
    clap_model: str | None = None  # sound encoder: None = the bundled offline model; a CLAP hub id or dir
    sound_window_s: float = 3.0  # length of one embedded sound window (seconds; windows overlap by half)
    video_model: str | None = None  # X-CLIP / VideoMAE dir or hub id: one vector per shot in the "video" space
    ocr: bool = True  # read text in images and video frames
    ocr_faint: str = "auto"  # pictures read again for faint text: "auto" (first reading faint) | "all" (slower)
    phash: bool = True  # near-duplicate descriptor for images and frames (no weights needed)
    shots: bool = True  # detect shots and pick frames per shot by content (else a fixed-rate grid)
    frame_fps: float = 0.5  # video frames sampled per second (on average, with shot detection)
    max_frames: int = 900  # cap on sampled frames per video
    frame_strategy: str = "auto"  # "auto" | "keyframes" | "seek" | "decode"
    frame_max_side: int = 384  # longest side of sampled frames (pixels)
    chunk_chars: int = 800  # text chunk size (characters)
    chunk_overlap: int = 120  # overlap between consecutive text chunks (characters)
    speech_window_s: float = 12.0  # longest transcript window embedded as one segment (seconds)
    max_image_pixels: int = 64_000_000  # larger images are refused as decompression bombs
    max_file_bytes: int = 20 * 1024**3  # larger files are skipped
    batch_files: int = 8  # files buffered before one atomic write to the store
    follow_symlinks: bool = False  # follow symlinks while walking folders
    include_hidden: bool = False  # index dot-files and dot-folders
    series: bool = True  # index CSV/Parquet/.npy numeric columns as time series windows
    series_window: int = 128  # samples per series window (also the length shapes are compared at)
    series_stride: int = 64  # samples between consecutive series window starts
    sax_word: int = 16  # SAX word length (PAA segments) of each series window
    sax_alphabet: int = 8  # SAX alphabet size (3..20)
    series_max_rows: int = 10_000_000  # longer series are cut (and the ingest note says so)
    engine: str = "local"  # where per-file work runs: "local" (this process) or "ray" (a Ray Data pipeline)
    ray_address: str | None = None  # --engine ray: None starts a local Ray; "auto" or "ray://head:10001" joins a cluster
    device: str = "auto"  # where vector encoders run: "auto" (a CUDA GPU when torch sees one, else CPU), "cpu", "cuda"
    prefetch: int = 1  # local engine: files decoded ahead while the encoder works (0 = sequential)
    # (what, runtime) pairs, e.g. (("visual", "onnx-int8"),): "visual" = CLIP's image tower (default torch),
    # "query" = its text tower (default auto: ONNX Runtime fp32 where installed); see encoders.fastpath
    runtimes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SearchConfig:
    """How a query is run and fused."""

    top_k: int = 10  # moments returned
    candidates: int = 100  # candidates fetched per signal before fusion
    merge_gap_s: float = 1.5  # hits of one file closer than this merge into one moment
    max_moment_s: float = 60.0  # a merged moment is never longer than this
    min_score: float = 0.05  # fused moments below this are dropped
    confident_at: float | None = None  # a hit at or above this score is a confident answer (None: the scorer's calibrated threshold)
    calibration: str = "reference"  # similarities vs each encoder's fixed reference sample, or "library" (a sample of it)
    modality: tuple[str, ...] = field(default_factory=tuple)  # keep only these file kinds/sources
    path_glob: str | None = None  # keep only paths matching this glob
    in_path: str | None = None  # search within this one file only
    series_exact: bool = True  # series query by example: exact SAX/MINDIST-pruned search (else the vector index)
