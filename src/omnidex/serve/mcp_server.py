"""The MCP server: omnidex's library as tools an agent can call (stdio or streamable HTTP).

``omnidex mcp [--db DIR] [--transport stdio|http] [--host 127.0.0.1] [--port 8766] [--root DIR ...]``

Tools return their results twice: as structured content that matches the tool's declared output
schema (timestamps, scores, evidence, file ids) and as content blocks an agent reads directly: the
same data as JSON text, then small JPEG pictures (hit thumbnails, keyframes, a clip's frame), each
captioned with the hit it belongs to. Files are addressed by **file id**; server paths are
returned as information only. Everything goes through :class:`omnidex.serve.library.Library`,
which refuses files outside the roots; query images given by path must lie inside a root too.

Only the standard library (and typing_extensions) is imported at module import, so the CLI can
import :func:`add_mcp_parser` without slowing ``omnidex --help``; the SDK, pydantic and the index
load in :func:`build_server`.
"""
import argparse
import base64
import binascii
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

from .limits import MAX_QUERY_CHARS  # longest text query, as over HTTP

DEFAULT_PORT = 8766
DEFAULT_HOST = "127.0.0.1"
THUMB_WIDTH = 320  # width of every picture returned (pixels)
MAX_IMAGES = 5  # pictures per call, at most
MAX_QUERY_IMAGE_BYTES = 20 * 1024 * 1024  # decoded base64 query images above this are refused
MAX_WAIT_S = 60.0  # longest a job-status call may block
EXCERPT_CHARS = 1200  # transcript text returned by describe_file
MAX_SPANS = 20  # OCR / text spans returned by describe_file
MAX_WINDOWS = 150  # transcript windows returned by one get_transcript call (~30 min of speech)
MAX_PATHS = 1000  # paths of one index_path call (as over HTTP)
INSTRUCTIONS = (
    "omnidex searches a local library of images, videos, audio and documents. Start with "
    "search_moments (text) or search_by_image; every hit carries a file `id`, its `name`, the moment "
    "(start/end seconds, or lines for documents), a score and the evidence, and pictures of the "
    "best hits follow as images. Pass the `id` to get_transcript, describe_file or export_clip. "
    "index_path starts an ingest job; poll it with index_status."
)


# ----- output schemas (plain TypedDicts: pydantic turns them into JSON schemas at build time) ------
class Word(TypedDict):
    """One recognised word."""

    w: str
    """the word as heard"""
    s: float
    """start (seconds)"""
    e: float
    """end (seconds)"""


class Window(TypedDict):
    """A transcript window: consecutive speech, cut at sentence ends and shot cuts in pauses."""

    start: float
    """start (seconds)"""
    end: float
    """end (seconds)"""
    text: str
    """what is said"""
    words: list[Word]
    """word timings"""


class HitOut(TypedDict):
    """One ranked moment."""

    id: str
    """file id: pass it to get_transcript, describe_file, export_clip or search_moments(file_id=...)"""
    name: str
    """file name"""
    kind: str
    """file kind: image, video, audio or text"""
    start: float
    """moment start: seconds (audio/video), first line (documents), 0 (images)"""
    end: float
    """moment end, in the same unit"""
    unit: str
    """'s' (seconds), 'line' (line numbers) or 'none' (still image)"""
    moment: str
    """the span for people, e.g. 00:00:03.0–00:00:06.7"""
    score: float
    """fused relevance, 0..1"""
    modality: str
    """what kind of evidence matched"""
    source: str
    """what the moment's bounds come from: speech, ocr, frame, chunk, image, clip"""
    signals: dict[str, float]
    """score per signal (text, bm25, visual, phash, ...)"""
    evidence: str
    """the words spoken, read on screen or written that matched"""
    matched_words: list[str]
    """query words found in the evidence"""
    also_read: list[str]
    """query words found only in another reading of the on-screen words (a glued token split, a
    faint word read in a contrast-normalised view), not in the evidence as first read"""
    guessed: list[str]
    """query words found only among words guessed from faint letters, not read anywhere (a hit only
    guesses found is never confident)"""
    frame_time: float | None
    """time of the best matching frame (video), else null"""
    confident: bool
    """the score clears the calibrated confidence threshold; false: a weak hit, not an answer"""
    shot: list[float] | None
    """[start, end] of the shot(s) the moment lies in (video), else null"""
    image: int | None
    """index of this hit's picture among the image blocks of the result, or null"""
    path: str
    """where the file lies on the server (information only: address files by id)"""


class SearchOut(TypedDict):
    """Ranked moments."""

    query: dict[str, Any]
    """the query as run"""
    took_ms: float
    """search time"""
    hits: list[HitOut]
    """best first"""


