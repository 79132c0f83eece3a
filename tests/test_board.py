"""`read_board` round trip, paging, and the official `hrflow` SDK reading what jobkit wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import RunningServer

import jobkit
from jobkit._schema import SERVER_FIELDS

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"
# Set by the server on write; compared separately.
SERVER_SET = {*SERVER_FIELDS, "board_key", "created_at"}


def rich_jobs(prefix: str) -> list[dict[str, Any]]:
    """Real job objects (the seed's example and the docs'), plus mixed trait value types."""
    seed = json.loads((FIXTURES / "seed_example_job.json").read_text())
    docs = json.loads((FIXTURES / "docs_job_object_example_2020.json").read_text())
    docs = docs.get("data", docs)
    mixed = {
        "name": "Mixed values",
        "tags": [
            {"name": "remote", "value": True},
            {"name": "score", "value": 0.9},
            {"name": "count", "value": 3},
            {"name": "text", "value": "true"},
            {"name": "none", "value": None},
        ],
        "skills": [],
        "location": {"text": "Paris", "lat": 48.8566, "lng": 2.3522, "fields": {"city": "Paris"}},
        "ranges_date": [{"name": "start", "value_min": "2024-05-18T21:59", "value_max": None}],
    }
    jobs = [seed, docs, mixed]
    return [{**job, "reference": f"{prefix}-{i}"} for i, job in enumerate(jobs)]


@pytest.fixture
def server(board_server: RunningServer) -> RunningServer:
    return board_server


def client_for(server: RunningServer) -> jobkit.Client:
    return jobkit.connect(server.api_key, server.user_email, server.url)


def test_read_board_round_trips_what_index_frame_sent(server: RunningServer) -> None:
    sent = jobkit.from_jobs(rich_jobs("round"))
    with client_for(server) as client:
        board = client.board("demo")
        res = jobkit.index_frame(sent, board, progress=False)
        assert res["status"].to_list() == ["created"] * 3
        back = jobkit.read_board(board).filter(pl.col("reference").str.starts_with("round-"))
    assert back.schema == jobkit.JOB_POLARS_SCHEMA
    back = back.sort("reference")
    assert back["key"].to_list() == res.sort("reference")["key"].to_list()
    columns = [c for c in sent.columns if c not in SERVER_SET]
    assert back.select(columns).equals(sent.sort("reference").select(columns))
    # A created_at that was sent comes back as sent; the others are set by the server.
    assert back["created_at"][0] == sent.sort("reference")["created_at"][0]
    assert back["board_key"].unique().to_list() == ["demo"]


def test_read_board_pages_concurrently_without_losing_or_repeating_jobs(
    server: RunningServer,
) -> None:
    df = pl.DataFrame({"reference": [f"page-{i:03d}" for i in range(53)], "name": ["Job"] * 53})
    with client_for(server) as client:
        board = client.board("demo")
        jobkit.index_frame(df, board, progress=False)
        back = jobkit.read_board(board, page_size=7, concurrency=4)
    refs = back.filter(pl.col("reference").str.starts_with("page-"))["reference"].to_list()
    # All of them, once each (sent concurrently, so created in no particular order).
    assert sorted(refs) == df["reference"].to_list()
    assert back["key"].n_unique() == back.height


def test_read_board_by_key_string_uses_the_environment(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.export_credentials(monkeypatch)
    jobkit.index_frame(pl.DataFrame({"name": ["Env"], "reference": ["env-read"]}), "demo")
    assert "env-read" in jobkit.read_board("demo")["reference"].to_list()


def test_the_official_sdk_reads_back_what_jobkit_wrote(server: RunningServer) -> None:
    from hrflow import Hrflow

    jobs = rich_jobs("sdk")
    sent = jobkit.from_jobs(jobs)
    with client_for(server) as client:
        res = jobkit.index_frame(sent, client.board("demo"), progress=False)
    sdk = Hrflow(api_url=server.url, api_secret=server.api_key, api_user=server.user_email)
    expected = jobkit.to_jobs(sent)
    for job, key in zip(expected, res["key"], strict=True):
        answer = sdk.job.storing.get(board_key="demo", reference=job["reference"])
        assert answer["code"] == 200, answer
        got = answer["data"]
        assert got["key"] == key
        for field in ("name", "summary", "location", "skills", "tags", "ranges_date", "url"):
            assert got.get(field) == job.get(field), field
    listing = sdk.job.storing.list(board_keys=["demo"], reference="sdk-2", return_job=True)
    assert listing["code"] == 200
    assert [j["key"] for j in listing["data"]] == [res["key"][2]]
