"""Contact sheets (one thumbnail per shot, labelled with its times) and single-frame thumbnails.

A contact sheet is a PNG grid: a header line naming the file, its duration, display resolution
and shot count, then one tile per shot -- the shot's first representative frame with
"#number  start–end" (HH:MM:SS.s) under it. Shots come from ``omnidex.media.shots.detect_shots``,
whose scan already holds the decoded frames, so nothing is decoded twice.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path

from .._require import require
from ..errors import MediaError, OmnidexError
from ..types import format_time
from . import pyav
from .video import probe_video, to_frame

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
GAP = 8  # pixels between tiles and around the grid
HEADER_FONT_PX = 16
LABEL_FONT_PX = 13
MIN_FONT_PX = 7
BACKGROUND, TEXT, LABEL_TEXT = (22, 22, 22), (240, 240, 240), (200, 200, 200)
EPS = 1e-6


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes on a contact sheet."""

    size: tuple[int, int]  # (width, height) of the sheet in pixels
    header: tuple[int, int]  # (x, y) of the header text
    tiles: tuple[tuple[int, int, int, int], ...]  # thumbnail boxes (x0, y0, x1, y1), row by row
    labels: tuple[tuple[int, int], ...]  # (x, y) of each tile's label, under its thumbnail


def sheet_layout(n_tiles: int, cols: int, width: int, tile_height: int) -> SheetLayout:
    """Grid geometry for ``n_tiles`` thumbnails of ``width`` x ``tile_height`` pixels.

    Args:
        n_tiles: number of thumbnails (at least 1).
        cols: thumbnails per row (fewer columns when there are fewer tiles).
        width: thumbnail width.
        tile_height: thumbnail height.
    Returns:
        A SheetLayout.
    Raises:
        ValueError: a non-positive count or size.
    """
    if min(n_tiles, cols, width, tile_height) < 1:
        raise ValueError("tiles, columns, width and height must be positive")
    cols = min(cols, n_tiles)
    rows = math.ceil(n_tiles / cols)
    header_h = round(HEADER_FONT_PX * 1.5) + GAP
    label_h = round(LABEL_FONT_PX * 1.4)
    cell_h = tile_height + label_h + GAP
    tiles, labels = [], []
    for i in range(n_tiles):
        x = GAP + (i % cols) * (width + GAP)
        y = GAP + header_h + (i // cols) * cell_h
        tiles.append((x, y, x + width, y + tile_height))
        labels.append((x, y + tile_height + 2))
    size = (GAP + cols * (width + GAP), GAP + header_h + rows * cell_h)
    return SheetLayout(size, (GAP, GAP), tuple(tiles), tuple(labels))


def contact_sheet(path: str | Path, out: str | Path, cols: int = 5, width: int = 240, max_shots: int = 60) -> Path:
    """Write a PNG grid with one labelled thumbnail per shot of a video.

    Args:
        path: video file.
        out: output image (.png; any suffix Pillow writes works).
        cols: thumbnails per row.
        width: thumbnail width in pixels.
        max_shots: most tiles; with more shots, this many are picked evenly (the header says so).
    Returns:
        The path written.
    Raises:
        MediaError: unreadable video, or an output folder that does not exist.
        OmnidexError: bad ``cols``/``width``/``max_shots``.
    """
    if cols < 1 or width < 16 or max_shots < 1:
        raise OmnidexError("contact sheet needs cols >= 1, width >= 16 and max_shots >= 1")
    out = Path(out)
    if not out.parent.is_dir():
        raise MediaError(out, f"output folder {out.parent} does not exist")
    from .shots import detect_shots

    info = probe_video(path)
    scan = detect_shots(path, info=info)
    if not scan.shots:
        raise MediaError(path, f"no shots found ({'; '.join(scan.errors[:2]) or 'no frames decoded'})")
    picked = _pick_evenly(len(scan.shots), max_shots)
    images = [_shot_image(path, scan, scan.shots[i]) for i in picked]
    tile_h = max(1, round(width * images[0].height / images[0].width))
    layout = sheet_layout(len(picked), cols, width, tile_h)
    header = _header(Path(path).name, info, len(scan.shots), len(picked))
    sheet = _draw(layout, header, images, [_label(i + 1, scan.shots[i]) for i in picked], width)
    try:
        sheet.save(out)
    except (ValueError, OSError) as exc:
        raise MediaError(out, f"cannot write the contact sheet: {exc}") from exc
    return out


def thumbnail(path: str | Path, t: float, out: str | Path, width: int = 320) -> Path:
    """Save the frame shown at time ``t`` (seek to the keyframe before it, decode up to it).

    Args:
        path: video file.
        t: time in seconds (the video's presentation time).
        out: output image; the format follows the suffix (.jpg, .png, ...).
        width: output width in pixels (the height keeps the display aspect).
    Returns:
        The path written.
    Raises:
        MediaError: unreadable video, ``t`` outside it, or an unwritable output.
    """
    out = Path(out)
    image = frame_at(path, t)
    height = max(1, round(width * image.height / image.width))
    image = image.resize((width, height), require("PIL.Image", "image").Resampling.LANCZOS)
    try:
        image.save(out, quality=92) if out.suffix.lower() in (".jpg", ".jpeg") else image.save(out)
    except (ValueError, OSError) as exc:
        raise MediaError(out, f"cannot write the thumbnail: {exc}") from exc
    return out


def frame_at(path: str | Path, t: float):
    """The frame displayed at time ``t``, as an upright full-size PIL RGB image.

    Args:
        path: video file.
        t: time in seconds; the frame shown then is the last one starting at or before ``t``.
    Returns:
        PIL.Image.Image.
    Raises:
        MediaError: unreadable video, ``t`` outside it, or nothing decodable there.
    """
    av = require("av", "video")
    info = probe_video(path)
    if not 0 <= t < info.start_time + info.duration:
        raise MediaError(path, f"time {t:g} s is outside the video (0–{info.start_time + info.duration:.3f} s)")
    keys = info.keyframe_times or (info.start_time,)
    key = keys[max(0, bisect.bisect_right(keys, t + EPS) - 1)]
    with pyav.open_container(av, path) as container:
        stream = pyav.video_stream(path, container)
        container.seek(int(key / stream.time_base), stream=stream, backward=True, any_frame=False)
        frame = _decode_until(container, stream, t)
        if frame is None:
            raise MediaError(path, f"no frame could be decoded at {t:g} s")
        full = max(frame.width, frame.height) * 4  # no downscaling: square pixels and rotation only
        return to_frame(frame, full, pyav.sar(stream)).image


def main_contact(args) -> int:
    """``omnidex contact FILE``: write the contact sheet and print its path.

    Args:
        args: argparse namespace with file, out (None: ``<stem>.contact.png`` here), cols, width.
    Returns:
        0 on success.
    """
    out = Path(args.out) if args.out else Path(f"{Path(args.file).stem}.contact.png")
    print(contact_sheet(args.file, out, cols=args.cols, width=args.width))
    return 0


def _pick_evenly(n: int, k: int) -> list[int]:
    """``min(n, k)`` indices into ``range(n)``, evenly spread, first and last included."""
    if n <= k:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _shot_image(path, scan, shot):
    """The shot's first representative frame from the scan (decoded afresh if the scan lacks it)."""
    if shot.frames:
        times = [f.t for f in scan.frames]
        i = bisect.bisect_left(times, shot.frames[0] - 1e-3)
        if i < len(times) and abs(times[i] - shot.frames[0]) <= 1e-3:
            return scan.frames[i].image.convert("RGB")
    return frame_at(path, shot.start)


def _header(name: str, info, n_shots: int, shown: int) -> str:
    """The sheet's header line."""
    w, h = (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)
    text = f"{name}  ·  {format_time(info.duration)}  ·  {w}×{h}  ·  {n_shots} shot{'s' * (n_shots != 1)}"
    return text + (f" (showing {shown}, evenly picked)" if shown < n_shots else "")


def _label(number: int, shot) -> str:
    """A tile's label: shot number and time span."""
    return f"#{number}  {format_time(shot.start)}–{format_time(shot.end)}"


def _draw(layout: SheetLayout, header: str, images: list, labels: list[str], width: int):
    """Render the sheet."""
    Image = require("PIL.Image", "image")
    ImageDraw = require("PIL.ImageDraw", "image")
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    header_font = _fitting_font(draw, header, layout.size[0] - 2 * GAP, HEADER_FONT_PX)
    draw.text(layout.header, header, fill=TEXT, font=header_font)
    for image, box, spot, label in zip(images, layout.tiles, layout.labels, labels):
        sheet.paste(image.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS), box[:2])
        draw.text(spot, label, fill=LABEL_TEXT, font=_fitting_font(draw, label, width, LABEL_FONT_PX))
    return sheet


def _fitting_font(draw, text: str, max_width: int, size: int):
    """DejaVu Sans (Pillow's default font without it) at the largest size <= ``size`` that fits."""
    ImageFont = require("PIL.ImageFont", "image")
    while True:
        font = ImageFont.truetype(str(FONT), size) if FONT.exists() else ImageFont.load_default(size)
        if size <= MIN_FONT_PX or draw.textlength(text, font=font) <= max_width:
            return font
        size -= 1


def _decode_until(container, stream, t: float):
    """Decode forward; the last frame starting at or before ``t`` (the first frame if all are after)."""
    chosen = None
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        if frame.time > t + EPS:
            return chosen or frame
        chosen = frame
    return chosen
