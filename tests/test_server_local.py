"""The embedded local store (`local_app`), the jobkit home, and the admin commands."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_server

from jobkit._cli import main
from jobkit.server import close_local_apps, jobkit_home, local_app


async def _call(
    home: Path, method: str, path: str, *, json: Any = None, params: Any = None
) -> httpx.Response:
    app, api_key, user_email = local_app(home)
    headers = {"X-API-KEY": api_key, "X-USER-EMAIL": user_email}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://jobkit.local/v1/", headers=headers
    ) as client:
        return await client.request(method, path, json=json, params=params)


def test_local_app_creates_its_home_key_and_boards_on_first_use(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        job = {"board_key": "demo", "name": "Data Engineer", "reference": "de-1"}
        created = asyncio.run(_call(home, "POST", "job/indexing", json=job))
        assert created.status_code == 201
        assert created.json()["data"]["board"]["key"] == "demo"
        local = local_app(home)
        assert local is local_app(home)  # one app per home per process
        assert re.fullmatch(r"ask_[0-9a-f]{32}", local.api_key)
        key_file = home / "api-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        # the database holds only the key's hash
        assert local.api_key.encode() not in (home / "boards.sqlite3").read_bytes()
        assert local.store.ensure_board("other", grant=[local.api_key])["key"] == "other"
    finally:
        close_local_apps()
    # a new process (here: after closing) finds the same key and the same jobs
    try:
        again = local_app(home)
        assert again.api_key == key_file.read_text().strip()
        params = {"board_key": "demo", "reference": "de-1"}
        got = asyncio.run(_call(home, "GET", "job/indexing", params=params))
        assert got.json()["data"]["name"] == "Data Engineer"
    finally:
        close_local_apps()


def test_jobkit_home_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JOBKIT_HOME", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert jobkit_home() == tmp_path / "explicit"
    monkeypatch.delenv("JOBKIT_HOME")
    assert jobkit_home() == tmp_path / "xdg" / "jobkit"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert jobkit_home() == tmp_path / "user" / ".local" / "share" / "jobkit"


def _cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


def test_admin_commands_make_boards_and_keys_that_serve_uses(tmp_path: Path) -> None:
    db = str(tmp_path / "admin.sqlite3")
    reader = _cli("key", "create", "--permission", "read", "--db", db).strip()
    assert re.fullmatch(r"askr_[0-9a-f]{32}", reader)
    assert _cli("board", "create", "jobs-fr", "--name", "French jobs", "--db", db) == "jobs-fr\n"
    assert _cli("board", "list", "--db", db) == "jobs-fr\tFrench jobs\t0 jobs\n"
    with start_server(tmp_path, db=Path(db), api_keys=[reader], boards=[]) as server:
        boards = httpx.get(server.url + "boards", headers=server.headers).json()
        # `board create` without --api-key granted the board to every key of the store
        assert [b["name"] for b in boards["data"]] == ["French jobs"]
        denied = httpx.post(
            server.url + "job/indexing",
            json={"board_key": "jobs-fr", "name": "x"},
            headers=server.headers,
        )
        assert denied.status_code == 401


def test_serve_without_a_key_makes_one_and_prints_it(tmp_path: Path) -> None:
    with start_server(tmp_path, api_keys=[], user_email=None) as server:
        assert re.fullmatch(r"ask_[0-9a-f]{32}", server.api_key)
        assert f"http://127.0.0.1:{server.port}/v1/" in server.output()
        # no --user-email: any X-USER-EMAIL is accepted, but one must be sent
        auth = httpx.get(server.url + "auth", headers=server.headers)
        assert auth.json()["data"]["api_key_permission"] == "all"
        job = {"board_key": "demo", "name": "x"}
        assert (
            httpx.post(server.url + "job/indexing", json=job, headers=server.headers).status_code
            == 201
        )
