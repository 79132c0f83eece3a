"""The exactly-once engine behind `index_frame` and `index_batches`: one per call.

Per chunk, `_Engine.prepare` validates (`validate_frame`), flags repeated references and
serialises the rest (`to_json_rows`), all vectorised; `_Engine.send` sends one POST per job with
at most `concurrency` requests in flight and resolves every outcome, so that each row gets
exactly one status.

Exactly-once by reference. A POST whose outcome is unknown (a timeout, a dropped connection, a
5xx that may follow the write) is never simply sent again: the row first looks its reference up
(`GET job/indexing?reference=`) and only re-POSTs when the board does not have it. A 400
"Already used" also resolves by reference: `on_conflict="skip"` -> `exists`, `"update"` -> PUT
(a full replacement, idempotent, so freely retried) -> `updated`, `"fail"` -> `rejected`. Every
outcome carries the job's key whenever the job is on the board, so a rerun converges: nothing is
created twice, whatever was missing is created. A response whose status arrived but whose body
was cut off still tells: a 2xx was written (only its key is looked up), a 4xx was not.

Created or exists? The API does not say who wrote a job. When a job is found after an unknown
outcome of the row's own POST, its `updated_at` (server clock, whole seconds) decides: written
at or after the second of our first uncertain POST -> `created`, before -> `exists`. A job
written by someone else within that same second is reported `created`; its key is right either
way.

Rows without a reference are sent, but cannot be looked up: such a row is retried only when the
request certainly never reached the server (429, connection refused). After an unknown outcome it
gets `failed`, with an error saying that retrying could create a second job and that giving the
row a reference makes it safe to retry. We do not derive a reference (say, a hash of the content):
it would write a field the user never set, two identical postings would collapse into one, and an
edited row would hash differently on a rerun and be created twice anyway. Rows without a reference
are never `duplicate`, and a rerun creates them again.

Duplicates: the first sendable row with a reference is sent; a later row with the same reference
is `duplicate` (an invalid first row does not count). Across chunks references are tracked as
64-bit hashes, with the first row's number, in sorted numpy arrays: 16 bytes per distinct
reference instead of a Python string each (about 16 MB for a million). Two different references
collide with probability about n^2 / 2^65 (3e-8 for a million); the later row would then be
reported `duplicate` of the wrong row.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from jobkit._client import AsyncClient, BodyLostError, error_for, parse_envelope
from jobkit._exceptions import APIConnectionError, AuthenticationError, NotFoundError
from jobkit._progress import Progress
from jobkit._retry import Deadline, parse_retry_after

if TYPE_CHECKING:
    import httpx

    from jobkit._index import IndexConfig

__all__ = ["RESULTS_POLARS_SCHEMA", "RESULTS_SCHEMA", "STATUSES"]

# Every status a row can end in, good outcomes first, then the problems (views list them in
# this order).
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

_ALREADY_USED: Final = "Already used"
_HASH_SEED: Final = 0x6A6F626B6974  # any fixed seed: hashes live only within one call


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
