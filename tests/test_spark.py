"""`jobkit.spark.index_spark` on a real local[2,3] SparkSession against a real `jobkit serve`.

`local[2,3]`: two cores, and a failed task is tried up to three times (plain `local[2]` never
retries), so a crash on a task's first attempt is retried as on a cluster. Spark batches are
kept tiny (4 rows) so that every partition goes through the core in several batches.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import RunningServer, start_server
from pyspark import TaskContext
from pyspark.errors import PythonException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import jobkit
from jobkit import spark as jobkit_spark
from jobkit._index import RESULTS_SCHEMA
from jobkit._schema import SERVER_FIELDS

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"
# Fast retries: the faults below are frequent, and the test is about outcomes, not waiting.
FAST_RETRIES: dict[str, Any] = {
    "max_retries": 30,
    "backoff_initial": 0.005,
    "backoff_max": 0.05,
    "retry_after_max": 0.05,
}


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    # The executors' Python must be this one (jobkit and pyarrow live in this venv).
    names = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2,3]")
        .appName("jobkit-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # A short-lived test JVM: C1-only JIT and the serial GC halve its start on 2 busy cores.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")  # the injected crash would print a Java stack
    try:
        yield session
    finally:
        session.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with start_server(tmp_path) as running:
        yield running


@contextlib.contextmanager
def _board(server: RunningServer) -> Iterator[jobkit.Board]:
    with jobkit.connect(server.api_key, server.user_email, server.url) as client:
        yield client.board(server.boards[0])


def _keys_on(board: jobkit.Board) -> dict[str, list[str]]:
    """Each reference on the board -> the keys of its jobs (exactly-once: one key each)."""
    jobs = jobkit.read_board(board).group_by("reference").agg("key")
    return dict(zip(jobs["reference"].to_list(), jobs["key"].to_list(), strict=True))


def _results(sdf: DataFrame) -> pl.DataFrame:
    return pl.from_arrow(sdf.toArrow()).sort("row")  # type: ignore[union-attr]


def _jobs_frame(spark: SparkSession, n: int, distinct: int, partitions: int) -> DataFrame:
    """`n` jobs, rows 0..n-1 in `partitions` input partitions, reference `ref-{row % distinct}`:
    the copies of a reference sit in different input partitions."""
    return spark.range(0, n, numPartitions=partitions).select(
        F.col("id").alias("row"),
        F.concat(F.lit("ref-"), (F.col("id") % distinct).cast("string")).alias("reference"),
        F.concat(F.lit("Data Engineer #"), F.col("id").cast("string")).alias("name"),
        F.struct(F.lit("Paris").alias("text")).alias("location"),
        F.array(
            F.struct(
                F.lit("python").alias("name"),
                F.lit("0.9").alias("value"),
                F.lit("hard").alias("type"),
            )
        ).alias("skills"),
    )


def test_nested_jobs_round_trip_and_results_are_computed_once(
    spark: SparkSession, server: RunningServer
) -> None:
    jobs = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
    # What the server sets itself (key, id, board, updated_at...) is not sent.
    server_set = [*SERVER_FIELDS, "board_key"]
    frame = (
        jobkit.from_jobs(jobs)
        .drop(server_set)
        .with_columns(reference=pl.format("real-{}", pl.int_range(pl.len())))
    )
    sdf = spark.createDataFrame(frame.to_arrow()).repartition(3)
    with _board(server) as board:
        out = jobkit_spark.index_spark(sdf, board, concurrency_per_task=4)
        keys = _keys_on(board)
        back = jobkit.read_board(board)

    # mapInArrow matches columns by position: names and types are the declared ones.
    assert out.toArrow().schema.equals(RESULTS_SCHEMA.remove_metadata(), check_metadata=False)
    res = _results(out)
    assert res["status"].to_list() == ["created"] * frame.height
    assert {r: [k] for r, k in zip(res["reference"], res["key"], strict=True)} == keys
    # Every field sent comes back as sent: nested structs, lists of traits, JSON-typed values.
    sent = {job["reference"]: job for job in jobkit.to_jobs(frame)}
    for job in jobkit.to_jobs(back):
        expected = {k: v for k, v in sent[job["reference"]].items() if k not in server_set}
        assert {name: job[name] for name in expected} == expected
    # The results are stored: more actions send nothing again (a re-send would say `exists`).
    assert out.count() == frame.height
    assert {row.status for row in out.collect()} == {"created"}


def test_duplicates_across_partitions_and_a_task_crash_midway(
    spark: SparkSession, server: RunningServer
) -> None:
    n, distinct = 40, 25
    sdf = _jobs_frame(spark, n, distinct, partitions=4)

    def crash_first_attempt(rows_done: int) -> None:
        context = TaskContext.get()
        assert context is not None
        if context.partitionId() == 0 and context.attemptNumber() == 0 and rows_done >= 4:
            raise RuntimeError("injected crash, after some of the partition's jobs were sent")

    with _board(server) as board:
        options = _options(concurrency=4)
        config = jobkit_spark._config(
            board, api_key=None, user_email=None, base_url=None, options=options
        )
        out = jobkit_spark._run(sdf, config, num_partitions=3, after_batch=crash_first_attempt)
        keys = _keys_on(board)
    res = _results(out)

    assert res["row"].to_list() == list(range(n))
    assert sorted(keys) == sorted(f"ref-{i}" for i in range(distinct))
    assert all(len(found) == 1 for found in keys.values()), "a reference was created twice"
    first = res.filter(pl.col("row") < distinct)
    copies = res.filter(pl.col("row") >= distinct)
    # First by row id wins, wherever the copies were; the copies are never sent.
    assert set(copies["status"]) == {"duplicate"}
    assert copies["error"].to_list() == [
        f"duplicate reference: row {row - distinct} has the same reference and is the one sent"
        for row in copies["row"]
    ]
    assert copies["attempts"].to_list() == [0] * len(copies)
    # The crashed attempt created some jobs; its retry found them by reference: `exists`,
    # with the right key. Nothing else may happen to a first copy.
    assert set(first["status"]) <= {"created", "exists"}
    assert (first["status"] == "exists").sum() >= 1
    assert {r: [k] for r, k in zip(first["reference"], first["key"], strict=True)} == keys


def test_faults_errors_lost_responses_and_throttling(spark: SparkSession, tmp_path: Path) -> None:
    faults = "error_rate=0.15,lost_response_rate=0.15,throttle_rate=0.15,retry_after=0,seed=3"
    n, distinct = 60, 50
    with start_server(tmp_path, faults=faults) as server, _board(server) as board:
        # A board key with credentials, as on a cluster without a Board handle at hand.
        out = jobkit_spark.index_spark(
            _jobs_frame(spark, n, distinct, partitions=2),
            server.boards[0],
            api_key=server.api_key,
            user_email=server.user_email,
            base_url=server.url,
            concurrency_per_task=8,
            num_partitions=3,
            seed=1,
            **FAST_RETRIES,
        )
        res = _results(out)
        keys = _keys_on(board)

    assert res["row"].to_list() == list(range(n))
    assert all(len(found) == 1 for found in keys.values()), "a reference was created twice"
    first = res.filter(pl.col("row") < distinct)
    # A lost answer is resolved by reference: our write landed, so `created`, with its key.
    assert set(first["status"]) == {"created"}
    assert {r: [k] for r, k in zip(first["reference"], first["key"], strict=True)} == keys
    assert first["attempts"].max() > 1  # the faults did happen
    assert set(res.filter(pl.col("row") >= distinct)["status"]) == {"duplicate"}


def test_refuses_what_executors_cannot_use(spark: SparkSession, tmp_path: Path) -> None:
    sdf = _jobs_frame(spark, 3, 2, partitions=1)
    with jobkit.connect(home=tmp_path / "home") as client:
        local = client.board("demo")
        with pytest.raises(jobkit.UnreachableBoardError, match="executors cannot reach it"):
            jobkit_spark.index_spark(sdf, local)
        # A dry run sends nothing, so the embedded store is fine for it.
        dry = _results(jobkit_spark.index_spark(sdf, local, dry_run=True))
        assert dry["status"].to_list() == ["valid", "valid", "duplicate"]
        with pytest.raises(jobkit.FrameError, match="remote"):
            jobkit_spark.index_spark(sdf.withColumn("remote", F.lit(True)), local, dry_run=True)
        no_ids = sdf.withColumn("row", F.when(F.col("row") > 0, F.col("row")))
        with pytest.raises(PythonException, match=r"row id column .* has nulls"):
            jobkit_spark.index_spark(no_ids, local, dry_run=True)


def _options(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "on_conflict": "skip",
        "dry_run": False,
        "concurrency": 16,
        "chunk_size": 1000,
        "deadline": None,
        "timeout": 30.0,
        "seed": None,
        **FAST_RETRIES,
    }
    return {**options, **overrides}


def test_importing_jobkit_never_imports_pyspark() -> None:
    # Clusters without Spark, and every script, import jobkit; pyspark loads only on use.
    code = "import sys, jobkit, jobkit.spark; print('pyspark' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
