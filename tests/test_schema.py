"""The Job schema: real HrFlow objects validate, values keep their JSON type, and the polars
schema, the JSON Schema and the validation rules all derive from the one model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from jobkit import JOB_POLARS_SCHEMA, Job, job_json_schema
from jobkit._schema import ISO_8601_PATTERN, JOB_FIELD_RULES, SERVER_FIELDS

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"


def real_jobs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        obj = json.loads(path.read_text())
        out.append((path.name, obj["data"] if "code" in obj else obj))
    return out


@pytest.mark.parametrize(("name", "job"), real_jobs(), ids=[n for n, _ in real_jobs()])
def test_every_real_object_validates(name: str, job: dict[str, Any]) -> None:
    model = Job.model_validate(job)
    assert model.name == job["name"]
    # Trait values come back with the JSON type they were sent with.
    dumped = model.model_dump(mode="json")
    for column in ("skills", "languages", "tags", "metadatas"):
        for sent, kept in zip(job.get(column) or [], dumped[column] or [], strict=True):
            assert kept["value"] == sent.get("value")
            assert type(kept["value"]) is type(sent.get("value"))


def test_the_official_sdk_schema_fails_where_ours_does_not() -> None:
    from hrflow.schemas import HrFlowJob  # type: ignore[import-not-found,unused-ignore]

    seed = json.loads((FIXTURES / "seed_example_job.json").read_text())
    with pytest.raises(ValidationError):
        HrFlowJob.model_validate(seed)  # a tag value `true`, a skill value 0.9
    Job.model_validate(seed)


@pytest.mark.parametrize("value", [True, 1, 0.9, "tag", "true", None])
def test_trait_values_keep_their_json_type(value: object) -> None:
    job = Job.model_validate({"name": "x", "tags": [{"name": "t", "value": value}]})
    assert job.tags is not None
    kept = job.tags[0].value
    assert kept == value
    assert type(kept) is type(value)


@pytest.mark.parametrize("value", [[1], {"a": 1}])
def test_trait_values_must_be_scalars(value: object) -> None:
    with pytest.raises(ValidationError):
        Job.model_validate({"name": "x", "tags": [{"name": "t", "value": value}]})


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"name": ""}, ("name",)),
        ({"location": {"lat": 91}}, ("location", "lat")),
        ({"location": {"lng": -181}}, ("location", "lng")),
        ({"created_at": "24/12/2020"}, ("created_at",)),
        ({"skills": [{"name": "python", "type": "medium"}]}, ("skills", 0, "type")),
        ({"tags": [{"name": ""}]}, ("tags", 0, "name")),
        ({"ranges_date": [{"name": "d", "value_min": "soon"}]}, ("ranges_date", 0, "value_min")),
        ({"ranges_float": [{"name": "s", "value_min": 2, "value_max": 1}]}, ("ranges_float", 0)),
        ({"created_at": "੩೬᠘᪔-05-05"}, ("created_at",)),
    ],
)
def test_constraints(patch: dict[str, Any], loc: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        Job.model_validate({"name": "x", **patch})
    assert info.value.errors()[0]["loc"] == loc


@pytest.mark.parametrize("fields", [None, [], {"city": "Paris", "postcode": "75001"}])
def test_location_fields_object_empty_list_or_null(fields: object) -> None:
    job = Job.model_validate({"name": "x", "location": {"text": "Paris", "fields": fields}})
    assert job.location is not None
    assert job.location.fields == fields


@pytest.mark.parametrize(
    "text",
    [
        "2020-12-24",
        "2020-12-24T09:32",
        "2020-12-24T09:32:11",
        "2023-05-18T21:59:00+0000",
        "2025-07-25T23:59:39.824Z",
        "2020-12-24 09:32:11+01:00",
    ],
)
def test_iso_8601_accepts_what_hrflow_sends(text: str) -> None:
    assert pl.select(pl.lit(text).str.contains(ISO_8601_PATTERN)).item()
    Job.model_validate({"name": "x", "created_at": text})


@pytest.mark.parametrize(
    "text", ["2020-13-01", "2020-12-24T25:00", "24/12/2020", "2020-12-24T", "੩೬᠘᪔-05-05"]
)
def test_iso_8601_rejects(text: str) -> None:
    assert not pl.select(pl.lit(text).str.contains(ISO_8601_PATTERN)).item()


def test_polars_schema_derives_from_the_model() -> None:
    assert list(JOB_POLARS_SCHEMA) == list(Job.model_fields)
    assert JOB_POLARS_SCHEMA["id"] == pl.Int64
    assert JOB_POLARS_SCHEMA["tags"] == pl.List(pl.Struct({"name": pl.String, "value": pl.String}))
    assert JOB_POLARS_SCHEMA["ranges_float"] == pl.List(
        pl.Struct(
            {"name": pl.String, "value_min": pl.Float64, "value_max": pl.Float64, "unit": pl.String}
        )
    )
    assert set(SERVER_FIELDS) <= set(JOB_POLARS_SCHEMA)


def test_json_schema_export() -> None:
    schema = job_json_schema()
    assert schema["required"] == ["name"]
    assert set(schema["properties"]) == set(Job.model_fields)
    json.dumps(schema)  # serialisable as is


def test_field_rules_cover_every_constraint_of_the_model() -> None:
    assert JOB_FIELD_RULES["name"].required
    assert JOB_FIELD_RULES["skills.type"].choices == ("hard", "soft")
    assert JOB_FIELD_RULES["ranges_date.value_max"].pattern == ISO_8601_PATTERN
    assert JOB_FIELD_RULES["location.fields"].json_text
    json_text = {p for p, r in JOB_FIELD_RULES.items() if r.json_text}
    assert json_text == {
        "location.fields",
        *(
            f"{c}.value"
            for c in (
                "skills",
                "languages",
                "tasks",
                "courses",
                "certifications",
                "interests",
                "tags",
                "metadatas",
            )
        ),
    }
