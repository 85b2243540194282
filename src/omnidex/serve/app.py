"""The HTTP API: FastAPI app over a :class:`~omnidex.serve.library.Library` (see docs/http-api.md).

``create_app(db)`` builds the app: the routers of :mod:`omnidex.serve.routes` (which never import
this module), the error handlers and the guard; ``add_serve_parser`` / ``main_serve`` are the
``omnidex serve`` command. Every error is JSON ``{"error": message, "status": code}``; bad input never gives a 500.
"""
from __future__ import annotations

from pathlib import Path

from .._require import require
from ..config import DEFAULT_DB, IndexConfig
from ..errors import MediaError, OmnidexError
from .responses import MEDIA_TYPES, PLACEHOLDER, STATIC_DIR, error_response  # noqa: F401 - the first three re-exported
from .security import Guard, is_loopback, new_token

DEFAULT_UPLOAD_MB = 20


def create_app(db=DEFAULT_DB, roots=None, token: str | None = None, cors=(), config: IndexConfig | None = None,
               *, upload_limit_mb: float = DEFAULT_UPLOAD_MB, library=None, allowed_hosts=None,
               ingest: str = "thread", preload: bool = True, search_processes: int = 0):
    """Build the FastAPI app.

    Args:
        db: database directory.
        roots: folders media may be served and indexed from (None: where indexed files live).
        token: required access token, or None (then only localhost Host headers are answered).
        cors: browser origins allowed to call the API (closed when empty).
        config: ingest configuration of index jobs (None: matching the store).
        upload_limit_mb: largest accepted upload.
        library: an existing Library to serve (tests, the MCP server); built from ``db`` otherwise.
        allowed_hosts: Host names answered without a token (default: loopback names).
        ingest: where index jobs run: "process" (a niced worker process, what ``omnidex serve``
            does) or "thread" (a background thread of this process).
        preload: start loading the query models now, in the background (``/api/health`` says
            ``ready`` once they are loaded).
        search_processes: worker processes answering text searches (:mod:`omnidex.serve.pool`;
            None: one per core, what ``omnidex serve`` does; 0: searches run in this process).
    Returns:
        The FastAPI application (``app.state.library``, ``app.state.jobs``, ``app.state.token``).
    """
    fastapi = require("fastapi", "serve")
    from .jobs import Jobs
    from .library import Library

    limit = int(upload_limit_mb * 1024 * 1024)
    app = fastapi.FastAPI(title="omnidex", version=_version(), docs_url=None, redoc_url=None,
                          description="Search images, videos, audio and documents by meaning; see docs/http-api.md.")
    app.state.library = library or Library(db, roots=roots, config=config)
    app.state.jobs = Jobs(app.state.library, mode=ingest)
    if preload:
        app.state.library.start_loading()
    if search_processes != 0:
        from .pool import attach

        attach(app.state.library, search_processes)
    _close_on_shutdown(app)
    app.state.upload_limit = limit
    app.state.token = token
    _errors(app)
    from .routes import ROUTERS, static_files

    for router in ROUTERS:
        app.include_router(router)
    from .routes_media import media_inside_api  # GET /api/items/{id}/gop (the player's GOP strip)
    app.include_router(media_inside_api)
    app.mount("/static", static_files(), name="static")
    _tidy_openapi(app)
    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Range"],
                           expose_headers=["Content-Range", "Accept-Ranges", "Content-Length"])
    guard = {"token": token, "cors": tuple(cors), "max_body": limit + 256 * 1024}
    if allowed_hosts is not None:
        guard["allowed_hosts"] = tuple(allowed_hosts)
    app.add_middleware(Guard, **guard)
    if cors:  # the CORS layer must answer preflights before the guard asks for a token
        app.user_middleware.reverse()
    return app


def _version() -> str:
    from .. import __version__

    return __version__


def _close_on_shutdown(app) -> None:
    """Stop the ingest process when the app shuts down (after the framework's own lifespan)."""
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        try:
            async with inner(a) as state:
                yield state
        finally:
            app.state.jobs.close()
            app.state.library.close_pool()

    app.router.lifespan_context = lifespan


def _media_error(exc: MediaError):
    """422 for a file that cannot be used: too large (pixels) or unreadable; the message names it."""
    code = "image_too_large" if exc.reason.startswith(("image too large", "decompression bomb")) else "unreadable_media"
    return error_response(422, str(exc), code)