class TranscriptOut(TypedDict):
    """Transcript windows of one file."""

    id: str
    """file id"""
    name: str
    """file name"""
    start: float | None
    """requested window start (seconds), null = from the beginning"""
    end: float | None
    """requested window end (seconds), null = to the end"""
    text: str
    """the windows' text joined"""
    windows: list[Window]
    """windows overlapping [start, end], in time order"""
    truncated: bool
    """more windows follow: ask again from the last window's end"""


class Shot(TypedDict):
    """A shot of a video."""

    index: int
    """shot number, from 1"""
    start: float
    """seconds"""
    end: float
    """seconds"""
    boundary: str
    """how the shot begins: start, cut or fade"""


class Span(TypedDict):
    """Text found in a file (on screen or in a document)."""

    start: float
    """seconds (video) or first line (documents)"""
    end: float
    """seconds or last line"""
    text: str
    """the text"""


class TranscriptSummary(TypedDict):
    """What is said in a file, in brief (get_transcript has every word)."""

    windows: int
    """transcript windows"""
    words: int
    """recognised words"""
    language: str | None
    """detected language"""
    excerpt: str
    """the beginning of the transcript"""
    truncated: bool
    """whether the excerpt stops before the end"""


class Keyframe(TypedDict):
    """A picture of the described file returned as an image block."""

    image: int
    """index among the image blocks of the result"""
    t: float | None
    """time shown (seconds), null for still images"""
    shot: int | None
    """shot number it shows, or null"""


class DescribeOut(TypedDict):
    """Everything known about one indexed file."""

    id: str
    """file id"""
    name: str
    """file name"""
    kind: str
    """image, video, audio or text"""
    duration: float | None
    """seconds (audio/video)"""
    size: int | None
    """bytes"""
    summary: str
    """one line to read first"""
    note: str
    """what ingest said about the file"""
    media: dict[str, Any] | None
    """container, streams and problems as probed (audio/video)"""
    shots: list[Shot]
    """shots (video)"""
    transcript: TranscriptSummary
    """speech in brief"""
    ocr: list[Span]
    """text read on screen (first spans)"""
    text: list[Span]
    """document chunks (first spans)"""
    segments: dict[str, int]
    """indexed pieces per vector space"""
    keyframes: list[Keyframe]
    """pictures returned as image blocks"""
    path: str
    """where the file lies on the server (information only)"""


class ClipOut(TypedDict):
    """A clip written by export_clip."""

    path: str
    """the written file (on the server)"""
    name: str
    """its file name"""
    source_id: str
    """file id of the source video"""
    source_name: str
    """file name of the source video"""
    start: float
    """start in the source (seconds)"""
    end: float
    """end in the source actually cut (seconds): the requested end, or the video's end when that came first"""
    requested_end: float
    """the end that was asked for (seconds)"""
    clamped: bool
    """whether the end was moved back to the end of the video"""
    duration: float | None
    """duration of the written clip as probed (seconds)"""
    size: int
    """bytes written"""
    streams: list[str]
    """the clip's streams, e.g. 'video h264 320x180', 'audio aac'"""
    image: int | None
    """index of the clip's middle frame among the image blocks, or null"""


class JobStarted(TypedDict):
    """An index job was queued."""

    job_id: str
    """poll it with index_status"""
    state: str
    """queued, running, done or failed"""
    paths: list[str]
    """the paths to index, made absolute"""


class JobFile(TypedDict):
    """What happened to one file of a job."""

    id: str
    """file id (searchable once indexed)"""
    name: str
    """file name"""
    status: str
    """indexed, unchanged, skipped or failed"""
    reason: str
    """why it was skipped or failed"""
    kind: str
    """file kind"""
    segments: int
    """pieces indexed"""
    seconds: float
    """media duration (seconds)"""
    path: str
    """the file on the server (information only)"""


class JobOut(TypedDict):
    """The state of an index job."""

    job_id: str
    """job id"""
    state: str
    """queued, running, done or failed"""
    done: int
    """files processed so far"""
    total: int
    """files found"""
    current: str
    """the file being processed"""
    error: str | None
    """why the job failed"""
    elapsed_s: float | None
    """seconds since the job started"""
    report: dict[str, Any] | None
    """counts when finished: indexed, unchanged, skipped, failed, pruned, wall_s"""
    files: list[JobFile]
    """per-file outcomes when finished"""


for _schema in (Word, Window, HitOut, SearchOut, TranscriptOut, Shot, Span, TranscriptSummary, Keyframe,
                DescribeOut, ClipOut, JobStarted, JobFile, JobOut):
    _schema.__pydantic_config__ = {"use_attribute_docstrings": True}


