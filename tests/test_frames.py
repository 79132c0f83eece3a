"""Input conventions (dotted columns, name lists, renames, wide columns gathered), pandas, and
streaming chunks from LazyFrames and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import polars as pl
import pytest

from jobkit import FrameError, UnsupportedFrameError, from_jobs, to_jobs
from jobkit._frames import canonical_frame, iter_frames
from jobkit._schema import JOB_POLARS_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"
SEED = json.loads((FIXTURES / "seed_example_job.json").read_text())


def one(df: Any, **conventions: Any) -> dict[str, Any]:
    return to_jobs(df, **conventions)[0]


def test_canonical_columns_are_taken_as_they_are() -> None:
    df = from_jobs([SEED])
    assert canonical_frame(df).equals(df)
    assert canonical_frame(df.lazy()).equals(df)
    shuffled = df.select(reversed(df.columns))
    assert canonical_frame(shuffled).equals(df)  # column order is the schema's


def test_missing_columns_are_null() -> None:
    df = canonical_frame(pl.DataFrame({"name": ["a"]}))
    assert df.schema == JOB_POLARS_SCHEMA
    assert df.row(0, named=True)["skills"] is None


def test_dotted_columns_nest_back() -> None:
    raw = pl.DataFrame(
        {"name": ["a", "b"], "location.text": ["Paris", None], "location.lat": [48.85, None]}
    )
    locations = [j["location"] for j in to_jobs(raw)]
    assert locations[0] == {
        "text": "Paris",
        "lat": 48.85,
        "lng": None,
        "gmaps": None,
        "fields": None,
    }
    assert locations[1] is None  # no dotted value set: no location at all
    with pytest.raises(FrameError, match="both 'location' and dotted columns"):
        canonical_frame(raw.with_columns(location=pl.lit(None)))


def test_trait_lists_of_strings() -> None:
    raw = pl.DataFrame(
        {"name": ["a", "b"], "skills": [["python", "sql"], []], "languages": [["french"], None]}
    )
    jobs = to_jobs(raw)
    assert jobs[0]["skills"] == [
        {"name": "python", "value": None, "type": None},
        {"name": "sql", "value": None, "type": None},
    ]
    assert jobs[1]["skills"] == []
    assert jobs[0]["languages"] == [{"name": "french", "value": None}]
    assert jobs[1]["languages"] is None


def test_columns_renames_messy_headers() -> None:
    raw = pl.DataFrame({"Job Title": ["a"], "description": ["text"]})
    job = one(raw, columns={"Job Title": "name", "description": "summary"})
    assert (job["name"], job["summary"]) == ("a", "text")
    with pytest.raises(FrameError, match=r"renames \['nope'\]"):
        canonical_frame(raw, columns={"nope": "name"})


def test_wide_columns_gathered_into_typed_traits() -> None:
    raw = pl.DataFrame(
        {
            "name": ["a", "b"],
            "company": ["Acme", None],
            "remote": [True, False],
            "level": [3, 4],
            "score": [0.5, None],
            "flag": ["true", "x"],  # a String column: always JSON strings
            "domain": ["acme.com", "b.io"],
        }
    )
    jobs = to_jobs(
        raw,
        tags=["company", "remote", "level", "score", "flag"],
        metadatas={"company domain": "domain"},
    )
    assert jobs[0]["tags"] == [
        {"name": "company", "value": "Acme"},
        {"name": "remote", "value": True},
        {"name": "level", "value": 3},
        {"name": "score", "value": 0.5},
        {"name": "flag", "value": "true"},
    ]
    # A null cell adds no trait.
    assert [t["name"] for t in jobs[1]["tags"]] == ["remote", "level", "flag"]
    assert jobs[1]["metadatas"] == [{"name": "company domain", "value": "b.io"}]


def test_gathered_traits_follow_existing_ones() -> None:
    raw = pl.DataFrame({"name": ["a"], "tags": [["existing"]], "remote": [True]})
    assert one(raw, tags=["remote"])["tags"] == [
        {"name": "existing", "value": None},
        {"name": "remote", "value": True},
    ]


def test_ranges_gathered_with_a_unit_column_or_literal() -> None:
    raw = pl.DataFrame(
        {
            "name": ["a", "b", "c"],
            "pay_min": [30000, None, 10],
            "pay_max": [40000.5, None, None],
            "currency": ["eur", "usd", None],
            "start": ["2024-01-01", None, "2024-03-01"],
            "end": ["2024-06-30", None, None],
        }
    )
    jobs = to_jobs(
        raw,
        ranges_float={
            "salary": ("pay_min", "pay_max", "currency"),
            "fixed": ("pay_min", "pay_max", "gbp"),
        },
        ranges_date={"contract": ("start", "end")},
    )
    assert jobs[0]["ranges_float"] == [
        {"name": "salary", "value_min": 30000.0, "value_max": 40000.5, "unit": "eur"},
        {"name": "fixed", "value_min": 30000.0, "value_max": 40000.5, "unit": "gbp"},
    ]
    assert jobs[1]["ranges_float"] is None  # both bounds null: no range
    assert jobs[2]["ranges_float"][0] == {
        "name": "salary",
        "value_min": 10.0,
        "value_max": None,
        "unit": None,
    }
    assert jobs[0]["ranges_date"] == [
        {"name": "contract", "value_min": "2024-01-01", "value_max": "2024-06-30"}
    ]
    assert jobs[1]["ranges_date"] is None
    with pytest.raises(FrameError, match="no column 'nope'"):
        canonical_frame(raw, ranges_float={"salary": ("nope", "pay_max")}, extra="ignore")


def test_string_values_are_json_text_when_they_are_json_scalars() -> None:
    raw = pl.DataFrame(
        {
            "name": ["a"],
            "tags": [
                [
                    {"name": "company", "value": "Acme"},
                    {"name": "quoted", "value": '"Acme"'},
                    {"name": "bool", "value": "true"},
                    {"name": "string true", "value": '"true"'},
                    {"name": "number", "value": "0.9"},
                    {"name": "null", "value": "null"},
                    {"name": "object-like", "value": '{"a": 1}'},
                    {"name": "bad string", "value": '"unterminated'},
                ]
            ],
        }
    )
    values = [t["value"] for t in one(raw)["tags"]]
    assert values == ["Acme", "Acme", True, "true", 0.9, None, '{"a": 1}', '"unterminated']


def test_native_value_dtypes_encode_natively() -> None:
    raw = pl.DataFrame(
        {
            "name": ["a"],
            "skills": [[{"name": "python", "value": 0.9}]],
            "tags": [[{"name": "remote", "value": True}]],
        }
    )
    job = one(raw)
    assert job["skills"] == [{"name": "python", "value": 0.9, "type": None}]
    assert job["tags"] == [{"name": "remote", "value": True}]


def test_unknown_columns_are_an_error_unless_ignored() -> None:
    raw = pl.DataFrame({"name": ["a"], "company": ["Acme"], "remote": [True]})
    with pytest.raises(FrameError, match=r"unknown column\(s\) \['company', 'remote'\]"):
        canonical_frame(raw)
    assert canonical_frame(raw, extra="ignore").columns == list(JOB_POLARS_SCHEMA)
    raw = pl.DataFrame({"name": ["a"], "skills": [[{"name": "x", "level": 3}]]})
    with pytest.raises(FrameError, match=r"column 'skills': unknown field\(s\) \['level'\]"):
        canonical_frame(raw)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("skills", [1], r"column 'skills': expected a list of .* parts, got Int64"),
        ("skills", [[1]], r"column 'skills': expected a list of .* parts, got List\(Int64\)"),
        ("location", ["Paris"], r"column 'location': expected a struct"),
        ("name", [[1]], r"column 'name': expected text"),
        ("sections", [["intro"]], r"column 'sections': expected a list of parts"),
        ("tags", [[{"name": "t", "value": [1]}]], r"column 'tags.value': .* not a JSON scalar"),
    ],
)
def test_unreadable_columns_raise_frame_errors(
    column: str, values: list[Any], message: str
) -> None:
    with pytest.raises(FrameError, match=message):
        canonical_frame(pl.DataFrame({column: values}))


def test_a_string_that_is_not_a_number_names_the_problem() -> None:
    raw = pl.DataFrame({"name": ["a"], "location.lat": ["north"]})
    with pytest.raises(FrameError, match="do not fit the Job schema"):
        canonical_frame(raw)


def test_unsupported_input() -> None:
    with pytest.raises(UnsupportedFrameError, match="cannot read int"):
        canonical_frame(3)
    with pytest.raises(UnsupportedFrameError, match="unknown file type"):
        canonical_frame("jobs.xlsx")


# --- pandas ------------------------------------------------------------------------------


def test_pandas_mixed_value_types_survive() -> None:
    # pl.from_pandas would fail here (pyarrow: "Expected bytes, got a 'bool' object").
    pdf = pd.DataFrame(
        {
            "title": ["a", "b"],
            "tags": [[{"name": "remote", "value": True}], [{"name": "contract", "value": "CDI"}]],
            "location": [{"text": "Paris", "fields": {"city": "Paris"}}, None],
            "score": [0.5, float("nan")],
        }
    )
    jobs = to_jobs(pdf, columns={"title": "name"}, tags=["score"])
    assert jobs[0]["tags"] == [{"name": "remote", "value": True}, {"name": "score", "value": 0.5}]
    assert jobs[1]["tags"] == [{"name": "contract", "value": "CDI"}]  # NaN: missing, no trait
    assert jobs[0]["location"]["fields"] == {"city": "Paris"}
    assert jobs[1]["location"] is None


def test_pandas_round_trip_from_to_pandas() -> None:
    df = from_jobs([SEED, {"name": "b", "skills": []}])
    pdf = df.to_pandas()  # nested cells become numpy arrays of dicts
    assert canonical_frame(pdf).equals(df)


# --- streaming -----------------------------------------------------------------------------


def many(n: int) -> list[dict[str, Any]]:
    return [{**SEED, "reference": f"r{i}"} for i in range(n)]


def test_iter_frames_from_a_lazyframe_in_exact_chunks() -> None:
    df = from_jobs(many(25))
    chunks = list(iter_frames(df.lazy(), chunk_size=10))
    assert [c.height for c in chunks] == [10, 10, 5]
    assert pl.concat(chunks).equals(df)
    assert [c.height for c in iter_frames(df, chunk_size=10)] == [10, 10, 5]


def test_iter_frames_applies_conventions_to_each_chunk() -> None:
    raw = pl.LazyFrame({"title": [f"t{i}" for i in range(5)], "remote": [True] * 5})
    chunks = list(iter_frames(raw, chunk_size=2, columns={"title": "name"}, tags=["remote"]))
    assert [c.height for c in chunks] == [2, 2, 1]
    assert chunks[2]["tags"].to_list() == [[{"name": "remote", "value": "true"}]]
    with pytest.raises(FrameError, match="unknown column"):
        next(iter_frames(raw, chunk_size=2))


def test_iter_frames_from_parquet(tmp_path: Path) -> None:
    df = from_jobs(many(25))
    path = tmp_path / "jobs.parquet"
    df.write_parquet(path, row_group_size=7)
    chunks = list(iter_frames(path, chunk_size=10))
    assert [c.height for c in chunks] == [10, 10, 5]
    assert pl.concat(chunks).equals(df)
    assert canonical_frame(str(path)).equals(df)


def test_iter_frames_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    pl.DataFrame(
        {"title": ["a", "b", "c"], "location.text": ["Paris", "Lyon", None], "salary": [1, 2, None]}
    ).write_csv(path)
    chunks = list(
        iter_frames(
            path,
            chunk_size=2,
            columns={"title": "name"},
            ranges_float={"salary": ("salary", None, "eur")},
        )
    )
    assert [c.height for c in chunks] == [2, 1]
    jobs = to_jobs(pl.concat(chunks))
    assert jobs[1]["location"]["text"] == "Lyon"
    assert jobs[1]["ranges_float"][0]["value_min"] == 2.0


def test_csv_text_fields_are_not_inferred(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("title,ref,remote\na,00123,true\nb,00124,false\n")
    jobs = to_jobs(path, columns={"title": "name", "ref": "reference"}, tags=["remote"])
    assert [j["reference"] for j in jobs] == ["00123", "00124"]
    assert jobs[0]["tags"] == [{"name": "remote", "value": True}]


def test_iter_frames_from_ndjson_keeps_json_types(tmp_path: Path) -> None:
    jobs = [
        SEED,
        {"name": "b", "tags": [{"name": "x", "value": "1.0"}], "skills": []},
        # whitespace, a `"value"` key inside location.fields, a float written as 1.0
        {
            "name": "c",
            "location": {"fields": {"value": 1.0}},
            "tags": [{"name": "f", "value": 1.0}],
        },
    ]
    path = tmp_path / "jobs.jsonl"
    lines = [
        json.dumps(jobs[0], indent=None, separators=(", ", " : ")),
        orjson.dumps(jobs[1]).decode(),
        "",
        json.dumps(jobs[2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    chunks = list(iter_frames(path, chunk_size=2))
    assert [c.height for c in chunks] == [2, 1]
    back = to_jobs(pl.concat(chunks))
    assert back == to_jobs(from_jobs(jobs))
    assert back[1]["tags"][0]["value"] == "1.0"
    assert back[2]["tags"][0]["value"] == 1.0
    assert back[2]["location"]["fields"] == {"value": 1.0}


def test_ndjson_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_text('{"name": "a"}\n{"name": "b", "skills": "python"}\n')
    with pytest.raises(FrameError, match=r"row 0, field 'skills'"):
        list(iter_frames(path, chunk_size=10))
    path.write_text('{"name": "a"}\n{"name": "b", "location": {"lat": true}}\n')
    with pytest.raises(FrameError, match=r"row 1, field 'location'.* wrong JSON type"):
        list(iter_frames(path, chunk_size=10))
    path.write_text('{"name": "a"}\n{"name": \n')
    with pytest.raises(FrameError, match=r"row 1 of this chunk is not valid JSON"):
        list(iter_frames(path, chunk_size=10))
    with pytest.raises(FrameError, match="Job JSON lines"):
        list(iter_frames(path, chunk_size=10, columns={"a": "b"}))


def test_null_columns_have_the_frame_height() -> None:
    only_unknown = pl.DataFrame({"foo": [1, 2, 3]})
    assert canonical_frame(only_unknown, extra="ignore").height == 3
    assert canonical_frame(pl.DataFrame()).height == 0
    assert to_jobs(pl.DataFrame()) == []
