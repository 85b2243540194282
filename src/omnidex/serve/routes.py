"""Endpoints of the HTTP API (the contract is docs/http-api.md), as FastAPI routers.

Each router holds one concern; :data:`ROUTERS` is what :func:`omnidex.serve.app.create_app`
includes, in this order (the order of the OpenAPI document). A handler gets what it works on
through a dependency: :func:`get_library` (the index being served), :func:`get_jobs` (index jobs),
:func:`get_upload_limit`. To add an endpoint, add a function to the router of its concern (or a
new router to :data:`ROUTERS`), declare its response model and the errors it may answer, and raise
library exceptions: ``app.py`` maps them to JSON errors with one status per fault.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..errors import MediaError
from .jobs import Jobs
from .library import Library
from .limits import MAX_LABELS_CHARS, MAX_QUERY_CHARS
from .responses import MEDIA_TYPES, PLACEHOLDER, STATIC_DIR, error_response, json_response
from .schemas import (ClassifyOut, HealthOut, ItemOut, JobOut, JobStartedOut, SearchOut, TranscriptOut, errors)
from .security import TOKEN_COOKIE, RangeNotSatisfiable, UPLOAD_KINDS, parse_range

ID_RE = re.compile(r"^[0-9a-f]{16}$")
CHUNK = 256 * 1024
SSE_POLL_S = 5.0  # seconds between keep-alive comments while a job is quiet
FileField = UploadFile | str | None  # a text part where a file belongs ("", "null") counts as no file
COMMON = (400, 401, 403, 422)  # errors any API route may answer (bad input, token, host/origin, validation)


# ----- dependencies ---------------------------------------------------------------------------------
async def get_library(request: Request) -> Library:
    """The :class:`~omnidex.serve.library.Library` this app serves."""
    return request.app.state.library


async def get_jobs(request: Request) -> Jobs:
    """The app's index jobs."""
    return request.app.state.jobs


async def get_upload_limit(request: Request) -> int:
    """Largest accepted upload, in bytes."""
    return request.app.state.upload_limit


Lib = Annotated[Library, Depends(get_library)]
JobList = Annotated[Jobs, Depends(get_jobs)]
UploadLimit = Annotated[int, Depends(get_upload_limit)]


class IndexRequest(BaseModel):
    """Body of ``POST /api/index``."""

    paths: list[Annotated[str, Field(min_length=1, max_length=4096, pattern="^[^\x00]+$")]] = \
        Field(min_length=1, max_length=1000, description="files or folders inside the served roots")
    prune: bool = False


def _check_id(file_id: str) -> None:
    if not ID_RE.match(file_id):
        raise KeyError(f"no indexed file with id {file_id!r} (ids are 16 hex digits)")


# ----- status ---------------------------------------------------------------------------------------
status_api = APIRouter(tags=["status"])


@status_api.get("/api/health", response_model=HealthOut, responses=errors(401, 403))
def health(lib: Lib):
    """Status, version, database, file count and the vector spaces with their encoders."""
    return json_response(lib.health())


# ----- search ---------------------------------------------------------------------------------------
search_api = APIRouter(tags=["search"])


@search_api.get("/api/search", response_model=SearchOut, responses=errors(*COMMON, 404, 503))
def search_get(lib: Lib,
               q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS, description="text query")] = None,
               top_k: Annotated[int, Query(ge=1, le=200)] = 10,
               modality: Annotated[str, Query(max_length=200, description="comma list: image,video,audio,text,speech,ocr")] = "",
               path: Annotated[str | None, Query(max_length=512, description="path glob")] = None,
               in_: Annotated[str | None, Query(alias="in", max_length=64, description="file id to search within")] = None):
    """Text search: ranked moments with evidence."""
    return _do_search(lib, q, None, None, top_k, modality, path, in_)