# ----- the tools' work, independent of the SDK's registration ----------------------------------
@contextmanager
def tool_errors():
    """Turn the library's anticipated failures into MCP tool errors with a clear message."""
    from mcp.server.mcpserver.exceptions import ToolError

    from ..errors import OmnidexError

    try:
        yield
    except ToolError:
        raise
    except KeyError as exc:
        detail = exc.args[0] if exc.args else "unknown key"
        raise ToolError(f"{detail}; use a file `id` from search results (or an indexed path)") from exc
    except PermissionError as exc:
        raise ToolError(f"refused: {exc} (only files inside the indexed roots are served)") from exc
    except FileNotFoundError as exc:
        raise ToolError(f"not found: {exc}") from exc
    except (OmnidexError, ValueError, OSError) as exc:
        raise ToolError(str(exc)) from exc


class OmnidexTools:
    """What each MCP tool does, on top of a Library and its Jobs.

    Args:
        library: the served :class:`~omnidex.serve.library.Library`.
        jobs: its :class:`~omnidex.serve.jobs.Jobs`.
        clips_dir: where export_clip writes (None: a fresh temporary folder on first use).
    """

    def __init__(self, library, jobs, clips_dir: str | Path | None = None):
        self.library = library
        self.jobs = jobs
        self._clips_dir = Path(clips_dir).expanduser() if clips_dir else None
        self._lock = threading.Lock()

    # ----- addressing ----------------------------------------------------------------------------
    def file_id(self, file: str) -> str:
        """The id of a file given by id or by path; paths must lie inside the roots.

        Raises:
            KeyError: not an indexed file. PermissionError: a path outside the roots.
        """
        file = (file or "").strip()
        if file in self.library.snapshot().ids:
            return file
        if os.sep in file or file.startswith("~"):
            real = self.inside_roots(file)
            for candidate in dict.fromkeys((os.path.abspath(os.path.expanduser(file)), real)):
                fid = self.library.file_id(candidate)
                if fid in self.library.snapshot().ids:
                    return fid
            raise KeyError(f"{Path(file).name} is not indexed (index it with index_path first)")
        raise KeyError(f"no indexed file with id {file!r}")

    def inside_roots(self, path: str) -> str:
        """The real path of ``path`` when it lies inside a root, else PermissionError."""
        real = os.path.realpath(os.path.expanduser(path))
        roots = self.library.roots
        if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            raise PermissionError(f"{path} lies outside the indexed roots ({', '.join(roots) or 'none yet'})")
        return real

    # ----- search --------------------------------------------------------------------------------
    def search(self, text: str | None, image, top_k: int, modality: list[str], path_glob: str | None,
               in_id: str | None, images: int, query: dict):
        """Run a search; (structured SearchOut, [(caption, jpeg)])."""
        t0 = time.perf_counter()
        with tool_errors():
            in_id = self.file_id(in_id) if in_id else None
            hits = self.library.search(text, image=image, top_k=top_k, modality=list(modality or ()),
                                       path_glob=path_glob or None, in_id=in_id)
        took = (time.perf_counter() - t0) * 1000
        pictures, out = [], []
        for rank, hit in enumerate(hits, 1):
            picture = None
            if hit["kind"] in ("video", "image") and len(pictures) < min(images, MAX_IMAGES):
                picture = self._picture(hit["id"], _hit_time(hit), f"[{rank}] {_caption(hit)}")
                if picture:
                    pictures.append(picture)
            out.append(_hit_out(hit, len(pictures) - 1 if picture else None))
        return {"query": query, "took_ms": round(took, 1), "hits": out}, pictures

    def query_image(self, image: str | None, image_base64: str | None):
        """The query image as a path inside the roots, or decoded bytes."""
        if bool(image) == bool(image_base64):
            raise ValueError("give exactly one of `image` (a file id or a path) and `image_base64`")
        if image:
            if image in self.library.snapshot().ids:
                return self.library.resolve(image)
            real = self.inside_roots(image)
            if not os.path.isfile(real):
                raise FileNotFoundError(f"{image} is not a file")
            return real
        data = image_base64.strip()
        if data.startswith("data:"):
            data = data.partition(",")[2]
        if len(data) > MAX_QUERY_IMAGE_BYTES * 4 // 3 + 8:
            raise ValueError(f"the image is larger than {MAX_QUERY_IMAGE_BYTES // 2**20} MB")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"image_base64 is not valid base64: {exc}") from exc
        if not raw:
            raise ValueError("image_base64 decodes to nothing")
        return raw

    # ----- files ---------------------------------------------------------------------------------
    def transcript(self, file: str, start: float | None, end: float | None) -> dict:
        """TranscriptOut for a file and window."""
        with tool_errors():
            if start is not None and end is not None and end < start:
                raise ValueError(f"end ({end}) is before start ({start})")
            fid = self.file_id(file)
            self.library.resolve(fid)
            windows = self.library.transcript(fid, start, end)
        shown = windows[:MAX_WINDOWS]
        return {"id": fid, "name": os.path.basename(self.library.path_of(fid)), "start": start, "end": end,
                "text": " ".join(w["text"].strip() for w in shown), "windows": shown,
                "truncated": len(windows) > len(shown)}

    def describe(self, file: str, keyframes: int):
        """(DescribeOut, [(caption, jpeg)]) for a file."""
        with tool_errors():
            fid = self.file_id(file)
            self.library.resolve(fid)
            item = self.library.describe(fid)
        shots = [{"index": i + 1, "start": float(s[0]), "end": float(s[1]),
                  "boundary": str(s[2]) if len(s) > 2 else ""} for i, s in enumerate(item["info"].get("shots") or [])]
        pictures, frames = [], []
        for t, shot in _keyframe_times(item["kind"], shots, item["duration"], min(keyframes, MAX_IMAGES)):
            label = item["name"] if t is None else f"{item['name']} at {t:.1f} s" + (f" (shot {shot})" if shot else "")
            picture = self._picture(fid, t, label)
            if picture:
                frames.append({"image": len(pictures), "t": t, "shot": shot})
                pictures.append(picture)
        out = {"id": fid, "name": item["name"], "kind": item["kind"], "duration": item["duration"],
               "size": item.get("size"), "summary": item["summary"], "note": item.get("note") or "",
               "media": _media_summary(item.get("probe"), item.get("probe_error")), "shots": shots,
               "transcript": _transcript_summary(item), "ocr": _spans(item["ocr"]), "text": _spans(item["text"]),
               "segments": item["segments"], "keyframes": frames, "path": item["path"]}
        return out, pictures

    def export_clip(self, file: str, start: float, end: float):
        """(ClipOut, [(caption, jpeg)]) after cutting [start, end) of a video."""
        from ..media.probe import probe_file
        from .thumbs import render_thumbnail

        with tool_errors():
            if not end > start >= 0:
                raise ValueError(f"need 0 <= start < end, got start={start}, end={end}")
            fid = self.file_id(file)
            row = self.library.snapshot().files[self.library.path_of(fid)]
            name = os.path.basename(self.library.path_of(fid))
            if row["kind"] != "video":
                raise ValueError(f"{name} is {row['kind']!r}, not a video: only videos can be clipped")
            requested, end = end, _clamp_end(name, start, end, row.get("duration"))
            out = Path(self.library.export_clip(fid, start, end, self.clips_dir()))
            info = probe_file(out)
        duration = info["container"].get("duration")
        pictures = []
        if duration:
            jpeg = render_thumbnail(out, "video", duration / 2, THUMB_WIDTH, duration)
            pictures.append((f"{out.name}: middle frame ({duration / 2:.1f} s into the clip)", jpeg))
        streams = [f"{s['type']} {s.get('codec') or '?'}" + (f" {s['width']}x{s['height']}" if s.get("width") else "")
                   for s in info["streams"]]
        return {"path": str(out), "name": out.name, "source_id": fid,
                "source_name": os.path.basename(self.library.path_of(fid)), "start": float(start), "end": float(end),
                "requested_end": float(requested), "clamped": float(end) < float(requested), "duration": duration, "size": out.stat().st_size, "streams": streams,
                "image": 0 if pictures else None}, pictures

    def clips_dir(self) -> Path:
        """The folder clips are written to (created on first use)."""
        with self._lock:
            if self._clips_dir is None:
                self._clips_dir = Path(tempfile.mkdtemp(prefix="omnidex-clips-"))
            self._clips_dir.mkdir(parents=True, exist_ok=True)
            return self._clips_dir

    # ----- jobs ----------------------------------------------------------------------------------
    def index(self, paths: list[str], prune: bool) -> dict:
        """JobStarted after queueing an ingest; paths must lie inside the roots."""
        with tool_errors():
            if not paths:
                raise ValueError("give at least one file or folder path")
            if self.library.explicit_roots is None:  # no --root: only where the library already is
                for p in paths:
                    try:
                        self.inside_roots(p)
                    except PermissionError as exc:
                        raise PermissionError(f"{exc}; start the server with --root DIR to index elsewhere") from exc
            job_id = self.jobs.start(list(paths), prune=prune)
            job = self.jobs.status(job_id)
        return {"job_id": job_id, "state": job["state"], "paths": list(job["paths"])}

    def job(self, job_id: str, wait_s: float) -> dict:
        """JobOut, after waiting up to ``wait_s`` seconds for the job to finish."""
        with tool_errors():
            try:
                job = self.jobs.status(job_id)
            except KeyError as exc:
                raise ValueError(f"no index job with id {job_id!r}: pass the job_id that index_path returned "
                                 "(jobs are remembered while this server runs)") from exc
            if wait_s > 0 and job["state"] not in ("done", "failed"):
                job = self.jobs.wait(job_id, timeout=min(float(wait_s), MAX_WAIT_S))
        files = [{"id": self.library.file_id(f["path"]), "name": os.path.basename(f["path"]),
                  "status": f["status"], "reason": f.get("reason") or "", "kind": f.get("kind") or "",
                  "segments": int(f.get("segments") or 0), "seconds": float(f.get("seconds") or 0.0),
                  "path": f["path"]} for f in job["files"]]
        started, finished = job.get("started"), job.get("finished")
        elapsed = None if started is None else round((finished or time.time()) - started, 2)
        return {"job_id": job["job_id"], "state": job["state"], "done": job["done"], "total": job["total"],
                "current": os.path.basename(job["current"] or ""), "error": job["error"], "elapsed_s": elapsed,
                "report": job.get("report"), "files": files}

    # ----- pictures ------------------------------------------------------------------------------
    def _picture(self, fid: str, t: float | None, caption: str) -> tuple[str, bytes] | None:
        """(caption, JPEG) of a file at ``t``, or None when it cannot be read (the hit stays)."""
        try:
            return caption, self.library.thumbnail(fid, t, width=THUMB_WIDTH)
        except (KeyError, OSError):
            return None


