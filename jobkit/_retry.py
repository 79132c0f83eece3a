"""When to try a request again, and how long to wait: one policy for 429, 5xx and network errors.

Full-jitter exponential backoff (a delay drawn uniformly in `[0, min(cap, base * 2**n)]`, which
spreads a burst of retries best), `Retry-After` honoured in seconds or as an HTTP-date but
capped, and a deadline for a whole call, past which nothing waits.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

__all__ = ["Deadline", "RetryPolicy", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or HTTP-date), or None.

    Examples
    --------
    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412485.0)
    5.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT even when it does not say so
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry one request, and how long to wait between tries.

    `delay(n)` is the wait before retry number `n` (1-based): full jitter over
    `min(backoff_max, backoff_initial * 2**(n-1))`. A server's `Retry-After` replaces the
    jittered delay, but never beyond `retry_after_max`, so a hostile or confused server cannot
    park a call for an hour.

    Examples
    --------
    >>> policy = RetryPolicy(backoff_initial=0.5, backoff_max=4.0)
    >>> all(0 <= policy.delay(n) <= min(4.0, 0.5 * 2 ** (n - 1)) for n in range(1, 10))
    True
    >>> policy.delay(1, retry_after=120.0)
    30.0
    """

    max_retries: int = 8
    backoff_initial: float = 0.25
    backoff_max: float = 20.0
    retry_after_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            msg = f"max_retries must be >= 0, got {self.max_retries}"
            raise ValueError(msg)
        if self.backoff_initial < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            msg = "backoff_initial, backoff_max and retry_after_max must be >= 0"
            raise ValueError(msg)

    def delay(
        self,
        retry: int,
        *,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0 ** max(0, retry - 1))
        return (rng or random).uniform(0.0, ceiling)


class Deadline:
    """A point in time (monotonic clock) after which a call stops waiting; None: no limit.

    Examples
    --------
    >>> Deadline(None).remaining()
    inf
    >>> Deadline(60).expired()
    False
    >>> Deadline(0).expired()
    True
    """

    __slots__ = ("_at",)

    def __init__(self, seconds: float | None) -> None:
        self._at = math.inf if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float:
        return self._at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def allows(self, wait: float) -> bool:
        """Whether waiting `wait` seconds still ends before the deadline."""
        return wait < self.remaining()
