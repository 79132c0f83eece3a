"""from_jobs / to_jobs / to_json_rows: lossless both ways, on real objects and generated jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobs_strategy import job_dicts

import jobkit
from jobkit import FrameError, Job, from_jobs, to_jobs, to_json_rows
from jobkit._schema import JOB_POLARS_SCHEMA, SERVER_FIELDS

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"
SEED = json.loads((FIXTURES / "seed_example_job.json").read_text())
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def normalised(job: dict[str, Any]) -> dict[str, Any]:
    return Job.model_validate(job).model_dump(mode="json")


def fixture_objects() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


def test_real_objects_round_trip_through_a_frame() -> None:
    objects = fixture_objects()  # API envelopes and bare jobs, as they are
    df = from_jobs(objects)
    assert df.schema == JOB_POLARS_SCHEMA
    expected = [normalised(o["data"] if "code" in o else o) for o in objects]
    assert to_jobs(df) == expected
    assert from_jobs(to_jobs(df)).equals(df)


def test_real_objects_round_trip_through_json_rows() -> None:
    df = from_jobs(fixture_objects())
    docs = [orjson.loads(x) for x in to_json_rows(df, include_server_fields=True)]
    assert from_jobs(docs).equals(df)
    bodies = [orjson.loads(x) for x in to_json_rows(df)]
    assert all(not set(SERVER_FIELDS) & set(b) for b in bodies)
    assert from_jobs(bodies).equals(df.with_columns(pl.lit(None).alias(c) for c in SERVER_FIELDS))


def test_seed_values_keep_their_json_types() -> None:
    job = to_jobs(from_jobs([SEED]))[0]
    assert job["tags"] == [
        {"name": "tag example", "value": True},
        {"name": "tag2 example", "value": "tag"},
    ]
    assert job["skills"][1]["value"] == 0.9
    assert job["languages"][0]["value"] == 1
    assert type(job["languages"][0]["value"]) is int
    assert job["ranges_date"][0]["value_min"] == "2020-05-18T21:59"  # exactly as sent
    assert job["created_at"] == "2020-12-24T09:32:11"


def test_canonical_frame_holds_values_as_json_text() -> None:
    df = from_jobs([SEED])
    assert df["tags"][0].to_list() == [
        {"name": "tag example", "value": "true"},
        {"name": "tag2 example", "value": '"tag"'},
    ]
    assert df["skills"][0].to_list()[0]["value"] is None  # JSON null is a polars null


def test_null_and_empty_lists_stay_distinct() -> None:
    jobs = [{"name": "a", "skills": None}, {"name": "b", "skills": []}, {"name": "c"}]
    df = from_jobs(jobs)
    assert df["skills"].to_list() == [None, [], None]
    back = to_jobs(df)
    assert [j["skills"] for j in back] == [None, [], None]
    assert [orjson.loads(x)["skills"] for x in to_json_rows(df)] == [None, [], None]


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1,
        -7,
        0,
        1.0,
        0.9,
        -0.0,
        1e300,
        5e-324,
        123456789.12345679,
        2**63 - 1,
        "true",
        "1",
        "null",
        "",
        'say "hi"',
        "back\\slash",
        "\x00\x1f\n",
        "😀",
        '"value":1',
    ],
)
def test_every_kind_of_value_round_trips_exactly(value: object) -> None:
    job = {"name": "x", "tags": [{"name": "t", "value": value}], "metadatas": [{"name": "m"}]}
    back = to_jobs(from_jobs([job]))[0]
    kept = back["tags"][0]["value"]
    assert kept == value
    assert type(kept) is type(value)
    assert repr(kept) == repr(value)  # floats keep their digits, -0.0 its sign
    assert back["metadatas"] == [{"name": "m", "value": None}]


def test_location_fields_object_array_and_value_keys_survive() -> None:
    fields = {"value": 1.0, "city": "Paris", "nested": [{"value": "x"}, True]}
    jobs = [
        {"name": "a", "location": {"text": "Paris", "fields": fields}},
        {"name": "b", "location": {"text": "Lyon", "fields": []}},
        {"name": "c", "location": {"text": "Nice"}},
        {"name": "d", "location": None},
    ]
    df = from_jobs(jobs)
    assert [j["location"] for j in to_jobs(df)] == [normalised(j)["location"] for j in jobs]
    assert orjson.loads(to_json_rows(df)[0])["location"]["fields"] == fields


def test_unknown_keys_are_dropped_like_the_api_does() -> None:
    df = from_jobs([{"name": "a", "geopoint": {"lat": 1}, "location": {"geopoint": [1, 2]}}])
    assert df.columns == list(JOB_POLARS_SCHEMA)
    assert to_jobs(df)[0] == normalised({"name": "a", "location": {}})


def test_from_jobs_takes_models_generators_and_an_empty_list() -> None:
    model = Job.model_validate(SEED)
    assert from_jobs([model]).equals(from_jobs([SEED]))
    assert from_jobs(j for j in [SEED]).equals(from_jobs([SEED]))
    empty = from_jobs([])
    assert empty.schema == JOB_POLARS_SCHEMA
    assert empty.height == 0
    assert to_jobs(empty) == []
    assert to_json_rows(empty).len() == 0


def test_api_responses_are_unwrapped() -> None:
    envelope = {"code": 201, "message": "Job created", "data": SEED}
    listing = {"code": 200, "message": "ok", "data": {"jobs": [SEED, SEED]}}
    assert from_jobs([envelope, listing]).height == 3
    with pytest.raises(FrameError, match="row 0: the API response holds no job"):
        from_jobs([{"code": 400, "message": "Unable to find object: job", "data": None}])


def test_bad_jobs_name_the_row_and_field() -> None:
    jobs = [SEED, SEED, {"name": "x", "skills": "python"}]
    with pytest.raises(FrameError, match=r"row 2, field 'skills'"):
        from_jobs(jobs)
    with pytest.raises(FrameError, match=r"row 1, field 'location'"):
        from_jobs([SEED, {"name": "x", "location": {"lat": "north"}}])
    with pytest.raises(FrameError, match="row 0: expected a Job dict, got str"):
        from_jobs(["not a job"])
    with pytest.raises(FrameError, match=r"row 1"):
        from_jobs([SEED, {"name": "x", "tags": [{"name": "t", "value": object()}]}])
    # A lone surrogate has no UTF-8 form, so no JSON document can carry it.
    with pytest.raises(FrameError, match=r"row 0, field 'name'.*surrogates"):
        from_jobs([{"name": "\ud800"}])


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"name": 123}, "name"),
        ({"name": True}, "name"),
        ({"name": "a", "id": 1.5}, "id"),
        ({"name": "a", "location": {"lat": True}}, "location"),
        ({"name": "a", "skills": [{"name": 5}]}, "skills"),
        ({"name": "a", "ranges_float": [{"name": "s", "value_min": False}]}, "ranges_float"),
    ],
)
def test_wrong_json_types_are_errors_not_coercions(job: dict[str, Any], field: str) -> None:
    # polars alone would turn 123 into "123", 1.5 into 1 and true into 1.0.
    with pytest.raises(FrameError, match=rf"row 2, field '{field}': .* wrong JSON type"):
        from_jobs([SEED, SEED, job])


def test_wrong_types_in_unknown_keys_are_dropped_not_errors() -> None:
    df = from_jobs([{"name": "a", "extra": {"name": 5}, "location": {"fields": {"name": 5}}}])
    assert to_jobs(df)[0]["location"]["fields"] == {"name": 5}


def test_flatten_gives_dotted_columns_that_read_back() -> None:
    df = from_jobs(fixture_objects())
    flat = from_jobs(fixture_objects(), flatten=True)
    assert "location.text" in flat.columns
    assert "board.key" in flat.columns
    assert "location" not in flat.columns
    assert flat.schema["skills"] == JOB_POLARS_SCHEMA["skills"]  # lists stay lists
    assert jobkit._frames.canonical_frame(flat).equals(df)
    assert to_jobs(flat) == to_jobs(df)


def test_json_rows_emit_nulls_and_no_server_fields_by_default() -> None:
    df = from_jobs([{"name": "a", "key": "k", "id": 3}])
    doc = orjson.loads(to_json_rows(df)[0])
    assert doc["skills"] is None
    assert doc["summary"] is None
    assert "key" not in doc
    assert "id" not in doc
    assert list(doc) == [c for c in JOB_POLARS_SCHEMA if c not in SERVER_FIELDS]


def test_to_jobs_dicts_read_like_model_dump() -> None:
    job = to_jobs(from_jobs([SEED]))[0]
    assert list(job) == list(normalised(SEED))
    assert list(job["skills"][0]) == ["name", "value", "type"]


@PROPERTY
@given(st.lists(job_dicts(), max_size=4))
def test_property_jobs_round_trip(jobs: list[dict[str, Any]]) -> None:
    df = from_jobs(jobs)
    assert df.schema == JOB_POLARS_SCHEMA
    assert to_jobs(df) == [normalised(j) for j in jobs]
    rows = to_json_rows(df, include_server_fields=True)
    assert from_jobs(orjson.loads(x) for x in rows).equals(df)


@PROPERTY
@given(st.lists(job_dicts(), max_size=4))
def test_property_frame_round_trips(jobs: list[dict[str, Any]]) -> None:
    df = from_jobs(jobs)
    assert from_jobs(to_jobs(df)).equals(df)
    # A canonical frame is a fixed point of the input conventions.
    assert jobkit._frames.canonical_frame(df).equals(df)
    assert jobkit._frames.canonical_frame(from_jobs(jobs, flatten=True)).height == len(jobs)


@PROPERTY
@given(st.lists(job_dicts(), min_size=1, max_size=3))
def test_property_json_rows_match_pydantic(jobs: list[dict[str, Any]]) -> None:
    # What index_frame sends is what pydantic would serialise, minus the server fields.
    df = from_jobs(jobs)
    for doc, job in zip(to_json_rows(df), jobs, strict=True):
        expected = {k: v for k, v in normalised(job).items() if k not in SERVER_FIELDS}
        assert orjson.loads(doc) == expected