# ----- helpers ---------------------------------------------------------------------------------
def _clamp_end(name: str, start: float, end: float, duration) -> float:
    """``end`` moved back to the video's indexed duration when it lies past it.

    Raises:
        ValueError: ``start`` lies at or past the end of the video.
    """
    if not duration or duration <= 0:
        return float(end)
    if start >= duration:
        raise ValueError(f"{name} is {duration:.1f} s long: start={start:g} lies past its end")
    return min(float(end), round(float(duration), 3))


def _hit_time(hit: dict) -> float | None:
    """The instant a hit's picture shows: its best frame, else its start (None for stills)."""
    if hit["kind"] != "video":
        return None
    return hit["frame_time"] if hit.get("frame_time") is not None else hit["start"]


def _caption(hit: dict) -> str:
    """How a picture is labelled for the agent: file, moment, id."""
    where = f" {hit['moment']}" if hit.get("moment") else ""
    return f"{hit['name']}{where} (id {hit['id']}, score {hit['score']:.2f})"


def _hit_out(hit: dict, image: int | None) -> dict:
    """A library HIT dict in the MCP shape: no URLs, the picture's index added."""
    keys = ("id", "name", "kind", "start", "end", "unit", "moment", "score", "modality", "source", "signals",
            "evidence", "matched_words", "also_read", "guessed", "frame_time", "path")
    out = {k: hit.get(k) for k in keys}
    out["shot"] = list(hit["shot"]) if hit.get("shot") else None
    out["signals"] = {k: float(v) for k, v in (hit.get("signals") or {}).items()}
    out["matched_words"] = list(hit.get("matched_words") or [])
    out["also_read"] = list(hit.get("also_read") or [])
    out["guessed"] = list(hit.get("guessed") or [])
    out["evidence"] = hit.get("evidence") or ""
    out["image"] = image
    out["confident"] = bool(hit.get("confident", False))
    return out


