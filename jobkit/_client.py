"""Clients for a board API: `connect()`, `Client` / `AsyncClient`, and `Board` handles.

One implementation, async (`AsyncClient`); `Client` runs the same coroutines on a private event
loop in a daemon thread, so it works in a plain script and in a Jupyter cell whose loop is
already running. Every transport error and every API error envelope is turned into a jobkit
exception in one place (`map_transport_errors`, `error_for`), with the API secret redacted.

Credentials, in order: the arguments of `connect()`, then `JOBKIT_API_KEY` (or
`HRFLOW_API_KEY`), `JOBKIT_USER_EMAIL` (or `HRFLOW_USER_EMAIL`) and `JOBKIT_BASE_URL`. With no
key anywhere, `connect()` opens the embedded local store in `$JOBKIT_HOME` (default
`~/.jobkit`): the local board server's app, in-process, no port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import orjson

from jobkit import _transport
from jobkit._exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncBoard",
    "AsyncClient",
    "Board",
    "BodyLostError",
    "Client",
    "Connection",
    "board",
    "connect",
]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.hrflow.ai/v1/"
DEFAULT_TIMEOUT: Final = 30.0
_NOT_FOUND_JOB: Final = "Unable to find object"
_HIDDEN: Final = "***"


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class Connection:
    """Where a board API lives and who calls it; picklable, and its repr hides the secret.

    Examples
    --------
    >>> Connection("http://127.0.0.1:8000/v1/", "ask_secret", "me@example.com")
    Connection(base_url='http://127.0.0.1:8000/v1/', api_key='***', user_email='me@example.com')
    """

    base_url: str
    api_key: str = field(repr=False)
    user_email: str

    def __repr__(self) -> str:
        return (
            f"Connection(base_url={self.base_url!r}, api_key={_HIDDEN!r}, "
            f"user_email={self.user_email!r})"
        )

    @property
    def is_local(self) -> bool:
        return _transport.is_local(self.base_url)

    def redact(self, text: str) -> str:
        """`text` with the secret replaced, for any message built from a server's words."""
        return text.replace(self.api_key, _HIDDEN) if self.api_key else text

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        user_email: str | None = None,
        base_url: str | None = None,
        home: str | os.PathLike[str] | None = None,
    ) -> Connection:
        """Arguments first, then the environment; no key at all: the embedded store."""
        api_key = api_key or _first_env("JOBKIT_API_KEY", "HRFLOW_API_KEY")
        user_email = user_email or _first_env("JOBKIT_USER_EMAIL", "HRFLOW_USER_EMAIL")
        base_url = base_url or _first_env("JOBKIT_BASE_URL")
        if home is not None or (api_key is None and base_url is None):
            local = Path(home) if home is not None else _transport.default_home()
            _app, local_key, local_email = _transport.embedded(local)
            return cls(_transport.local_url(local), local_key, local_email)
        if api_key is None:
            msg = (
                f"no API key for {base_url}: pass connect(api_key=...) or set JOBKIT_API_KEY "
                "(or HRFLOW_API_KEY)"
            )
            raise ValueError(msg)
        base_url = base_url or DEFAULT_BASE_URL
        if not base_url.endswith("/"):
            base_url += "/"  # the API's paths are relative to .../v1/
        return cls(base_url, api_key, user_email or "")


# --- the one place errors are mapped -----------------------------------------------------------


@contextlib.contextmanager
def map_transport_errors(conn: Connection, what: str) -> Iterator[None]:
    """httpx transport errors -> `APIConnectionError`, secret-free, saying if it may be sent."""
    try:
        yield
    except httpx.TransportError as exc:
        not_sent = _transport.request_not_sent(exc)
        detail = conn.redact(str(exc)) or type(exc).__name__
        hint = "the request was not sent" if not_sent else "the request may have reached the server"
        msg = f"{what}: {type(exc).__name__}: {detail} ({hint})"
        raise APIConnectionError(msg, maybe_sent=not not_sent) from None


