"""What the HTTP layer answers with, shared by the app and its routers: the JSON error body, the
media types of served files, and the web page's folder.

(Kept apart from ``app.py`` so that the routers never import the app that includes them.)
"""
from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
               ".webm": "video/webm", ".avi": "video/x-msvideo", ".mp3": "audio/mpeg", ".wav": "audio/wav",
               ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
               ".m4a": "audio/mp4", ".aac": "audio/aac", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif", ".bmp": "image/bmp",
               ".tif": "image/tiff", ".tiff": "image/tiff", ".txt": "text/plain; charset=utf-8",
               ".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8",
               ".json": "application/json", ".html": "text/plain; charset=utf-8", ".pdf": "application/pdf"}
PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>omnidex</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>omnidex</h1><p>The web page is not installed. The API is at <a href="/docs">/docs</a>
(<a href="/openapi.json">OpenAPI schema</a>); try <code>/api/search?q=...</code>.</p></body></html>"""
JSON_NO_STORE = {"Cache-Control": "no-store"}


def error_response(status: int, message: str, code: str | None = None, headers=None, **extra):
    """The JSON error response: ``{"error": code, "message": ..., "status": ...}`` (see security.error_body)."""
    from fastapi.responses import JSONResponse

    from .security import error_body

    return JSONResponse(error_body(status, message, code, **extra), status_code=status,
                        headers={**JSON_NO_STORE, **(headers or {})})


def json_response(data, status: int = 200):
    """A JSON answer that proxies and browsers do not cache."""
    from fastapi.responses import JSONResponse

    return JSONResponse(data, status_code=status, headers=JSON_NO_STORE)
