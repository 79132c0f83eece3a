"""Preview cost against frame size: browsing 100k rows should cost what browsing 1k rows does.

Run: .venv/bin/python bench/preview.py

Builds canonical frames of 1,000 (the baseline, measured in the same run) and 100,000 rows
from the real postings in data/network-jobs.jsonl, then times, for each: building the preview
(one `validate_frame` pass over the whole frame), 50 clicks on next (each renders one card),
a search, and the "only invalid rows" filter. Prints times and the 100k/1k ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import ipywidgets
import polars as pl

import jobkit

DATA = Path(__file__).resolve().parents[1] / "data" / "network-jobs.jsonl"


def postings(n: int) -> pl.DataFrame:
    raw = pl.read_ndjson(DATA).select(
        name=pl.col("title"),
        location=pl.struct(text=pl.col("location")),
        url=pl.col("url"),
        company=pl.col("company"),
        category=pl.col("category"),
    )
    repeats = -(-n // raw.height)
    frame = pl.concat([raw] * repeats).head(n).with_row_index("i")
    frame = frame.with_columns(reference=pl.format("nj-{}", pl.col("i"))).drop("i")
    # 1 row in 500 invalid: an empty name, as a messy export would have
    frame = frame.with_columns(
        name=pl.when(pl.int_range(pl.len()) % 500 == 7).then(pl.lit("")).otherwise("name")
    )
    return jobkit._frames.canonical_frame(frame, tags=["company", "category"])


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(frame: pl.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {}
    out["build (validate once)"] = best(lambda: jobkit.preview(frame).close())
    view = jobkit.preview(frame)

    def clicks() -> None:
        view.slider.value = 0
        for _ in range(50):
            view.next_button.click()

    out["next x50 (per click)"] = best(clicks) / 50

    def search() -> None:
        view.search.value = "data engineer"
        view.search.value = ""

    out["search + clear"] = best(search)

    def invalid() -> None:
        view.only_invalid.value = True
        view.only_invalid.value = False

    out["only invalid on + off"] = best(invalid)
    view.close()
    return out


def main() -> None:
    small, large = postings(1_000), postings(100_000)
    base, big = measure(small), measure(large)
    print(f"{'step':<24}{'1k rows':>12}{'100k rows':>12}{'ratio':>9}")
    for step in base:
        ratio = big[step] / base[step]
        print(f"{step:<24}{base[step] * 1e3:>10.2f}ms{big[step] * 1e3:>10.2f}ms{ratio:>8.1f}x")
    ipywidgets.Widget.close_all()


if __name__ == "__main__":
    main()
