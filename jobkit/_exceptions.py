"""jobkit's exceptions.

```
JobkitError                                    base; never raised itself
├── FrameError(JobkitError, ValueError)        a frame jobkit cannot read: names the column
│   └── UnsupportedFrameError(FrameError, TypeError)   not a polars/pandas frame or a file
├── JobValidationError(JobkitError, ValueError)        one job failed the schema: .errors
├── APIError(JobkitError)                      talking to a board failed
│   ├── APIConnectionError                     no HTTP answer (refused, timeout, dropped)
│   └── APIStatusError                         an error envelope: .status, .api_message
│       ├── AuthenticationError                401: the key or email is wrong for this board
│       └── NotFoundError                      400 "Unable to find object: job"
├── ServerConfigError(JobkitError, ValueError) bad `jobkit serve` options (faults spec, keys)
└── UnreachableBoardError(JobkitError, ValueError)  Spark executors cannot reach the embedded store
```

No message, repr or attribute of these exceptions ever holds an API secret.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "FrameError",
    "JobValidationError",
    "JobkitError",
    "NotFoundError",
    "ServerConfigError",
    "UnreachableBoardError",
    "UnsupportedFrameError",
]


class JobkitError(Exception):
    """Base class of every error jobkit raises on purpose."""


class FrameError(JobkitError, ValueError):
    """A frame jobkit cannot read as jobs; the message names the column and the fix."""


class UnsupportedFrameError(FrameError, TypeError):
    """The input is neither a polars/pandas frame nor a path to parquet, CSV or NDJSON."""


class JobValidationError(JobkitError, ValueError):
    """One job does not satisfy the Job schema; `.errors` lists (field, message) pairs."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[tuple[str, str]] = errors or []

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.args[0], self.errors))


class APIError(JobkitError):
    """A request to a board's API failed."""


class APIConnectionError(APIError):
    """No HTTP answer: connection refused, timeout, dropped connection.

    `maybe_sent` is False only when the request certainly never reached the server (the
    connection could not be opened), so that a write can be retried without risking a
    second job; a timeout or a dropped connection leaves it True.
    """

    def __init__(self, message: str, *, maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_connection_error, (self.__class__, self.args[0], self.maybe_sent))


def _rebuild_connection_error(
    cls: type[APIConnectionError], message: str, maybe_sent: bool
) -> APIConnectionError:
    return cls(message, maybe_sent=maybe_sent)


class APIStatusError(APIError):
    """The API answered with an error envelope `{"code": ..., "message": ...}`."""

    def __init__(self, message: str, *, status: int, api_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.api_message = api_message

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_status_error,
            (self.__class__, self.args[0], self.status, self.api_message),
        )


def _rebuild_status_error(
    cls: type[APIStatusError], message: str, status: int, api_message: str
) -> APIStatusError:
    return cls(message, status=status, api_message=api_message)


class AuthenticationError(APIStatusError):
    """401: the API key or user email is not valid for this board or permission."""


class NotFoundError(APIStatusError):
    """The job (or board) does not exist: the API's 400 "Unable to find object"."""


class ServerConfigError(JobkitError, ValueError):
    """Invalid options for the local board server (a bad `--faults` spec, an unknown key)."""


class UnreachableBoardError(JobkitError, ValueError):
    """The board lives in this process (the embedded store), where Spark executors cannot go."""
