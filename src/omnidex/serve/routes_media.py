"""Inside a video, over HTTP: ``GET /api/items/{file_id}/gop``, the GOP strip of the item view.

The frames of an indexed video's first video stream in presentation order, each with its picture
type (I/P/B from the H.264/H.265 slice headers, "?" for other codecs), size in bytes and keyframe
flag (:func:`omnidex.media.packets.gop_strip`; packets are demuxed, nothing is decoded). The page
draws them as a strip of bars sized by bytes, keyframes marked: what re-encoding and stream-copy
export (``omnidex clip``) have to respect.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..errors import MediaError
from .responses import json_response
from .routes import COMMON, ID_RE, Lib
from .schemas import errors

MAX_GOP_FRAMES = 5000  # frames one answer lists at most
DEFAULT_GOP_FRAMES = 600


class GopFrameOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    pts_time: float | None = Field(description="presentation time in seconds")
    type: str = Field(description="I, P or B (first slice's type); ? when the codec's slices are not read")
    size: int = Field(description="packet size in bytes")
    key: bool = Field(description="the container marks the packet a keyframe (a point playback and stream copy "
                                  "can start from)")


class GopOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    stream: int
    codec: str | None
    frames: list[GopFrameOut] = Field(description="in presentation order")
    capped: bool = Field(description="the video has more frames than listed")
    total_bytes: int
    counts: dict[str, int] = Field(description="frames of each type (I, P, B, ?)")


media_inside_api = APIRouter(tags=["items"])


@media_inside_api.get("/api/items/{file_id}/gop", response_model=GopOut, responses=errors(*COMMON, 404))
async def gop(lib: Lib, file_id: str,
              max_frames: Annotated[int, Query(alias="max", ge=1, le=MAX_GOP_FRAMES)] = DEFAULT_GOP_FRAMES):
    """The GOP strip of an indexed video: its first ``max`` frames (decode order) shown in presentation
    order with picture type, size and keyframe flag."""
    if not ID_RE.match(file_id):
        raise KeyError(f"no indexed file with id {file_id!r} (ids are 16 hex digits)")
    real = lib.resolve(file_id)
    kind = lib.snapshot().files[lib.path_of(file_id)]["kind"]
    if kind != "video":
        raise MediaError(real, f"a {kind} file has no GOP (only videos do)")
    from ..media.packets import gop_strip

    strip = await run_in_threadpool(gop_strip, real, max_frames)
    strip.pop("file", None)
    return json_response({"id": file_id, **strip})
