"""The HrFlow job API as a Starlette app over the SQLite `Store`.

Routes, envelopes, messages and status codes follow the API (see `jobkit.server`'s
docstring for the list): HTTP status == body `code`, `Content-Type: application/json`
exactly, objects not found are 400s, unknown routes 404s, and anything unexpected a JSON
500 without a stack trace.

Examples
--------
>>> import asyncio, tempfile, httpx
>>> from jobkit.server import Store, create_app
>>> async def demo(tmp):
...     store = Store(f"{tmp}/boards.sqlite3")
...     secret = store.create_key()
...     store.ensure_board("demo", grant=[secret])
...     headers = {"X-API-KEY": secret, "X-USER-EMAIL": "me@example.com"}
...     transport = httpx.ASGITransport(app=create_app(store))
...     async with httpx.AsyncClient(transport=transport, base_url="http://local/v1/",
...                                  headers=headers) as client:
...         made = await client.post("job/indexing", json={"board_key": "demo",
...                                  "name": "Data Engineer", "reference": "de-1"})
...         bad = await client.post("job/indexing", json={"board_key": "demo",
...                                 "name": "x", "location": {"lat": 91}})
...     store.close()
...     return made.json()["message"], bad.status_code, bad.json()["message"]
>>> with tempfile.TemporaryDirectory() as tmp:
...     asyncio.run(demo(tmp))
('Job created', 400, 'Invalid parameters. location.lat: Input should be less than or equal to 90')
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Final, Literal

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from jobkit._schema import Job
from jobkit.server import _http
from jobkit.server._http import ApiReply, envelope, raw_envelope
from jobkit.server._openapi import OPENAPI
from jobkit.server.faults import FaultInjector, FaultSpec
from jobkit.server.store import DuplicateReferenceError, KeyInfo, Store

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BoardApp", "create_app", "mask"]

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
logger = logging.getLogger("jobkit.server")

_NOT_FOUND_JOB: Final = "Invalid parameters. Unable to find object: job"
_NOT_FOUND_BOARD: Final = "Invalid parameters. Unable to find object: board"
_DUMP_EXCLUDE: Final = frozenset({"key", "board_key", "id", "board", "updated_at", "archived_at"})
_MAX_BOARD_KEYS: Final = 100
_EMPTY_LOCATION: Final = {"text": None, "lat": None, "lng": None, "gmaps": None, "fields": None}


def mask(secret: str) -> str:
    """Enough of a key to recognise it, never enough to use it: `ask_…`.

    >>> mask("ask_0123456789abcdef0123456789abcdef"), mask("short")
    ('ask_…', '…')
    """
    return f"{secret[:4]}…" if len(secret) >= 12 else "…"


class BoardApp(Starlette):
    """The Starlette app, plus a last line of defence: nothing escapes as a bare 500."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await super().__call__(scope, receive, guarded_send)
        except Exception:
            # Starlette's ServerErrorMiddleware has already answered with our JSON 500 and
            # re-raises for the server's log; log it here (no request data, so no secret) and
            # stop it, so that uvicorn neither logs it twice nor drops the connection.
            logger.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if not started and scope["type"] == "http":
                await envelope(500, "Internal Server Error")(scope, receive, send)