@search_api.post("/api/search", response_model=SearchOut, responses=errors(*COMMON, 404, 413, 415, 503))
async def search_post(lib: Lib, limit: UploadLimit,
                      q: Annotated[str | None, Form(max_length=MAX_QUERY_CHARS)] = None,
                      image: Annotated[FileField, File(description="query image")] = None,
                      audio: Annotated[FileField, File(description="query recording")] = None,
                      top_k: Annotated[int, Form(ge=1, le=200)] = 10,
                      modality: Annotated[str, Form(max_length=200)] = "",
                      path: Annotated[str | None, Form(max_length=512)] = None,
                      in_: Annotated[str | None, Form(alias="in", max_length=64)] = None):
    """Search by text and/or an uploaded image or recording (multipart form)."""
    if _given(image, "image") or _given(audio, "audio"):
        lib.heavy.admit()  # every heavy slot taken and the queue full: 503 before the upload is copied
    img = await _upload(limit, image, "image") if _given(image, "image") else None
    aud = await _upload(limit, audio, "audio") if _given(audio, "audio") else None
    names = {"image_name": _name(image, "query image"), "audio_name": _name(audio, "query recording")}
    try:
        return await run_in_threadpool(_do_search, lib, q, img, aud, top_k, modality, path, in_, names)
    finally:
        for f in (img, aud):
            if f:
                os.unlink(f)


# ----- items ----------------------------------------------------------------------------------------
items_api = APIRouter(tags=["items"])


@items_api.get("/api/items/{file_id}", response_model=ItemOut, responses=errors(*COMMON, 404))
def item(lib: Lib, file_id: str):
    """Details of one indexed file: probe info, shots, transcript with words, OCR, text."""
    _check_id(file_id)
    return json_response(lib.describe(file_id))


@items_api.get("/api/items/{file_id}/transcript", response_model=TranscriptOut, responses=errors(*COMMON, 404))
def transcript(lib: Lib, file_id: str, start: Annotated[float | None, Query(ge=0, le=1e9)] = None,
               end: Annotated[float | None, Query(ge=0, le=1e9)] = None):
    """Transcript windows overlapping [start, end] seconds."""
    _check_id(file_id)
    return json_response({"id": file_id, "start": start, "end": end, "windows": lib.transcript(file_id, start, end)})


# ----- media ----------------------------------------------------------------------------------------
media_api = APIRouter(tags=["media"])
BINARY = {"schema": {"type": "string", "format": "binary"}}


@media_api.get("/api/thumb/{file_id}", response_class=Response,
           responses={200: {"content": {"image/jpeg": BINARY}, "description": "JPEG thumbnail"},
                      304: {"description": "not modified"}, **errors(*COMMON, 404)})
