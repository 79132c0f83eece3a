"""Build data/network-jobs-sample.jsonl (Job JSON lines) from data/network-jobs.jsonl.

Run from the repository root: `python data/build_sample.py`. Deterministic: every posting
with a salary, then every k-th of the others (by id) up to 1,000 rows, sorted by id.

Mapping (through jobkit's own input conventions):
    title -> name, "nj-<id>" -> reference, url -> url, location -> location.text,
    firstSeen -> created_at (the string as published),
    company, department, category -> tags; companyDomain, postedAt, lastSeen -> metadatas,
    salary {min, max} -> ranges_float "salary" in "usd".
"""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl

import jobkit

HERE = Path(__file__).parent
SIZE = 1_000
RAW_SCHEMA = {
    "id": pl.Int64,
    "title": pl.String,
    "company": pl.String,
    "companyDomain": pl.String,
    "department": pl.String,
    "category": pl.String,
    "location": pl.String,
    "url": pl.String,
    "salary": pl.Struct({"min": pl.Int64, "max": pl.Int64}),
    "postedAt": pl.String,
    "firstSeen": pl.String,
    "lastSeen": pl.String,
}


def main() -> None:
    raw = pl.read_ndjson(HERE / "network-jobs.jsonl", schema=RAW_SCHEMA).sort("id")
    with_salary = raw.filter(pl.col("salary").is_not_null())
    others = raw.filter(pl.col("salary").is_null())
    step = others.height // (SIZE - with_salary.height)
    picked = pl.concat([with_salary, others.gather_every(step).head(SIZE - with_salary.height)])
    picked = picked.sort("id").with_columns(
        pl.format("nj-{}", "id").alias("reference"),
        pl.col("salary").struct.field("min").alias("salary_min"),
        pl.col("salary").struct.field("max").alias("salary_max"),
    ).drop("id", "salary")
    jobs = jobkit.to_jobs(
        picked,
        columns={"title": "name", "location": "location.text", "firstSeen": "created_at"},
        tags=["company", "department", "category"],
        metadatas=["companyDomain", "postedAt", "lastSeen"],
        ranges_float={"salary": ("salary_min", "salary_max", "usd")},
    )
    errors = jobkit.validate_frame(jobs)
    assert errors.is_empty(), errors
    with (HERE / "network-jobs-sample.jsonl").open("wb") as out:
        for job in jobs:  # a one-off script: drop nulls for readable lines
            out.write(orjson.dumps({k: v for k, v in job.items() if v is not None}) + b"\n")
    print(f"{len(jobs)} jobs, {with_salary.height} with a salary")


if __name__ == "__main__":
    main()
