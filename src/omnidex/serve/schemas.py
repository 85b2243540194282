"""Response shapes of the HTTP API, declared in the OpenAPI document (docs/http-api.md is the prose).

Routes answer with plain JSON; these models exist so the contract says what comes back, and the
contract test (schemathesis) checks every answer against them. Objects allow extra keys: a client
must ignore keys it does not know.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorOut(_Open):
    """Every error: a stable code, a message for people, the HTTP status."""

    error: str = Field(description="stable code: bad_request, unauthorized, forbidden, not_found, too_large, "
                                   "unsupported_media_type, range_not_satisfiable, invalid_input, "
                                   "unreadable_media, image_too_large, busy, ...")
    message: str = Field(description="what went wrong and what to do, naming the user's file")
    status: int = Field(description="the HTTP status again")
    roots: list[str] | None = Field(None, description="403 for a path outside the roots: the folders allowed")
    detail: list[dict[str, Any]] | None = Field(None, description="422 validation: one entry per problem")


class SpaceOut(_Open):
    rows: int
    encoder: str
    dim: int


class HealthOut(_Open):
    status: str
    version: str
    db: str
    files: int
    spaces: dict[str, SpaceOut]
    ready: bool = Field(False, description="every query model is loaded (searches answer at full speed)")
    models: dict[str, str] = Field(default_factory=dict,
                                   description="query model -> waiting, loading, ready, unavailable or failed: why")


class HitOut(_Open):
    """One ranked moment (``Hit.to_dict()`` plus the file's id, name, kind and URLs)."""

    path: str
    start: float
    end: float
    unit: str = Field(description="'s', 'line' or 'none'")
    score: float
    modality: str
    signals: dict[str, float]
    evidence: str
    matched_words: list[str]
    also_read: list[str] = Field(default_factory=list,
                                 description="query words found only in another reading of the on-screen words "
                                 "(a glued token split, a faint word read in a contrast-normalised view), "
                                 "not in the evidence as first read")
    guessed: list[str] = Field(default_factory=list,
                               description="query words found only among words guessed from faint letters (a "
                               "repair, or the dictionary word the recogniser supports), not read anywhere; "
                               "a hit only guesses found is never confident")
    frame_time: float | None
    confident: bool = Field(description="the score clears the calibrated confidence threshold; false: a weak hit")
    reliability: dict[str, float] = Field(default_factory=dict,
                                          description="signal -> weight its encoder earned for this query (0-1)")
    source: str
    shot: list[float] | None
    start_range: list[float] | None = Field(None, description="video-clip queries: the starts (s) that fit about "
                                            "equally well; wider than two frames when the start is uncertain")
    generated: dict[str, Any] | None = Field(None, description="a generated picture's provenance (prompt, model, "
                                             "seed, steps, size, guidance); null for other media")
    moment: str
    id: str
    name: str
    kind: str
    thumb_url: str
    media_url: str


class SearchOut(_Open):
    query: dict[str, Any]
    took_ms: float
    hits: list[HitOut]


class WordOut(_Open):
    w: str
    s: float
    e: float


class WindowOut(_Open):
    start: float
    end: float
    text: str
    words: list[WordOut]


class SpanOut(_Open):
    start: float
    end: float
    text: str


class ItemOut(_Open):
    id: str
    path: str
    name: str
    kind: str
    duration: float | None
    size: int | None
    note: str
    info: dict[str, Any]
    probe: dict[str, Any] | None
    transcript: list[WindowOut]
    ocr: list[SpanOut]
    text: list[SpanOut]
    segments: dict[str, int]
    media_url: str
    thumb_url: str
    summary: str


class TranscriptOut(_Open):
    id: str
    start: float | None
    end: float | None
    windows: list[WindowOut]


class JobStartedOut(_Open):
    job_id: str


class JobFileOut(_Open):
    path: str
    status: str
    reason: str
    segments: int
    seconds: float
    kind: str


class JobOut(_Open):
    job_id: str
    state: str = Field(description="queued, running, done or failed")
    done: int
    total: int
    current: str
    files: list[JobFileOut]
    error: str | None
    paths: list[str]
    prune: bool
    created: float
    started: float | None
    finished: float | None
    report: dict[str, Any] | None


class LabelOut(_Open):
    label: str
    p: float


class ClassifyOut(_Open):
    labels: list[LabelOut]


def errors(*statuses: int) -> dict:
    """``responses=`` entries declaring these error statuses with the error body."""
    from .security import ERROR_CODES

    return {s: {"model": ErrorOut, "description": ERROR_CODES.get(s, "error").replace("_", " ")} for s in statuses}