def parse_envelope(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object the API answered with, or None if the body is not one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def error_for(response: httpx.Response, conn: Connection, what: str) -> APIStatusError | None:
    """The jobkit exception for an error response, or None when the call succeeded."""
    envelope = parse_envelope(response)
    status = response.status_code
    if envelope is not None and status < 400:
        code = envelope.get("code")
        # The API's body code is authoritative where it disagrees with the HTTP status.
        status = code if isinstance(code, int) and code >= 400 else status
    if status < 400:
        return None
    if envelope is not None and isinstance(envelope.get("message"), str):
        api_message = conn.redact(envelope["message"])
    else:
        api_message = f"HTTP {status} without a JSON error envelope"
    msg = f"{what}: {status} {api_message}"
    if status in (401, 403):
        hint = "check the API key, the user email and that the key may access this board"
        return AuthenticationError(f"{msg} ({hint})", status=status, api_message=api_message)
    if status == 400 and _NOT_FOUND_JOB in api_message:
        return NotFoundError(msg, status=status, api_message=api_message)
    if status == 404:
        hint = "is base_url the API root, ending in /v1/?"
        return NotFoundError(f"{msg} ({hint})", status=status, api_message=api_message)
    return APIStatusError(msg, status=status, api_message=api_message)


def _job_body(job: Mapping[str, Any] | Any, **extra: Any) -> bytes:
    if hasattr(job, "model_dump"):
        job = job.model_dump(mode="json", exclude_none=True)
    if not isinstance(job, Mapping):
        msg = f"a job must be a dict or a jobkit.Job, not {type(job).__name__}"
        raise TypeError(msg)
    return orjson.dumps({**job, **extra})


class BodyLostError(APIConnectionError):
    """The response's status arrived but its body was cut off; `.status` is that status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, maybe_sent=True)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_body_lost, (self.args[0], self.status))


def _rebuild_body_lost(message: str, status: int) -> BodyLostError:
    return BodyLostError(message, status=status)


# --- async -------------------------------------------------------------------------------------


class AsyncClient:
    """An async client for one board API (HrFlow, `jobkit serve`, or the embedded store).

    Pooled connections (`max_connections`), a per-request `timeout` in seconds. Use it as an
    async context manager, or call `aclose()`.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = connection
        url = connection.base_url
        if transport is None:  # tests pass an httpx.MockTransport
            transport, url = _transport.make_async_transport(
                connection.base_url, max_connections=max_connections
            )
        headers = {"X-API-KEY": connection.api_key, "X-USER-EMAIL": connection.user_email}
        self._http = httpx.AsyncClient(
            base_url=url,
            transport=transport,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    def __repr__(self) -> str:
        conn = self.connection
        return f"AsyncClient(base_url={conn.base_url!r}, user_email={conn.user_email!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def board(self, key: str) -> AsyncBoard:
        """A handle on the board `key` (in the embedded store, created on first use)."""
        return AsyncBoard(self, key)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One HTTP request; transport errors raise `APIConnectionError`, statuses do not."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        what = f"{method} {path}"
        with map_transport_errors(self.connection, what):
            request = self._http.build_request(
                method, path, params=params, content=content, headers=headers
            )
            response = await self._http.send(request, stream=True)
        try:
            with map_transport_errors(self.connection, what):
                await response.aread()
        except APIConnectionError as exc:
            # The status line arrived, the body did not: the status still tells whether the
            # server wrote anything, which exactly-once indexing needs to know.
            raise BodyLostError(str(exc), status=response.status_code) from None
        finally:
            await response.aclose()
        return response

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
    ) -> dict[str, Any]:
        """One request whose error envelope raises; returns the whole success envelope."""
        response = await self.send(method, path, params=params, content=content)
        error = error_for(response, self.connection, f"{method} {path}")
        if error is not None:
            raise error
        envelope = parse_envelope(response)
        if envelope is None:
            msg = f"{method} {path}: {response.status_code} answered without a JSON object"
            raise APIStatusError(msg, status=response.status_code, api_message="")
        return envelope


class AsyncBoard:
    """One board of an `AsyncClient`: single-job calls by key or reference."""

    def __init__(self, client: AsyncClient, key: str) -> None:
        self.client = client
        self.key = key

    def __repr__(self) -> str:
        return f"AsyncBoard(key={self.key!r}, base_url={self.client.connection.base_url!r})"

    def _ident(self, key: str | None, reference: str | None) -> dict[str, str]:
        if (key is None) == (reference is None):
            msg = "pass exactly one of key= or reference="
            raise ValueError(msg)
        return {"key": key} if key is not None else {"reference": reference}  # type: ignore[dict-item]

    async def add(self, job: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Create a job; returns it as the board stored it (with its `key`)."""
        body = _job_body(job, board_key=self.key)
        envelope = await self.client.call("POST", "job/indexing", content=body)
        return dict(envelope["data"])

    async def edit(self, job: Mapping[str, Any] | Any, *, key: str | None = None) -> dict[str, Any]:
        """Replace a job (a PUT is a full replacement), found by `key` or by its reference."""
        extra: dict[str, Any] = {"board_key": self.key}
        if key is not None:
            extra["key"] = key
        envelope = await self.client.call("PUT", "job/indexing", content=_job_body(job, **extra))
        return dict(envelope["data"])

    async def get(self, key: str | None = None, *, reference: str | None = None) -> dict[str, Any]:
        """One job by key or by reference; `NotFoundError` if the board has no such job."""
        params = {"board_key": self.key, **self._ident(key, reference)}
        envelope = await self.client.call("GET", "job/indexing", params=params)
        return dict(envelope["data"])

    async def archive(self, key: str | None = None, *, reference: str | None = None) -> str:
        """Archive a job (it keeps its reference); returns its key."""
        body = orjson.dumps({"board_key": self.key, "is_archive": 1, **self._ident(key, reference)})
        envelope = await self.client.call("PATCH", "job/indexing/archive", content=body)
        return str(envelope["data"]["key"])


# --- sync --------------------------------------------------------------------------------------


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with `uvicorn[standard]`): less CPU per request."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    """A private event loop running in a daemon thread; `run(coro)` waits for its result.

    This is how blocking code drives coroutines whether or not the calling thread already runs
    a loop (a Jupyter cell does).
    """

    def __init__(self, name: str = "jobkit-loop") -> None:
        self.loop = _new_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop_loop, self.loop, self._thread)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt in a notebook: stop the work too, not just the wait.
            future.cancel()
            raise

    def close(self) -> None:
        self._finalizer()


def _close_client(loop: LoopThread, client: AsyncClient) -> None:
    if not loop.loop.is_closed():
        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(client.aclose(), loop.loop).result(timeout=5)
    loop.close()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if not thread.is_alive():
        loop.close()


class Client:
    """A blocking client; the same calls as `AsyncClient`, usable from scripts and notebooks.

    Examples
    --------
    >>> import tempfile, jobkit
    >>> with tempfile.TemporaryDirectory() as home, jobkit.connect(home=home) as client:
    ...     board = client.board("demo")
    ...     job = board.add({"name": "Data Engineer", "reference": "de-1"})
    ...     board.get(reference="de-1")["key"] == job["key"]
    True
    """

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 64,
    ) -> None:
        self.connection = connection
        self.timeout = timeout
        self._loop = LoopThread()
        self._async = self._loop.run(self._make(connection, timeout, max_connections))
        # A client dropped without close() still closes its session and stops its thread.
        self._finalizer = weakref.finalize(self, _close_client, self._loop, self._async)

    @staticmethod
    async def _make(connection: Connection, timeout: float, max_connections: int) -> AsyncClient:
        # Built on the loop that will use it: the aiohttp session binds to it.
        return AsyncClient(connection, timeout=timeout, max_connections=max_connections)

    def __repr__(self) -> str:
        conn = self.connection
        return f"Client(base_url={conn.base_url!r}, user_email={conn.user_email!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._finalizer()

    def board(self, key: str) -> Board:
        """A handle on the board `key` (in the embedded store, created on first use)."""
        return Board(self, self._async.board(key))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coro)


class Board:
    """One board of a `Client`: single-job calls, and the target of `index_frame`/`read_board`."""

    def __init__(self, client: Client, inner: AsyncBoard) -> None:
        self.client = client
        self._inner = inner
        self.key = inner.key

    def __repr__(self) -> str:
        return f"Board(key={self.key!r}, base_url={self.client.connection.base_url!r})"

    @property
    def connection(self) -> Connection:
        return self.client.connection

    def add(self, job: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Create a job; returns it as the board stored it (with its `key`)."""
        return self.client._run(self._inner.add(job))

    def edit(self, job: Mapping[str, Any] | Any, *, key: str | None = None) -> dict[str, Any]:
        """Replace a job (a PUT is a full replacement), found by `key` or by its reference."""
        return self.client._run(self._inner.edit(job, key=key))

    def get(self, key: str | None = None, *, reference: str | None = None) -> dict[str, Any]:
        """One job by key or by reference; `NotFoundError` if the board has no such job."""
        return self.client._run(self._inner.get(key, reference=reference))

    def archive(self, key: str | None = None, *, reference: str | None = None) -> str:
        """Archive a job (it keeps its reference); returns its key."""
        return self.client._run(self._inner.archive(key, reference=reference))


def connect(
    api_key: str | None = None,
    user_email: str | None = None,
    base_url: str | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_connections: int = 64,
) -> Client:
    """Connect to a board API; with no key anywhere, to the embedded local store.

    `api_key`, `user_email` and `base_url` fall back to `JOBKIT_API_KEY` / `HRFLOW_API_KEY`,
    `JOBKIT_USER_EMAIL` / `HRFLOW_USER_EMAIL` and `JOBKIT_BASE_URL`; `base_url` defaults to
    `https://api.hrflow.ai/v1/`. `home` forces the embedded store in that directory.

    Examples
    --------
    >>> import tempfile, jobkit
    >>> with tempfile.TemporaryDirectory() as home:
    ...     client = jobkit.connect(home=home)
    ...     print(client.board("demo").key)
    ...     client.close()
    demo
    """
    conn = Connection.resolve(api_key, user_email, base_url, home)
    return Client(conn, timeout=timeout, max_connections=max_connections)


_DEFAULT: dict[Connection, Client] = {}
_DEFAULT_LOCK = threading.Lock()


def board(key: str) -> Board:
    """`connect().board(key)`, sharing one client per configuration.

    Examples
    --------
    >>> import os, tempfile, jobkit
    >>> with tempfile.TemporaryDirectory() as home:
    ...     os.environ["JOBKIT_HOME"] = home
    ...     print(jobkit.board("demo"))  # doctest: +ELLIPSIS
    ...     del os.environ["JOBKIT_HOME"]
    Board(key='demo', base_url='jobkit-local://...')
    """
    conn = Connection.resolve()
    with _DEFAULT_LOCK:
        client = _DEFAULT.get(conn)
        if client is None:
            client = _DEFAULT[conn] = Client(conn)
    return client.board(key)
