"""Load still images safely: header-checked size, EXIF orientation, first frame, RGB."""
from __future__ import annotations

import warnings
from pathlib import Path

from .._require import require
from ..errors import MediaError
from .sniff import read_head

DEFAULT_MAX_PIXELS = 64_000_000


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode an image file to an RGB PIL image, upright and bounded in size.

    The pixel count is read from the header and checked before any pixel data is decoded, so a
    decompression bomb (a tiny file declaring a huge canvas) costs nothing. Animated GIF/WebP and
    multi-page TIFF give their first frame; transparency is composited over white.

    Args:
        path: JPEG, PNG, WebP, GIF, BMP or TIFF file (anything Pillow reads).
        max_pixels: refuse images with more pixels than this.
    Returns:
        A new ``PIL.Image.Image`` in mode "RGB", EXIF orientation applied.
    Raises:
        MediaError: unreadable, not an image, too many pixels, truncated or corrupt.
    """
    Image = require("PIL.Image", "image")
    read_head(path, 16)  # zero-byte / permission errors with a clear reason
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_pixels(path, im.size, max_pixels)
                im.seek(0)
                im.load()
                return _upright_rgb(im)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(path, f"decompression bomb refused before decoding ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise MediaError(path, "not a recognised image format (corrupt or not an image)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(path, f"truncated or corrupt image: {exc}") from exc


def image_size(path: str | Path) -> tuple[int, int]:
    """Width and height from the header only (no pixel decoding).

    Args:
        path: image file.
    Returns:
        (width, height) as stored, before EXIF orientation.
    """
    Image = require("PIL.Image", "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except Image.DecompressionBombError as exc:
        raise MediaError(path, f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(path, f"not a readable image: {exc}") from exc


def _check_pixels(path: str | Path, size: tuple[int, int], max_pixels: int) -> None:
    """Raise MediaError when the declared canvas is larger than ``max_pixels``."""
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(path, f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(
            path,
            f"decompression bomb refused: header declares {width}x{height} = {width * height:,} pixels "
            f"(limit {max_pixels:,}; raise max_pixels to allow it)",
        )


def _upright_rgb(im):
    """Apply EXIF orientation and flatten to RGB (transparent areas become white)."""
    ImageOps = require("PIL.ImageOps", "image")
    Image = require("PIL.Image", "image")
    out = ImageOps.exif_transpose(im) or im
    if out.mode == "RGB":
        return out.copy() if out is im else out
    has_alpha = out.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in out.info
    if has_alpha:
        rgba = out.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if out.mode in ("I;16", "I;16B", "I;16L", "I"):
        out = out.point(lambda v: v / 256).convert("L")  # 16-bit grey: scale to 8 bits
    return out.convert("RGB")
