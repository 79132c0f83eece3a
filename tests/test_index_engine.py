"""Edge cases of the exactly-once engine, against an in-memory fake API (httpx.MockTransport).

The fake keeps a board (reference -> job) and lets each test script faults per request: a 500
before the write, a write whose answer is lost, a 429, a dropped connection, a cut body. The
end-to-end behaviour against a real `jobkit serve` is in tests/test_index.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from jobkit._client import AsyncClient, Connection
from jobkit._engine import _Engine, _Outcome, _Row
from jobkit._index import IndexConfig
from jobkit._progress import Progress
from jobkit._retry import RetryPolicy

SECRET = "ask_" + "5" * 32
FAST = RetryPolicy(max_retries=5, backoff_initial=0.001, backoff_max=0.005, retry_after_max=0.01)

Fault = Callable[[httpx.Request], "httpx.Response | None"]


@dataclass
class FakeAPI:
    """A board behind `POST/GET/PUT job/indexing`; `faults[method]` pops one action per call."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    stamp: str = "2099-01-01T00:00:00+0000"  # when this fake writes a job

    def handler(self, request: httpx.Request) -> httpx.Response:
        method = request.method
        self.calls.append(method)
        action = self.faults.get(method, []).pop(0) if self.faults.get(method) else "ok"
        if action == "500":
            return self._json(500, "Internal Server Error (before the write)")
        if action == "429":
            return httpx.Response(
                429, json={"code": 429, "message": "Too many"}, headers={"Retry-After": "0"}
            )
        if action == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if action == "401":
            return self._json(401, f"Unauthorized. Invalid secret key: {SECRET} ")
        response = self._serve(request)
        if action == "lost500":
            return self._json(500, "Internal Server Error (lost response)")
        if action == "drop":
            raise httpx.ReadError("connection dropped", request=request)
        if action == "cut":  # the status line arrived, then an empty body
            return httpx.Response(response.status_code, content=b"")
        return response

    def _serve(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            ref = request.url.params["reference"]
            if ref not in self.jobs:
                return self._json(400, "Invalid parameters. Unable to find object: job")
            return self._json(200, "Job details", self.jobs[ref])
        body = orjson.loads(request.content)
        ref = body.get("reference")
        if request.method == "POST":
            if ref is not None and ref in self.jobs:
                return self._json(
                    400, f"Cannot create job with this reference: {ref}. Already used!"
                )
            if "name" not in body:
                return self._json(400, "Invalid parameters. name is required")
            key = hashlib.sha1(f"{ref}{len(self.calls)}".encode()).hexdigest()
            job = {**body, "key": key, "updated_at": self.stamp}
            self.jobs[ref if ref is not None else key] = job
            return self._json(201, "Job created", job)
        # PUT
        current = self.jobs[ref]
        self.jobs[ref] = {**body, "key": current["key"], "updated_at": self.stamp}
        return self._json(200, "Job edited", self.jobs[ref])

    @staticmethod
    def _json(status: int, message: str, data: Any = None) -> httpx.Response:
        return httpx.Response(status, json={"code": status, "message": message, "data": data})

    def posts(self) -> int:
        return self.calls.count("POST")


def run_rows(
    api: FakeAPI,
    refs: list[str | None],
    *,
    on_conflict: str = "skip",
    retry: RetryPolicy = FAST,
    deadline: float | None = None,
    concurrency: int = 4,
) -> list[_Outcome]:
    config = IndexConfig(
        "http://fake.test/v1/",
        SECRET,
        "me@example.com",
        "board",
        on_conflict=on_conflict,  # type: ignore[arg-type]
        retry=retry,
        deadline=deadline,
        concurrency=concurrency,
        seed=1,
    )

    async def main() -> list[_Outcome]:
        client = AsyncClient(
            Connection(config.base_url, SECRET, "me@example.com"),
            transport=httpx.MockTransport(api.handler),
        )
        engine = _Engine(config, client, Progress(total=None, enabled=False))
        rows = [
            _Row(ref, orjson.dumps({"name": "Job", "reference": ref, "board_key": "board"}))
            for ref in refs
        ]
        try:
            return list(await asyncio.gather(*(engine._index_row(row) for row in rows)))
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_a_plain_post_is_created_with_its_key() -> None:
    api = FakeAPI()
    [out] = run_rows(api, ["r1"])
    assert (out.status, out.key, out.http_status, out.attempts) == (
        "created",
        api.jobs["r1"]["key"],
        201,
        1,
    )


@pytest.mark.parametrize("loss", ["lost500", "drop"])
def test_a_lost_answer_is_resolved_by_reference_never_posted_twice(loss: str) -> None:
    api = FakeAPI(faults={"POST": [loss]})
    [out] = run_rows(api, ["r1"])
    assert out.status == "created"
    assert out.key == api.jobs["r1"]["key"]
    assert api.posts() == 1  # the GET found it: no second POST
    assert api.calls == ["POST", "GET"]


def test_a_500_before_the_write_is_looked_up_then_posted_again() -> None:
    api = FakeAPI(faults={"POST": ["500"]})
    [out] = run_rows(api, ["r1"])
    assert (out.status, out.attempts) == ("created", 3)
    assert api.calls == ["POST", "GET", "POST"]
    assert len(api.jobs) == 1


def test_a_lost_answer_to_a_duplicate_post_reports_exists_on_a_rerun() -> None:
    # The job was written long before this call (updated_at in the past): a rerun whose POST
    # answer is lost must still say `exists`, not `created`.
    api = FakeAPI(faults={"POST": ["lost500"]})
    api.jobs["r1"] = {
        "name": "Job",
        "reference": "r1",
        "key": "k" * 40,
        "updated_at": "2020-01-01T00:00:00+0000",
    }
    [out] = run_rows(api, ["r1"])
    assert (out.status, out.key) == ("exists", "k" * 40)


def test_a_cut_body_after_201_is_created_and_its_key_looked_up() -> None:
    api = FakeAPI(faults={"POST": ["cut"]})
    [out] = run_rows(api, ["r1"])
    assert (out.status, out.key) == ("created", api.jobs["r1"]["key"])
    assert api.calls == ["POST", "GET"]


def test_a_cut_body_after_400_is_safe_to_resend() -> None:
    api = FakeAPI(faults={"POST": ["ok", "cut"]})
    outs = run_rows(api, ["r1", "r1"], concurrency=1)  # second POST clashes, answer cut
    assert [o.status for o in outs] == ["created", "exists"]
    assert outs[0].key == outs[1].key
    assert api.calls == ["POST", "POST", "POST", "GET"]


@pytest.mark.parametrize(
    ("on_conflict", "status", "calls"),
    [
        ("skip", "exists", ["POST", "GET"]),
        ("update", "updated", ["POST", "GET", "PUT"]),
        ("fail", "rejected", ["POST", "GET"]),
    ],
)
def test_on_conflict_decides_what_an_existing_reference_means(
    on_conflict: str, status: str, calls: list[str]
) -> None:
    api = FakeAPI()
    api.jobs["r1"] = {
        "name": "Old",
        "reference": "r1",
        "key": "k" * 40,
        "updated_at": "2020-01-01T00:00:00+0000",
    }
    [out] = run_rows(api, ["r1"], on_conflict=on_conflict)
    assert (out.status, out.key) == (status, "k" * 40)
    assert api.calls == calls
    assert api.jobs["r1"]["name"] == ("Job" if on_conflict == "update" else "Old")
    if on_conflict == "fail":
        assert "on_conflict='fail'" in (out.error or "")


def test_429_is_retried_after_the_servers_delay() -> None:
    api = FakeAPI(faults={"POST": ["429", "429"]})
    [out] = run_rows(api, ["r1"])
    assert (out.status, out.attempts) == ("created", 3)
    assert api.calls == ["POST"] * 3  # a 429 wrote nothing: no lookup needed


def test_a_row_without_reference_is_never_resent_after_an_unknown_outcome() -> None:
    api = FakeAPI(faults={"POST": ["drop"]})
    [out] = run_rows(api, [None])
    assert out.status == "failed"
    assert "no reference" in (out.error or "")
    assert "reference" in (out.error or "").rsplit(".", 1)[-1]  # says what to do
    assert api.posts() == 1


def test_a_row_without_reference_is_retried_when_the_request_was_never_sent() -> None:
    api = FakeAPI(faults={"POST": ["refused", "429"]})
    [out] = run_rows(api, [None])
    assert (out.status, out.attempts) == ("created", 3)


def test_a_non_retryable_4xx_rejects_the_row_at_once_with_the_api_message() -> None:
    api = FakeAPI()
    config_rows = [None]

    async def main() -> _Outcome:
        client = AsyncClient(
            Connection("http://fake.test/v1/", SECRET, "me@example.com"),
            transport=httpx.MockTransport(api.handler),
        )
        config = IndexConfig("http://fake.test/v1/", SECRET, "me", "board", retry=FAST)
        engine = _Engine(config, client, Progress(total=None, enabled=False))
        try:
            return await engine._index_row(_Row(config_rows[0], b'{"board_key":"board"}'))
        finally:
            await client.aclose()

    out = asyncio.run(main())
    assert (out.status, out.http_status, out.attempts) == ("rejected", 400, 1)
    assert "name is required" in (out.error or "")


def test_giving_up_after_max_retries_never_creates_a_second_job() -> None:
    api = FakeAPI(faults={"POST": ["lost500"] * 10})
    retry = RetryPolicy(max_retries=3, backoff_initial=0.001, backoff_max=0.002)
    [out] = run_rows(api, ["r1"], retry=retry)
    # The first lost POST wrote the job; the lookup found it: created, exactly once.
    assert out.status == "created"
    assert api.posts() == 1


def test_persistent_5xx_fails_the_row_with_what_to_do() -> None:
    api = FakeAPI(faults={"POST": ["500"] * 10, "GET": []})
    retry = RetryPolicy(max_retries=2, backoff_initial=0.001, backoff_max=0.002)
    [out] = run_rows(api, ["r1"], retry=retry)
    assert out.status == "failed"
    assert "gave up" in (out.error or "")
    assert "rerun" in (out.error or "")
    assert not api.jobs


def test_a_bad_key_stops_everything_and_the_secret_never_shows() -> None:
    api = FakeAPI(faults={"POST": ["401"] * 100})
    outs = run_rows(api, [f"r{i}" for i in range(20)], concurrency=2)
    assert {o.status for o in outs} == {"not_sent"}
    assert api.posts() <= 2  # only the requests already in flight
    for out in outs:
        assert SECRET not in (out.error or "")
    assert "Invalid secret key: ***" in (outs[0].error or "")


def test_deadline_stops_sending_and_leaves_rows_not_sent() -> None:
    api = FakeAPI()
    outs = run_rows(api, ["r1"], deadline=0.0)
    assert outs[0].status == "not_sent"
    assert "deadline" in (outs[0].error or "")
    assert api.calls == []


def test_seen_references_agree_with_a_set_across_many_chunks() -> None:
    import numpy as np

    from jobkit._engine import _SeenReferences

    rng = np.random.default_rng(7)
    seen, truth = _SeenReferences(), {}
    row = 0
    for size in rng.integers(1, 400, size=60):  # uneven chunks force every kind of merge
        hashes = rng.integers(0, 5_000, size=size).astype(np.uint64)  # many repeats
        firsts = seen.first_rows(hashes)
        for h, first in zip(hashes.tolist(), firsts.tolist(), strict=True):
            assert first == truth.get(h, -1)
        new_hashes, new_rows = [], []
        for h in hashes.tolist():
            if h not in truth:
                truth[h] = row
                new_hashes.append(h)
                new_rows.append(row)
            row += 1
        seen.add(np.array(new_hashes, dtype=np.uint64), np.array(new_rows, dtype=np.int64))
    assert len(seen._levels) <= 12  # merged like a log-structured tree, not one per chunk


def test_retry_after_as_an_http_date_is_honoured_and_capped() -> None:
    import email.utils
    import time

    from jobkit._retry import parse_retry_after

    soon = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.5 <= (parse_retry_after(soon) or 0) <= 5.5
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert FAST.delay(1, retry_after=parse_retry_after(later)) == FAST.retry_after_max
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert parse_retry_after(past) == 0.0
