"""Plain types shared by every layer: pieces (segments before embedding), hits and ingest reports."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Hit:
    """One ranked moment: where, when, how sure, and why.

    ``start``/``end`` are seconds for audio/video, line numbers for text (``unit == "line"``)
    and 0 for still images (``unit == "none"``).
    """

    path: str
    start: float
    end: float
    unit: str
    score: float
    modality: str
    signals: dict[str, float] = field(default_factory=dict)
    evidence: str = ""
    matched_words: tuple[str, ...] = ()
    # query words matched only in another reading of the on-screen words (a glued token split, a
    # faint word read in a contrast-normalised view, a repaired look-alike): not in ``evidence``,
    # which shows the text as first read
    also_read: tuple[str, ...] = ()
    # query words matched only among words guessed from faint letters (a repair of a faint token, or
    # the dictionary word the recogniser's probabilities support): not read anywhere
    guessed: tuple[str, ...] = ()
    frame_time: float | None = None  # time of the best matching frame (video)
    source: str = ""  # what the moment's boundaries come from: speech, ocr, frame, chunk, image, clip
    shot: tuple[float, float] | None = None  # the shot(s) the moment lies in (video)
    confident: bool = False  # the score clears the calibrated threshold (SearchConfig.confident_at)
    reliability: dict[str, float] = field(default_factory=dict)  # signal -> weight its encoder earned for this query
    start_range: tuple[float, float] | None = None  # clip queries: the starts that fit about equally well (s)
    generated: dict | None = None  # a generated picture's provenance (prompt, model, seed, ...; omnidex.gen)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        d = asdict(self)
        d["matched_words"] = list(self.matched_words)
        d["also_read"] = list(self.also_read)
        d["guessed"] = list(self.guessed)
        d["moment"] = format_span(self.start, self.end, self.unit)
        return d


@dataclass
class FileOutcome:
    """What happened to one file during ingest."""

    path: str
    status: str  # "indexed" | "unchanged" | "skipped" | "failed"
    reason: str = ""
    segments: int = 0
    seconds: float = 0.0  # media duration (audio/video)
    kind: str = ""


@dataclass
class IngestReport:
    """Summary of one ingest run."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    pruned: int = 0
    wall_s: float = 0.0
    notices: list[str] = field(default_factory=list)  # once-per-run warnings (e.g. CLIP missing)
    interrupted: bool = False
    indexes: dict = field(default_factory=dict)  # space -> index maintenance done after the run

    def count(self, status: str) -> int:
        """Number of files with this status."""
        return sum(1 for o in self.outcomes if o.status == status)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "indexed": self.count("indexed"), "unchanged": self.count("unchanged"),
            "skipped": self.count("skipped"), "failed": self.count("failed"),
            "pruned": self.pruned, "wall_s": round(self.wall_s, 3), "notices": self.notices,
            "interrupted": self.interrupted, "indexes": self.indexes, "files": [asdict(o) for o in self.outcomes],
        }


def format_time(t: float) -> str:
    """Seconds -> HH:MM:SS.s (tenths: moments are cut to the word or frame)."""
    tenths = int(round(max(0.0, float(t)) * 10))
    h, rem = divmod(tenths, 36000)
    m, rem = divmod(rem, 600)
    return f"{h:02d}:{m:02d}:{rem // 10:02d}.{rem % 10}"


def format_span(start: float, end: float, unit: str) -> str:
    """Human form of a moment: 00:01:12–00:01:19, lines 3–10, or '' for images."""
    if unit == "s":
        return f"{format_time(start)}–{format_time(end)}"
    if unit == "line":
        return f"lines {int(start)}–{int(end)}"
    return ""


@dataclass
class Piece:
    """One segment before embedding."""

    source: str  # "chunk" | "ocr" | "speech" | "image" | "frame"
    start: float
    end: float
    unit: str  # "s" | "line" | "none"
    text: str = ""
    words: list = field(default_factory=list)  # [[start, end, word], ...] for speech
    image: object = None  # PIL image for visual pieces
    at: float | None = None  # the instant the evidence was taken (a frame's time); None = start
    values: object = None  # numeric samples (np.ndarray) of a "series" window piece
    audio: object = None  # mono float32 samples (np.ndarray) of a "sound" window piece
    vector: object = None  # visual-space vector already computed (frames embedded while decoding)
    spots: str = ""  # an OCR piece's packed spotting frames (encoders.ocr_spot.pack), stored as its words


@dataclass
class Extracted:
    """All pieces of one file plus facts about it."""

    pieces: list[Piece]
    duration: float = 0.0
    note: str = ""  # e.g. "no audio track", "no speech found", frame strategy used
    info: dict = field(default_factory=dict)  # stored with the file: shots, language, sampling
