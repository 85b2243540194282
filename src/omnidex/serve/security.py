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
PUBLIC_PATHS = ("/", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


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


def request_token(scope, headers: dict[str, str]) -> str | None:
    """The token a request carries: ``Authorization: Bearer``, ``?token=`` or the cookie."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
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
    """

    def __init__(self, app, token: str | None = None, cors=(), allowed_hosts=LOOPBACK_NAMES,
                 max_body: int | None = None):
        self.app, self.token, self.cors = app, token, tuple(o.rstrip("/").lower() for o in cors)
        self.max_body = max_body
        self.allowed_hosts = tuple(h.lower() for h in allowed_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        problem = self._problem(scope, headers)
        if problem is None:
            return await self.app(scope, self._counting(receive), send)
        status, message = problem
        body = json.dumps({"error": message, "status": status}).encode()
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
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or method == "OPTIONS":
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
        given = request_token(scope, headers)
        if given is None:
            return 401, "this server needs a token: send 'Authorization: Bearer TOKEN' or ?token=TOKEN"
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
            return 401, "wrong token"
        return None


class RangeNotSatisfiable(Exception):
    """A Range header that selects no byte of the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks for, or None to send the whole file.

    One range is honoured (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); a header this server does
    not understand, or several ranges, is ignored (the whole file is sent, as RFC 9110 allows).

    Raises:
        RangeNotSatisfiable: a well-formed range that lies wholly outside the file.
    """
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # syntactically invalid: ignore
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, end


# content sniffing of uploads: the kinds each form field accepts
UPLOAD_KINDS = {"image": ("image",), "audio": ("audio", "video"), "file": ("image", "video")}
