"""Benchmark of `index_frame`, run by hand (not in CI); prints ratios measured in this one run.

    .venv/bin/python bench/index.py [--jobs 2000] [--sdk-subset 200] [--rows 1000000]

1. Throughput: `jobkit serve --faults latency_ms=50` on 127.0.0.1, 2,000 real jobs (the
   network-jobs sample, references made unique) at concurrency 32, against the ideal
   N x latency / concurrency. Target: within 1.25x.
2. Against the official SDK: a sequential loop of `client.job.storing.add_json` over the same
   kind of jobs, timed on a subset and extrapolated to N (said in the output). Target: jobkit at
   least 20x faster.
3. The transport seam: the same run with httpx's default async transport instead of aiohttp.
4. Memory: peak RSS (`resource.getrusage` maxrss, each in a fresh subprocess) of a dry run
   over 1,000,000 rows from parquet vs over 100,000 rows. Target: under 1.5x.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jobkit  # noqa: E402
from tests.conftest import start_server  # noqa: E402

SAMPLE = ROOT / "data" / "network-jobs-sample.jsonl"
LATENCY_S = 0.05


def sample_jobs(n: int, tag: str) -> pl.DataFrame:
    """`n` real jobs from the sample, cycled, with references unique to this run."""
    base = pl.concat(list(jobkit._frames.iter_frames(SAMPLE, chunk_size=10_000)))
    frame = pl.concat([base] * (n // base.height + 1)).head(n)
    return frame.with_columns(pl.format(f"{tag}-{{}}", pl.int_range(pl.len())).alias("reference"))


def timed_index(board: jobkit.Board, df: pl.DataFrame, concurrency: int) -> float:
    start = time.perf_counter()
    res = jobkit.index_frame(df, board, concurrency=concurrency, progress=False)
    elapsed = time.perf_counter() - start
    counts = dict(res["status"].cast(pl.String).value_counts().iter_rows())
    assert counts == {"created": df.height}, counts
    return elapsed


def timed_default_transport(board: jobkit.Board, df: pl.DataFrame, concurrency: int) -> float:
    """The same run over httpx's own async transport: what the seam in _transport.py avoids."""
    import httpx

    from jobkit import _transport

    original = _transport.make_async_transport

    def default_transport(base_url: str, *, max_connections: int) -> tuple[object, str]:
        limits = httpx.Limits(max_connections=max_connections)
        return httpx.AsyncHTTPTransport(limits=limits), base_url

    _transport.make_async_transport = default_transport  # type: ignore[assignment]
    try:
        return timed_index(board, df, concurrency)
    finally:
        _transport.make_async_transport = original


def timed_sdk(server_url: str, key: str, email: str, df: pl.DataFrame) -> float:
    from hrflow import Hrflow

    sdk = Hrflow(api_url=server_url, api_secret=key, api_user=email)
    jobs = jobkit.to_jobs(df)
    start = time.perf_counter()
    for job in jobs:
        body = {k: v for k, v in job.items() if v is not None and k not in ("key", "board_key")}
        answer = sdk.job.storing.add_json(board_key="demo", job_json=body)
        assert answer["code"] == 201, answer
    return time.perf_counter() - start


