"""Bulk indexing: `index_frame`, `aindex_frame`, and the engine-neutral batch core.

The pipeline, per chunk of rows (memory is bounded by the chunk, never by the input): read
(`iter_frames`), validate, flag duplicates, serialise, send with bounded concurrency and
retries, resolve every outcome; the exactly-once rules live in `jobkit._engine`. One driver
(`_aindex_chunks`) runs it for `index_frame` (on a private event loop in a worker thread, so it
also works in a Jupyter cell), for `aindex_frame` (on the caller's loop) and for
`index_batches` (Arrow batches in and out: the core `jobkit.spark.index_spark` builds on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, TypeVar

import polars as pl
import pyarrow as pa

from jobkit._client import AsyncBoard, AsyncClient, Board, Connection, LoopThread
from jobkit._engine import (
    RESULTS_POLARS_SCHEMA,
    RESULTS_SCHEMA,
    STATUSES,
    _Engine,
    _to_batch,
)
from jobkit._progress import Progress
from jobkit._retry import RetryPolicy

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

DEFAULT_CHUNK_SIZE: Final = 5_000  # per-chunk validation overhead vs. rows held at once
DEFAULT_CONCURRENCY: Final = 32
_PIPELINE_DEPTH: Final = 2  # chunks in flight: one sending while the next is prepared


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
    converges. Rows without a reference are sent but never retried after an unknown outcome
    (`failed`, saying why): give every row a reference (see `jobkit._engine`).

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
