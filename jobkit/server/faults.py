"""Fault injection: make the local board server slow, throttling or failing on purpose.

```
jobkit serve --faults latency_ms=20,error_rate=0.1,lost_response_rate=0.05,throttle_rate=0.05,seed=1
```

* `latency_ms`: added to every request (an `asyncio.sleep`, so the server keeps serving);
* `throttle_rate`: a 429 `{"code": 429, "message": "Too many requests"}` with `Retry-After`
  (`retry_after` seconds, default 1), before anything happens;
* `error_rate`: a 500 before anything happens (nothing is written);
* `lost_response_rate`: writes only. The write runs and commits, then its answer is lost: the
  client gets a 500, or the connection drops mid-response (`lost_mode=both`, the default,
  picks one of the two at random; `lost_mode=500` or `lost_mode=drop` forces one). A client
  cannot tell whether its job was stored: exactly what an exactly-once indexer must survive;
* `seed`: the random draws are reproducible (one pair of draws per job request, in arrival
  order).

Throttles, errors and lost responses apply to the job routes (`job/indexing`, `storing/jobs`,
`jobs/searching`), the ones a bulk client retries; `auth`, `boards` and `board` stay reliable
so that a client can always check its setup. A dropped connection is a real one only under a
real server (uvicorn closes the socket); in-process through `httpx.ASGITransport` it shows as
a truncated response.

Examples
--------
>>> spec = FaultSpec.parse("latency_ms=20,error_rate=0.1,throttle_rate=0.05,seed=1")
>>> spec.latency_ms, spec.error_rate, spec.seed
(20.0, 0.1, 1)
>>> FaultSpec.parse("error_rate=2")
Traceback (most recent call last):
...
jobkit.ServerConfigError: Bad --faults item 'error_rate=2': error_rate must be a probability...
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobkit._exceptions import ServerConfigError

__all__ = ["FaultInjector", "FaultSpec"]

_FAULTY_PATHS: Final = ("/v1/job/", "/v1/storing/", "/v1/jobs/")
_WRITES: Final = frozenset({"POST", "PUT", "PATCH"})
_RATES: Final = ("error_rate", "lost_response_rate", "throttle_rate")


@dataclass(frozen=True)
class FaultSpec:
    """What to inject; all zero (the default) injects nothing."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    lost_response_rate: float = 0.0
    throttle_rate: float = 0.0
    seed: int | None = None
    retry_after: int = 1
    lost_mode: Literal["both", "500", "drop"] = "both"

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Read `name=value,name=value`; a bad item raises `ServerConfigError` naming it."""
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, raw = item.partition("=")
            name = name.strip()
            if not sep or name not in known:
                msg = (
                    f"Bad --faults item {item!r}: expected name=value with a name among "
                    f"{', '.join(sorted(known))}"
                )
                raise ServerConfigError(msg)
            try:
                values[name] = _convert(name, raw.strip())
            except ValueError as exc:
                msg = f"Bad --faults item {item!r}: {exc}"
                raise ServerConfigError(msg) from None
        total = sum(values.get(rate, 0.0) for rate in _RATES)
        if total > 1:
            msg = f"Bad --faults spec {spec!r}: the rates add up to {total:g}, more than 1"
            raise ServerConfigError(msg)
        return cls(**values)

    @property
    def active(self) -> bool:
        """Whether this spec injects anything at all."""
        return bool(self.latency_ms or any(getattr(self, rate) for rate in _RATES))

    def __str__(self) -> str:
        default = FaultSpec()
        parts = [
            f"{f.name}={getattr(self, f.name):g}"
            if isinstance(getattr(self, f.name), float)
            else f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ",".join(parts) or "none"


def _convert(name: str, raw: str) -> Any:
    if name == "lost_mode":
        if raw not in ("both", "500", "drop"):
            msg = f"lost_mode must be both, 500 or drop, not {raw!r}"
            raise ValueError(msg)
        return raw
    if name in ("seed", "retry_after"):
        try:
            number = int(raw)
        except ValueError:
            msg = f"{name} must be an integer, not {raw!r}"
            raise ValueError(msg) from None
        if name == "retry_after" and number < 0:
            msg = "retry_after must be 0 or more seconds"
            raise ValueError(msg)
        return number
    try:
        value = float(raw)
    except ValueError:
        msg = f"{name} must be a number, not {raw!r}"
        raise ValueError(msg) from None
    if name in _RATES and not 0 <= value <= 1:
        msg = f"{name} must be a probability between 0 and 1"
        raise ValueError(msg)
    if value < 0 or value != value:
        msg = f"{name} must be 0 or more"
        raise ValueError(msg)
    return value


def _json(status: int, message: str, headers: list[tuple[bytes, bytes]] = []) -> list[Message]:  # noqa: B006 - never mutated
    body = orjson.dumps({"code": status, "message": message})
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


class FaultInjector:
    """ASGI middleware applying a `FaultSpec`; one seeded RNG for the server's life."""

    def __init__(self, app: ASGIApp, spec: FaultSpec) -> None:
        self.app = app
        self.spec = spec
        self.rng = random.Random(spec.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spec = self.spec
        if spec.latency_ms:
            await asyncio.sleep(spec.latency_ms / 1000)
        if not str(scope["path"]).startswith(_FAULTY_PATHS):
            await self.app(scope, receive, send)
            return
        # Two draws per request whatever happens, so a seed gives one fixed sequence.
        draw, mode = self.rng.random(), self.rng.random()
        if draw < spec.throttle_rate:
            retry = [(b"retry-after", str(spec.retry_after).encode())]
            await _send_all(send, _json(429, "Too many requests", retry))
            return
        draw -= spec.throttle_rate
        if draw < spec.error_rate:
            await _send_all(send, _json(500, "Internal Server Error (injected fault)"))
            return
        draw -= spec.error_rate
        if draw < spec.lost_response_rate and scope["method"] in _WRITES:
            await self._lose_response(scope, receive, send, drop=_drops(spec.lost_mode, mode))
            return
        await self.app(scope, receive, send)

    async def _lose_response(self, scope: Scope, receive: Receive, send: Send, drop: bool) -> None:
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)  # the write commits here
        if drop and messages:
            # Headers go out, the body never does: uvicorn closes the socket mid-response.
            await send(messages[0])
            return
        await _send_all(send, _json(500, "Internal Server Error (injected lost response)"))


def _drops(lost_mode: str, draw: float) -> bool:
    if lost_mode == "both":
        return draw < 0.5
    return lost_mode == "drop"


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)
