"""The notebook widgets without a browser: build them, click, set values, read the HTML."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import ipywidgets
import polars as pl
import pytest

import jobkit
from jobkit import JOB_POLARS_SCHEMA, JobPreview, ResultsView


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    yield
    ipywidgets.Widget.close_all()


def canonical(jobs: list[dict[str, Any]]) -> pl.DataFrame:
    """A canonical frame by hand: trait values as JSON text, the explicit schema."""
    rows = []
    for job in jobs:
        row = json.loads(json.dumps(job))
        for field in ("skills", "languages", "tags", "metadatas"):
            for trait in row.get(field) or []:
                trait["value"] = json.dumps(trait.get("value"))
        rows.append(row)
    return pl.DataFrame(rows, schema=JOB_POLARS_SCHEMA)


JOBS = [
    {"name": "Data Engineer", "reference": "de-0", "skills": [{"name": "spark", "value": 0.9}]},
    {"name": "", "reference": "bad-1"},
    {"name": "QA Analyst", "reference": "qa-2", "tags": [{"name": "remote", "value": True}]},
    {"name": "Data Scientist", "reference": "DS-3"},
    {"name": "Nurse", "reference": "bad-4", "location": {"text": "Lyon", "lat": 123.0}},
]
ERRORS = pl.DataFrame(
    {
        "row": [1, 4],
        "field": ["name", "location.lat"],
        "error": ["must not be empty", "must be <= 90 (got 123.0)"],
    }
)


def title(view: JobPreview) -> str:
    return view.card.value.split('class="jk-title">', 1)[1].split("</div>", 1)[0]


def test_previous_and_next_walk_the_rows() -> None:
    view = JobPreview(canonical(JOBS), ERRORS)
    assert (view.row, title(view)) == (0, "Data Engineer")
    assert view.prev_button.disabled
    assert not view.next_button.disabled
    assert 'class="jk-chip-value">0.9<' in view.card.value  # JSON text decoded for the card

    view.next_button.click()
    assert view.row == 1
    assert '<aside class="jk-errors">' in view.card.value
    assert "must not be empty" in view.card.value
    assert view.status.value == "row 1 · 2 of 5 shown · 1 problem"

    view.slider.value = 4  # a slider drag
    assert "Lyon" in view.card.value
    assert "must be &lt;= 90" in view.card.value
    assert view.next_button.disabled
    view.next_button.click()  # at the end: stays
    assert view.row == 4
    view.prev_button.click()
    assert (view.row, title(view)) == (3, "Data Scientist")
    assert view.status.value.endswith("valid")
    # what a front end receives
    assert view.card.get_state()["value"] == view.card.value


def test_only_invalid_rows() -> None:
    view = JobPreview(canonical(JOBS), ERRORS)
    assert view.only_invalid.description == "only invalid rows (2)"
    view.only_invalid.value = True
    assert (view.row, view.n_shown) == (1, 2)
    view.next_button.click()
    assert view.row == 4
    assert view.next_button.disabled
    view.prev_button.click()
    assert view.row == 1
    view.only_invalid.value = False  # back to every row, on the same row
    assert (view.row, view.n_shown) == (1, 5)


def test_invalid_filter_is_disabled_when_every_row_is_valid() -> None:
    view = JobPreview(canonical(JOBS))
    assert view.only_invalid.disabled
    assert view.n_invalid == 0


def test_search_by_reference_or_name_case_insensitive() -> None:
    view = JobPreview(canonical(JOBS), ERRORS)
    view.search.value = "ds-3"
    assert (view.row, view.n_shown) == (3, 1)
    view.search.value = "DATA"
    assert view.n_shown == 2
    assert view.row == 3  # still a match: the view stays on it
    view.prev_button.click()
    assert view.row == 0
    view.search.value = "bad"
    view.only_invalid.value = True
    assert view.n_shown == 2
    view.search.value = "nurse"
    assert (view.row, view.n_shown) == (4, 1)


def test_search_without_a_match_shows_an_empty_state() -> None:
    view = JobPreview(canonical(JOBS), ERRORS)
    view.slider.value = 2
    view.search.value = "no such job"
    assert view.row is None
    assert view.status.value == "no rows match"
    assert "no rows to show" in view.card.value
    assert view.prev_button.disabled
    assert view.next_button.disabled
    view.search.value = ""
    assert view.n_shown == 5


def test_search_keeps_the_current_row_when_it_still_matches() -> None:
    view = JobPreview(canonical(JOBS), ERRORS)
    view.slider.value = 3
    view.search.value = "data"
    assert view.row == 3


def test_an_empty_frame() -> None:
    view = JobPreview(pl.DataFrame(schema=JOB_POLARS_SCHEMA))
    assert view.row is None
    assert view.status.value == "no rows"
    assert repr(view) == "JobPreview(0 rows, 0 invalid)"


def test_mimebundle_has_a_deterministic_text_and_a_static_card() -> None:
    view = JobPreview(canonical(JOBS), ERRORS)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "JobPreview(5 rows, 2 invalid)"
    assert bundle["text/html"] == view.card.value
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_a_large_frame_renders_only_the_current_row() -> None:
    n = 100_000
    frame = pl.DataFrame(
        {"name": [f"job {i}" for i in range(n)], "reference": [f"r{i}" for i in range(n)]}
    ).select(
        [
            pl.col(c) if c in ("name", "reference") else pl.lit(None, dtype=d).alias(c)
            for c, d in JOB_POLARS_SCHEMA.items()
        ]
    )
    errors = pl.DataFrame({"row": [99_998], "field": ["name"], "error": ["too long"]})
    view = JobPreview(frame, errors)
    view.slider.value = n - 1
    assert title(view) == f"job {n - 1}"
    view.search.value = "r99998"
    assert (view.row, view.n_shown) == (99_998, 1)
    view.search.value = ""
    view.only_invalid.value = True
    assert view.row == 99_998
    assert "too long" in view.card.value


RESULTS = pl.DataFrame(
    {
        "row": list(range(7)),
        "reference": [f"r{i}" for i in range(7)],
        "key": ["k0", "k1", "k2", None, None, None, "k6"],
        "status": ["created", "created", "updated", "failed", "invalid", "duplicate", "exists"],
        "http_status": [201, 201, 200, 503, None, None, 200],
        "attempts": [1, 1, 1, 5, 0, 0, 1],
        "error": [None, None, None, "HTTP 503", "name: empty", "same reference as row 4", None],
    }
)


def test_results_view_summarises_and_pages_the_problem_rows() -> None:
    view = jobkit.show_results(RESULTS, page_size=2)
    assert repr(view) == (
        "ResultsView(7 rows: 2 created, 1 updated, 1 exists, 1 invalid, 1 duplicate, 1 failed)"
    )
    # each live piece carries the styles: a front end shows the widgets, not the static HTML
    for piece in (view.summary.value, view.table.value):
        assert piece.startswith("<style>")
        assert '<div class="jk-results">' in piece
    assert "width:28.57%;background:#2e7d32" in view.summary.value  # created, 2 of 7
    assert view.page_label.value == "page 1 of 2 · 3 problem rows"
    assert "HTTP 503" in view.table.value
    assert "name: empty" in view.table.value
    assert "same reference" not in view.table.value
    assert view.prev_button.disabled
    view.next_button.click()
    assert view.page == 1
    assert "same reference as row 4" in view.table.value
    assert view.next_button.disabled
    view.next_button.click()
    assert view.page == 1


def test_results_view_filters_by_status() -> None:
    view = ResultsView(RESULTS)
    assert view.show.options == (
        "problem rows",
        "created",
        "updated",
        "exists",
        "invalid",
        "duplicate",
        "failed",
        "all rows",
    )
    view.show.value = "created"
    assert view.page_label.value == "page 1 of 1 · 2 created rows"
    assert "<td>r0</td>" in view.table.value
    assert "<td>r3</td>" not in view.table.value
    view.show.value = "all rows"
    assert view.table.value.count("<tr>") == 8  # header + 7 rows
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == repr(view)
    assert "jk-bar" in bundle["text/html"]


def test_show_results_rejects_a_frame_that_is_not_a_result() -> None:
    with pytest.raises(ValueError, match="lacks the column"):
        jobkit.show_results(pl.DataFrame({"name": ["x"]}))
    with pytest.raises(ValueError, match="page_size"):
        ResultsView(RESULTS, page_size=0)


def test_import_jobkit_does_not_load_ipywidgets() -> None:
    code = "import sys, jobkit; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- jobkit.preview on what users have (needs the conversion layer) ------------------------


def test_preview_validates_up_front_and_accepts_jobs() -> None:
    view = jobkit.preview(JOBS)
    assert repr(view) == "JobPreview(5 rows, 2 invalid)"
    view.only_invalid.value = True
    fields = [field for field, _ in view.errors_of(view.row or 0)]
    assert view.row == 1
    assert "name" in fields
    view.next_button.click()
    assert view.row == 4
    assert "location.lat" in [field for field, _ in view.errors_of(4)]


def test_preview_accepts_job_objects_polars_and_pandas_frames() -> None:
    pd = pytest.importorskip("pandas")
    valid = [job for job in JOBS if job["name"] and job["reference"] != "bad-4"]
    objects = [jobkit.Job.model_validate(job) for job in valid]
    frame = jobkit.from_jobs(valid)
    for data in (objects, frame, frame.lazy(), frame.to_pandas(), pd.DataFrame(valid)):
        view = jobkit.preview(data)
        assert repr(view) == "JobPreview(3 rows, 0 invalid)", type(data)
        view.slider.value = 1
        assert title(view) == "QA Analyst"
        assert "remote" in view.card.value


def test_preview_reads_messy_frames_with_the_conventions() -> None:
    raw = pl.DataFrame(
        {
            "Job Title": ["Data Engineer", None],
            "Req ID": ["a-1", "b-2"],
            "company": ["Acme", "Beta"],
            "lo": [120_000.0, None],
            "hi": [150_000.0, None],
        }
    )
    view = jobkit.preview(
        raw,
        columns={"Job Title": "name", "Req ID": "reference"},
        tags=["company"],
        ranges_float={"salary": ("lo", "hi", "usd")},
    )
    assert repr(view) == "JobPreview(2 rows, 1 invalid)"
    assert "salary</b>: 120,000 – 150,000 usd" in view.card.value
    assert "Acme" in view.card.value
    view.next_button.click()
    assert [field for field, _ in view.errors_of(1)] == ["name"]
