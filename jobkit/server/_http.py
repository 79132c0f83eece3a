"""Envelopes, request parsing and error formatting shared by the server's routes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from jobkit._schema import Job, _model_of

__all__ = [
    "ApiReply",
    "envelope",
    "meta",
    "parse_bool",
    "parse_date",
    "parse_page",
    "raw_envelope",
    "read_json",
    "validation_message",
]

# Exactly this: the official SDK compares the header with `!=` and treats anything else
# (even `application/json; charset=utf-8`) as "A generic error occurred on the server".
JSON: Final = "application/json"
MAX_LIMIT: Final = 10_000
MAX_PAGE: Final = 1_000_000_000  # past it, OFFSET would overflow SQLite's 64-bit integers


class ApiReply(Exception):
    """Raised by a route to answer with an error envelope `{"code": ..., "message": ...}`."""

    def __init__(
        self, code: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def envelope(
    code: int,
    message: str,
    data: Any = None,
    *,
    meta: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`{"code", "message", ["meta"], ["data"]}` with HTTP status == `code`."""
    body: dict[str, Any] = {"code": code, "message": message}
    if meta is not None:
        body["meta"] = meta
    if data is not None:
        body["data"] = data
    return Response(orjson.dumps(body), status_code=code, media_type=JSON, headers=headers)


def raw_envelope(
    code: int, message: str, data: bytes, *, meta: Mapping[str, Any] | None = None
) -> Response:
    """An envelope whose `data` is JSON already serialised (a stored job is kept as JSON)."""
    head = orjson.dumps({"code": code, "message": message, **({"meta": meta} if meta else {})})
    return Response(head[:-1] + b',"data":' + data + b"}", status_code=code, media_type=JSON)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object, read with a size limit enforced while streaming."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiReply(413, f"Request body too large: the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a lying or absent Content-Length stops here, not after
            raise ApiReply(413, f"Request body too large: the limit is {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiReply(400, "Invalid parameters. The request body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"Invalid parameters. The request body is not valid JSON: {exc}"
        raise ApiReply(400, msg) from None
    if not isinstance(body, dict):
        raise ApiReply(400, "Invalid parameters. The request body must be a JSON object")
    return body


def parse_bool(value: str | None, name: str, default: bool) -> bool:
    """The API's query booleans: True/False (the SDK), true/false, 1/0."""
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    msg = f"Invalid parameters. {name}: expected true, false, 1 or 0, got {value!r}"
    raise ApiReply(400, msg)


def parse_page(query: Mapping[str, str]) -> tuple[int, int]:
    """`page` (1-based, default 1, at most 10⁹) and `limit` (default 30, at most 10,000)."""
    out = []
    for name, default, high in (("page", 1, MAX_PAGE), ("limit", 30, MAX_LIMIT)):
        raw = query.get(name)
        try:
            value = default if raw is None or raw == "" else int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= high:
            bound = f"an integer between 1 and {high}"
            msg = f"Invalid parameters. {name}: must be {bound}, got {raw!r}"
            raise ApiReply(400, msg)
        out.append(value)
    return out[0], out[1]


def meta(page: int, limit: int, total: int, count: int) -> dict[str, int]:
    """Pagination meta; `maxPage` is 0 for an empty result, and a page past it is empty."""
    return {"page": page, "maxPage": math.ceil(total / limit), "count": count, "total": total}


def parse_date(value: str | None, name: str, *, upper: bool = False) -> float | None:
    """A `created_at_min/max` bound as a timestamp; a bare upper date includes its day."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"Invalid parameters. {name}: expected a date such as 2024-01-31, got {value!r}"
        raise ApiReply(400, msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if upper and len(value) == 10:
        parsed += timedelta(days=1)
    return parsed.timestamp()


def validation_message(exc: ValidationError, limit: int = 3) -> str:
    """`Invalid parameters. location.lat: Input should be less than or equal to 90`."""
    by_path: dict[str, list[tuple[str, str]]] = {}
    for error in exc.errors(include_url=False):
        path, tag = _field_path(error["loc"])
        by_path.setdefault(path or "body", []).append((tag, error["msg"]))
    parts = []
    for path, errors in by_path.items():
        tags = [tag for tag, _ in errors if tag]
        if len(errors) > 1 and tags:
            # one value that matched none of a union's members (e.g. a trait `value`)
            parts.append(f"{path}: Input should be one of: {', '.join(tags)}")
        else:
            parts.append(f"{path}: {errors[0][1]}")
    more = len(parts) - limit
    tail = f" (and {more} more)" if more > 0 else ""
    return "Invalid parameters. " + "; ".join(parts[:limit]) + tail


def _field_path(loc: tuple[int | str, ...]) -> tuple[str, str]:
    # Walk the location through the Job model: a segment that is not a field is a union
    # member's tag ("bool", "int", ...), which users never wrote and should not read.
    path = ""
    model: type[BaseModel] | None = Job
    for position, segment in enumerate(loc):
        if isinstance(segment, int):
            path += f"[{segment}]"
            continue
        if model is None or segment not in model.model_fields:
            return path, ".".join(str(s) for s in loc[position:])
        path += f".{segment}" if path else segment
        model = _model_of(model.model_fields[segment].annotation)
    return path, ""