def allowed_methods(app, scope) -> list[str]:
    """Every method some route answers at this path (the ``Allow`` of a 405 or an OPTIONS reply)."""
    from starlette.routing import Match

    methods = set()
    for route in _every_route(app):
        match, _ = route.matches({**scope, "method": "GET", "type": "http"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods | ({"OPTIONS"} if methods else set()))


def _every_route(app):
    """The app's routes, those of included routers too (FastAPI 0.137 and later keep an included
    router as one entry of ``app.router.routes``; earlier versions copied its routes in)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI before 0.137
        return list(app.router.routes)
    return list(iter_route_contexts(app.router.routes))


def _errors(app) -> None:
    """Map library exceptions to JSON errors: unknown id 404, outside roots 403, bad input 400,
    unusable media 422, no decode slot 503; the same fault gets the same status on every route."""
    from .limits import Busy

    handlers = {
        KeyError: lambda exc: error_response(404, str(exc.args[0]) if exc.args else "not found"),
        FileNotFoundError: lambda exc: error_response(404, str(exc)),
        PermissionError: lambda exc: error_response(403, str(exc), roots=list(getattr(exc, "roots", ()) or ()) or None),
        MediaError: _media_error,
        OmnidexError: lambda exc: error_response(400, str(exc)),
        ValueError: lambda exc: error_response(400, str(exc)),
        Busy: lambda exc: error_response(503, str(exc), headers={"Retry-After": str(exc.retry_after)}),
    }
    for kind, make in handlers.items():
        app.add_exception_handler(kind, lambda request, exc, make=make: make(exc))
    _framework_errors(app)


def _framework_errors(app) -> None:
    """The same error body for what FastAPI and Starlette refuse: validation, 404/405, a bug (500)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("query", "body", "path", "form"))
        detail = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in errs]
        return error_response(422, f"{where or 'request'}: {first.get('msg', 'invalid')}", detail=detail)

    @app.exception_handler(HTTPException)
    async def _http(request, exc):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(app, request.scope))
            if request.method == "OPTIONS" and allow:
                from fastapi.responses import Response

                return Response(status_code=204, headers={"Allow": allow})
            headers["Allow"] = allow
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _internal(request, exc):  # pragma: no cover - a bug: logged here, not shown to the caller
        import logging

        logging.getLogger("omnidex.serve").exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error (the server's log has the details)")


def _tidy_openapi(app) -> None:
    """Serve the OpenAPI document with the rules the handlers enforce written in (serve/contract.py)."""
    build = app.openapi

    def openapi():
        if app.openapi_schema is None:
            from .contract import finish

            app.openapi_schema = finish(build())
        return app.openapi_schema

    app.openapi = openapi


# ----- command line -------------------------------------------------------------------------------
def add_serve_parser(sub):
    """Add the ``serve`` subcommand to an argparse subparsers object.

    Returns:
        The subparser.
    """
    sv = sub.add_parser("serve", help="HTTP API and web page (localhost by default)")
    sv.add_argument("--db", default=str(DEFAULT_DB), help="database directory (default ./omnidex-data)")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (a non-loopback one requires a token)")
    sv.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sv.add_argument("--root", action="append", default=None,
                    help="folder media may be served and indexed from (repeatable; default: where indexed files live)")
    sv.add_argument("--token", default=None, help="access token (generated when binding a non-loopback address)")
    sv.add_argument("--cors", action="append", default=[], help="browser origin allowed to call the API (repeatable)")
    sv.add_argument("--upload-limit-mb", dest="upload_limit_mb", type=float, default=DEFAULT_UPLOAD_MB,
                    help="largest accepted upload in MB (default 20)")
    sv.add_argument("--ingest-in", dest="ingest_in", choices=("process", "thread"), default="process",
                    help="where index jobs run: a worker process at lower priority with fewer threads, so "
                         "searches keep their speed (default), or a thread of the server")
    sv.add_argument("--search-processes", dest="search_processes", type=int, default=None,
                    help="worker processes answering text searches, each with its own copy of the query "
                         "models (default: one per core; 0: search in the server process)")
    sv.set_defaults(func=main_serve)
    return sv


def main_serve(args) -> int:
    """``omnidex serve``: run the API with uvicorn until interrupted.

    Args:
        args: namespace from :func:`add_serve_parser` (db, host, port, root, token, cors, upload_limit_mb,
            ingest_in). The query models load in the background from the start (``/api/health``: ``ready``).
    Returns:
        0 after a clean shutdown.
    """
    uvicorn = require("uvicorn", "serve")
    token = args.token or (None if is_loopback(args.host) else new_token())
    app = create_app(args.db, roots=args.root, token=token, cors=tuple(args.cors or ()),
                     upload_limit_mb=args.upload_limit_mb, ingest=getattr(args, "ingest_in", "process"),
                     search_processes=getattr(args, "search_processes", None))
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/"
    print(f"omnidex: serving {Path(args.db).absolute()} at {url}" + (f"?token={token}" if token else ""), flush=True)
    if token:
        print(f"omnidex: token: {token}  (send 'Authorization: Bearer {token}')", flush=True)
    record = None
    if token is None and is_loopback(args.host):  # CLI searches of this index may ask this server
        from .discovery import register, exit_on_sigterm

        exit_on_sigterm()  # a stop while uvicorn starts still removes the record (uvicorn's handlers come later)
        record = register(args.db, url)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        if record is not None:
            from .discovery import unregister

            unregister(record)
    return 0