def _keyframe_times(kind: str, shots: list[dict], duration: float | None, n: int) -> list[tuple]:
    """(t, shot number) of the pictures describing a file: shot middles picked evenly for video."""
    if n <= 0:
        return []
    if kind == "image":
        return [(None, None)]
    if kind != "video":
        return []
    if not shots:
        d = float(duration or 0.0)
        return [(round(d * (i + 0.5) / n, 2), None) for i in range(n)] if d > 0 else []
    k = min(n, len(shots))
    picked = sorted({round(i * (len(shots) - 1) / max(1, k - 1)) for i in range(k)})
    return [(round((shots[i]["start"] + shots[i]["end"]) / 2, 2), shots[i]["index"]) for i in picked]


def _media_summary(probe: dict | None, error: str | None) -> dict | None:
    """The parts of a probe an agent needs: container, duration, streams, problems."""
    if probe is None:
        return {"error": error} if error else None
    streams = []
    for s in probe.get("streams", []):
        keep = ("type", "codec", "width", "height", "avg_fps", "rotation", "sample_rate", "channels", "duration")
        streams.append({k: s[k] for k in keep if s.get(k) is not None})
    box = probe.get("container", {})
    return {"format": box.get("format_name"), "duration": box.get("duration"), "size": box.get("size"),
            "streams": streams, "problems": list(probe.get("problems", []))}


