"""The local board server's routes over real HTTP: envelopes, messages, codes, paging, keys."""

from __future__ import annotations

import contextlib
import io
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RunningServer, start_server

from jobkit._cli import main

SEED_JOB = json.loads(
    (Path(__file__).parent / "fixtures/hrflow-job-json/seed_example_job.json").read_text()
)
API_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # demo and other belong to the main key; foreign belongs to the second key only
    keys = ["ask_" + secrets.token_hex(16), "ask_" + secrets.token_hex(16)]
    directory = tmp_path_factory.mktemp("routes")
    with start_server(directory, api_keys=keys, boards=["demo", "other"]) as running:
        _cli(running, "board", "create", "foreign", "--api-key", keys[1])
        yield running


def _cli(server: RunningServer, *args: str) -> str:
    # the admin commands work on the served database while the server runs
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--db", str(server.db)]) == 0
    return out.getvalue()


@pytest.fixture
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=10) as client:
        yield client


def _board(api: httpx.Client, server: RunningServer) -> str:
    """A fresh board of the main key, so that each test sees only its own jobs."""
    key = "b-" + secrets.token_hex(4)
    _cli(server, "board", "create", key, "--api-key", server.api_key)
    return key


def _expect(response: httpx.Response, code: int, message: str | None = None) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"  # exactly, for the SDK
    body: dict[str, Any] = response.json()
    assert response.status_code == body["code"] == code, body
    if message is not None:
        assert body["message"] == message
    return body


def _post(api: httpx.Client, board: str, **job: Any) -> httpx.Response:
    return api.post("job/indexing", json={"board_key": board, **job})


# -- POST ----------------------------------------------------------------------------------------


def test_post_seed_job_echoes_it_with_server_fields(
    api: httpx.Client, server: RunningServer
) -> None:
    board = _board(api, server)
    job = _expect(_post(api, board, **SEED_JOB), 201, "Job created")["data"]
    assert re.fullmatch(r"[0-9a-f]{40}", job["key"])
    assert isinstance(job["id"], int)
    assert job["board_key"] == board
    assert job["board"] == {
        "key": board,
        "name": board,
        "type": "api",
        "subtype": "python",
        "environment": "local",
    }
    # values keep their JSON type; dates come back as sent
    assert job["skills"] == [
        {"name": "python", "value": None, "type": None},
        {"name": "spark", "value": 0.9, "type": None},
    ]
    assert [t["value"] for t in job["tags"]] == [True, "tag"]
    assert [lang["value"] for lang in job["languages"]] == [1, 1]
    assert job["created_at"] == "2020-12-24T09:32:11"
    assert job["ranges_date"][0]["value_min"] == "2020-05-18T21:59"
    assert job["location"] == {
        "text": "Dampierre en Burly (45)",
        "lat": 47.7667,
        "lng": 2.5167,
        "gmaps": None,
        "fields": None,
    }
    # lists that were not sent come back null on create; server-set dates in API format
    assert job["tasks"] is None
    assert job["certifications"] is None
    assert API_TIMESTAMP.match(job["updated_at"])
    assert job["archived_at"] is None
    assert "agent_key" not in job


def test_post_defaults_created_at_to_now_and_ids_increase(
    api: httpx.Client, server: RunningServer
) -> None:
    board = _board(api, server)
    first = _expect(_post(api, board, name="A"), 201)["data"]
    second = _expect(_post(api, board, name="B"), 201)["data"]
    assert API_TIMESTAMP.match(first["created_at"])
    assert second["id"] > first["id"]
    assert first["reference"] is None
    assert first["location"]["text"] is None


def test_post_accepts_the_nested_body(api: httpx.Client, server: RunningServer) -> None:
    board = _board(api, server)
    body = {"board_key": board, "job": {"name": "Nested", "reference": "n-1"}}
    job = _expect(api.post("job/indexing", json=body), 201)["data"]
    assert (job["name"], job["reference"], job["board_key"]) == ("Nested", "n-1", board)


