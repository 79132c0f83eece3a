"""The client: credentials, single-job calls, error mapping, and the secret kept out of sight."""

from __future__ import annotations

import asyncio
import pickle
import socket
import threading
from pathlib import Path

import httpx
import pytest
from conftest import RunningServer

import jobkit
from jobkit._client import AsyncClient, Connection, map_transport_errors
from jobkit._index import IndexConfig

SECRET = "ask_" + "7" * 32


@pytest.fixture
def server(board_server: RunningServer) -> RunningServer:
    return board_server


def test_single_job_calls_against_a_real_server(server: RunningServer) -> None:
    with jobkit.connect(server.api_key, server.user_email, server.url) as client:
        board = client.board("demo")
        job = board.add(jobkit.Job(name="Data Engineer", reference="client-1"))
        assert board.get(job["key"])["reference"] == "client-1"
        assert board.get(reference="client-1")["key"] == job["key"]
        edited = board.edit({"name": "Data Engineer II", "reference": "client-1"}, key=job["key"])
        assert edited["name"] == "Data Engineer II"
        assert board.archive(reference="client-1") == job["key"]
        assert board.get(reference="client-1")["archived_at"] is not None
        with pytest.raises(jobkit.NotFoundError, match="Unable to find object: job"):
            board.get(reference="client-missing")
        with pytest.raises(jobkit.APIStatusError, match="Already used") as info:
            board.add({"name": "Again", "reference": "client-1"})
        assert info.value.status == 400


def test_a_bad_key_raises_authentication_error_without_the_secret(server: RunningServer) -> None:
    client = jobkit.connect(SECRET, server.user_email, server.url)
    with client, pytest.raises(jobkit.AuthenticationError) as info:
        client.board("demo").get(reference="x")
    error = info.value
    assert error.status == 401
    for text in (
        str(error),
        repr(error),
        error.api_message,
        str(pickle.loads(pickle.dumps(error))),
    ):
        assert SECRET not in text


def test_reprs_never_show_the_secret(tmp_path: Path) -> None:
    with jobkit.connect(SECRET, "me@example.com", "http://127.0.0.1:9/v1/") as client:
        board = client.board("b1")
        config = IndexConfig.for_board(board)
        texts = [repr(client), repr(board), repr(client.connection), repr(config), str(config)]
    assert all(SECRET not in text for text in texts)
    assert "'***'" in repr(config)
    assert pickle.loads(pickle.dumps(config)).api_key == SECRET  # Spark ships it whole


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOBKIT_API_KEY", "JOBKIT_USER_EMAIL", "JOBKIT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HRFLOW_API_KEY", SECRET)
    monkeypatch.setenv("HRFLOW_USER_EMAIL", "me@example.com")
    conn = Connection.resolve()
    assert (conn.base_url, conn.api_key, conn.user_email) == (
        "https://api.hrflow.ai/v1/",
        SECRET,
        "me@example.com",
    )
    monkeypatch.setenv("JOBKIT_API_KEY", "ask_jobkit")
    monkeypatch.setenv("JOBKIT_BASE_URL", "http://127.0.0.1:8000/v1")
    conn = Connection.resolve()
    assert (conn.api_key, conn.base_url) == ("ask_jobkit", "http://127.0.0.1:8000/v1/")
    assert Connection.resolve(api_key="ask_arg").api_key == "ask_arg"


def test_no_credentials_means_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JOBKIT_API_KEY", "HRFLOW_API_KEY", "JOBKIT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBKIT_HOME", str(tmp_path))
    with jobkit.connect() as client:
        assert client.connection.is_local
        key = client.board("demo").add({"name": "Local", "reference": "l1"})["key"]
    with jobkit.connect() as again:  # the store persists in JOBKIT_HOME
        assert again.board("demo").get(reference="l1")["key"] == key


def test_a_base_url_without_a_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOBKIT_API_KEY", "HRFLOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="JOBKIT_API_KEY"):
        jobkit.connect(base_url="http://127.0.0.1:9/v1/")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_known_not_sent() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/"
    client = jobkit.connect(SECRET, "me", url)
    with client, pytest.raises(jobkit.APIConnectionError) as info:
        client.board("demo").add({"name": "x"})
    assert info.value.maybe_sent is False
    assert "not sent" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("exc", "maybe_sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.PoolTimeout("pool"), False),
        (httpx.ReadTimeout("slow answer"), True),
        (httpx.WriteTimeout("slow send"), True),
        (httpx.ReadError("reset"), True),
        (httpx.RemoteProtocolError("dropped"), True),
    ],
)
def test_every_transport_error_maps_to_a_connection_error(
    exc: httpx.TransportError, maybe_sent: bool
) -> None:
    conn = Connection("http://x/v1/", SECRET, "me")
    with pytest.raises(jobkit.APIConnectionError) as info, map_transport_errors(conn, "GET x"):
        raise exc
    assert info.value.maybe_sent is maybe_sent


def test_a_dropped_connection_over_aiohttp_is_not_reported_as_not_sent() -> None:
    # A server that reads the request, then closes the socket without answering.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = jobkit.connect(SECRET, "me", f"http://127.0.0.1:{port}/v1/")
        with client, pytest.raises(jobkit.APIConnectionError) as info:
            client.board("demo").add({"name": "x", "reference": "r"})
    finally:
        thread.join(timeout=5)
        listener.close()
    assert info.value.maybe_sent is True


def test_async_client_with_a_mock_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-KEY"] == SECRET
        assert request.url.params["reference"] == "r1"
        return httpx.Response(200, json={"code": 200, "message": "ok", "data": {"key": "k1"}})

    async def main() -> str:
        conn = Connection("http://fake/v1/", SECRET, "me")
        async with AsyncClient(conn, transport=httpx.MockTransport(handler)) as client:
            return str((await client.board("b").get(reference="r1"))["key"])

    assert asyncio.run(main()) == "k1"
