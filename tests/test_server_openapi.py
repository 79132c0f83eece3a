"""Schemathesis over the server's own OpenAPI document (`/v1/openapi.json`).

Requests generated from the document go through the ASGI app that `jobkit serve` runs: none
may get a 500, and every answer must be a JSON envelope whose `code` is the HTTP status.
(The document itself is checked too: schemathesis refuses an invalid one.)
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from jobkit.server import Store, create_app

# schemathesis builds its tests from the schema at import time, so the app exists then;
# its store lives in a temporary directory removed at exit.
_TMP = Path(tempfile.mkdtemp(prefix="jobkit-openapi-"))
_STORE = Store(_TMP / "boards.sqlite3")
_SECRET = _STORE.create_key()
_STORE.ensure_board("demo", grant=[_SECRET])
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
atexit.register(_STORE.close)
HEADERS = {"X-API-KEY": _SECRET, "X-USER-EMAIL": "schema@example.com"}

schema = schemathesis.openapi.from_asgi("/v1/openapi.json", create_app(_STORE))
# generated (fuzzing) cases only, 30 per operation: a few hundred in all
schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_requests_get_envelopes_not_500s(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), **HEADERS}
    response = case.call()
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == ["application/json"]
    body = json.loads(response.content)
    if case.path != "/v1/openapi.json":
        assert body["code"] == response.status_code
        assert isinstance(body["message"], str)
