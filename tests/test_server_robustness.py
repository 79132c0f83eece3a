"""The server under stress: concurrent writers, kill -9, unexpected errors."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import uvicorn
from conftest import RunningServer, start_server

from jobkit.server import Store, create_app
from jobkit.server.app import BoardApp


def test_concurrent_posts_of_one_reference_create_one_job(board_server: RunningServer) -> None:
    async def race() -> list[int]:
        async with aiohttp.ClientSession(headers=board_server.headers) as session:

            async def post(i: int) -> int:
                body = {"board_key": "demo", "name": f"Racer {i}", "reference": "the-one"}
                async with session.post(board_server.url + "job/indexing", json=body) as resp:
                    return resp.status

            return await asyncio.gather(*(post(i) for i in range(40)))

    statuses = asyncio.run(race())
    assert sorted(statuses) == [201] + [400] * 39
    listing = {"board_keys": '["demo"]', "reference": "the-one", "include_archived": "1"}
    response = httpx.get(
        board_server.url + "storing/jobs", params=listing, headers=board_server.headers
    )
    assert response.json()["meta"]["total"] == 1


def test_acknowledged_jobs_survive_kill_9(tmp_path: Path) -> None:
    acknowledged: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    with start_server(tmp_path) as server:
        client = httpx.Client(base_url=server.url, headers=server.headers, timeout=10)

        def post(i: int) -> None:
            body = {"board_key": "demo", "name": f"Job {i}", "reference": f"k9-{i}"}
            try:
                response = client.post("job/indexing", json=body)
            except httpx.TransportError:
                return  # in flight when the server died: no promise was made
            if response.status_code == 201:
                with lock:
                    acknowledged.append(response.json()["data"]["key"])
                    if len(acknowledged) >= 60:
                        enough.set()

        with ThreadPoolExecutor(8) as pool:
            for i in range(400):
                pool.submit(post, i)
            assert enough.wait(30)
            server.kill()  # writes are still arriving: no shutdown, no flush
        client.close()
        db = server.db

    with start_server(tmp_path / "again", db=db) as restarted:
        params = {"board_keys": '["demo"]', "limit": 1000, "include_archived": "1"}
        listed = httpx.get(restarted.url + "storing/jobs", params=params, headers=restarted.headers)
        stored = {job["key"] for job in listed.json()["data"]}
    assert len(acknowledged) >= 60
    assert set(acknowledged) <= stored


# -- unexpected errors ---------------------------------------------------------------------------


class _BrokenStore(Store):
    def get_job_bytes(self, *args: Any, **kwargs: Any) -> bytes | None:
        msg = "disk on fire: /secret/path"
        raise RuntimeError(msg)


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[tuple[BoardApp, dict[str, str]]]:
    store = _BrokenStore(tmp_path / "boards.sqlite3")
    secret = store.create_key()
    store.ensure_board("demo", grant=[secret])
    yield create_app(store), {"X-API-KEY": secret, "X-USER-EMAIL": "me@example.com"}
    store.close()


def _assert_clean_500(response: httpx.Response) -> None:
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": 500, "message": "Internal Server Error"}
    assert "Traceback" not in response.text
    assert "fire" not in response.text


def test_unexpected_error_is_a_json_500_in_process(
    broken: tuple[BoardApp, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    app, headers = broken

    async def call() -> httpx.Response:
        # raise_app_exceptions (the default) would re-raise anything that escaped the app
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/v1/") as client:
            return await client.get(
                "job/indexing", params={"board_key": "demo", "key": "k"}, headers=headers
            )

    _assert_clean_500(asyncio.run(call()))
    # the server's own log has the traceback, and never the key
    assert "disk on fire" in caplog.text
    assert headers["X-API-KEY"] not in caplog.text


def test_unexpected_error_is_a_json_500_under_uvicorn(
    broken: tuple[BoardApp, dict[str, str]],
) -> None:
    app, headers = broken
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1/", headers=headers) as client:
            params = {"board_key": "demo", "key": "k"}
            _assert_clean_500(client.get("job/indexing", params=params))
            # the connection survives: the next request on it is answered normally
            assert client.get("auth").status_code == 200
            assert json.loads(client.get("boards").text)["code"] == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_writer_that_cannot_open_the_database_fails_requests_not_hangs(tmp_path: Path) -> None:
    store = Store(tmp_path / "boards.sqlite3")
    secret = store.create_key()
    store.ensure_board("demo", grant=[secret])
    store.close()  # the next write starts a new writer thread...

    def cannot_connect() -> Any:
        msg = "unable to open database file"
        raise OSError(msg)

    store._writer._connect = cannot_connect  # ...which cannot open the file
    headers = {"X-API-KEY": secret, "X-USER-EMAIL": "me@example.com"}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://t/v1/") as client:
            body = {"board_key": "demo", "name": "x"}
            return await asyncio.wait_for(
                client.post("job/indexing", json=body, headers=headers), 10
            )

    _assert_clean_500(asyncio.run(call()))
    with pytest.raises(OSError, match="unable to open"):
        store.insert_job("demo", {"name": "y"})
