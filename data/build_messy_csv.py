"""Build data/messy-jobs.csv: real postings exported the way spreadsheets and ATS exports look.

Run from the repository root: `.venv/bin/python data/build_messy_csv.py` (deterministic: the
same input gives the same bytes). Input: data/network-jobs.jsonl (MIT, see data/SOURCE.md).

The rows are real postings (every 4th of the 562 with a salary, every 150th of the others);
the mess is added on purpose, so that notebooks/02-messy-data.ipynb has something to clean:

* odd headers: `Req ID`, ` Job Title ` (with spaces), `Dept.`, `Location(s)`, `Compensation`;
* salaries as text in five spellings: `$240k-$300k`, `120,000 USD`, `$148,000 - $230,000`,
  `USD 160000-185000`, `from $110,000`; hourly pay as `$40-$50/hr`; and `Competitive`,
  `DOE` or nothing when unknown;
* dates as `MM/DD/YYYY`;
* padded titles, 3 missing titles, 5 missing locations;
* 6 rows exported twice, and 2 postings re-exported with a 10% higher salary (same `Req ID`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
SOURCE = HERE / "network-jobs.jsonl"
TARGET = HERE / "messy-jobs.csv"


def salary_text(index: pl.Expr, low: pl.Expr, high: pl.Expr) -> pl.Expr:
    def thousands(value: pl.Expr) -> pl.Expr:
        # 152000 -> "152", 315800 -> "315.8": how people write "k" amounts
        return (value / 1000).round(1).cast(pl.String).str.strip_suffix(".0")

    def commas(value: pl.Expr) -> pl.Expr:
        digits = value.cast(pl.String)
        return (
            pl.when(value >= 1_000_000)
            .then(pl.concat_str(digits.str.head(-6), pl.lit(","), digits.str.slice(-6, 3)))
            .otherwise(digits.str.head(-3))
            + ","
            + digits.str.tail(3)
        )

    same = low == high
    return (
        pl.when(low.is_null())
        .then(
            pl.when(index % 3 == 0)
            .then(pl.lit("Competitive"))
            .when(index % 3 == 1)
            .then(pl.lit("DOE"))
            .otherwise(pl.lit(None, pl.String))
        )
        # hourly pay (interns, contractors): `$40-$50/hr`, `$55/hr`
        .when((high < 1000) & same)
        .then(pl.format("${}/hr", low))
        .when(high < 1000)
        .then(pl.format("${}-${}/hr", low, high))
        .when(index % 5 == 0)
        .then(pl.format("${}k-${}k", thousands(low), thousands(high)))
        .when((index % 5 == 1) & same)
        .then(pl.format("{} USD", commas(low)))
        .when(index % 5 == 1)
        .then(pl.format("{} - {} USD", commas(low), commas(high)))
        .when(index % 5 == 2)
        .then(pl.format("${} - ${}", commas(low), commas(high)))
        .when(index % 5 == 3)
        .then(pl.format("USD {}-{}", low, high))
        .otherwise(pl.format("from ${}", commas(low)))
    )


def main() -> None:
    jobs = pl.read_ndjson(SOURCE, infer_schema_length=None).sort("id")
    paid = jobs.filter(pl.col("salary").is_not_null()).gather_every(4)
    unpaid = jobs.filter(pl.col("salary").is_null()).gather_every(150)
    rows = pl.concat([paid, unpaid]).sort("id").with_row_index("i")
    i = pl.col("i").cast(pl.Int64)
    low, high = pl.col("salary").struct.field("min"), pl.col("salary").struct.field("max")
    messy = rows.select(
        pl.format("REQ-{}", pl.col("id")).alias("Req ID"),
        pl.when(i.is_in([17, 90, 201]))
        .then(pl.lit(None, pl.String))
        .when(i % 7 == 3)
        .then(pl.format("  {} ", pl.col("title")))
        .otherwise(pl.col("title"))
        .alias(" Job Title "),
        pl.col("company").alias("Company"),
        pl.col("department").alias("Dept."),
        pl.col("category").alias("Category"),
        pl.when(i.is_in([5, 44, 120, 160, 230]))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("location"))
        .alias("Location(s)"),
        salary_text(i, low, high).alias("Compensation"),
        pl.col("firstSeen")
        .str.slice(0, 10)
        .str.to_date()
        .dt.strftime("%m/%d/%Y")
        .alias("Date Posted"),
        pl.col("url").alias("Apply Link"),
    )
    twice = messy.gather([8, 30, 61, 99, 150, 211])
    # Re-posted with a 10% raise, written the `$...k-$...k` way.
    raised = rows.gather([12, 70]).select(
        ((low * 1.1 / 1000).round() * 1000).cast(pl.Int64).alias("low"),
        ((high * 1.1 / 1000).round() * 1000).cast(pl.Int64).alias("high"),
    )
    reposted = messy.gather([12, 70]).with_columns(
        salary_text(pl.lit(0), raised["low"], raised["high"]).alias("Compensation")
    )
    out = pl.concat([messy, twice, reposted])
    # Interleave the copies the way a merged export would: by Req ID, copies after originals.
    out = out.with_row_index("order").sort("Req ID", "order").drop("order")
    out.write_csv(TARGET)
    print(f"wrote {TARGET} ({out.height} rows)")


if __name__ == "__main__":
    main()
