"""validate_frame: one row per problem, judged by the same rules pydantic applies to one Job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jobs_strategy import job_dicts
from pydantic import ValidationError

from jobkit import FrameError, Job, from_jobs, to_jobs, validate_frame
from jobkit._validate import ERRORS_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"
SEED = json.loads((FIXTURES / "seed_example_job.json").read_text())


def problems(jobs: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return validate_frame(from_jobs(jobs)).select("row", "field").rows()


def test_valid_frames_give_an_empty_frame_with_the_schema() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        errors = validate_frame(from_jobs([json.loads(path.read_text())]))
        assert errors.schema == ERRORS_SCHEMA
        assert errors.height == 0, path.name


@pytest.mark.parametrize(
    ("job", "field", "words"),
    [
        ({"name": None}, "name", "name is required"),
        ({"name": ""}, "name", "non-empty name"),
        ({"location": {"lat": 90.5}}, "location.lat", "'90.5' is outside [-90, 90]"),
        ({"location": {"lng": -180.5}}, "location.lng", "outside [-180, 180]"),
        ({"created_at": "24/12/2020"}, "created_at", "'24/12/2020' is not ISO 8601"),
        (
            {"ranges_date": [{"name": "d", "value_max": "soon"}]},
            "ranges_date[0].value_max",
            "'soon' is not ISO 8601",
        ),
        (
            {"skills": [{"name": "a"}, {"name": "b", "type": "medium"}]},
            "skills[1].type",
            "'medium' is not one of 'hard', 'soft'",
        ),
        ({"tags": [{"name": ""}]}, "tags[0].name", "name is empty"),
        (
            {"ranges_float": [{"name": "salary", "value_min": 50, "value_max": 40}]},
            "ranges_float[0].value_min",
            "value_min 50.0 is greater than value_max 40.0",
        ),
    ],
)
def test_each_rule(job: dict[str, Any], field: str, words: str) -> None:
    errors = validate_frame(from_jobs([SEED, {**SEED, "reference": "other", **job}]))
    assert errors.select("row", "field").rows() == [(1, field)]
    message = errors["error"][0]
    assert words in message
    assert "column '" in message  # names the column ...
    assert any(
        w in message for w in ("fill", "give", "write", "use", "correct", "swap")
    )  # ... and the fix


def test_nan_coordinates_are_out_of_range() -> None:
    df = pl.DataFrame({"name": ["a", "b"], "location.lat": [1.0, float("nan")]})
    assert validate_frame(df).select("row", "field").rows() == [(1, "location.lat")]


def test_the_frame_agrees_with_pydantic_on_each_job() -> None:
    bad = [
        {"name": ""},
        {"name": "x", "location": {"lat": -91}},
        {"name": "x", "skills": [{"name": "a", "type": "medium"}]},
        {"name": "x", "ranges_date": [{"name": "d", "value_min": "2020-13-01"}]},
        {"name": "x", "metadatas": [{"name": ""}]},
    ]
    errors = validate_frame(from_jobs(bad))
    assert errors["row"].to_list() == list(range(len(bad)))
    for job in bad:
        with pytest.raises(ValidationError):
            Job.model_validate(job)


def test_a_null_part_is_reported_with_its_index() -> None:
    df = from_jobs([SEED]).with_columns(
        pl.col("tags").list.concat(
            pl.lit([None], dtype=pl.List(pl.Struct({"name": pl.String, "value": pl.String})))
        )
    )
    assert validate_frame(df).select("row", "field").rows() == [(0, "tags[2]")]


def test_duplicate_references_name_the_first_row() -> None:
    jobs = [{**SEED, "reference": r} for r in ["a", "b", "a", None, None, "a"]]
    errors = validate_frame(from_jobs(jobs))
    assert errors.select("row", "field").rows() == [(2, "reference"), (5, "reference")]
    assert errors["error"].str.contains("reference of row 0").all()


def test_location_fields_must_be_an_object_or_array() -> None:
    df = from_jobs([{**SEED, "reference": str(i)} for i in range(3)]).with_columns(
        pl.col("location").struct.with_fields(
            pl.Series(["{not json", "3", '{"city": "Paris"}']).alias("fields")
        )
    )
    assert validate_frame(df).select("row", "field").rows() == [
        (0, "location.fields"),
        (1, "location.fields"),
    ]
    with pytest.raises(FrameError, match=r"location\.fields holds text that is not JSON"):
        to_jobs(df)


def test_several_problems_per_row_read_in_schema_order() -> None:
    job = {"name": "", "created_at": "x", "location": {"lat": 100}, "skills": [{"name": ""}]}
    assert problems([job]) == [
        (0, "name"),
        (0, "created_at"),
        (0, "location.lat"),
        (0, "skills[0].name"),
    ]


def test_messy_inputs_are_validated_after_the_conventions() -> None:
    raw = pl.DataFrame({"title": ["a", ""], "location.lat": [1.0, 95.0], "remote": [True, False]})
    errors = validate_frame(raw, columns={"title": "name"}, tags=["remote"])
    assert errors.select("row", "field").rows() == [(1, "name"), (1, "location.lat")]


def test_unreadable_input_raises_a_frame_error_naming_the_column() -> None:
    with pytest.raises(FrameError, match="column 'skills'"):
        validate_frame(pl.DataFrame({"name": ["a"], "skills": [3]}))


@settings(max_examples=60, deadline=None)
@given(st.lists(job_dicts(), max_size=4))
def test_property_valid_jobs_have_no_problems(jobs: list[dict[str, Any]]) -> None:
    # Distinct references, and ranges in order: the two rules that span fields or rows.
    ordered = [
        {
            **j,
            "reference": f"r{i}",
            "ranges_float": [
                {**r, "value_min": r.get("value_max"), "value_max": r.get("value_min")}
                if (r.get("value_min") or 0) > (r.get("value_max") or 0)
                and r.get("value_max") is not None
                else r
                for r in j.get("ranges_float") or []
            ],
        }
        for i, j in enumerate(jobs)
    ]
    assert validate_frame(from_jobs(ordered)).height == 0


@settings(max_examples=80, deadline=None)
@given(st.lists(job_dicts(valid=False), max_size=5))
def test_property_frame_flags_exactly_the_rows_pydantic_rejects(jobs: list[dict[str, Any]]) -> None:
    jobs = [{**j, "reference": f"r{i}"} for i, j in enumerate(jobs)]
    errors = validate_frame(from_jobs(jobs))
    # value_min <= value_max is a frame rule the model does not declare.
    errors = errors.filter(~pl.col("error").str.contains("greater than value_max"))
    flagged = set(errors["row"].to_list())
    rejected = set()
    for row, job in enumerate(jobs):
        try:
            Job.model_validate(job)
        except ValidationError:
            rejected.add(row)
    assert flagged == rejected


def test_the_shipped_sample_is_valid() -> None:
    # The README's main job indexes this file: every row must be a valid, distinct job.
    sample = Path(__file__).parents[1] / "data" / "network-jobs-sample.jsonl"
    assert validate_frame(sample).is_empty()
    assert from_jobs([json.loads(line) for line in sample.read_text().splitlines()]).height == 1000