def create_app(
    store: Store | str | Path,
    *,
    faults: FaultSpec | str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    auto_create_boards: bool = False,
) -> BoardApp:
    """The ASGI app serving `store` under `/v1/`.

    `faults` injects latency, errors, lost responses and throttling (see `FaultSpec`);
    `auto_create_boards` lets a key create a board by naming it (the embedded local store's
    behaviour: `jobkit index FILE --board demo` works on a fresh machine).
    """
    if not isinstance(store, Store):
        store = Store(store)
    spec = FaultSpec.parse(faults) if isinstance(faults, str) else faults
    routes = [
        Route("/v1/job/indexing", _post_job, methods=["POST"]),
        Route("/v1/job/indexing", _put_job, methods=["PUT"]),
        Route("/v1/job/indexing", _get_job, methods=["GET"]),
        Route("/v1/job/indexing/archive", _archive_job, methods=["PATCH"]),
        Route("/v1/storing/jobs", _storing_jobs, methods=["GET"]),
        Route("/v1/jobs/searching", _searching_jobs, methods=["GET"]),
        Route("/v1/boards", _boards, methods=["GET"]),
        Route("/v1/board", _board, methods=["GET"]),
        Route("/v1/auth", _auth, methods=["GET"]),
        Route("/v1/openapi.json", _openapi, methods=["GET"]),
    ]
    app = BoardApp(
        routes=routes,
        exception_handlers={
            ApiReply: _on_reply,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
    )
    # A trailing slash is a 404 envelope like any unknown path, not a bare 307 redirect.
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.max_body_bytes = max_body_bytes
    app.state.auto_create_boards = auto_create_boards
    app.state.faults = spec
    if spec is not None and spec.active:
        app.add_middleware(FaultInjector, spec=spec)
    return app


# -- error handlers ----------------------------------------------------------------------------


async def _on_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiReply)
    return envelope(exc.code, exc.message, headers=exc.headers)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return envelope(404, "The resource does not exist")
    if exc.status_code == 405:
        return envelope(405, f"Method {request.method} is not allowed on {request.url.path}")
    return envelope(exc.status_code, str(exc.detail))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return envelope(500, "Internal Server Error")


# -- auth --------------------------------------------------------------------------------------


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _authenticate(request: Request, need: Literal["read", "write"]) -> KeyInfo:
    secret = request.headers.get("x-api-key", "")
    info = _store(request).key_info(secret) if secret else None
    if info is None:
        # the trailing space is the API's own; the secret itself is never echoed
        raise ApiReply(401, f"Unauthorized. Invalid secret key: {mask(secret)} ")
    if info.permission not in ("all", need):
        raise ApiReply(
            401, f"Unauthorized. Invalid secret key: {mask(secret)} for permission: {need}"
        )
    email = request.headers.get("x-user-email", "").strip()
    if not email:
        raise ApiReply(401, "Unauthorized. The X-USER-EMAIL header is required")
    if info.user_email is not None and email.lower() != info.user_email.lower():
        raise ApiReply(401, f"Unauthorized. The user email {email!r} does not match this key")
    return info


async def _check_board(request: Request, key: KeyInfo, board_key: Any) -> str:
    if not isinstance(board_key, str) or not board_key:
        raise ApiReply(400, "Invalid parameters. board_key: Field required (a board key string)")
    store = _store(request)
    access = store.board_access(key.hash, board_key)
    if access == "missing" and request.app.state.auto_create_boards:
        await asyncio.wrap_future(
            store.submit(lambda conn: store.ensure_board_in(conn, board_key, None, [key.hash]))
        )
        return board_key
    if access == "missing":
        raise ApiReply(400, _NOT_FOUND_BOARD)
    if access == "denied":
        raise ApiReply(401, f"Unauthorized Access to board key: {board_key}")
    return board_key


# -- jobs --------------------------------------------------------------------------------------


async def _job_body(request: Request) -> tuple[KeyInfo, str, dict[str, Any], dict[str, Any]]:
    """(key, board_key, the raw job, the validated job dumped) for POST and PUT."""
    key = _authenticate(request, "write")
    body = await _http.read_json(request, request.app.state.max_body_bytes)
    # Both the SDK's flat body and the nested {"board_key": ..., "job": {...}} are accepted.
    nested = body.get("job")
    job = nested if isinstance(nested, dict) else body
    if job is nested:  # a PUT may name the job beside it: {"board_key", "key", "job": {...}}
        job = {**{k: body[k] for k in ("key", "reference") if k in body}, **job}
    board_key = await _check_board(request, key, body.get("board_key", job.get("board_key")))
    try:
        model = Job.model_validate(job)
    except ValidationError as exc:
        raise ApiReply(400, _http.validation_message(exc)) from None
    dumped = model.model_dump(mode="json", exclude={*_DUMP_EXCLUDE, "agent_key"})
    if dumped["location"] is None:
        dumped["location"] = dict(_EMPTY_LOCATION)  # responses always carry a location
    return key, board_key, job, dumped