def throughput(n: int, concurrency: int, sdk_subset: int, store_dir: str | None) -> None:
    with (
        tempfile.TemporaryDirectory(dir=store_dir) as tmp,
        start_server(Path(tmp), faults="latency_ms=50") as server,
        jobkit.connect(server.api_key, server.user_email, server.url) as client,
    ):
        board = client.board("demo")
        timed_index(board, sample_jobs(200, "warmup"), concurrency)
        ideal = n * LATENCY_S / concurrency
        jobkit_s = timed_index(board, sample_jobs(n, "jobkit"), concurrency)
        default_s = timed_default_transport(board, sample_jobs(n, "httpx"), concurrency)
        sdk_jobs = sample_jobs(sdk_subset, "sdk")
        sdk_s = timed_sdk(server.url, server.api_key, server.user_email, sdk_jobs)
    # The same client and server without the injected latency: how fast the pair goes at all
    # on this machine, server CPU included. No client can beat this floor here.
    with (
        tempfile.TemporaryDirectory(dir=store_dir) as tmp,
        start_server(Path(tmp)) as fast,
        jobkit.connect(fast.api_key, fast.user_email, fast.url) as client,
    ):
        floor_s = timed_index(client.board("demo"), sample_jobs(n, "floor"), concurrency)
    sdk_n = sdk_s * n / sdk_subset
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = [
        ("ideal N x latency / concurrency", ideal, ""),
        (
            "jobkit (aiohttp transport)",
            jobkit_s,
            f"{jobkit_s / ideal:5.2f}x ideal (target <= 1.25x)",
        ),
        ("jobkit, httpx default transport", default_s, f"{default_s / ideal:5.2f}x ideal"),
        ("same pair, no latency (floor)", floor_s, f"{n / floor_s:.0f} jobs/s here"),
        ("official SDK add_json loop", sdk_n, f"timed on {sdk_subset} jobs ({sdk_s:.2f} s) x {n}"),
    ]
    print(f"index_frame: {n} jobs, concurrency {concurrency}, server latency 50 ms")
    print(f"  machine: {os.cpu_count()} CPUs, load average {load}")
    print(f"  server store in {store_dir or tempfile.gettempdir()}")
    for label, seconds, note in rows:
        print(f"  {label:<34} {seconds:8.2f} s   {note}")
    print(f"  jobkit vs the SDK loop: {sdk_n / jobkit_s:.1f}x faster (target >= 20x)")
    print(f"  jobkit vs its no-latency floor: {jobkit_s / max(floor_s, ideal):.2f}x")


def write_parquet(path: Path, rows: int, group_rows: int = 131_072) -> None:
    """`rows` real jobs (the sample, cycled) streamed to parquet in row groups of `group_rows`.

    Row groups of about a hundred thousand rows, as polars and Spark write them: a file of a
    thousand tiny groups carries megabytes of footer that any reader must parse.
    """
    base = sample_jobs(1000, "x").to_arrow()
    ref_type = base.schema.field("reference").type
    ref_index = base.schema.get_field_index("reference")
    pending: list[pa.Table] = []
    with pq.ParquetWriter(path, base.schema) as writer:
        for start in range(0, rows, base.num_rows):
            take = min(base.num_rows, rows - start)
            refs = pa.array([f"mem-{i}" for i in range(start, start + take)], type=ref_type)
            pending.append(base.slice(0, take).set_column(ref_index, "reference", refs))
            if sum(t.num_rows for t in pending) >= group_rows:
                writer.write_table(pa.concat_tables(pending), row_group_size=group_rows)
                pending.clear()
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=group_rows)


def child_dry_run(path: str) -> None:
    res = jobkit.index_frame(
        path,
        jobkit.connect(api_key="ask_x", user_email="me", base_url="http://127.0.0.1:9/v1/").board(
            "b"
        ),
        dry_run=True,
        progress=False,
    )
    assert res["status"].cast(pl.String).unique().to_list() == ["valid"]
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def memory(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {}
        for n in (rows // 10, rows):
            path = Path(tmp) / f"jobs-{n}.parquet"
            write_parquet(path, n)
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child-dry-run", str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            peaks[n] = int(out.strip().splitlines()[-1]) / 1024
            seconds, size = time.perf_counter() - start, path.stat().st_size / 2**20
            print(
                f"  dry run over {n:>9,} rows: peak RSS {peaks[n]:7.1f} MiB"
                f"   ({seconds:.1f} s, {size:.0f} MiB parquet)"
            )
        small, big = rows // 10, rows
        ratio = peaks[big] / peaks[small]
        print(f"  peak memory {big:,} vs {small:,} rows: {ratio:.2f}x   (target < 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sdk-subset", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child-dry-run", default=None)
    # The server fsyncs every group commit; on tmpfs that costs nothing, so what is measured
    # is the injected 50 ms and the client, not this machine's disk (pass another dir to see it).
    default_store = "/dev/shm" if Path("/dev/shm").is_dir() else None
    parser.add_argument("--store-dir", default=default_store)
    parser.add_argument("--skip", choices=["throughput", "memory"], default=None)
    args = parser.parse_args()
    if args.child_dry_run:
        child_dry_run(args.child_dry_run)
        return
    if args.skip != "throughput":
        throughput(args.jobs, args.concurrency, args.sdk_subset, args.store_dir)
    if args.skip != "memory":
        print("memory, dry run from parquet")
        memory(args.rows)


if __name__ == "__main__":
    main()