def test_duplicate_reference_is_a_400_even_once_archived(
    api: httpx.Client, server: RunningServer
) -> None:
    board = _board(api, server)
    _expect(_post(api, board, name="A", reference="dup"), 201)
    message = "Cannot create job with this reference: dup. Already used!"
    _expect(_post(api, board, name="B", reference="dup"), 400, message)
    archive = {"board_key": board, "reference": "dup", "is_archive": 1}
    _expect(api.patch("job/indexing/archive", json=archive), 200)
    _expect(_post(api, board, name="C", reference="dup"), 400, message)
    # the same reference on another board is another job
    _expect(_post(api, _board(api, server), name="D", reference="dup"), 201)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"reference": "x"}, "Invalid parameters. name: Field required"),
        (
            {"name": "x", "location": {"lat": 91}},
            "Invalid parameters. location.lat: Input should be less than or equal to 90",
        ),
        (
            {"name": "x", "skills": [{"name": "python", "type": "expert"}]},
            "Invalid parameters. skills[0].type: Input should be 'hard' or 'soft'",
        ),
        (
            {"name": "x", "tags": [{"name": "t", "value": {"a": 1}}]},
            "Invalid parameters. tags[0].value: Input should be one of: bool, int, float, str",
        ),
        (
            {"name": "x", "created_at": "yesterday"},
            "Invalid parameters. created_at: String should match pattern",
        ),
        (
            {"name": "x", "ranges_float": [{"name": "salary", "value_min": 9, "value_max": 1}]},
            "Invalid parameters. ranges_float[0]: Value error, value_min 9.0 is greater than",
        ),
    ],
)
def test_invalid_job_is_a_400_naming_the_field(
    api: httpx.Client, server: RunningServer, job: dict[str, Any], message: str
) -> None:
    body = _expect(_post(api, "demo", **job), 400)
    assert body["message"].startswith(message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"name": ', "Invalid parameters. The request body is not valid JSON"),
        (b"[1, 2]", "Invalid parameters. The request body must be a JSON object"),
        (b"", "Invalid parameters. The request body is empty"),
        (b'{"name": "x"}', "Invalid parameters. board_key: Field required"),
    ],
)
def test_malformed_body_is_a_400(api: httpx.Client, content: bytes, message: str) -> None:
    response = api.post("job/indexing", content=content)
    assert _expect(response, 400)["message"].startswith(message)


# -- GET, PUT, archive ---------------------------------------------------------------------------


def test_get_by_key_and_by_reference(api: httpx.Client, server: RunningServer) -> None:
    board = _board(api, server)
    made = _expect(_post(api, board, name="A", reference="r-1"), 201)["data"]
    for params in ({"key": made["key"]}, {"reference": "r-1"}):
        got = _expect(api.get("job/indexing", params={"board_key": board, **params}), 200)
        assert got["message"] == "Job details"
        assert got["data"] == made
    missing = {"board_key": board, "reference": "nope"}
    _expect(
        api.get("job/indexing", params=missing),
        400,
        "Invalid parameters. Unable to find object: job",
    )
    _expect(api.get("job/indexing", params={"board_key": board}), 400)


def test_put_replaces_the_job_and_keeps_its_identity(
    api: httpx.Client, server: RunningServer
) -> None:
    board = _board(api, server)
    made = _expect(_post(api, board, **SEED_JOB), 201)["data"]
    edit = {"board_key": board, "key": made["key"], "name": "Senior Data Engineer"}
    edited = _expect(api.put("job/indexing", json=edit), 200, "Job edited")["data"]
    assert edited["name"] == "Senior Data Engineer"
    for kept in ("key", "id", "board_key", "board", "created_at", "reference", "archived_at"):
        assert edited[kept] == made[kept], kept
    assert edited["updated_at"] >= made["updated_at"]
    # a full replacement: what was not sent is gone, lists come back [] after an edit
    assert edited["summary"] is None
    assert edited["skills"] == []
    assert edited["tasks"] == []
    assert (
        _expect(api.get("job/indexing", params={"board_key": board, "key": made["key"]}), 200)[
            "data"
        ]
        == edited
    )