def _transcript_summary(item: dict) -> dict:
    """Counts, language and the first words of a file's transcript."""
    text = " ".join(w["text"].strip() for w in item["transcript"])
    return {"windows": len(item["transcript"]), "words": sum(len(w["words"]) for w in item["transcript"]),
            "language": item["info"].get("language"), "excerpt": text[:EXCERPT_CHARS],
            "truncated": len(text) > EXCERPT_CHARS}


def _spans(rows: list[dict]) -> list[dict]:
    """The first text spans, trimmed."""
    return [{"start": float(r["start"]), "end": float(r["end"]), "text": r["text"][:400]} for r in rows[:MAX_SPANS]]


def tool_result(structured: dict, pictures=(), summary: str | None = None):
    """A CallToolResult: the structured data, the same as JSON text, then captioned JPEG blocks."""
    from mcp_types import CallToolResult, ImageContent, TextContent

    content = [TextContent(type="text", text=summary)] if summary else []
    content.append(TextContent(type="text", text=json.dumps(structured, ensure_ascii=False)))
    for i, (caption, jpeg) in enumerate(pictures):
        content.append(TextContent(type="text", text=f"image {i}: {caption}"))
        content.append(ImageContent(type="image", data=base64.b64encode(jpeg).decode("ascii"), mime_type="image/jpeg"))
    return CallToolResult(content=content, structured_content=structured)


def _doc(fn) -> str:
    """A tool's docstring as one line of prose (the SDK would keep the source's indentation)."""
    return " ".join((fn.__doc__ or "").split())


def _hits_line(structured: dict) -> str:
    """One line per hit, for agents that read text only."""
    hits = structured["hits"]
    if not hits:
        return "no confident match: no moments matched at all"
    lines = [f"{i}. {h['name']} {h['moment']} score {h['score']:.2f}{'' if h.get('confident') else ' (weak)'} "
             f"id {h['id']}: {h['evidence'][:160]}"
             + (f" (also read: {', '.join(h['also_read'])})" if h.get("also_read") else "")
             + (f" (guessed: {', '.join(h['guessed'])})" if h.get("guessed") else "")
             for i, h in enumerate(hits, 1)]
    if not any(h.get("confident") for h in hits):
        lines.insert(0, "no confident match: nothing found clears the confidence threshold; the weak hits below "
                        "are probably not answers")
    return "\n".join(lines)


# ----- registration with the SDK (annotations are built here, after the lazy imports) ------------
def _register_search(server, tools: OmnidexTools) -> None:
    """search_moments and search_by_image."""
    from typing import Annotated

    from mcp_types import CallToolResult, ToolAnnotations
    from pydantic import Field

    TopK = Annotated[int, Field(ge=1, le=50, description="moments to return")]
    Modality = Annotated[list[str], Field(description="keep only these file kinds or sources: image, video, "
                                                      "audio, text, speech, ocr (empty: all)")]
    Glob = Annotated[str | None, Field(max_length=512, description="keep only files whose path matches this glob, "
                                                                   "e.g. '*/talks/*'")]
    Images = Annotated[int, Field(ge=0, le=MAX_IMAGES, description="pictures of the best image/video hits to return")]
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def search_moments(query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS,
                                                   description="what to look for, in words")],
                       top_k: TopK = 5, modality: Modality = [], path_glob: Glob = None,
                       file_id: Annotated[str | None, Field(description="search within this one file (id)")] = None,
                       images: Images = 3) -> Annotated[CallToolResult, SearchOut]:
        """Find moments across the library matching a text query: spoken words, text on screen, documents
        and pictures. Returns ranked hits (file id, name, start/end, score, evidence) and thumbnails."""
        out, pictures = tools.search(query, None, top_k, modality, path_glob, file_id, images,
                                     {"text": query, "top_k": top_k, "modality": modality, "path_glob": path_glob,
                                      "file_id": file_id})
        return tool_result(out, pictures, _hits_line(out))

    def search_by_image(image: Annotated[str | None, Field(description="an indexed file's id, or the path of an "
                                                                        "image inside the indexed roots")] = None,
                        image_base64: Annotated[str | None, Field(description="the image itself, base64 (JPEG, PNG, "
                                                                               "WebP...; a data: URL works)")] = None,
                        top_k: TopK = 5, modality: Modality = [], path_glob: Glob = None,
                        images: Images = 3) -> Annotated[CallToolResult, SearchOut]:
        """Find near-duplicates and visually similar images and video frames of an image. Give `image`
        (file id or path) or `image_base64`. Returns ranked hits and thumbnails."""
        with tool_errors():
            query_image = tools.query_image(image, image_base64)
        shown = image if image else f"<{len(image_base64 or '')} base64 chars>"
        out, pictures = tools.search(None, query_image, top_k, modality, path_glob, None, images,
                                     {"image": shown, "top_k": top_k, "modality": modality, "path_glob": path_glob})
        return tool_result(out, pictures, _hits_line(out))

    server.add_tool(search_moments, description=_doc(search_moments), title="Search moments", annotations=read_only)
    server.add_tool(search_by_image, description=_doc(search_by_image), title="Search by image", annotations=read_only)