def thumb(request: Request, lib: Lib, file_id: str, t: Annotated[float | None, Query(ge=0, le=1e9)] = None,
          w: Annotated[int, Query(ge=16, le=1920)] = 320):
    """JPEG thumbnail: a video frame at t, the image, a waveform, or a text card (cached)."""
    _check_id(file_id)
    data = lib.thumbnail(file_id, t, w)
    etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
    headers = {"Cache-Control": "private, max-age=3600", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


@media_api.head("/media/{file_id}", include_in_schema=False)
@media_api.get("/media/{file_id}", response_class=Response,
           responses={200: {"content": {"*/*": BINARY},
                            "description": "the whole file, with its media type (video/mp4, image/png, ...)"},
                      206: {"content": {"*/*": BINARY}, "description": "one byte range"},
                      304: {"description": "not modified"}, **errors(*COMMON, 404, 416)})
def media(request: Request, lib: Lib, file_id: str):
    """The file's bytes; honours ``Range: bytes=...`` (206) so players can seek."""
    _check_id(file_id)
    fd, st, real = lib.open_media(file_id)
    try:
        return _ranged(request, fd, st, MEDIA_TYPES.get(Path(real).suffix.lower(), "application/octet-stream"))
    except BaseException:
        os.close(fd)
        raise


# ----- index jobs -----------------------------------------------------------------------------------
index_api = APIRouter(tags=["index"])


@index_api.post("/api/index", status_code=202, response_model=JobStartedOut, responses=errors(*COMMON))
def start_index(jobs: JobList, req: IndexRequest):
    """Start an index job (one runs at a time; searches go on meanwhile)."""
    return json_response({"job_id": jobs.start(req.paths, prune=req.prune)}, status=202)


@index_api.get("/api/jobs/{job_id}", response_model=JobOut, responses=errors(*COMMON, 404))
def job(jobs: JobList, job_id: str):
    """Progress of an index job."""
    return json_response(_public(jobs.status(job_id)))


@index_api.get("/api/jobs/{job_id}/events", response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                                 "description": "one `data:` message per change"}, **errors(*COMMON, 404)})
async def job_events(jobs: JobList, job_id: str):
    """Server-sent events: the job's state at every change, until done or failed."""
    first = jobs.status(job_id)  # KeyError -> 404 before the stream starts
    return StreamingResponse(_events(jobs, job_id, first), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# ----- classify -------------------------------------------------------------------------------------
classify_api = APIRouter(tags=["classify"])


@classify_api.post("/api/classify", response_model=ClassifyOut, responses=errors(*COMMON, 404, 413, 415, 503))
async def classify(lib: Lib, limit: UploadLimit,
                        labels: Annotated[str, Form(min_length=1, max_length=MAX_LABELS_CHARS,
                                                    description='"cat,dog,pizza" (at most 64 labels of 100 characters)')],
                        file: Annotated[FileField, File(description="image or video")] = None,
                        id: Annotated[str | None, Form(max_length=64, description="indexed file id")] = None,
                        top_k: Annotated[int, Form(ge=1, le=100)] = 5):
    """Zero-shot labels for an uploaded image/video or an indexed file."""
    from .limits import check_labels

    names = check_labels(labels.split(","))
    if _given(file, "file"):
        lib.heavy.admit()  # 503 at once when the heavy queue is full
        path = await _upload(limit, file, "file")
        try:
            out = await run_in_threadpool(lib.classify, path, names, top_k, _name(file, "uploaded file"))
        finally:
            os.unlink(path)
    elif id:
        _check_id(id)
        lib.resolve(id)
        out = await run_in_threadpool(lib.classify, id, names, top_k)
    else:
        raise ValueError("give a file upload or the id of an indexed file")
    return json_response({"labels": out})


# ----- pages (not in the API document) --------------------------------------------------------------
pages = APIRouter(include_in_schema=False)


@pages.get("/docs", response_class=HTMLResponse)
def docs(request: Request):
    from .apidocs import render_docs

    return HTMLResponse(render_docs(request.app.openapi()), headers={"Cache-Control": "no-cache"})


@pages.get("/", response_class=HTMLResponse)
def page(request: Request):
    index = STATIC_DIR / "index.html"
    html = index.read_text(encoding="utf-8") if index.is_file() else PLACEHOLDER
    resp = HTMLResponse(html, headers={"Cache-Control": "no-cache"})
    token, want = request.query_params.get("token"), request.app.state.token
    if token and want and hmac.compare_digest(token.encode("utf-8", "replace"), want.encode()):
        resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return resp


ROUTERS = (status_api, search_api, items_api, media_api, index_api, classify_api, pages)


def static_files():
    """The web page's files (``/static``), served with a no-cache policy."""
    return _Static(directory=str(STATIC_DIR), check_dir=False)


def _given(upload, field: str) -> bool:
    """An upload was sent. A browser sends an empty, unnamed part for an empty file input, and a
    generated client may send the text "null": both mean no file; other text in a file field is refused.
    """
    if isinstance(upload, str):
        if upload.strip() in ("", "null"):
            return False
        raise ValueError(f"{field}: send a file in this field, not text")
    return upload is not None and bool(upload.filename or upload.size)


def _name(upload, default: str) -> str:
    """What the user calls an uploaded file (its base name, printable), for messages."""
    raw = getattr(upload, "filename", None) or ""
    name = "".join(c for c in os.path.basename(raw.replace("\\", "/")) if c.isprintable())[:120]
    return name or default


def _public(job: dict) -> dict:
    return {k: v for k, v in job.items() if k != "seq"}


def _do_search(lib, q, image, audio, top_k, modality, path, in_, names=None):
    if in_:
        _check_id(in_)
    t0 = time.perf_counter()
    hits = lib.search(q, image=image, audio=audio, top_k=top_k, modality=modality, path_glob=path or None,
                      in_id=in_ or None, **(names or {}))
    query = {"q": q, "image": image is not None, "audio": audio is not None, "top_k": top_k,
             "modality": modality, "path": path, "in": in_}
    return json_response({"query": query, "took_ms": round((time.perf_counter() - t0) * 1000, 2), "hits": hits})


async def _upload(limit: int, upload: UploadFile, field: str) -> str:
    """Copy an upload to a temporary file after size and content checks; returns its path.

    Raises:
        HTTPException: 413 too large, 415 unsupported content, 400 empty.
    """
    from ..media.sniff import sniff

    suffix = Path(upload.filename or "").suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
    fd, path = tempfile.mkstemp(prefix="omnidex-upload-", suffix=suffix)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"{field}: upload larger than {limit // (1024 * 1024)} MB")
                out.write(chunk)
        if size == 0:
            raise HTTPException(400, f"{field}: empty upload")
        try:
            kind = await run_in_threadpool(sniff, path)
        except (MediaError, OSError) as exc:
            reason = exc.reason if isinstance(exc, MediaError) else type(exc).__name__
            raise HTTPException(415, f"{field} upload {_name(upload, 'upload')!r}: unreadable content ({reason})") from exc
        if kind not in UPLOAD_KINDS[field]:
            raise HTTPException(415, f"{field} upload {_name(upload, 'upload')!r}: {kind} content is not accepted here "
                                     f"(expected {' or '.join(UPLOAD_KINDS[field])})")
        return path
    except BaseException:
        os.unlink(path)
        raise