def test_put_by_reference_and_not_found(api: httpx.Client, server: RunningServer) -> None:
    board = _board(api, server)
    _expect(_post(api, board, name="A", reference="r-1"), 201)
    _expect(_post(api, board, name="B", reference="r-2"), 201)
    edited = api.put("job/indexing", json={"board_key": board, "reference": "r-1", "name": "A2"})
    assert _expect(edited, 200)["data"]["name"] == "A2"
    nested = {"board_key": board, "key": edited.json()["data"]["key"], "job": {"name": "A3"}}
    renamed = _expect(api.put("job/indexing", json=nested), 200)["data"]
    assert (renamed["name"], renamed["reference"]) == ("A3", "r-1")
    nowhere = {"board_key": board, "reference": "r-9", "name": "Z"}
    not_found = "Invalid parameters. Unable to find object: job"
    _expect(api.put("job/indexing", json=nowhere), 400, not_found)
    unknown_key = {"board_key": board, "key": "0" * 40, "name": "Z"}
    _expect(api.put("job/indexing", json=unknown_key), 400, not_found)
    # renaming a reference onto another job's is refused
    key = edited.json()["data"]["key"]
    clash = {"board_key": board, "key": key, "reference": "r-2", "name": "A3"}
    assert "Already used" in _expect(api.put("job/indexing", json=clash), 400)["message"]


def test_archive_hides_from_listings_but_not_from_get(
    api: httpx.Client, server: RunningServer
) -> None:
    board = _board(api, server)
    made = _expect(_post(api, board, name="A", reference="a"), 201)["data"]
    _expect(_post(api, board, name="B", reference="b"), 201)
    body = {"board_key": board, "key": made["key"], "is_archive": 1}
    archived = _expect(api.patch("job/indexing/archive", json=body), 200, "Job archived")
    assert archived["data"] == {"key": made["key"]}
    got = _expect(api.get("job/indexing", params={"board_key": board, "reference": "a"}), 200)
    assert API_TIMESTAMP.match(got["data"]["archived_at"])
    listing = {"board_keys": json.dumps([board]), "return_job": "True"}
    names = [j["name"] for j in _expect(api.get("storing/jobs", params=listing), 200)["data"]]
    assert names == ["B"]
    everything = {**listing, "include_archived": "true"}
    assert _expect(api.get("storing/jobs", params=everything), 200)["meta"]["total"] == 2
    # is_archive 0 unarchives (the legacy SDKs' way)
    _expect(api.patch("job/indexing/archive", json={**body, "is_archive": 0}), 200)
    assert _expect(api.get("storing/jobs", params=listing), 200)["meta"]["total"] == 2
    missing = {"board_key": board, "reference": "zzz", "is_archive": 1}
    _expect(
        api.patch("job/indexing/archive", json=missing),
        400,
        "Invalid parameters. Unable to find object: job",
    )


# -- listings and paging -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seven(server: RunningServer) -> str:
    """A board with seven jobs created 2024-01-01 .. 2024-01-07 (r-1 .. r-7)."""
    board = "paging"
    _cli(server, "board", "create", board, "--api-key", server.api_key)
    with httpx.Client(base_url=server.url, headers=server.headers) as api:
        for day in range(1, 8):
            job = {"name": f"Job {day}", "reference": f"r-{day}", "created_at": f"2024-01-0{day}"}
            _expect(_post(api, board, **job), 201)
    return board


def _page(api: httpx.Client, path: str, board: str, **params: Any) -> dict[str, Any]:
    return _expect(api.get(path, params={"board_keys": json.dumps([board]), **params}), 200)


