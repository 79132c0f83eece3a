"""Exactly-once bulk indexing: `index_frame`, `aindex_frame`, and the engine-neutral batch core.

The pipeline, per chunk of rows (memory is bounded by the chunk, never by the input):

1. validate (`validate_frame`) -> `invalid` rows with field-level errors, never sent;
2. flag duplicates: a reference seen on an earlier sendable row, in this chunk or any earlier
   one -> `duplicate`, never sent;
3. serialise the rest, one JSON body per row (`to_json_rows`, vectorised);
4. send, one POST per job, at most `concurrency` requests in flight, retrying 429, 5xx and
   network errors (full-jitter backoff, `Retry-After` honoured and capped, one deadline);
5. resolve every outcome, so that each input row gets exactly one status.

Exactly-once by reference. A POST whose outcome is unknown (a timeout, a dropped connection, a
5xx that may follow the write) is never simply sent again: the row first looks its reference up
(`GET job/indexing?reference=`) and only re-POSTs when the board does not have it. A 400
"Already used" also resolves by reference: `on_conflict="skip"` -> `exists`, `"update"` -> PUT
(a full replacement, idempotent, so freely retried) -> `updated`, `"fail"` -> `rejected`. Every
outcome carries the job's key whenever the job is on the board, so a rerun converges: nothing is
created twice, whatever was missing is created.

The API cannot say who wrote a job, so after an unknown outcome of the row's own POST a job found
by reference is reported `created` (our write landed); on a network that loses the answer to a
duplicate POST, a job that already existed is then reported `created` rather than `exists`. Its
key is right either way.

Rows without a reference are sent, but cannot be looked up: such a row is retried only when the
request certainly never reached the server (429, connection refused). After an unknown outcome it
gets `failed`, with an error saying that retrying could create a second job and that giving the
row a reference makes it safe to retry. We do not derive a reference (say, a hash of the content):
it would write a field the user never set, two identical postings would collapse into one, and an
edited row would hash differently on a rerun and be created twice anyway. Rows without a reference
are never `duplicate`, and a rerun creates them again.

Duplicates across chunks are tracked as 64-bit hashes (with the first row's number) in sorted
numpy arrays: 16 bytes per distinct reference instead of a Python string each (about 16 MB for
a million references). Two different references collide with probability about n^2 / 2^65
(3e-8 for a million); the later row would then be reported `duplicate` of the wrong row.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeAlias, TypeVar

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from jobkit._client import (
    AsyncBoard,
    AsyncClient,
    Board,
    BodyLostError,
    Connection,
    LoopThread,
    error_for,
    parse_envelope,
)
from jobkit._exceptions import APIConnectionError, AuthenticationError, NotFoundError
from jobkit._progress import Progress
from jobkit._retry import Deadline, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

__all__ = [
    "RESULTS_POLARS_SCHEMA",
    "RESULTS_SCHEMA",
    "STATUSES",
    "IndexConfig",
    "aindex_frame",
    "index_batches",
    "index_frame",
]

OnConflict: TypeAlias = Literal["skip", "update", "fail"]
BoardLike: TypeAlias = "Board | AsyncBoard | str"

STATUSES: Final = (
    "created",
    "updated",
    "exists",
    "valid",
    "invalid",
    "duplicate",
    "rejected",
    "failed",
    "not_sent",
)

#: One row per input row, in input order (the Arrow form, e.g. for Spark's `mapInArrow`).
RESULTS_SCHEMA: Final = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("reference", pa.string()),
        pa.field("key", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("error", pa.string()),
    ]
)

#: The polars form returned by `index_frame`: `status` is an Enum over `STATUSES`.
RESULTS_POLARS_SCHEMA: Final = pl.Schema(
    {
        "row": pl.Int64(),
        "reference": pl.String(),
        "key": pl.String(),
        "status": pl.Enum(STATUSES),
        "http_status": pl.Int32(),
        "attempts": pl.Int32(),
        "error": pl.String(),
    }
)

DEFAULT_CHUNK_SIZE: Final = 5_000  # per-chunk validation overhead vs. rows held at once
DEFAULT_CONCURRENCY: Final = 32
_PIPELINE_DEPTH: Final = 2  # chunks in flight: one sending while the next is prepared
_ALREADY_USED: Final = "Already used"
_HASH_SEED: Final = 0x6A6F626B6974  # any fixed seed: hashes live only within one call


@dataclass(frozen=True)
class IndexConfig:
    """Everything one indexing call needs; frozen and picklable (Spark ships it to executors).

    Its repr hides the API secret. `deadline` is in seconds for the whole call (None: none),
    `timeout` per request; `seed` makes the retry jitter reproducible.

    Examples
    --------
    >>> config = IndexConfig("http://127.0.0.1:8000/v1/", "ask_secret", "me@example.com", "b1")
    >>> "ask_secret" in repr(config)
    False
    >>> import pickle; pickle.loads(pickle.dumps(config)) == config
    True
    """

    base_url: str
    api_key: str = field(repr=False)
    user_email: str
    board_key: str
    on_conflict: OnConflict = "skip"
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    chunk_size: int = DEFAULT_CHUNK_SIZE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    deadline: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.on_conflict not in ("skip", "update", "fail"):
            msg = f"on_conflict must be 'skip', 'update' or 'fail', not {self.on_conflict!r}"
            raise ValueError(msg)
        if self.concurrency < 1 or self.chunk_size < 1:
            msg = "concurrency and chunk_size must be at least 1"
            raise ValueError(msg)

    def __repr__(self) -> str:
        return (
            f"IndexConfig(base_url={self.base_url!r}, api_key='***', "
            f"user_email={self.user_email!r}, board_key={self.board_key!r}, "
            f"on_conflict={self.on_conflict!r}, dry_run={self.dry_run!r}, "
            f"concurrency={self.concurrency!r}, chunk_size={self.chunk_size!r}, "
            f"retry={self.retry!r}, timeout={self.timeout!r}, deadline={self.deadline!r}, "
            f"seed={self.seed!r})"
        )

    @property
    def connection(self) -> Connection:
        return Connection(self.base_url, self.api_key, self.user_email)

    @classmethod
    def for_board(cls, board: Board | AsyncBoard, **options: Any) -> IndexConfig:
        """The config that indexes into `board`, over the same connection as its client."""
        conn = board.client.connection
        return cls(conn.base_url, conn.api_key, conn.user_email, board.key, **options)


# --- per-row outcomes --------------------------------------------------------------------------


class _Outcome(NamedTuple):
    status: str
    key: str | None
    http_status: int | None
    attempts: int
    error: str | None


class _Stop(Exception):
    """The call stopped (systemic failure or deadline) while this row was in progress."""


class _Done(Exception):
    """A row's final outcome, raised from deep inside its retry loops."""

    def __init__(self, error: str, *, status: str = "failed", key: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.key = key


@dataclass
class _Row:
    reference: str | None
    body: bytes
    attempts: int = 0
    retries: int = 0
    http_status: int | None = None
    maybe_written: bool = False  # a write of ours may have landed without us seeing the answer
    surely_written: bool = False  # ... and did land (a 2xx whose body was lost)
    first_unknown_at: float | None = None  # when the first such write was sent (local clock)
    sent_at: float = 0.0
    last_error: str = ""

    def outcome(self, status: str, key: str | None = None, error: str | None = None) -> _Outcome:
        return _Outcome(status, key, self.http_status, self.attempts, error)


# --- duplicate references across chunks, in bounded memory ------------------------------------


class _SeenReferences:
    """64-bit hashes of references already sent, with the row that sent each (see module doc).

    Sorted arrays merged like a log-structured tree, so adding n hashes costs O(n log n) in all.
    """

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []

    def first_rows(self, hashes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """For each hash, the row that first had it, or -1."""
        found = np.full(len(hashes), -1, dtype=np.int64)
        for keys, rows in self._levels:
            pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = keys[pos] == hashes
            found[hit] = rows[pos[hit]]
        return found

    def add(self, hashes: np.ndarray[Any, Any], rows: np.ndarray[Any, Any]) -> None:
        if len(hashes) == 0:
            return
        order = np.argsort(hashes, kind="stable")
        self._levels.append((hashes[order], rows[order]))
        while len(self._levels) > 1 and len(self._levels[-2][0]) <= 2 * len(self._levels[-1][0]):
            (k1, r1), (k2, r2) = self._levels.pop(), self._levels.pop()
            keys = np.concatenate([k2, k1])
            order = np.argsort(keys, kind="stable")
            self._levels.append((keys[order], np.concatenate([r2, r1])[order]))


# --- the engine: one per call, one HTTP session, one event loop --------------------------------


@dataclass
class _Prepared:
    frame: pl.DataFrame  # row, reference, status, error for every row of the chunk
    send_pos: list[int]  # positions (in the chunk) of the rows to send
    references: list[str | None]
    bodies: list[bytes]


class _Engine:
    def __init__(self, config: IndexConfig, client: AsyncClient | None, progress: Progress) -> None:
        self.config = config
        self.client = client
        self.progress = progress
        self.policy = config.retry
        self.deadline = Deadline(config.deadline)
        self.rng = random.Random(config.seed)
        self.seen = _SeenReferences()
        self.semaphore = asyncio.Semaphore(config.concurrency)
        self.stopped: str | None = None  # why the call stopped early, if it did
        self._refused_streak = 0
        self._failure_streak = 0
        self._clock_offset: float | None = None

    # -- systemic failure ---------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason

    def _check(self) -> None:
        if self.stopped is None and self.deadline.expired():
            self.stop(f"the deadline of {self.config.deadline} s passed")
        if self.stopped is not None:
            raise _Stop

    # -- preparation: validation, duplicates, serialisation (vectorised, off the loop) ---------

    def prepare(self, chunk: pl.DataFrame) -> _Prepared:
        from jobkit._convert import to_json_rows
        from jobkit._validate import validate_frame

        jobs = chunk.drop("row")
        # Repeated references are judged below, across chunks and among sendable rows only
        # (an invalid first row does not make a later valid one a duplicate); a reference
        # has no other rule, so validation runs without it.
        problems = validate_frame(jobs.with_columns(reference=pl.lit(None, pl.String)))
        invalid = problems.group_by("row", maintain_order=True).agg(
            pl.format("{}: {}", "field", "error").str.join("; ").alias("error")
        )
        frame = (
            pl.DataFrame({"row": chunk["row"], "reference": jobs["reference"]})
            .with_row_index("_pos")
            .join(
                invalid.select(pl.col("row").cast(pl.UInt32).alias("_pos"), "error"),
                on="_pos",
                how="left",
            )
        )
        candidates = frame.filter(pl.col("error").is_null() & pl.col("reference").is_not_null())
        refs = candidates["reference"]
        hashes = refs.hash(seed=_HASH_SEED).to_numpy()
        rows = candidates["row"].to_numpy()
        # The first row of each reference in this chunk, then against earlier chunks.
        first_here = candidates.select(pl.col("row").first().over("reference").alias("first"))[
            "first"
        ].to_numpy()
        earlier = self.seen.first_rows(hashes)
        first = np.where(earlier >= 0, earlier, first_here)
        is_dup = first != rows
        self.seen.add(hashes[~is_dup], rows[~is_dup])
        dups = pl.DataFrame(
            {"_pos": candidates["_pos"].filter(pl.Series(is_dup)), "_first": first[is_dup]}
        )
        frame = (
            frame.join(dups, on="_pos", how="left")
            .with_columns(
                status=pl.when(pl.col("error").is_not_null())
                .then(pl.lit("invalid"))
                .when(pl.col("_first").is_not_null())
                .then(pl.lit("duplicate"))
                .otherwise(pl.lit("valid" if self.config.dry_run else "not_sent")),
                error=pl.when(pl.col("_first").is_not_null())
                .then(
                    pl.format(
                        "duplicate reference: row {} has the same reference and is the one sent",
                        "_first",
                    )
                )
                .otherwise(pl.col("error")),
            )
            .drop("_first")
        )
        to_send = pl.col("status") == ("valid" if self.config.dry_run else "not_sent")
        send = frame.filter(to_send)
        send_pos = send["_pos"].to_list()
        if self.config.dry_run or not send_pos or self.stopped is not None:
            return _Prepared(frame, send_pos, [], [])
        sendable = jobs.filter(frame.select(to_send).to_series()).with_columns(
            board_key=pl.lit(self.config.board_key, pl.String)
        )
        bodies = to_json_rows(sendable).cast(pl.Binary).to_list()
        return _Prepared(frame, send_pos, send["reference"].to_list(), bodies)

    # -- sending ------------------------------------------------------------------------------

    async def send(self, prepared: _Prepared) -> pl.DataFrame:
        frame = prepared.frame
        if self.stopped is not None and not self.config.dry_run:
            frame = frame.with_columns(
                error=pl.when(pl.col("status") == "not_sent")
                .then(pl.lit(f"not sent: {self.stopped}"))
                .otherwise(pl.col("error"))
            )
        if self.config.dry_run or not prepared.bodies:
            self._count(frame["status"])
            return _finish(frame)
        self._count(frame.filter(pl.col("status") != "not_sent")["status"])
        tasks = [
            asyncio.ensure_future(self._index_row(_Row(ref, body)))
            for ref, body in zip(prepared.references, prepared.bodies, strict=True)
        ]
        outcomes: list[_Outcome] = await asyncio.gather(*tasks)
        sent = pl.DataFrame(
            {
                "_pos": pl.Series(prepared.send_pos, dtype=pl.UInt32),
                "_status": [o.status for o in outcomes],
                "key": pl.Series([o.key for o in outcomes], dtype=pl.String),
                "http_status": pl.Series([o.http_status for o in outcomes], dtype=pl.Int32),
                "attempts": pl.Series([o.attempts for o in outcomes], dtype=pl.Int32),
                "_error": pl.Series([o.error for o in outcomes], dtype=pl.String),
            }
        )
        frame = frame.join(sent, on="_pos", how="left").with_columns(
            status=pl.coalesce("_status", "status"),
            error=pl.coalesce("_error", "error"),
        )
        return _finish(frame)

    def _count(self, statuses: pl.Series) -> None:
        for status, n in statuses.value_counts().iter_rows():
            self.progress.update(status, n)

    async def _index_row(self, row: _Row) -> _Outcome:
        try:
            outcome = await self._write(row)
        except _Done as done:
            outcome = row.outcome(done.status, done.key, done.error)
        except _Stop:
            reason = f"stopped before this row was done: {self.stopped}"
            if row.maybe_written:
                outcome = row.outcome(
                    "failed", None, f"{reason}; the job may be on the board: rerun to resolve it"
                )
            else:
                outcome = row.outcome("not_sent", None, reason)
        self.progress.update(outcome.status)
        return outcome

    async def _request(
        self,
        row: _Row,
        method: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response | APIConnectionError:
        """One request for `row`: a whole JSON answer, or the connection error it ended with.

        An answer whose body is not a JSON envelope (cut off, or a proxy's HTML page) comes
        back as a `BodyLostError` carrying its status.
        """
        assert self.client is not None
        self._check()
        async with self.semaphore:
            self._check()
            row.attempts += 1
            row.sent_at = time.time()
            remaining = self.deadline.remaining()
            try:
                async with asyncio.timeout(remaining if remaining != math.inf else None):
                    response = await self.client.send(
                        method, "job/indexing", params=params, content=content
                    )
            except TimeoutError:
                # Only the deadline raises this here (httpx timeouts are APIConnectionErrors).
                if content is not None:
                    row.maybe_written = True
                self.stop(f"the deadline of {self.config.deadline} s passed")
                raise _Stop from None
            except APIConnectionError as exc:
                row.last_error = str(exc)
                row.http_status = exc.status if isinstance(exc, BodyLostError) else None
                self._connection_failed(exc)
                return exc
        row.http_status = status = response.status_code
        self._learn_clock(response)
        if status in (401, 403):
            error = error_for(response, self.client.connection, f"{method} job/indexing")
            assert isinstance(error, AuthenticationError)
            self.stop(str(error))
            raise _Stop
        if status >= 500:
            self._failure_streak += 1
            if self._failure_streak >= self._streak_limit:
                self.stop(f"{self._failure_streak} requests in a row failed with a 5xx")
        elif status != 429:
            self._failure_streak = 0
        self._refused_streak = 0
        envelope = parse_envelope(response)
        if envelope is None:
            row.last_error = f"HTTP {status} without a JSON body"
            return BodyLostError(f"{method} job/indexing: {row.last_error}", status=status)
        message = envelope.get("message")
        row.last_error = f"HTTP {status}" + (f" {message}" if message else "")
        return response

    def _learn_clock(self, response: httpx.Response) -> None:
        """The server's clock offset, from its first `Date` header (0 within 2 s: noise)."""
        if self._clock_offset is not None:
            return
        date = response.headers.get("Date")
        when = parse_retry_after(date, now=0.0) if date else None
        offset = 0.0 if when is None else when - time.time()
        self._clock_offset = offset if abs(offset) >= 2 else 0.0

    @property
    def _streak_limit(self) -> int:
        return max(32, 4 * self.config.concurrency)

    def _connection_failed(self, exc: APIConnectionError) -> None:
        self._failure_streak += 1
        if not exc.maybe_sent:
            self._refused_streak += 1
            # Every slot failed to connect, twice over: the server is gone.
            if self._refused_streak >= 2 * self.config.concurrency + 2:
                self.stop(f"the server cannot be reached ({exc})")
        if self._failure_streak >= self._streak_limit:
            self.stop(f"{self._failure_streak} requests in a row failed ({exc})")

    async def _backoff(self, row: _Row, response: httpx.Response | None = None) -> None:
        """Wait before the row's next retry, or give up on it."""
        row.retries += 1
        hint = "; the job may be on the board: rerun to resolve it" if row.maybe_written else ""
        if row.retries > self.policy.max_retries:
            msg = f"gave up after {row.attempts} attempts: {row.last_error}{hint}"
            raise _Done(msg)
        retry_after = None
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = self.policy.delay(row.retries, retry_after=retry_after, rng=self.rng)
        if not self.deadline.allows(wait):
            self._check()
            msg = f"no time left before the deadline: {row.last_error}{hint}"
            raise _Done(msg)
        await asyncio.sleep(wait)

    def _rejected(self, row: _Row, response: httpx.Response, what: str) -> _Done:
        assert self.client is not None
        error = error_for(response, self.client.connection, what)
        message = str(error) if error else f"{what}: HTTP {response.status_code}"
        return _Done(message, status="rejected")

    def _write_unknown(self, row: _Row, exc: APIConnectionError | None) -> None:
        """A POST failed without a clear answer: note what it may have done."""
        status = exc.status if isinstance(exc, BodyLostError) else None
        if status is not None and 200 <= status < 300:
            row.maybe_written = row.surely_written = True  # written; only the key is missing
            if row.reference is None:
                msg = "created, but the answer was lost: the key is unknown"
                raise _Done(msg, status="created")
            return
        if status is not None and status < 500:
            return  # the server declined it: nothing was written, resending is safe
        if exc is not None and not exc.maybe_sent:
            return  # never reached the server
        if row.first_unknown_at is None:
            row.first_unknown_at = row.sent_at
        row.maybe_written = True
        if row.reference is None:
            msg = (
                f"outcome unknown ({row.last_error}) and the row has no reference, so it "
                "cannot be looked up; not retried, since a retry could create a second job. "
                "Give each row a reference to make indexing safe to retry"
            )
            raise _Done(msg)

    def _ours(self, row: _Row, job: dict[str, Any]) -> bool:
        """Whether the job found after an unknown outcome was written by this row's POST.

        The API does not say who wrote a job; its `updated_at` (server clock, seconds) does
        tell a job written before our first uncertain POST from one written after it.
        """
        if row.surely_written:
            return True
        stamp = _timestamp(job.get("updated_at"))
        if stamp is None or row.first_unknown_at is None:
            return True
        return stamp >= math.floor(row.first_unknown_at + (self._clock_offset or 0.0))

    async def _write(self, row: _Row) -> _Outcome:
        """POST the row, resolving unknown outcomes and conflicts by reference."""
        while True:
            if row.maybe_written:
                found = await self._lookup(row)
                if found is not None:
                    return await self._existing(row, *found)
                row.maybe_written = row.surely_written = False
            response = await self._request(row, "POST", content=row.body)
            if isinstance(response, APIConnectionError):
                self._write_unknown(row, response)
                if not row.surely_written:
                    await self._backoff(row, None)
                continue
            status = response.status_code
            if status in (200, 201):
                return row.outcome("created", _key_of(response))
            if status == 429:
                await self._backoff(row, response)
                continue
            if status >= 500:
                self._write_unknown(row, None)
                await self._backoff(row, response)
                continue
            assert self.client is not None
            error = error_for(response, self.client.connection, "POST job/indexing")
            if status == 400 and error is not None and _ALREADY_USED in error.api_message:
                found = await self._lookup(row)
                if found is None:  # gone between the two calls (a store reset?): try again
                    await self._backoff(row, None)
                    continue
                return await self._existing(row, *found)
            raise self._rejected(row, response, "POST job/indexing")

    async def _existing(self, row: _Row, key: str, job: dict[str, Any]) -> _Outcome:
        """The board holds the row's reference: ours, or a conflict for `on_conflict`."""
        if row.maybe_written and self._ours(row, job):
            return row.outcome("created", key)
        if self.config.on_conflict == "skip":
            return row.outcome("exists", key)
        if self.config.on_conflict == "fail":
            return row.outcome(
                "rejected",
                key,
                "the board already has a job with this reference (on_conflict='fail')",
            )
        await self._put(row, key)
        return row.outcome("updated", key)

    async def _lookup(self, row: _Row) -> tuple[str, dict[str, Any]] | None:
        """The key and body of the job with the row's reference, or None; retried as needed."""
        assert row.reference is not None
        assert self.client is not None
        params = {"board_key": self.config.board_key, "reference": row.reference}
        while True:
            response = await self._request(row, "GET", params=params)
            if isinstance(response, APIConnectionError):
                await self._backoff(row, None)
                continue
            if response.status_code == 200:
                key = _key_of(response)
                if key is None:
                    msg = "GET job/indexing answered 200 without a job key"
                    raise _Done(msg)
                return key, _data_of(response)
            if response.status_code == 429 or response.status_code >= 500:
                await self._backoff(row, response)
                continue
            error = error_for(response, self.client.connection, "GET job/indexing")
            if isinstance(error, NotFoundError):
                return None
            raise self._rejected(row, response, "GET job/indexing")

    async def _put(self, row: _Row, key: str) -> None:
        """Replace the job `key` with the row (a PUT is idempotent: retried freely)."""
        body = row.body[:-1] + b',"key":' + orjson.dumps(key) + b"}"
        while True:
            response = await self._request(row, "PUT", content=body)
            if isinstance(response, APIConnectionError):
                await self._backoff(row, None)
                continue
            if response.status_code == 200:
                return
            if response.status_code == 429 or response.status_code >= 500:
                await self._backoff(row, response)
                continue
            done = self._rejected(row, response, "PUT job/indexing")
            done.key = key
            raise done


def _data_of(response: httpx.Response) -> dict[str, Any]:
    envelope = parse_envelope(response) or {}
    data = envelope.get("data")
    return data if isinstance(data, dict) else {}


def _key_of(response: httpx.Response) -> str | None:
    key = _data_of(response).get("key")
    return key if isinstance(key, str) else None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch of an API timestamp (`2023-06-20T15:50:32+0000`), or None."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    """A chunk's results in `RESULTS_POLARS_SCHEMA`: compact (status is a 1-byte Enum)."""
    return frame.select(
        "row",
        "reference",
        pl.col("key") if "key" in frame.columns else pl.lit(None, pl.String).alias("key"),
        pl.col("status").cast(pl.Enum(STATUSES)),
        (
            pl.col("http_status")
            if "http_status" in frame.columns
            else pl.lit(None, pl.Int32).alias("http_status")
        ),
        (
            pl.col("attempts").fill_null(0)
            if "attempts" in frame.columns
            else pl.lit(0, pl.Int32).alias("attempts")
        ),
        "error",
    ).cast(dict(RESULTS_POLARS_SCHEMA))  # type: ignore[arg-type]


def _to_batch(frame: pl.DataFrame) -> pa.RecordBatch:
    """A chunk's results as one Arrow batch with `RESULTS_SCHEMA`."""
    table = frame.with_columns(pl.col("status").cast(pl.String)).to_arrow().cast(RESULTS_SCHEMA)
    if table.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=RESULTS_SCHEMA)
    return table.combine_chunks().to_batches()[0]


# --- drivers -----------------------------------------------------------------------------------


async def _aindex_chunks(
    chunks: Iterator[pl.DataFrame], config: IndexConfig, progress: Progress
) -> AsyncGenerator[pl.DataFrame, None]:
    """The one driver: chunks (a `row` column + job columns) in, result frames out, in order."""
    client = None
    if not config.dry_run:
        # The pool is a little larger than the semaphore, so requests queue on the semaphore
        # and never time out waiting for a pooled connection (encode/httpx#1171).
        client = AsyncClient(
            config.connection, timeout=config.timeout, max_connections=config.concurrency + 8
        )
    engine = _Engine(config, client, progress)
    chunks = _slow_start(chunks)
    pending: deque[asyncio.Task[pl.DataFrame]] = deque()
    end = object()
    loop = asyncio.get_running_loop()
    # Reading and preparing a chunk is CPU work (polars releases the GIL): off the loop, so
    # that the previous chunk's requests keep flowing meanwhile. One worker thread, not the
    # default pool: each thread keeps its own allocator arenas, which showed as peak memory.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobkit-prepare")
    try:
        while True:
            chunk = await loop.run_in_executor(worker, next, chunks, end)
            if chunk is end:
                break
            assert isinstance(chunk, pl.DataFrame)
            prepared = await loop.run_in_executor(worker, engine.prepare, chunk)
            pending.append(asyncio.ensure_future(engine.send(prepared)))
            while len(pending) >= _PIPELINE_DEPTH:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
    finally:
        for task in pending:
            task.cancel()
        worker.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            await client.aclose()


def _slow_start(chunks: Iterator[pl.DataFrame], head: int = 256) -> Iterator[pl.DataFrame]:
    """The first chunk split after `head` rows, so that requests start before it is prepared."""
    first = next(chunks, None)
    if first is None:
        return
    if first.height > 2 * head:
        yield first.slice(0, head)
        first = first.slice(head)
    yield first
    yield from chunks


def _check_columns(frame: pl.DataFrame) -> None:
    if "row" not in frame.columns:
        from jobkit._exceptions import FrameError

        msg = "each batch needs a 'row' column (Int64, the global row number) beside the jobs"
        raise FrameError(msg)


def _batches_to_chunks(batches: Iterable[pa.RecordBatch]) -> Iterator[pl.DataFrame]:
    from jobkit._frames import canonical_frame

    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        _check_columns(frame)
        rows = frame["row"].cast(pl.Int64)
        yield canonical_frame(frame.drop("row")).insert_column(0, rows)


def _iter_in_thread(make: Callable[[], AsyncGenerator[T, None]]) -> Iterator[T]:
    """Drive an async generator from blocking code, on a private loop in a worker thread.

    A Jupyter cell already runs a loop in the main thread, where `asyncio.run` would fail; a
    private loop works everywhere, and is the call's one event loop.
    """
    loop = LoopThread("jobkit-index")
    agen = make()
    try:
        while True:
            item = loop.run(_anext(agen))
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        with contextlib.suppress(Exception):
            loop.run(agen.aclose())
        loop.close()


_END: Final = object()


async def _anext(agen: AsyncGenerator[T, None]) -> T | object:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return _END


def index_batches(
    batches: Iterable[pa.RecordBatch],
    config: IndexConfig,
    *,
    progress: bool | None = False,
) -> Iterator[pa.RecordBatch]:
    """The engine-neutral core: Arrow batches of jobs in, batches of results out, in order.

    Each input batch holds a `row` column (Int64, the global row number the results will
    carry) beside the job columns (`JOB_POLARS_SCHEMA`, or anything `canonical_frame` accepts).
    Each output batch has `RESULTS_SCHEMA`, one row per input row, in input order. Validation,
    duplicate detection, serialisation, sending, retries and resolution all happen here, with
    one event loop and one HTTP session for the whole call; `index_frame` and
    `jobkit.spark.index_spark` are thin adapters over it. Duplicates are detected across all
    the batches of one call (per partition, under Spark).

    Examples
    --------
    >>> import pyarrow as pa
    >>> jobs = pa.RecordBatch.from_pydict(
    ...     {"row": [0, 1, 2], "name": ["Data Engineer", None, "ML Engineer"],
    ...      "reference": ["de-1", "x", "de-1"]})
    >>> config = IndexConfig("http://127.0.0.1:9/v1/", "key", "me@example.com", "b1",
    ...                      dry_run=True)
    >>> [batch.column("status").to_pylist() for batch in index_batches([jobs], config)]
    [['valid', 'invalid', 'duplicate']]
    """
    progress_bar = Progress(total=None, enabled=progress)
    try:
        results = _iter_in_thread(
            lambda: _aindex_chunks(_batches_to_chunks(batches), config, progress_bar)
        )
        yield from map(_to_batch, results)
    finally:
        progress_bar.close()


# --- index_frame -------------------------------------------------------------------------------


def _resolve_board(board: object) -> Board | AsyncBoard:
    if isinstance(board, str):
        from jobkit._client import board as default_board

        return default_board(board)
    if isinstance(board, Board | AsyncBoard):
        return board
    msg = f"board must be a Board, an AsyncBoard or a board key, not {type(board).__name__}"
    raise TypeError(msg)


def _numbered(source: Any, chunk_size: int, conventions: dict[str, Any]) -> Iterator[pl.DataFrame]:
    from jobkit._frames import iter_frames

    offset = 0
    for chunk in iter_frames(source, chunk_size=chunk_size, **conventions):
        rows = pl.int_range(offset, offset + chunk.height, dtype=pl.Int64, eager=True)
        offset += chunk.height
        yield chunk.insert_column(0, rows.alias("row"))


def _count_rows(source: Any) -> int | None:
    """The number of input rows when it is known without reading them (for the bar's total)."""
    if isinstance(source, pl.DataFrame):
        return source.height
    if type(source).__module__.startswith("pandas") and hasattr(source, "shape"):
        return int(source.shape[0])
    if isinstance(source, str | Path) and str(source).endswith(".parquet"):
        import pyarrow.parquet as pq

        with contextlib.suppress(OSError, pa.ArrowException):
            return int(pq.ParquetFile(source).metadata.num_rows)
    return None


def _results(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """All the chunks' results as one frame.

    Gathered into one contiguous frame every 64 chunks: a thousand small frames held to the
    end cost twice the memory of the same rows in a few big ones.
    """
    done: list[pl.DataFrame] = []
    recent: list[pl.DataFrame] = []
    for frame in frames:
        recent.append(frame)
        if len(recent) == 64:
            done.append(pl.concat(recent, rechunk=True))
            recent.clear()
    done += recent
    if not done:
        return pl.DataFrame(schema=RESULTS_POLARS_SCHEMA)
    return pl.concat(done, rechunk=False)  # a few big chunks: no final copy


def _config(board: Board | AsyncBoard, options: dict[str, Any]) -> IndexConfig:
    policy = RetryPolicy()
    if options.get("max_retries") is not None:
        policy = replace(policy, max_retries=options["max_retries"])
    for name in ("backoff_initial", "backoff_max", "retry_after_max"):
        if options.get(name) is not None:
            policy = replace(policy, **{name: options[name]})
    return IndexConfig.for_board(
        board,
        on_conflict=options["on_conflict"],
        dry_run=options["dry_run"],
        concurrency=options["concurrency"],
        chunk_size=options["chunk_size"],
        retry=policy,
        timeout=options["timeout"],
        deadline=options["deadline"],
        seed=options["seed"],
    )


def index_frame(
    df: Any,
    board: BoardLike,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_conflict: OnConflict = "skip",
    dry_run: bool = False,
    progress: bool | None = None,
    max_retries: int | None = None,
    backoff_initial: float | None = None,
    backoff_max: float | None = None,
    retry_after_max: float | None = None,
    deadline: float | None = None,
    timeout: float = 30.0,
    seed: int | None = None,
    **conventions: Any,
) -> pl.DataFrame:
    """Index every row of `df` into `board`, exactly once per reference; one result per row.

    `df` is a polars DataFrame or LazyFrame, a pandas DataFrame, or a path to a parquet, CSV or
    NDJSON file; it streams through in chunks of `chunk_size` rows (`conventions` are passed to
    the frame reader: renames, dotted columns...). `board` is a `Board` or a board key
    (`jobkit.board(key)`). At most `concurrency` requests are in flight.

    Returns a polars frame, same length and order as the input, with `row, reference, key,
    status, http_status, attempts, error`. `status` is one of `created`, `updated`, `exists`,
    `invalid`, `duplicate`, `rejected`, `failed`, `not_sent` (`valid` in a dry run, which sends
    nothing). `key` is the job's key whenever it is on the board; `attempts` counts the HTTP
    requests made for the row. Invalid and duplicate rows are never sent. A rejected row does
    not stop the others; a systemic failure (a bad key, the server gone) or the `deadline`
    (seconds, whole call) stops early and the rest is `not_sent`. Rerunning the same frame
    converges; see the module documentation of `jobkit._index` for rows without a reference.

    Retries: 429, 5xx and network errors, up to `max_retries` per row, with full-jitter
    exponential backoff from `backoff_initial` up to `backoff_max` seconds, or the server's
    `Retry-After` capped at `retry_after_max`. `progress`: None shows a bar on a terminal or in
    a notebook only, True always, False never.

    Examples
    --------
    >>> import polars as pl, tempfile, jobkit
    >>> df = pl.DataFrame({"name": ["Data Engineer", "ML Engineer", None],
    ...                    "reference": ["de-1", "ml-1", "x-1"]})
    >>> with tempfile.TemporaryDirectory() as home, jobkit.connect(home=home) as client:
    ...     board = client.board("demo")
    ...     first = jobkit.index_frame(df, board, progress=False)
    ...     again = jobkit.index_frame(df, board, progress=False)
    >>> first["status"].to_list(), again["status"].to_list()
    (['created', 'created', 'invalid'], ['exists', 'exists', 'invalid'])
    """
    target = _resolve_board(board)
    config = _config(target, locals())
    bar = Progress(total=_count_rows(df), enabled=progress)
    try:
        chunks = _numbered(df, config.chunk_size, conventions)
        return _results(_iter_in_thread(lambda: _aindex_chunks(chunks, config, bar)))
    finally:
        bar.close()


async def aindex_frame(
    df: Any,
    board: BoardLike,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_conflict: OnConflict = "skip",
    dry_run: bool = False,
    progress: bool | None = None,
    max_retries: int | None = None,
    backoff_initial: float | None = None,
    backoff_max: float | None = None,
    retry_after_max: float | None = None,
    deadline: float | None = None,
    timeout: float = 30.0,
    seed: int | None = None,
    **conventions: Any,
) -> pl.DataFrame:
    """`index_frame` for async code: the same engine, on the caller's event loop.

    Examples
    --------
    >>> import asyncio, polars as pl, tempfile, jobkit
    >>> df = pl.DataFrame({"name": ["Data Engineer"], "reference": ["de-1"]})
    >>> with tempfile.TemporaryDirectory() as home, jobkit.connect(home=home) as client:
    ...     res = asyncio.run(jobkit.aindex_frame(df, client.board("demo"), progress=False))
    >>> res["status"].to_list()
    ['created']
    """
    target = _resolve_board(board)
    config = _config(target, locals())
    bar = Progress(total=_count_rows(df), enabled=progress)
    try:
        chunks = _numbered(df, config.chunk_size, conventions)
        return _results([frame async for frame in _aindex_chunks(chunks, config, bar)])
    finally:
        bar.close()
