"""The one seam that picks the HTTP transport under httpx.

httpx is the API everywhere in jobkit; what carries its requests is chosen here, by measurement:

* a real server (`http://`, `https://`): `httpx_aiohttp.AiohttpTransport`. With httpx's own async
  transport a client at concurrency 32 spent about 4.5 ms of CPU per request (150-190 requests/s,
  5.2x the ideal time at 50 ms latency); over aiohttp the same `httpx.AsyncClient` reached about
  1,200 requests/s, 1.09x the ideal (`bench/index.py` measures it again);
* the embedded local store (`jobkit-local://<home>`): `httpx.ASGITransport` over the local board
  server's app, in-process, no socket, no port.

Exactly-once indexing needs to know whether a failed request may have reached the server. Only
`httpx.ConnectError`, `httpx.ConnectTimeout` and `httpx.PoolTimeout` mean "certainly not sent"
(`request_not_sent`). httpx-aiohttp maps every `aiohttp.ClientConnectionError`, including a
connection dropped after the request was written, to `httpx.ConnectTimeout`; the wrapper below
re-maps those to `httpx.ReadError`, so that the claim holds whatever the transport.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = [
    "LOCAL_SCHEME",
    "default_home",
    "embedded",
    "is_local",
    "local_home",
    "local_url",
    "make_async_transport",
    "request_not_sent",
]

LOCAL_SCHEME: Final = "jobkit-local"
# What httpx sees as the embedded server's address; no request ever leaves the process.
_LOCAL_HTTP_BASE: Final = "http://jobkit.local/v1/"


def default_home() -> Path:
    """Where the embedded store lives (`jobkit.server.jobkit_home`: `$JOBKIT_HOME`, ...)."""
    from jobkit.server import jobkit_home

    return jobkit_home()


def local_url(home: str | os.PathLike[str]) -> str:
    """The base URL that names the embedded store at `home`.

    Examples
    --------
    >>> local_url("/tmp/jobkit-home")
    'jobkit-local:///tmp/jobkit-home'
    """
    return f"{LOCAL_SCHEME}://{Path(home).expanduser().resolve().as_posix()}"


def is_local(base_url: str) -> bool:
    return base_url.startswith(f"{LOCAL_SCHEME}://")


def local_home(base_url: str) -> Path:
    """The store directory named by a `jobkit-local://` URL."""
    return Path(unquote(urlsplit(base_url).path))


def request_not_sent(exc: BaseException) -> bool:
    """Whether a transport error proves the request never reached the server."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


# --- embedded local store ----------------------------------------------------------------------


def embedded(home: Path) -> tuple[Any, str, str]:
    """The local board server's ASGI app for `home`, with its API key and user email.

    One app per store per process (`jobkit.server.local_app` caches it): every client of the
    same home shares it, as clients of one remote server share that server. Boards are created
    on first use there, so `board("demo")` works on a fresh machine.
    """
    from jobkit.server import local_app

    local = local_app(home)
    return local.app, local.api_key, local.user_email


# --- transports --------------------------------------------------------------------------------


class _MaybeSentStream(httpx.AsyncByteStream):
    """A response body whose read errors are never reported as 'not sent'."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AiohttpTransport(AiohttpTransport):
    """httpx-aiohttp with honest connect errors (see the module docstring)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response: httpx.Response = await super().handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            cause = exc.__cause__
            connect_failed = isinstance(
                cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
            )
            if not connect_failed:
                raise httpx.ReadError(str(exc) or type(cause).__name__, request=request) from exc
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _MaybeSentStream(stream)
        return response


def make_async_transport(
    base_url: str, *, max_connections: int
) -> tuple[httpx.AsyncBaseTransport, str]:
    """The transport for `base_url`, and the URL httpx should use as its base.

    Examples
    --------
    >>> transport, url = make_async_transport("http://127.0.0.1:8000/v1/", max_connections=40)
    >>> type(transport).__name__, url
    ('_AiohttpTransport', 'http://127.0.0.1:8000/v1/')
    """
    if is_local(base_url):
        app, _key, _email = embedded(local_home(base_url))
        # An exception inside the app becomes a 500, as it would over a socket.
        return httpx.ASGITransport(app=app, raise_app_exceptions=False), _LOCAL_HTTP_BASE
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        msg = (
            f"unsupported base_url scheme {scheme!r} in {base_url!r}: use http://, https:// "
            f"or {LOCAL_SCHEME}://"
        )
        raise ValueError(msg)
    limits = httpx.Limits(max_connections=max_connections, keepalive_expiry=30.0)
    return _AiohttpTransport(limits=limits, trust_env=False), base_url
