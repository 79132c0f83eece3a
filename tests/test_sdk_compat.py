"""The official SDK (`hrflow==4.3.0`, unchanged) against a real `jobkit serve` on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hrflow  # the dev extra pins hrflow==4.3.0
import pytest
from conftest import RunningServer, start_server
from hrflow.utils.storing import get_all_jobs

SEED_JOB: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures/hrflow-job-json/seed_example_job.json").read_text()
)
BOARD = secrets.token_hex(20)  # a real-looking 40-hex board key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("sdk"), boards=[BOARD]) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return hrflow.Hrflow(api_url=server.url, api_secret=server.api_key, api_user=server.user_email)


def test_storing_round_trip(client: Any) -> None:
    storing = client.job.storing
    created = storing.add_json(board_key=BOARD, job_json=copy.deepcopy(SEED_JOB))
    assert created["code"] == 201, created
    job = created["data"]
    assert job["board_key"] == job["board"]["key"] == BOARD
    assert job["skills"][1]["value"] == 0.9

    by_reference = storing.get(board_key=BOARD, reference=SEED_JOB["reference"])
    by_key = storing.get(board_key=BOARD, key=job["key"])
    assert by_reference["code"] == by_key["code"] == 200
    assert by_reference["data"] == by_key["data"] == job

    # HrFlow's recommended edit: GET, change `data`, PUT it back
    changed = dict(by_key["data"], summary="Now with Rust.")
    edited = storing.edit(board_key=BOARD, job_json=changed, key=job["key"])
    assert edited["code"] == 200, edited
    assert edited["data"]["summary"] == "Now with Rust."
    assert edited["data"]["skills"] == job["skills"]

    duplicate = storing.add_json(board_key=BOARD, job_json=copy.deepcopy(SEED_JOB))
    assert duplicate["code"] == 400
    assert "Already used" in duplicate["message"]

    archived = storing.archive(board_key=BOARD, key=job["key"])
    assert archived["code"] == 200
    assert archived["data"]["key"] == job["key"]
    still = storing.get(board_key=BOARD, key=job["key"])
    assert still["data"]["archived_at"] is not None

    missing = storing.get(board_key=BOARD, reference="no-such-job")
    assert missing["code"] == 400
    assert "Unable to find object: job" in missing["message"]


def test_listing_paging_and_search(client: Any) -> None:
    for i in range(7):
        job = {"name": f"Listed {i}", "reference": f"listed-{i}", "location": {"text": "Paris"}}
        assert client.job.storing.add_json(board_key=BOARD, job_json=job)["code"] == 201

    first = client.job.storing.list(board_keys=[BOARD], limit=3, page=1)
    assert first["code"] == 200
    assert first["meta"]["total"] >= 7
    assert first["meta"]["maxPage"] == -(-first["meta"]["total"] // 3)
    assert first["meta"]["count"] == len(first["data"]) == 3
    past = client.job.storing.list(board_keys=[BOARD], page=first["meta"]["maxPage"] + 1)
    assert past["code"] == 200
    assert past["data"] == []
    full = client.job.storing.list(board_keys=[BOARD], return_job=True, limit=2)
    assert "location" in full["data"][0]

    everything = get_all_jobs(client, BOARD)  # the SDK's own bulk reader
    assert len(everything) == first["meta"]["total"]
    assert {f"listed-{i}" for i in range(7)} <= {job["reference"] for job in everything}

    found = client.job.searching.list(board_keys=[BOARD], limit=5, page=1)
    assert found["code"] == 200
    assert len(found["data"]["jobs"]) == found["meta"]["count"] == 5


def test_boards_and_auth(client: Any, server: RunningServer) -> None:
    boards = client.board.list()
    assert boards["code"] == 200
    assert [b["key"] for b in boards["data"]] == [BOARD]
    board = client.board.get(key=BOARD)
    assert board["code"] == 200
    assert board["data"]["key"] == BOARD

    auth = client.auth.get()  # checks the key against ^ask[rw]?_[0-9a-f]{32}$ first
    assert auth["code"] == 200
    assert auth["data"]["api_key_permission"] == "all"

    stranger = hrflow.Hrflow(
        api_url=server.url, api_secret="ask_" + "0" * 32, api_user=server.user_email
    )
    denied = stranger.auth.get()
    assert denied["code"] == 401
    assert "0" * 32 not in denied["message"]