def _register_files(server, tools: OmnidexTools) -> None:
    """get_transcript, describe_file and export_clip."""
    from typing import Annotated

    from mcp_types import CallToolResult, ToolAnnotations
    from pydantic import Field

    File = Annotated[str, Field(min_length=1, description="file id from search results (or the file's indexed path)")]
    Seconds = Annotated[float | None, Field(ge=0, description="seconds; null = open")]

    def get_transcript(file: File, start: Seconds = None,
                       end: Seconds = None) -> Annotated[CallToolResult, TranscriptOut]:
        """What is said in an audio or video file between `start` and `end` seconds, with word timings."""
        out = tools.transcript(file, start, end)
        span = f"{start if start is not None else 0:g}–{end if end is not None else 'end'}"
        return tool_result(out, (), f"{out['name']} {span} s: {out['text'] or '(no speech here)'}")

    def describe_file(file: File, keyframes: Annotated[int, Field(ge=0, le=MAX_IMAGES, description=
                      "pictures of the file to return (one per shot, picked evenly)")] = 4
                      ) -> Annotated[CallToolResult, DescribeOut]:
        """Describe one indexed file: kind, duration, streams, shots, speech and text in brief, and keyframes."""
        out, pictures = tools.describe(file, keyframes)
        return tool_result(out, pictures, out["summary"])

    def export_clip(file: File, start: Annotated[float, Field(ge=0, description="start (seconds)")],
                    end: Annotated[float, Field(gt=0, description="end (seconds)")]
                    ) -> Annotated[CallToolResult, ClipOut]:
        """Cut [start, end) of an indexed video into a new file (stream copy where the cut allows, frame-
        accurate always). Returns the written path, the probed duration and the clip's middle frame."""
        out, pictures = tools.export_clip(file, start, end)
        clamped = f"; end {out['requested_end']:g} s lies past the video's end, cut to {out['end']:g} s" \
            if out["clamped"] else ""
        return tool_result(out, pictures, f"wrote {out['path']} ({out['duration']} s){clamped}")

    server.add_tool(get_transcript, description=_doc(get_transcript), title="Transcript window",
                    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    server.add_tool(describe_file, description=_doc(describe_file), title="Describe a file",
                    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    server.add_tool(export_clip, description=_doc(export_clip), title="Export a clip", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False))


def _register_jobs(server, tools: OmnidexTools) -> None:
    """index_path and index_status."""
    from typing import Annotated

    from mcp_types import CallToolResult, ToolAnnotations
    from pydantic import Field

    def index_path(paths: Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]],
                                    Field(min_length=1, max_length=MAX_PATHS,
                                          description="files or folders to index, inside the indexed roots")],
                   prune: Annotated[bool, Field(description="also drop files under these paths that no longer "
                                                            "exist")] = False) -> Annotated[CallToolResult, JobStarted]:
        """Start indexing files or folders (incremental: unchanged files are skipped). Returns a job id at
        once; poll index_status until the state is done. Searches see files as their batch lands."""
        out = tools.index(paths, prune)
        return tool_result(out, (), f"job {out['job_id']} {out['state']}")

    def index_status(job_id: Annotated[str, Field(min_length=1, description="the id index_path returned")],
                     wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="wait up to this long for the "
                                                                                     "job to finish")] = 0.0
                     ) -> Annotated[CallToolResult, JobOut]:
        """The state of an index job: queued, running (done/total files), done (per-file outcomes) or failed."""
        out = tools.job(job_id, wait_s)
        return tool_result(out, (), f"job {out['job_id']} {out['state']} ({out['done']}/{out['total']} files)")

    server.add_tool(index_path, description=_doc(index_path), title="Index files", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False))
    server.add_tool(index_status, description=_doc(index_status), title="Index job status",
                    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))


