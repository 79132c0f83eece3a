"""The OpenAPI document of the local board server, served at `/v1/openapi.json`.

The Job body schema is derived from `jobkit._schema`; the rest describes the routes,
parameters and envelopes the server implements.
"""

from __future__ import annotations

from typing import Any, Final

from jobkit._schema import job_json_schema

__all__ = ["OPENAPI"]


def _query(name: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_STR: Final = {"type": "string"}
_INT: Final = {"type": "integer", "minimum": 1}
_BOOL_TEXT: Final = {"type": "string", "enum": ["True", "False", "true", "false", "1", "0"]}
_PAGING: Final = [
    _query("page", _INT),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
    _query("order_by", {"type": "string", "enum": ["desc", "asc"]}),
    _query("sort_by", _STR),
]
_ENVELOPE: Final = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "meta": {"type": "object"},
        "data": {},
    },
}


def _responses(*codes: int) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}
    return {str(code): {"description": str(code), "content": content} for code in codes}


def _job_body() -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/JobBody"}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _build() -> dict[str, Any]:
    job = job_json_schema()
    defs = job.pop("$defs", {})
    job_body = {
        "allOf": [
            {"$ref": "#/components/schemas/Job"},
            {"type": "object", "required": ["board_key"], "properties": {"board_key": _STR}},
        ]
    }
    security: list[dict[str, list[str]]] = [{"ApiKey": [], "UserEmail": []}]
    board_keys = _query("board_keys", {"type": "string", "example": '["demo"]'}, required=True)
    board_key = _query("board_key", _STR, required=True)
    errors = (400, 401, 413)
    return {
        "openapi": "3.0.3",
        "info": {"title": "jobkit local board server (HrFlow job API)", "version": "1"},
        "servers": [{"url": "/"}],
        "security": security,
        "paths": {
            "/v1/job/indexing": {
                "post": {"requestBody": _job_body(), "responses": _responses(201, *errors)},
                "put": {"requestBody": _job_body(), "responses": _responses(200, *errors)},
                "get": {
                    "parameters": [board_key, _query("key", _STR), _query("reference", _STR)],
                    "responses": _responses(200, 400, 401),
                },
            },
            "/v1/job/indexing/archive": {
                "patch": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["board_key"],
                                    "properties": {
                                        "board_key": _STR,
                                        "key": _STR,
                                        "reference": _STR,
                                        "is_archive": {"type": "integer", "enum": [0, 1]},
                                    },
                                }
                            }
                        },
                    },
                    "responses": _responses(200, *errors),
                }
            },
            "/v1/storing/jobs": {
                "get": {
                    "parameters": [
                        board_keys,
                        *_PAGING,
                        _query("return_job", _BOOL_TEXT),
                        _query("include_archived", _BOOL_TEXT),
                        _query("key", _STR),
                        _query("reference", _STR),
                        _query("name", _STR),
                        _query("created_at_min", _STR),
                        _query("created_at_max", _STR),
                    ],
                    "responses": _responses(200, 400, 401),
                }
            },
            "/v1/jobs/searching": {
                "get": {
                    "parameters": [
                        board_keys,
                        *_PAGING,
                        _query("name", _STR),
                        _query("text_keywords", _STR),
                        _query("include_archived", _BOOL_TEXT),
                    ],
                    "responses": _responses(200, 400, 401),
                }
            },
            "/v1/boards": {
                "get": {
                    "parameters": [_query("name", _STR), *_PAGING],
                    "responses": _responses(200, 400, 401),
                }
            },
            "/v1/board": {
                "get": {
                    "parameters": [_query("key", _STR, required=True)],
                    "responses": _responses(200, 400, 401),
                }
            },
            "/v1/auth": {"get": {"responses": _responses(200, 401)}},
        },
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
                "UserEmail": {"type": "apiKey", "in": "header", "name": "X-USER-EMAIL"},
            },
            "schemas": {
                "Envelope": _ENVELOPE,
                "Job": _rewrite_refs(job),
                "JobBody": job_body,
                **{name: _rewrite_refs(schema) for name, schema in defs.items()},
            },
        },
    }


def _rewrite_refs(node: Any) -> Any:
    # pydantic points at "#/$defs/X"; in an OpenAPI document they live under components.
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/$defs/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else _rewrite_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


OPENAPI: Final = _build()
