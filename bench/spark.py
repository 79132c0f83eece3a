"""What Spark costs on one machine: `index_spark` on local[2] vs `index_frame` in one process.

    .venv/bin/python bench/spark.py [--rows 4000] [--latency-ms 20] [--concurrency 32]

Starts one `jobkit serve --faults latency_ms=...` on 127.0.0.1 (one uvicorn worker), then
indexes the same real postings (`data/network-jobs.jsonl`, MIT) into two fresh boards:

* baseline: `index_frame(df, board, concurrency=C)`, one process, one event loop;
* `index_spark(sdf, board, concurrency_per_task=C/2, num_partitions=2)` on `local[2]`: two
  tasks, so the same C requests in flight in all.

Prints rows/s for each and the ratio spark/baseline, measured in the same run. The Spark time
is the `index_spark` call (planning, shuffle by reference, the tasks, checkpoint); the
session's start-up and the first Python job of the session (workers start and import jobkit)
are one-off costs, printed apart. Both runs must create every row, or it exits 1.
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

import polars as pl

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
def serve(directory: Path, latency_ms: float) -> Iterator[tuple[str, str]]:
    """`jobkit serve --port 0` with added latency; yields (base_url, api_key)."""
    key = "ask_" + secrets.token_hex(16)
    log = directory / "serve.log"
    args = [sys.executable, "-m", "jobkit._cli", "serve", "--port", "0"]
    args += ["--db", str(directory / "boards.sqlite3"), "--api-key", key]
    args += ["--board", "frame", "--board", "spark", "--user-email", "bench@example.com"]
    args += ["--faults", f"latency_ms={latency_ms}"]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in all")
    args = parser.parse_args()

    import jobkit
    from jobkit.spark import index_spark

    df = postings(args.rows)
    print(
        f"{df.height} postings, server latency {args.latency_ms:g} ms, "
        f"{args.concurrency} requests in flight"
    )
    # pyspark warns about pandas 3 when it builds the input DataFrame (see pyproject.toml).
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors need this venv's jobkit
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), args.latency_ms) as (url, key):
        client = jobkit.connect(key, "bench@example.com", url)

        started = time.perf_counter()
        frame = jobkit.index_frame(
            df, client.board("frame"), concurrency=args.concurrency, progress=False
        )
        frame_s = time.perf_counter() - started

        from pyspark.sql import SparkSession

        started = time.perf_counter()
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        sdf = spark.createDataFrame(df.to_arrow()).cache()
        sdf.count()  # the input is in memory before the clock starts, as a table would be
        startup_s = time.perf_counter() - started

        # The first Python job of a session starts the Python workers and imports jobkit in
        # them: a one-off cost, timed apart (a dry run on a few rows sends nothing).
        started = time.perf_counter()
        index_spark(sdf.limit(100), client.board("spark"), dry_run=True, num_partitions=2)
        warmup_s = time.perf_counter() - started

        started = time.perf_counter()
        out = index_spark(
            sdf,
            client.board("spark"),
            concurrency_per_task=max(1, args.concurrency // 2),
            num_partitions=2,
        )
        spark_s = time.perf_counter() - started
        by_status = dict(out.groupBy("status").count().collect())
        spark.stop()
        client.close()

    frame_counts = dict(frame["status"].cast(pl.String).value_counts().iter_rows())
    print(f"index_frame (1 process)        {df.height / frame_s:8.0f} rows/s  {frame_counts}")
    print(f"index_spark (local[2], 2 tasks) {df.height / spark_s:8.0f} rows/s  {by_status}")
    print(
        f"not counted: Spark session start + input cache {startup_s:.1f} s, "
        f"first Python job (workers start, import jobkit) {warmup_s:.1f} s"
    )
    print(f"ratio index_spark / index_frame: {frame_s / spark_s:.2f}")
    ok = frame_counts == {"created": df.height} and by_status == {"created": df.height}
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