def build_server(db, roots=None, config=None, clips_dir=None):
    """The MCP server over one omnidex database.

    Args:
        db: database directory.
        roots: folders files may be served from and indexed from; None = the folders that hold
            indexed files (index_path then only accepts paths inside those).
        config: :class:`~omnidex.config.IndexConfig` for index jobs; None = the store's encoders.
        clips_dir: where export_clip writes clips; None = a temporary folder.
    Returns:
        An ``mcp.server.mcpserver.MCPServer``; ``.run("stdio")`` or ``.run("streamable-http", ...)``,
        or hand it to the SDK's in-memory transport. Its tools' state is ``server.omnidex``.
    """
    from .._require import require

    require("mcp.server.mcpserver", "serve")
    from mcp.server.mcpserver import MCPServer

    from .. import __version__
    from .jobs import Jobs
    from .library import Library

    library = Library(db, roots=roots, config=config)
    tools = OmnidexTools(library, Jobs(library), clips_dir)
    server = MCPServer("omnidex", title="omnidex media search", instructions=INSTRUCTIONS, version=__version__,
                       log_level="WARNING")
    for register in (_register_search, _register_files, _register_jobs):
        register(server, tools)
    _forbid_unknown_arguments(server)
    server.omnidex = tools
    return server


def _forbid_unknown_arguments(server) -> None:
    """Make every tool refuse arguments it does not declare (the SDK ignores them silently), and say
    so in the input schemas (``additionalProperties: false``), so a misspelt argument is an error."""
    from pydantic import ConfigDict

    for tool in server._tool_manager.list_tools():  # the SDK has no public hook for the argument model
        base = tool.fn_metadata.arg_model
        strict = type(base.__name__, (base,), {"model_config": ConfigDict(**base.model_config, extra="forbid"),
                                               "__module__": base.__module__})
        tool.fn_metadata.arg_model = strict
        tool.parameters["additionalProperties"] = False


# ----- command line ----------------------------------------------------------------------------
def add_mcp_parser(sub) -> argparse.ArgumentParser:
    """Add ``omnidex mcp`` to an argparse subparsers object.

    Args:
        sub: the object ``ArgumentParser.add_subparsers()`` returned.
    Returns:
        The new subparser.
    """
    from ..config import DEFAULT_DB

    p = sub.add_parser("mcp", help="serve the index to agents over MCP (stdio or streamable HTTP)")
    p.add_argument("--db", default=str(DEFAULT_DB), help="database directory (default ./omnidex-data)")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                   help="stdio (an agent spawns the server) or http (streamable HTTP at /mcp)")
    p.add_argument("--host", default=DEFAULT_HOST, help="HTTP address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    p.add_argument("--root", action="append", default=None, metavar="DIR",
                   help="folder files may be served and indexed from (repeatable; default: where indexed files are)")
    p.add_argument("--clips-dir", dest="clips_dir", default=None,
                   help="where export_clip writes clips (default: a temporary folder)")
    p.add_argument("--token", default=None,
                   help="bearer token HTTP clients must send (generated when binding a non-loopback address)")
    p.set_defaults(func=main_mcp)
    return p


def main_mcp(args) -> int:
    """``omnidex mcp``: build the server and run it until the client (or Ctrl-C) ends it.

    Over HTTP on a non-loopback address a token is required, as for ``omnidex serve``: ``--token``
    or a generated one, printed at start; clients send ``Authorization: Bearer TOKEN``.

    Args:
        args: argparse namespace from :func:`add_mcp_parser`.
    Returns:
        0 on a clean exit.
    """
    from .security import is_loopback, new_token

    server = build_server(args.db, roots=args.root or None, clips_dir=getattr(args, "clips_dir", None))
    if args.transport == "stdio":
        server.run("stdio")
        return 0
    token = getattr(args, "token", None) or (None if is_loopback(args.host) else new_token())
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"omnidex mcp: streamable HTTP at http://{host}:{args.port}/mcp", file=sys.stderr, flush=True)
    if token:
        print(f"omnidex mcp: token: {token}  (clients send 'Authorization: Bearer {token}')", file=sys.stderr,
              flush=True)
    try:
        run_http(server, args.host, args.port, token)
    except KeyboardInterrupt:
        pass
    return 0


def http_app(server, host: str = DEFAULT_HOST, token: str | None = None):
    """The streamable-HTTP ASGI app at ``/mcp`` behind the same guard as ``omnidex serve``.

    Args:
        server: from :func:`build_server`.
        host: the address it will bind (loopback: the SDK's Host/Origin allow-list as well).
        token: required bearer token, or None (then only loopback Host names are answered).
    Returns:
        An ASGI app: token (``Authorization: Bearer`` only), Host without a token, cross-site
        Origin refused, security headers on every answer.
    """
    from .security import Guard

    body = MAX_QUERY_IMAGE_BYTES * 4 // 3 + 1024 * 1024  # a base64 query image at the largest, and the call
    return Guard(server.streamable_http_app(host=host, max_request_body_size=body), token=token, bearer_only=True,
                 max_body=body)


def run_http(server, host: str, port: int, token: str | None) -> None:
    """Serve :func:`http_app` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(http_app(server, host, token), host=host, port=port, log_level="warning")