def _ranged(request: Request, fd: int, st: os.stat_result, media_type: str) -> Response:
    """200 with the whole file, or 206 with one byte range, or 416; reads the already opened ``fd``
    (closed here, or by the stream when it ends)."""
    size = st.st_size
    etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate",
               "Last-Modified": formatdate(st.st_mtime, usegmt=True)}
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range and if_range != etag and if_range != headers["Last-Modified"]:
        range_header = None  # the client's copy is stale: send the whole new file
    try:
        span = parse_range(range_header, size)
    except RangeNotSatisfiable:
        os.close(fd)
        return error_response(416, f"range not satisfiable: the file has {size} bytes",
                      headers={**headers, "Content-Range": f"bytes */{size}"})
    if span is None:
        start, end, status = 0, size - 1, 200
        if request.headers.get("if-none-match") == etag:
            os.close(fd)
            return Response(status_code=304, headers=headers)
    else:
        (start, end), status = span, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if request.method == "HEAD":
        os.close(fd)
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(_read_span(fd, start, end), status_code=status, headers=headers,
                             media_type=media_type)


def _read_span(fd: int, start: int, end: int):
    """Bytes ``start..end`` of an open descriptor, in chunks; the descriptor is closed at the end."""
    with os.fdopen(fd, "rb") as fh:
        fh.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


async def _events(jobs, job_id: str, state: dict):
    """SSE frames of a job's state until it ends (a comment line keeps idle connections open)."""
    yield _frame(state)
    while state["state"] not in ("done", "failed"):
        new = await run_in_threadpool(jobs.changed, job_id, state["seq"], SSE_POLL_S)
        if new["seq"] == state["seq"]:
            yield ": keep-alive\n\n"
        else:
            state = new
            yield _frame(state)


def _frame(state: dict) -> str:
    return f"id: {state['seq']}\ndata: {json.dumps(_public(state))}\n\n"


class _Static:
    """StaticFiles with a no-cache policy (the page changes with the server)."""

    def __new__(cls, **kwargs):
        from fastapi.staticfiles import StaticFiles

        class NoCacheStatic(StaticFiles):
            def file_response(self, *args, **kw):
                resp = super().file_response(*args, **kw)
                resp.headers["Cache-Control"] = "no-cache"
                return resp

        return NoCacheStatic(**kwargs)