async def _post_job(request: Request) -> Response:
    _key, board_key, _raw, job = await _job_body(request)
    store = _store(request)
    try:
        body = await asyncio.wrap_future(
            store.submit(lambda conn: store.insert_job_in(conn, board_key, job))
        )
    except DuplicateReferenceError as exc:
        msg = f"Cannot create job with this reference: {exc.reference}. Already used!"
        raise ApiReply(400, msg) from None
    return raw_envelope(201, "Job created", body)


async def _put_job(request: Request) -> Response:
    _key, board_key, raw, job = await _job_body(request)
    store = _store(request)
    key = raw.get("key") if isinstance(raw.get("key"), str) else None
    reference = job.get("reference")
    if key is None and reference is None:
        raise ApiReply(400, "Invalid parameters. Give the job's key or reference to edit it")
    try:
        body = await asyncio.wrap_future(
            store.submit(
                lambda conn: store.replace_job_in(
                    conn, board_key, job, key=key, reference=reference
                )
            )
        )
    except DuplicateReferenceError as exc:
        msg = f"Cannot edit job with this reference: {exc.reference}. Already used!"
        raise ApiReply(400, msg) from None
    if body is None:
        raise ApiReply(400, _NOT_FOUND_JOB)
    return raw_envelope(200, "Job edited", body)


def _key_or_reference(source: Any) -> tuple[str | None, str | None]:
    key, reference = source.get("key"), source.get("reference")
    key = key if isinstance(key, str) and key else None
    reference = reference if isinstance(reference, str) and reference else None
    if key is None and reference is None:
        raise ApiReply(400, "Invalid parameters. key or reference: one of them is required")
    return key, reference


async def _get_job(request: Request) -> Response:
    caller = _authenticate(request, "read")
    query = request.query_params
    board_key = await _check_board(request, caller, query.get("board_key"))
    key, reference = _key_or_reference(query)
    body = _store(request).get_job_bytes(board_key, key=key, reference=reference)
    if body is None:
        raise ApiReply(400, _NOT_FOUND_JOB)
    return raw_envelope(200, "Job details", body)


async def _archive_job(request: Request) -> Response:
    caller = _authenticate(request, "write")
    body = await _http.read_json(request, request.app.state.max_body_bytes)
    board_key = await _check_board(request, caller, body.get("board_key"))
    key, reference = _key_or_reference(body)
    flag = body.get("is_archive", 1)
    if flag not in (0, 1, True, False):
        raise ApiReply(400, f"Invalid parameters. is_archive: expected 1 or 0, got {flag!r}")
    archive = bool(flag)
    store = _store(request)
    job_key = await asyncio.wrap_future(
        store.submit(
            lambda conn: store.archive_job_in(
                conn, board_key, key=key, reference=reference, archive=archive
            )
        )
    )
    if job_key is None:
        raise ApiReply(400, _NOT_FOUND_JOB)
    return envelope(200, "Job archived" if archive else "Job unarchived", {"key": job_key})


def _board_keys(raw: str | None) -> list[str]:
    if not raw:
        raise ApiReply(400, "Invalid parameters. board_keys: Field required (a JSON list)")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw  # a bare key is forgiven
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        msg = 'Invalid parameters. board_keys: expected a JSON list of board keys, e.g. ["demo"]'
        raise ApiReply(400, msg)
    keys = list(dict.fromkeys(value))
    if len(keys) > _MAX_BOARD_KEYS:
        msg = f"Invalid parameters. board_keys: at most {_MAX_BOARD_KEYS} boards per request"
        raise ApiReply(400, msg)
    return keys


