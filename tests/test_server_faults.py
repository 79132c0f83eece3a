"""Fault injection over real HTTP: each mode, what it writes, and its seed."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import serve_app

from jobkit import ServerConfigError
from jobkit.server import FaultSpec, Store, create_app


@dataclass
class FaultyServer:
    url: str
    headers: dict[str, str]
    store: Store
    http: httpx.Client


@contextlib.contextmanager
def faulty(tmp_path: Path, spec: str) -> Iterator[FaultyServer]:
    """The server's app with `spec`, under uvicorn on 127.0.0.1."""
    store = Store(tmp_path / f"faults-{secrets.token_hex(4)}.sqlite3")
    secret = store.create_key()
    store.ensure_board("demo", grant=[secret])
    headers = {"X-API-KEY": secret, "X-USER-EMAIL": "me@example.com"}
    try:
        with (
            serve_app(create_app(store, faults=spec)) as url,
            httpx.Client(base_url=url, headers=headers) as http,
        ):
            yield FaultyServer(url, headers, store, http)
    finally:
        store.close()


def _post(server: FaultyServer, reference: str) -> httpx.Response:
    body = {"board_key": "demo", "name": "Job", "reference": reference}
    return server.http.post("job/indexing", json=body)


def _stored(server: FaultyServer, reference: str) -> bool:
    # ask the store itself: the faulty server's answers are the thing under test
    return server.store.get_job("demo", reference=reference) is not None


def test_latency_is_added_to_every_request(tmp_path: Path) -> None:
    with faulty(tmp_path, "latency_ms=250") as server:
        for path in ("auth", "boards"):
            started = time.perf_counter()
            assert server.http.get(path).status_code == 200
            assert time.perf_counter() - started >= 0.24


def test_throttle_is_a_429_with_retry_after_and_writes_nothing(tmp_path: Path) -> None:
    with faulty(tmp_path, "throttle_rate=1,retry_after=3") as server:
        response = _post(server, "t-1")
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == "3"
        assert response.json() == {"code": 429, "message": "Too many requests"}
        assert not _stored(server, "t-1")
        # setup routes stay reliable
        assert server.http.get("auth").status_code == 200


def test_error_is_a_500_before_any_write(tmp_path: Path) -> None:
    with faulty(tmp_path, "error_rate=1") as server:
        response = _post(server, "e-1")
        assert response.status_code == 500
        assert response.json()["code"] == 500
        assert not _stored(server, "e-1")


def test_lost_response_commits_then_answers_500(tmp_path: Path) -> None:
    with faulty(tmp_path, "lost_response_rate=1,lost_mode=500") as server:
        response = _post(server, "l-1")
        assert response.status_code == 500
        assert response.json()["code"] == 500
        assert _stored(server, "l-1")
        # reads have nothing to lose: they are answered
        params = {"board_key": "demo", "reference": "l-1"}
        got = server.http.get("job/indexing", params=params)
        assert got.status_code == 200


def test_lost_response_commits_then_drops_the_connection(tmp_path: Path) -> None:
    with faulty(tmp_path, "lost_response_rate=1,lost_mode=drop") as server:
        with pytest.raises(httpx.RemoteProtocolError):
            _post(server, "d-1")
        assert _stored(server, "d-1")
        # the server itself is fine
        assert server.http.get("auth").status_code == 200


def test_a_seed_gives_the_same_faults(tmp_path: Path) -> None:
    spec = "error_rate=0.3,throttle_rate=0.2,lost_response_rate=0.2,lost_mode=500,seed=7"
    runs = []
    for _ in range(2):
        with faulty(tmp_path, spec) as server:
            runs.append([_post(server, f"s-{i}").status_code for i in range(30)])
    assert runs[0] == runs[1]
    assert {201, 429, 500} <= set(runs[0])


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("latency_ms=20,error_rat=0.1", "'error_rat=0.1'"),
        ("error_rate=1.5", "'error_rate=1.5'"),
        ("seed=abc", "'seed=abc'"),
        ("latency_ms", "'latency_ms'"),
        ("lost_mode=sometimes", "'lost_mode=sometimes'"),
        ("error_rate=0.6,throttle_rate=0.6", "more than 1"),
    ],
)
def test_bad_spec_names_the_item(spec: str, bad: str) -> None:
    with pytest.raises(ServerConfigError, match=bad):
        FaultSpec.parse(spec)


def test_serve_refuses_a_bad_spec(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobkit._cli",
            "serve",
            "--db",
            str(tmp_path / "x.db"),
            "--faults",
            "error_rat=0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "error_rat=0.1" in result.stderr
    assert "Traceback" not in result.stderr
