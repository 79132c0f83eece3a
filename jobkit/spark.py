"""Index a Spark DataFrame into a board, on Spark itself: `index_spark` (extra `jobkit[spark]`).

Each Spark task runs the engine-neutral core that `index_frame` runs
(`jobkit._index.index_batches`) over the Arrow batches of its partition: validation,
duplicate detection, serialisation, sending, retries and the resolution of every outcome are
that one piece of code. This module only plans the Spark job around it:

1. a row id is added before any shuffle: the input's own `row` column when it has one, else
   `monotonically_increasing_id()`, which needs no extra pass over the data and no RDD API
   (Spark Connect has none), and is unique; it is not consecutive;
2. the rows are repartitioned by `reference` and sorted by row id inside each partition, so
   all the copies of a reference meet in one task, in input order: the first is sent, the
   others come back `duplicate`;
3. `DataFrame.mapInArrow` runs the core in each task, with one event loop, one HTTP session
   and at most `concurrency_per_task` requests in flight (so, in all, that many times the
   number of running tasks);
4. the results are materialised before `index_spark` returns (an eager local checkpoint), so
   the requests are sent once, whatever the caller then does with the returned DataFrame.

Configuration and credentials travel only inside the function handed to `mapInArrow` (no
broadcast variable, no `sparkContext`), which is also what Spark Connect requires.

Importing `jobkit` never imports pyspark, and neither does importing `jobkit.spark`: pyspark is
imported when a function of this module is called.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

import polars as pl
import pyarrow as pa

from jobkit._exceptions import FrameError, UnreachableBoardError
from jobkit._index import (
    DEFAULT_CHUNK_SIZE,
    RESULTS_SCHEMA,
    IndexConfig,
    OnConflict,
    index_batches,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from jobkit._client import AsyncBoard, Board

__all__ = ["index_spark", "spark_schema"]

DEFAULT_CONCURRENCY_PER_TASK: Final = 16

# pyspark >= 4 warns on every mapInArrow when pandas >= 3 is installed. jobkit hands Spark
# Arrow batches only, so the warning says nothing about this code path, and in a test run with
# warnings as errors it would fail every call.
_PANDAS_3_WARNING: Final = "PySpark does not yet fully support pandas"

# Called on the executor with the number of result rows the task has produced so far, after
# each result batch: a test-only seam, used to crash a task part-way on its first attempt.
_AfterBatch = Callable[[int], None]


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        msg = (
            "jobkit.spark needs pyspark: pip install 'jobkit[spark]' on the driver and on "
            "every worker (see the README, 'Indexing from Spark')"
        )
        raise ImportError(msg) from exc


def spark_schema() -> StructType:
    """The Spark schema of a canonical job frame: `JOB_POLARS_SCHEMA`, same columns and order.

    Handy to build a Spark DataFrame of jobs by hand; trait values and `location.fields` are
    JSON text, as in the polars frame.

    Examples
    --------
    >>> from jobkit.spark import spark_schema
    >>> schema = spark_schema()
    >>> schema["reference"].dataType.simpleString()
    'string'
    >>> schema["skills"].dataType.simpleString()
    'array<struct<name:string,value:string,type:string>>'
    """
    _require_pyspark()
    from pyspark.sql.pandas.types import from_arrow_schema

    from jobkit._schema import JOB_POLARS_SCHEMA

    return from_arrow_schema(pl.DataFrame(schema=JOB_POLARS_SCHEMA).to_arrow().schema)


def index_spark(
    sdf: DataFrame,
    board: Board | AsyncBoard | str,
    *,
    concurrency_per_task: int = DEFAULT_CONCURRENCY_PER_TASK,
    on_conflict: OnConflict = "skip",
    dry_run: bool = False,
    num_partitions: int | None = None,
    row_id: str = "row",
    api_key: str | None = None,
    user_email: str | None = None,
    base_url: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_retries: int | None = None,
    backoff_initial: float | None = None,
    backoff_max: float | None = None,
    retry_after_max: float | None = None,
    deadline: float | None = None,
    timeout: float = 30.0,
    seed: int | None = None,
) -> DataFrame:
    """Index every row of a Spark DataFrame into `board`, exactly once per reference.

    `sdf` holds job columns (`JOB_POLARS_SCHEMA`'s names, or dotted ones such as
    `location.text`; see `spark_schema()`). `board` is a `Board` handle on an HTTP API
    (HrFlow, or `jobkit serve`), or a board key with `api_key`, `user_email` and `base_url`
    (or the `JOBKIT_*` environment variables on the driver). The embedded local store lives
    in this process, where executors cannot reach it: it is refused, except in a dry run.

    Returns a Spark DataFrame, already computed (an eager local checkpoint: later actions
    never send anything again), with one row per input row: `row, reference, key, status,
    http_status, attempts, error`, as `index_frame` returns them. `row` is the input's
    `row_id` column when it has one (unique, non-null integers; add and keep it yourself to
    join the results back to your input), else `monotonically_increasing_id()` of the input.
    The rows come in no particular order: `.orderBy("row")` if you need one.

    A reference present in several rows is sent once: rows are repartitioned by reference
    (`num_partitions` partitions, or Spark's choice), and in each partition the lowest row id
    wins, the others are `duplicate`. Each task runs the core of `index_frame` with at most
    `concurrency_per_task` requests in flight; in all, that times the running tasks.
    `deadline` (seconds) applies to each task. Retries and `on_conflict` behave as in
    `index_frame`. A task that Spark retries, or runs twice under speculation, never creates
    a second job: the rows its failed attempt created are found by reference and reported as
    the board has them (`exists` with `on_conflict="skip"`, `updated` with `"update"`,
    `rejected` with `"fail"`), always with their key.

    Examples
    --------
    On a cluster whose workers have `jobkit[spark]` installed::

        import jobkit
        from jobkit.spark import index_spark

        board = jobkit.connect(api_key=..., user_email=...).board("my-board-key")
        jobs = spark.read.table("hr.job_postings")  # columns: reference, name, location...
        results = index_spark(jobs, board, concurrency_per_task=16)
        results.groupBy("status").count().show()
    """
    _require_pyspark()
    config = _config(
        board,
        api_key=api_key,
        user_email=user_email,
        base_url=base_url,
        options={
            "on_conflict": on_conflict,
            "dry_run": dry_run,
            "concurrency": concurrency_per_task,
            "chunk_size": chunk_size,
            "max_retries": max_retries,
            "backoff_initial": backoff_initial,
            "backoff_max": backoff_max,
            "retry_after_max": retry_after_max,
            "deadline": deadline,
            "timeout": timeout,
            "seed": seed,
        },
    )
    return _run(sdf, config, num_partitions=num_partitions, row_id=row_id)


def _config(
    board: Board | AsyncBoard | str,
    *,
    api_key: str | None,
    user_email: str | None,
    base_url: str | None,
    options: dict[str, Any],
) -> IndexConfig:
    """The core's config for `board`, built by the same code as `index_frame`'s."""
    from jobkit import _client, _index, _transport

    if isinstance(board, str):
        with _client.connect(api_key, user_email, base_url) as client:
            config = _index._config(client.board(board), options)
    else:
        if api_key is not None or user_email is not None or base_url is not None:
            msg = "api_key, user_email and base_url go with a board key, not with a Board"
            raise TypeError(msg)
        config = _index._config(_index._resolve_board(board), options)
    if _transport.is_local(config.base_url) and not config.dry_run:
        msg = (
            f"board {config.board_key!r} is in the embedded local store, which lives in this "
            "process: Spark executors cannot reach it. Index into an HTTP API instead: "
            "jobkit.connect(api_key=..., user_email=..., base_url=...).board(key), with "
            "base_url an HrFlow API or a `jobkit serve` that the executors can reach"
        )
        raise UnreachableBoardError(msg)
    return config


def _run(
    sdf: DataFrame,
    config: IndexConfig,
    *,
    num_partitions: int | None = None,
    row_id: str = "row",
    after_batch: _AfterBatch | None = None,
) -> DataFrame:
    """Plan, run and materialise the indexing job (the seam the tests use for their hook)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if num_partitions is not None and num_partitions < 1:
        msg = f"num_partitions must be at least 1, got {num_partitions}"
        raise ValueError(msg)
    jobs = [name for name in sdf.columns if name != row_id]
    _check_job_columns(sdf.select(*[F.col(f"`{name}`") for name in jobs]))
    row = F.col(f"`{row_id}`") if row_id in sdf.columns else F.monotonically_increasing_id()
    # The row id is fixed here, before the shuffle below: the results carry it.
    numbered = sdf.select(row.cast("long").alias("row"), *[F.col(f"`{name}`") for name in jobs])
    if "reference" in jobs:
        # Rows without a reference spread by row id instead of piling into one partition.
        by = F.coalesce(
            F.col("reference").cast("string"),
            F.concat(F.lit("\u0000row:"), F.col("row").cast("string")),
        )
    else:
        by = F.col("row")
    shuffled = (
        numbered.repartition(num_partitions, by)
        if num_partitions is not None
        else numbered.repartition(by)
    )
    ordered = shuffled.sortWithinPartitions("row")
    index_partition = functools.partial(_index_partition, config=config, after_batch=after_batch)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_3_WARNING, category=FutureWarning)
        results = ordered.mapInArrow(index_partition, from_arrow_schema(RESULTS_SCHEMA))
        # Runs the job now, once; the returned DataFrame reads the stored results. A lazy
        # result would send every request again on each action.
        return results.localCheckpoint(eager=True)


