"""Shared fixtures: a real `jobkit serve` on 127.0.0.1, started as a subprocess.

`start_server(directory, ...)` is a plain function (a context manager) so that any test can
start a server with its own options: database, keys, boards, faults, body limit. The
`board_server` fixture is one such server per test module, with a board `demo`.

    with start_server(tmp_path, faults="error_rate=0.5,seed=1") as server:
        httpx.post(server.url + "job/indexing", headers=server.headers, json={...})

`serve_app(app)` serves an ASGI app (e.g. `jobkit.server.create_app(store, faults=...)`)
under uvicorn in a thread of the test process: still real HTTP on 127.0.0.1, without the
second or two a new `jobkit serve` process takes to start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

__all__ = ["RunningServer", "serve_app", "start_server"]

TEST_EMAIL = "tester@example.com"


@dataclass
class RunningServer:
    """A `jobkit serve` subprocess: its URL (ending in `/v1/`), credentials and files."""

    url: str
    api_key: str
    user_email: str
    boards: list[str]
    db: Path
    log: Path
    process: subprocess.Popen[bytes]
    api_keys: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key, "X-USER-EMAIL": self.user_email}

    def export_credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point jobkit's environment credentials at this server (as a user's shell would)."""
        monkeypatch.setenv("JOBKIT_API_KEY", self.api_key)
        monkeypatch.setenv("JOBKIT_USER_EMAIL", self.user_email)
        monkeypatch.setenv("JOBKIT_BASE_URL", self.url)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what survives is what was committed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def start_server(
    directory: Path,
    *,
    db: Path | None = None,
    api_keys: Sequence[str] | None = None,
    boards: Sequence[str] = ("demo",),
    user_email: str | None = TEST_EMAIL,
    faults: str | None = None,
    max_body_bytes: int | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Start `jobkit serve --port 0` on 127.0.0.1 and wait until it answers.

    `api_keys` defaults to one fresh `ask_` key (the first key is `server.api_key`); `[]`
    passes none, and the key the server makes and prints is used. `db` defaults to a new
    file in `directory`, which also holds the server's output.
    """
    directory.mkdir(parents=True, exist_ok=True)
    keys = list(api_keys) if api_keys is not None else ["ask_" + secrets.token_hex(16)]
    db = db or directory / "boards.sqlite3"
    log = directory / f"serve-{secrets.token_hex(4)}.log"
    args = [sys.executable, "-m", "jobkit._cli", "serve", "--port", "0", "--db", str(db)]
    for key in keys:
        args += ["--api-key", key]
    for board in boards:
        args += ["--board", board]
    if user_email is not None:
        args += ["--user-email", user_email]
    if faults is not None:
        args += ["--faults", faults]
    if max_body_bytes is not None:
        args += ["--max-body-bytes", str(max_body_bytes)]
    args += list(extra_args)
    # the server's home is the test's directory: nothing touches the user's own store
    env = {**os.environ, "JOBKIT_HOME": str(directory / "home"), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = None
    try:
        url = _wait_for_url(process, log, timeout)
        if not keys:
            keys = [_printed(log, "api key:")]
        server = RunningServer(
            url=url,
            api_key=keys[0],
            user_email=user_email or TEST_EMAIL,
            boards=list(boards),
            db=db,
            log=log,
            process=process,
            api_keys=keys,
        )
        _wait_until_answering(server, timeout)
        yield server
    finally:
        if server is not None:
            server.stop()
        elif process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _printed(log: Path, label: str) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if line.strip().startswith(label):
            return line.split(label, 1)[1].strip()
    return ""


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = _printed(log, "url:")
        if url:
            return url
        if process.poll() is not None:
            msg = f"jobkit serve exited with {process.returncode}:\n{log.read_text()}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    msg = f"jobkit serve printed no URL within {timeout} s:\n{log.read_text()}"
    raise RuntimeError(msg)


def _wait_until_answering(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(headers=server.headers, timeout=2) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if client.get(server.url + "auth").status_code:
                    return
            time.sleep(0.05)
    msg = f"jobkit serve at {server.url} did not answer:\n{server.output()}"
    raise RuntimeError(msg)


@contextlib.contextmanager
def serve_app(app: object, timeout: float = 10.0) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) in a thread; yields `.../v1/`."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=0,
        log_level="critical",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                msg = "uvicorn did not start"
                raise RuntimeError(msg)
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/v1/"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)


@pytest.fixture(scope="module")
def board_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server per test module, with the board `demo`."""
    with start_server(tmp_path_factory.mktemp("board-server")) as server:
        yield server
