"""Request guards of the HTTP API: token, host and origin checks, byte ranges, upload sniffing.

The guard is a plain ASGI middleware so it runs before routing and costs one dict lookup per
request when there is nothing to check.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

TOKEN_COOKIE = "omnidex_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "testserver")  # testserver: Starlette's TestClient
PUBLIC_PATHS = ("/", "/docs", "/openapi.json", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_RANGE_DIGITS = 19  # a byte position longer than this lies past any file (and int() of it stays cheap)
# Content-Security-Policy per kind of response: the page loads only its own files; the API docs
# page has no script at all; JSON and media may not run or embed anything.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin"))
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               416: "range_not_satisfiable", 422: "invalid_input", 429: "too_many_requests", 500: "internal",
               503: "busy"}


def error_body(status: int, message: str, code: str | None = None, **extra) -> dict:
    """The one error shape of the API: ``{"error": code, "message": text, "status": status}``."""
    return {"error": code or ERROR_CODES.get(status, "error"), "message": message, "status": status, **extra}


def csp_for(path: str) -> str:
    """The Content-Security-Policy of a response to ``path``."""
    if path == "/" or path.startswith("/static/"):
        return PAGE_CSP
    if path == "/docs":
        return DOCS_CSP
    return API_CSP


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    host = (host or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random access token (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def request_token(scope, headers: dict[str, str], bearer_only: bool = False) -> str | None:
    """The token a request carries: ``Authorization: Bearer``, ``?token=`` or the cookie (only the
    header when ``bearer_only``)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if bearer_only:
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    if "cookie" in headers:
        try:
            cookie = SimpleCookie(headers["cookie"])
        except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
            return None
        if TOKEN_COOKIE in cookie:
            return cookie[TOKEN_COOKIE].value
    return None


def _host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8765`` -> ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(origin: str, host_header: str) -> bool:
    m = re.match(r"^[a-z][a-z0-9+.-]*://([^/]+)$", origin.strip().lower())
    return bool(m) and m.group(1) == host_header.strip().lower()


class Guard:
    """ASGI middleware: token, Host (DNS rebinding) and Origin (cross-site POST) checks.

    Args:
        app: the wrapped ASGI app.
        token: required token, or None (then only loopback Host headers are accepted).
        cors: origins allowed to call the API from a browser.
        allowed_hosts: Host names accepted without a token (default: loopback names).
        max_body: requests declaring a larger Content-Length get 413 before any byte is read
            (FastAPI's ``max_body_size`` counts the bytes of bodies that declare none).
        bearer_only: accept the token only as ``Authorization: Bearer`` (the MCP endpoint: no
            page, so no cookie or address to carry it) and treat no path as public.
    """

    def __init__(self, app, token: str | None = None, cors=(), allowed_hosts=LOOPBACK_NAMES,
                 max_body: int | None = None, bearer_only: bool = False):
        self.app, self.token, self.cors = app, token, tuple(o.rstrip("/").lower() for o in cors)
        self.bearer_only = bearer_only
        self.max_body = max_body
        self.allowed_hosts = tuple(h.lower() for h in allowed_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        send = _with_security_headers(send, csp_for(scope.get("path", "")))
        problem = self._problem(scope, headers)
        if problem is None:
            return await self.app(scope, self._counting(receive), send)
        status, message = problem
        body = json.dumps(error_body(status, message)).encode()
        extra = [(b"www-authenticate", b'Bearer realm="omnidex"')] if status == 401 else []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                                (b"content-length", str(len(body)).encode())] + extra})
        await send({"type": "http.response.body", "body": body})

    def _problem(self, scope, headers) -> tuple[int, str] | None:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        origin = headers.get("origin")
        if method in UNSAFE_METHODS and origin and origin.lower() != "null" \
                and not _same_origin(origin, headers.get("host", "")) and origin.rstrip("/").lower() not in self.cors:
            return 403, f"cross-site request from origin {origin} refused (start the server with --cors {origin})"
        if origin and origin.lower() == "null" and method in UNSAFE_METHODS:
            return 403, "cross-site request from an opaque origin refused"
        if self.token is None:
            if _host_name(headers.get("host", "")) not in self.allowed_hosts:
                return 403, "unexpected Host header (the server only answers to localhost names)"
            return self._size(headers)
        public = not self.bearer_only and (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES))
        if public or method == "OPTIONS":
            return self._size(headers)
        return self._auth(scope, headers) or self._size(headers)

    def _counting(self, receive):
        """``receive`` that stops a body without Content-Length once it passes ``max_body``."""
        if self.max_body is None:
            return receive
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    from fastapi import HTTPException

                    raise HTTPException(413, f"request body larger than {self.max_body // (1024 * 1024)} MB")
            return message

        return counted

    def _size(self, headers) -> tuple[int, str] | None:
        length = headers.get("content-length", "")
        if self.max_body is not None and length.isdigit() and int(length) > self.max_body:
            return 413, f"request body larger than {self.max_body // (1024 * 1024)} MB"
        return None

    def _auth(self, scope, headers) -> tuple[int, str] | None:
        given = request_token(scope, headers, self.bearer_only)
        if given is None:
            how = "" if self.bearer_only else " or ?token=TOKEN"
            return 401, f"this server needs a token: send 'Authorization: Bearer TOKEN'{how}"
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
            return 401, "wrong token"
        return None


def _with_security_headers(send, csp: str):
    """``send`` that adds nosniff, Referrer-Policy, frame denial and a CSP to every response start."""
    extra = SECURITY_HEADERS + ((b"content-security-policy", csp.encode()),)

    async def sending(message):
        if message["type"] == "http.response.start":
            have = {k.lower() for k, _ in message.get("headers", [])}
            message = {**message, "headers": list(message.get("headers", [])) + [h for h in extra if h[0] not in have]}
        await send(message)

    return sending


class RangeNotSatisfiable(Exception):
    """A Range header that selects no byte of the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks for, or None to send the whole file.

    One range is honoured (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``). A range of another unit, or
    several byte ranges, is ignored (the whole file is sent, as RFC 9110 allows); a ``bytes=`` header
    that is malformed, backwards or lies wholly past the end is refused. Numbers of any length
    are handled without converting more than :data:`MAX_RANGE_DIGITS` digits.

    Raises:
        RangeNotSatisfiable: malformed, backwards, or outside the file.
    """
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None  # another unit (or none): not understood, ignored
    if "," in spec:
        return None  # several ranges: the whole file instead of multipart/byteranges
    m = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", spec)
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(header)
    first, last = (_position(g) for g in m.groups())
    if first is None:  # suffix: the last n bytes
        if last == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - last), size - 1
    if (last is not None and last < first) or first >= size:
        raise RangeNotSatisfiable(header)
    return first, size - 1 if last is None else min(last, size - 1)


def _position(digits: str) -> int | None:
    """A byte position from its digits (None when empty); absurdly long numbers become 2**63."""
    if not digits:
        return None
    digits = digits.lstrip("0") or "0"
    return 2 ** 63 if len(digits) > MAX_RANGE_DIGITS else int(digits)


# content sniffing of uploads: the kinds each form field accepts
UPLOAD_KINDS = {"image": ("image",), "audio": ("audio", "video"), "file": ("image", "video")}
