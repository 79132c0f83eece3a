"""Conversion benchmark: jobkit against the fastest route polars / pyarrow offer (the floor).

    .venv/bin/python bench/convert.py [--rows 100000] [--repeat 5] [--rich]

100k jobs are built by repeating data/network-jobs-sample.jsonl (1,000 real postings) with
distinct references (`--rich`: the real HrFlow objects of tests/fixtures, every field set).
Every figure is the best of `--repeat` runs, measured in this run, and printed as a ratio to
its floor next to the target:

* to_json_rows(df)  vs  df.write_ndjson()                                target <= 1.5x
* to_jobs(df)       vs  df.to_arrow().to_pylist()                         target <= 1.5x
* from_jobs(jobs)   vs  pl.from_arrow(pa.Table.from_pylist(jobs, schema)) target <= 1.5x
  (pyarrow cannot hold a value that is `true` here and `"tag"` there in one column: its
  input has every trait value already JSON-encoded as text, i.e. it is given the easy case)
* to_json_rows(df)  vs  to_dicts() + Job.model_validate + model_dump_json  target >= 10x faster
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

import jobkit
from jobkit import Job
from jobkit._frames import TRAIT_COLUMNS
from jobkit._schema import JOB_POLARS_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "network-jobs-sample.jsonl"
RICH = ROOT / "tests" / "fixtures" / "hrflow-job-json"


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build_jobs(rows: int, *, rich: bool = False) -> list[dict[str, Any]]:
    if rich:  # the real HrFlow objects: every field, skills with numbers, mixed tag values
        objects = [orjson.loads(p.read_bytes()) for p in sorted(RICH.glob("*.json"))]
        sample = [o["data"] if "code" in o else o for o in objects]
        for i, job in enumerate(sample):
            job["reference"] = f"rich-{i}"
    else:
        sample = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    jobs = []
    for i in range(rows):
        job = dict(sample[i % len(sample)])
        job["reference"] = f"{job['reference']}-{i // len(sample)}"
        jobs.append(job)
    return jobs


def as_text_values(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The floor's input: trait values and location.fields already JSON text (what pyarrow
    can hold in one column)."""
    out = []
    for job in jobs:
        job = dict(job)
        if job.get("location") and job["location"].get("fields") is not None:
            job["location"] = {
                **job["location"],
                "fields": orjson.dumps(job["location"]["fields"]).decode(),
            }
        for column in TRAIT_COLUMNS:
            if job.get(column):
                job[column] = [
                    {
                        **t,
                        "value": None
                        if t.get("value") is None
                        else orjson.dumps(t["value"]).decode(),
                    }
                    for t in job[column]
                ]
        out.append(job)
    return out


def pydantic_loop(df: pl.DataFrame) -> list[str]:
    out = []
    for row in df.to_dicts():
        job = {k: v for k, v in row.items() if v is not None}
        if job.get("location") and job["location"]["fields"] is not None:
            job["location"] = {**job["location"], "fields": orjson.loads(job["location"]["fields"])}
        for column in TRAIT_COLUMNS:  # the frame's JSON text back to Python values
            if job.get(column):
                job[column] = [
                    {**t, "value": None if t["value"] is None else orjson.loads(t["value"])}
                    for t in job[column]
                ]
        out.append(Job.model_validate(job).model_dump_json())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rich",
        action="store_true",
        help="repeat the real HrFlow objects of tests/fixtures (every field) instead",
    )
    args = parser.parse_args()

    jobs = build_jobs(args.rows, rich=args.rich)
    df = jobkit.from_jobs(jobs)
    assert df.schema == JOB_POLARS_SCHEMA
    arrow_schema = pl.DataFrame(schema=JOB_POLARS_SCHEMA).to_arrow().schema
    text_jobs = as_text_values(jobs)
    source = RICH.relative_to(ROOT) if args.rich else SAMPLE.relative_to(ROOT)
    print(
        f"{df.height:,} jobs from {source}, polars {pl.__version__}, "
        f"pyarrow {pa.__version__}, {pl.thread_pool_size()} threads, best of {args.repeat}\n"
    )

    rows: list[tuple[str, float, str, float, str]] = []

    def compare(
        name: str,
        ours: Callable[[], Any],
        floor_name: str,
        floor: Callable[[], Any],
        target: str,
        repeat: int = args.repeat,
    ) -> None:
        t_ours, t_floor = best(ours, repeat), best(floor, repeat)
        rows.append((name, t_ours, floor_name, t_floor, target))

    compare(
        "to_json_rows(df)",
        lambda: jobkit.to_json_rows(df),
        "df.write_ndjson()",
        df.write_ndjson,
        "<= 1.5x",
    )
    compare(
        "to_jobs(df)",
        lambda: jobkit.to_jobs(df),
        "df.to_arrow().to_pylist()",
        lambda: df.to_arrow().to_pylist(),
        "<= 1.5x",
    )
    compare(
        "from_jobs(jobs)",
        lambda: jobkit.from_jobs(jobs),
        "pl.from_arrow(Table.from_pylist)",
        lambda: pl.from_arrow(pa.Table.from_pylist(text_jobs, schema=arrow_schema)),
        "<= 1.5x",
    )
    loop_rows = min(df.height, 20_000)  # the loop is slow: time a slice, scale linearly
    part = df.head(loop_rows)
    t_loop = best(lambda: pydantic_loop(part), 1) * df.height / loop_rows
    t_rows = best(lambda: jobkit.to_json_rows(df), args.repeat)
    rows.append(("to_json_rows(df)", t_rows, "pydantic loop (scaled)", t_loop, ">= 10x faster"))

    print(f"{'ours':<18} {'s':>7}   {'floor':<33} {'s':>7}   {'ratio':>7}   target")
    for name, ours, floor_name, floor, target in rows:
        if target.endswith("faster"):
            ratio = f"{floor / ours:6.1f}x"
            met = floor / ours >= 10
        else:
            ratio = f"{ours / floor:6.2f}x"
            met = ours / floor <= 1.5
        print(
            f"{name:<18} {ours:7.3f}   {floor_name:<33} {floor:7.3f}   {ratio:>7}   "
            f"{target} {'ok' if met else 'MISSED'}"
        )

    # Sanity: what was timed is right.
    assert jobkit.from_jobs(orjson.loads(x) for x in jobkit.to_json_rows(df.head(1000))).equals(
        df.head(1000).with_columns(
            pl.lit(None).alias(c) for c in ("key", "id", "board", "updated_at", "archived_at")
        )
    )


if __name__ == "__main__":
    main()