def test_paging_meta_and_out_of_range_page(api: httpx.Client, seven: str) -> None:
    pages = [_page(api, "storing/jobs", seven, limit=3, page=p) for p in (1, 2, 3, 4)]
    assert [p["meta"] for p in pages] == [
        {"page": 1, "maxPage": 3, "count": 3, "total": 7},
        {"page": 2, "maxPage": 3, "count": 3, "total": 7},
        {"page": 3, "maxPage": 3, "count": 1, "total": 7},
        {"page": 4, "maxPage": 3, "count": 0, "total": 7},
    ]
    refs = [job["reference"] for p in pages for job in p["data"]]
    assert refs == [f"r-{d}" for d in range(7, 0, -1)]  # newest first by default
    assert pages[0]["message"] == "List of jobs"
    oldest = _page(api, "storing/jobs", seven, order_by="asc", limit=2)["data"]
    assert [job["reference"] for job in oldest] == ["r-1", "r-2"]


def test_empty_board_has_max_page_zero(api: httpx.Client, server: RunningServer) -> None:
    meta = _page(api, "storing/jobs", _board(api, server))["meta"]
    assert meta == {"page": 1, "maxPage": 0, "count": 0, "total": 0}


@pytest.mark.parametrize(
    ("flag", "full"), [("True", True), ("1", True), ("false", False), ("0", False)]
)
def test_return_job_shapes(api: httpx.Client, seven: str, flag: str, full: bool) -> None:
    job = _page(api, "storing/jobs", seven, return_job=flag, limit=1)["data"][0]
    summary = {"id", "key", "reference", "board_key", "name", "created_at", "updated_at"}
    assert summary <= set(job)
    assert ("skills" in job) is full


def test_listing_filters(api: httpx.Client, seven: str) -> None:
    one = _page(api, "storing/jobs", seven, reference="r-3")["data"]
    assert [job["reference"] for job in one] == ["r-3"]
    window = _page(
        api, "storing/jobs", seven, created_at_min="2024-01-02", created_at_max="2024-01-03"
    )
    assert sorted(job["reference"] for job in window["data"]) == ["r-2", "r-3"]
    assert _page(api, "storing/jobs", seven, name="job 5")["meta"]["total"] == 1


def test_searching_returns_data_jobs(api: httpx.Client, seven: str) -> None:
    found = _page(api, "jobs/searching", seven, limit=5)
    assert found["message"] == "Job searching results"
    assert len(found["data"]["jobs"]) == found["meta"]["count"] == 5
    assert found["data"]["jobs"][0]["name"] == "Job 7"
    assert _page(api, "jobs/searching", seven, text_keywords="Job 2")["meta"]["total"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "9" * 30},  # would overflow SQLite's OFFSET
        {"limit": "abc"},
        {"limit": "100000"},
        {"order_by": "up"},
        {"return_job": "maybe"},
        {"created_at_min": "soon"},
    ],
)
def test_bad_query_is_a_400(api: httpx.Client, seven: str, params: dict[str, str]) -> None:
    response = api.get("storing/jobs", params={"board_keys": json.dumps([seven]), **params})
    assert _expect(response, 400)["message"].startswith("Invalid parameters. ")


def test_board_keys_must_be_given(api: httpx.Client) -> None:
    _expect(api.get("storing/jobs"), 400)
    _expect(api.get("storing/jobs", params={"board_keys": "[1, 2]"}), 400)
    many = json.dumps([f"b{i}" for i in range(101)])
    _expect(api.get("storing/jobs", params={"board_keys": many}), 400)


# -- keys, permissions, boards -------------------------------------------------------------------


def test_bad_key_is_a_401_that_never_echoes_the_secret(server: RunningServer) -> None:
    secret = "ask_" + secrets.token_hex(16)
    response = httpx.get(server.url + "auth", headers={**server.headers, "X-API-KEY": secret})
    body = _expect(response, 401, "Unauthorized. Invalid secret key: ask_… ")
    assert secret[4:] not in response.text
    assert body["message"].endswith(" ")
    _expect(httpx.get(server.url + "auth"), 401)
    assert secret not in server.output()