async def _list(request: Request, *, search: bool) -> Response:
    caller = _authenticate(request, "read")
    query = request.query_params
    boards = [await _check_board(request, caller, b) for b in _board_keys(query.get("board_keys"))]
    page, limit = _http.parse_page(query)
    order_by = query.get("order_by") or "desc"
    if order_by not in ("desc", "asc"):
        raise ApiReply(400, f"Invalid parameters. order_by: expected desc or asc, got {order_by!r}")
    full = True if search else _http.parse_bool(query.get("return_job"), "return_job", False)
    options: dict[str, Any] = {
        "page": page,
        "limit": limit,
        "sort_by": query.get("sort_by") or "created_at",
        "descending": order_by == "desc",
        "full": full,
        "include_archived": _http.parse_bool(
            query.get("include_archived"), "include_archived", False
        ),
        "name": query.get("name") or None,
        "created_at_min": _http.parse_date(query.get("created_at_min"), "created_at_min"),
        "created_at_max": _http.parse_date(
            query.get("created_at_max"), "created_at_max", upper=True
        ),
    }
    if search:
        options["text"] = query.get("text_keywords") or None
    else:
        options["key"] = query.get("key") or None
        options["reference"] = query.get("reference") or None
    store = _store(request)
    # a big page is real work: keep it off the event loop
    result = await asyncio.to_thread(lambda: store.list_jobs(boards, **options))
    items = b"[" + b",".join(result.rows) + b"]"
    pagination = _http.meta(page, limit, result.total, len(result.rows))
    if search:
        return raw_envelope(
            200, "Job searching results", b'{"jobs":' + items + b"}", meta=pagination
        )
    return raw_envelope(200, "List of jobs", items, meta=pagination)


async def _storing_jobs(request: Request) -> Response:
    return await _list(request, search=False)


async def _searching_jobs(request: Request) -> Response:
    return await _list(request, search=True)


# -- boards and auth ---------------------------------------------------------------------------


async def _boards(request: Request) -> Response:
    caller = _authenticate(request, "read")
    query = request.query_params
    page, limit = _http.parse_page(query)
    descending = (query.get("order_by") or "desc") != "asc"
    total, boards = _store(request).list_boards(
        caller.hash, name=query.get("name") or None, page=page, limit=limit, descending=descending
    )
    return envelope(200, "Board list", boards, meta=_http.meta(page, limit, total, len(boards)))


async def _board(request: Request) -> Response:
    caller = _authenticate(request, "read")
    board_key = request.query_params.get("key")
    store = _store(request)
    access = store.board_access(caller.hash, board_key) if board_key else "missing"
    if access == "missing":
        raise ApiReply(400, "Invalid board fields")
    if access == "denied":
        raise ApiReply(401, f"Unauthorized Access to board key: {board_key}")
    assert board_key is not None
    return envelope(200, "Board info", store.get_board(board_key))


async def _auth(request: Request) -> Response:
    secret = request.headers.get("x-api-key", "")
    info = _store(request).key_info(secret) if secret else None
    if info is None:
        raise ApiReply(401, f"Unauthorized. Invalid secret key: {mask(secret)} ")
    if info.permission == "write":
        # "write permission key, for now, can not be used for a GET request"
        raise ApiReply(
            401, f"Unauthorized. Invalid secret key: {mask(secret)} for permission: read"
        )
    data = {
        "team_name": "jobkit local",
        "team_subdomain": "local",
        "request_origin": "jobkit",
        "api_key_permission": info.permission,
    }
    return envelope(200, "Auth info", data)


async def _openapi(request: Request) -> Response:
    return Response(orjson.dumps(OPENAPI), media_type=_http.JSON)