def _check_job_columns(jobs: DataFrame) -> None:
    """Fail on the driver, before any task runs, if the core could not read these columns."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from jobkit._frames import canonical_frame

    try:
        schema = to_arrow_schema(jobs.schema)
    except (TypeError, ValueError) as exc:
        msg = f"a column has a Spark type jobkit cannot read as a job field: {exc}"
        raise FrameError(msg) from exc
    empty = pl.from_arrow(schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    canonical_frame(empty)


def _index_partition(
    batches: Iterator[pa.RecordBatch],
    *,
    config: IndexConfig,
    after_batch: _AfterBatch | None,
) -> Iterator[pa.RecordBatch]:
    """One Spark task: the partition's batches through the core, results in declared order."""
    # Hash partitioning leaves some partitions empty: they open no HTTP session at all.
    first = next(batches, None)
    if first is None:
        return
    done = 0
    chunks = _rechunk(itertools.chain([first], batches), config.chunk_size)
    for result in index_batches(chunks, config):
        yield _declared(result)
        done += result.num_rows
        if after_batch is not None:
            after_batch(done)


def _rechunk(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    # Spark's Arrow batches hold up to 10,000 rows; the core pipelines chunk by chunk, so it
    # gets them in `chunk_size` slices (zero-copy).
    for batch in batches:
        if batch.column("row").null_count:
            msg = (
                "the input's row id column (index_spark's row_id=) has nulls or values that are "
                "not integers: give every input row a unique integer id, or drop that column "
                "to let jobkit number the rows"
            )
            raise FrameError(msg)
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size)


def _declared(batch: pa.RecordBatch) -> pa.RecordBatch:
    # mapInArrow matches columns by position: take them by name, in the declared order.
    return pa.RecordBatch.from_arrays(
        [batch.column(f.name).cast(f.type) for f in RESULTS_SCHEMA], schema=RESULTS_SCHEMA
    )
