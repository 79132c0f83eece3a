"""What Spark costs on one machine: `index_spark` on local[2] vs `index_frame` in one process.

    .venv/bin/python bench/spark.py [--rows 4000] [--latency-ms 20] [--concurrency 32] [--repeat 3]
                                    [--connect]

Starts one `jobkit serve --faults latency_ms=...` on 127.0.0.1 (one uvicorn worker), then
indexes the same real postings (`data/network-jobs.jsonl`, MIT) into fresh boards with:

* baseline: `index_frame(df, board, concurrency=C)`, one process, one event loop;
* `index_spark(sdf, board, concurrency_per_task=C/2, num_partitions=2)` on `local[2]`: two
  tasks, so the same C requests in flight in all.

Prints rows/s for each (best of `--repeat` interleaved runs, each on a fresh board: the
machine is shared and noisy) and the ratio spark/baseline, measured in the same run. The
Spark time is the `index_spark` call (planning, shuffle by reference, the tasks, checkpoint);
the session's start-up and the first Python job of the session (workers start and import
jobkit) are one-off costs, printed apart. Every run must create every row, or it exits 1.
`--connect` runs the Spark side through Spark Connect (a local Connect server), which also
checks that `index_spark` needs no `sparkContext`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ROOT = Path(__file__).resolve().parent.parent
POSTINGS = ROOT / "data" / "network-jobs.jsonl"


def postings(rows: int) -> pl.DataFrame:
    """`rows` real postings as a canonical job frame (name, reference, url, location, tags)."""
    from jobkit._frames import canonical_frame

    raw = pl.read_ndjson(POSTINGS, n_rows=rows).select(
        name="title",
        reference=pl.format("net-{}", "id"),
        url="url",
        created_at="firstSeen",
        company="company",
        category="category",
        **{"location.text": pl.col("location")},
    )
    return canonical_frame(raw, tags=["company", "category"])


@contextmanager
def serve(directory: Path, latency_ms: float, boards: list[str]) -> Iterator[tuple[str, str]]:
    """`jobkit serve --port 0` with added latency; yields (base_url, api_key)."""
    key = "ask_" + secrets.token_hex(16)
    log = directory / "serve.log"
    args = [sys.executable, "-m", "jobkit._cli", "serve", "--port", "0"]
    args += ["--db", str(directory / "boards.sqlite3"), "--api-key", key]
    args += ["--user-email", "bench@example.com", "--faults", f"latency_ms={latency_ms}"]
    for board in boards:
        args += ["--board", board]
    env = {**os.environ, "JOBKIT_HOME": str(directory / "home")}
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"url:\s*(\S+)", log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jobkit serve did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield found.group(1), key
    finally:
        process.terminate()
        process.wait(timeout=10)


def start_spark(connect: bool) -> SparkSession:
    from pyspark.sql import SparkSession

    if connect:
        # A local Connect server; the client talks to it over gRPC and has no sparkContext.
        return SparkSession.builder.remote("local[2]").getOrCreate()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in all")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each; best kept")
    parser.add_argument(
        "--connect", action="store_true", help="Spark Connect (needs pyspark[connect]'s packages)"
    )
    args = parser.parse_args()

    import jobkit
    from jobkit.spark import index_spark

    df = postings(args.rows)
    print(
        f"{df.height} postings, server latency {args.latency_ms:g} ms, "
        f"{args.concurrency} requests in flight, best of {args.repeat}"
    )
    # pyspark warns about pandas 3 when it builds the input DataFrame (see pyproject.toml).
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors need this venv's jobkit
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    boards = [f"{engine}-{i}" for i in range(args.repeat) for engine in ("frame", "spark")]
    frame_s: list[float] = []
    spark_s: list[float] = []
    ok = True

    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(Path(tmp), args.latency_ms, [*boards, "warmup"]) as (url, key),
        jobkit.connect(key, "bench@example.com", url) as client,
    ):
        started = time.perf_counter()
        spark = start_spark(args.connect)
        sdf = spark.createDataFrame(df.to_arrow()).cache()
        sdf.count()  # the input is in memory before the clock starts, as a table would be
        startup_s = time.perf_counter() - started
        # The first Python job of a session starts the Python workers and imports jobkit in
        # them: a one-off cost, timed apart (a dry run on a few rows sends nothing).
        started = time.perf_counter()
        index_spark(sdf.limit(100), client.board("warmup"), dry_run=True, num_partitions=2)
        warmup_s = time.perf_counter() - started

        # Interleaved, each on a fresh board, so that a busy moment hits both engines alike.
        for i in range(args.repeat):
            started = time.perf_counter()
            frame = jobkit.index_frame(
                df, client.board(f"frame-{i}"), concurrency=args.concurrency, progress=False
            )
            frame_s.append(time.perf_counter() - started)
            ok &= frame["status"].cast(pl.String).to_list() == ["created"] * df.height

            started = time.perf_counter()
            out = index_spark(
                sdf,
                client.board(f"spark-{i}"),
                concurrency_per_task=max(1, args.concurrency // 2),
                num_partitions=2,
            )
            spark_s.append(time.perf_counter() - started)
            ok &= dict(out.groupBy("status").count().collect()) == {"created": df.height}
            print(
                f"  run {i + 1}: index_frame {frame_s[-1]:.1f} s, index_spark {spark_s[-1]:.1f} s"
            )
        spark.stop()

    print(f"index_frame (1 process)         {df.height / min(frame_s):8.0f} rows/s")
    mode = "Spark Connect, " if args.connect else ""
    print(f"index_spark ({mode}local[2], 2 tasks) {df.height / min(spark_s):8.0f} rows/s")
    print(
        f"not counted: Spark session start + input cache {startup_s:.1f} s, "
        f"first Python job (workers start, import jobkit) {warmup_s:.1f} s"
    )
    print(f"ratio index_spark / index_frame: {min(frame_s) / min(spark_s):.2f}")
    if not ok:
        print("some row was not created: the figures above are not comparable")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
