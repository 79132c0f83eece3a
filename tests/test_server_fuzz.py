"""Fuzzing the server: no request, however malformed, gets a 500, a traceback or non-JSON.

Hypothesis generates requests (methods, paths, queries, headers, raw and JSON bodies, job
bodies one mutation away from valid) and sends them through the same ASGI app that
`jobkit serve` runs, in-process so that hundreds of examples take seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobkit._schema import Job
from jobkit.server import Store, create_app

SEED_JOB: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures/hrflow-job-json/seed_example_job.json").read_text()
)
PATHS = [
    "job/indexing",
    "job/indexing/archive",
    "storing/jobs",
    "jobs/searching",
    "boards",
    "board",
    "auth",
    "openapi.json",
]
QUERY_NAMES = [
    "board_key",
    "board_keys",
    "key",
    "reference",
    "page",
    "limit",
    "return_job",
    "include_archived",
    "order_by",
    "sort_by",
    "name",
    "text_keywords",
    "created_at_min",
    "created_at_max",
]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.store = Store(tmp / "fuzz.sqlite3")
        self.secret = self.store.create_key()
        self.store.ensure_board("demo", grant=[self.secret])
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=create_app(self.store, max_body_bytes=64 * 1024))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://fuzz/v1/")

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.loop.run_until_complete(self.client.request(method, path, **kwargs))
        assert response.status_code != 500, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        if path == "openapi.json" and response.status_code == 200:
            return response  # the document itself, not an envelope
        assert body["code"] == response.status_code
        assert isinstance(body["message"], str)
        assert "Traceback" not in response.text
        return response

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.store.close()

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.secret, "X-USER-EMAIL": "fuzz@example.com"}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    running = Harness(tmp_path_factory.mktemp("fuzz"))
    yield running
    running.close()


@st.composite
def mutated_jobs(draw: st.DrawFn) -> dict[str, Any]:
    """The seed job with a few fields replaced by arbitrary JSON, added or removed."""
    job = json.loads(json.dumps(SEED_JOB))
    fields = [*Job.model_fields, "job", "is_archive", "board_key"]
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(fields))
        if draw(st.booleans()):
            job[name] = draw(json_values)
        else:
            job.pop(name, None)
    if draw(st.booleans()):
        job["reference"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        job["board_key"] = "demo"
    return job


@FUZZ
@given(method=st.sampled_from(["POST", "PUT", "PATCH"]), job=mutated_jobs())
def test_fuzzed_job_bodies(harness: Harness, method: str, job: dict[str, Any]) -> None:
    path = "job/indexing/archive" if method == "PATCH" else "job/indexing"
    harness.send(method, path, json=job, headers=harness.headers)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    path=st.sampled_from(PATHS)
    | st.sampled_from(PATHS).map(lambda p: p + "/")
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20),
    query=st.dictionaries(
        st.sampled_from(QUERY_NAMES),
        st.text(max_size=12) | st.integers().map(str) | json_values.map(json.dumps),
        max_size=5,
    ),
    body=st.none() | st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()),
    key=st.sampled_from(["valid", "missing", "random"]),
    email=st.none() | header_text,
    random_key=header_text,
)
def test_fuzzed_requests(
    harness: Harness,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes | None,
    key: str,
    email: str | None,
    random_key: str,
) -> None:
    headers: dict[str, str] = {}
    if key != "missing":
        headers["X-API-KEY"] = harness.secret if key == "valid" else random_key
    if email is not None:
        headers["X-USER-EMAIL"] = email
    response = harness.send(method, path.lstrip("/"), params=query, content=body, headers=headers)
    if key == "random":
        assert random_key not in response.text or len(random_key) < 5


@FUZZ
@given(
    path=st.sampled_from(["storing/jobs", "jobs/searching", "boards", "job/indexing", "board"]),
    query=st.dictionaries(
        st.sampled_from(QUERY_NAMES),
        st.text(max_size=12)
        | st.integers().map(str)
        | st.sampled_from(["0", "-1", "1e3", "10001", "9" * 30, "True", "asc", "2024-02-30"]),
        max_size=6,
    ),
)
def test_fuzzed_queries_on_a_valid_board(
    harness: Harness, path: str, query: dict[str, str]
) -> None:
    # the same valid key and board every time, so that the fuzzing reaches the paging,
    # filtering and sorting code behind the checks
    params = {"board_keys": '["demo"]', "board_key": "demo", "key": "demo", **query}
    if "board_keys" not in query:
        params["board_keys"] = '["demo"]'
    harness.send("GET", path, params=params, headers=harness.headers)