def test_read_and_write_keys(server: RunningServer) -> None:
    read = _cli(server, "key", "create", "--permission", "read", "--board", "demo").strip()
    write = _cli(server, "key", "create", "--permission", "write", "--board", "demo").strip()
    assert read.startswith("askr_")
    assert write.startswith("askw_")
    headers = {"X-USER-EMAIL": "anyone@example.com"}
    job = {"board_key": "demo", "name": "x"}
    params = {"board_keys": '["demo"]'}
    with httpx.Client(base_url=server.url, headers={**headers, "X-API-KEY": read}) as reader:
        _expect(reader.get("storing/jobs", params=params), 200)
        denied = _expect(reader.post("job/indexing", json=job), 401)["message"]
        assert denied == "Unauthorized. Invalid secret key: askr… for permission: write"
        auth = _expect(reader.get("auth"), 200)["data"]
        assert auth["api_key_permission"] == "read"
    with httpx.Client(base_url=server.url, headers={**headers, "X-API-KEY": write}) as writer:
        _expect(writer.post("job/indexing", json=job), 201)
        denied = _expect(writer.get("storing/jobs", params=params), 401)["message"]
        assert denied.endswith("for permission: read")


def test_user_email_is_required_and_checked(server: RunningServer) -> None:
    only_key = {"X-API-KEY": server.api_key}
    _expect(httpx.get(server.url + "boards", headers=only_key), 401)
    wrong = {**only_key, "X-USER-EMAIL": "someone-else@example.com"}
    _expect(httpx.get(server.url + "boards", headers=wrong), 401)


def test_a_key_sees_only_its_own_boards(api: httpx.Client, server: RunningServer) -> None:
    _expect(_post(api, "foreign", name="x"), 401, "Unauthorized Access to board key: foreign")
    listing = {"board_keys": '["foreign"]'}
    _expect(api.get("storing/jobs", params=listing), 401)
    _expect(api.get("board", params={"key": "foreign"}), 401)
    _expect(
        _post(api, "no-such-board", name="x"),
        400,
        "Invalid parameters. Unable to find object: board",
    )
    _expect(api.get("board", params={"key": "no-such-board"}), 400, "Invalid board fields")
    keys = [b["key"] for b in _expect(api.get("boards", params={"limit": 1000}), 200)["data"]]
    assert "demo" in keys
    assert "other" in keys
    assert "foreign" not in keys
    info = _expect(api.get("board", params={"key": "demo"}), 200, "Board info")["data"]
    assert info["key"] == "demo"
    assert isinstance(info["stats"]["size"], int)


def test_auth_reports_the_permission(api: httpx.Client) -> None:
    data = _expect(api.get("auth"), 200)["data"]
    assert data["api_key_permission"] == "all"
    assert {"team_name", "team_subdomain", "request_origin"} <= set(data)


# -- HTTP edges ----------------------------------------------------------------------------------


def test_unknown_route_and_method(api: httpx.Client) -> None:
    _expect(api.get("no/such/route"), 404, "The resource does not exist")
    _expect(api.get("/"), 404)
    _expect(api.get("auth/"), 404)  # an envelope, not a bare redirect
    assert _expect(api.delete("job/indexing"), 405)["message"].startswith("Method DELETE")


def test_openapi_document(api: httpx.Client) -> None:
    doc = api.get("openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/v1/job/indexing", "/v1/storing/jobs", "/v1/auth"} <= set(doc["paths"])
    assert "location" in doc["components"]["schemas"]["Job"]["properties"]


def test_body_limit_is_a_413_even_without_content_length(tmp_path: Path) -> None:
    with start_server(tmp_path, max_body_bytes=2048) as small:
        big = {"board_key": "demo", "name": "x", "summary": "y" * 4096}
        with httpx.Client(base_url=small.url, headers=small.headers) as api:
            _expect(api.post("job/indexing", json=big), 413)

            def chunks() -> Iterator[bytes]:  # streamed: no Content-Length to trust
                yield json.dumps(big).encode()[:1500]
                yield json.dumps(big).encode()[1500:]

            _expect(api.post("job/indexing", content=chunks()), 413)
            _expect(api.post("job/indexing", json={"board_key": "demo", "name": "ok"}), 201)
