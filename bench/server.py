"""Throughput of the local board server: POST job/indexing per second on loopback.

    .venv/bin/python bench/server.py [--requests 2000] [--rounds 3] [--concurrency 32]

Starts, on 127.0.0.1 and one uvicorn worker each:

* `jobkit serve` (validation with the Job schema, auth, board checks, durable group commit);
* two baselines: the same uvicorn serving a minimal Starlette JSON POST handler that parses
  the body and does one SQLite INSERT + commit per request, on the event loop: `durable`
  with WAL + synchronous=FULL (jobkit's guarantee: an fsync per acknowledged write) and
  `fast` with synchronous=NORMAL (no fsync per commit: a 201 may be lost by a power cut).

Both are driven by one plain aiohttp client (httpx's default async transport would measure
itself: ~150-190 requests/s here) with the seed's example job, a fresh reference each time.
Prints requests/s for each and the ratios jobkit/baseline, measured in the same run; also the
GET job/indexing?reference= rate (the indexer's "did my write land?" path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SEED_JOB = json.loads((ROOT / "tests/fixtures/hrflow-job-json/seed_example_job.json").read_text())


def baseline_app(db: str, synchronous: str) -> Any:
    """The minimal endpoint: parse JSON, INSERT, commit, answer 201."""
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, ref TEXT, body BLOB)")

    async def post(request: Request) -> JSONResponse:
        job = orjson.loads(await request.body())
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "INSERT INTO jobs (ref, body) VALUES (?, ?)", (job.get("reference"), orjson.dumps(job))
        )
        conn.execute("COMMIT")
        return JSONResponse(
            {"code": 201, "message": "Job created", "data": {"id": cursor.lastrowid}}, 201
        )

    return Starlette(routes=[Route("/v1/job/indexing", post, methods=["POST"])])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"server exited with {process.returncode}"
            raise RuntimeError(msg)
        try:
            with socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), 1):
                return
        except OSError:
            time.sleep(0.05)
    msg = f"no server at {url}"
    raise RuntimeError(msg)


async def _drive(
    url: str, headers: dict[str, str], requests: int, concurrency: int, tag: str, board: str
) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            for i in counter:
                body = {**SEED_JOB, "reference": f"{tag}-{i}", "board_key": board}
                async with session.post(url + "job/indexing", json=body) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, statuses


async def _drive_gets(
    url: str, headers: dict[str, str], requests: int, concurrency: int, tag: str, board: str
) -> float:
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            for i in counter:
                params = {"board_key": board, "reference": f"{tag}-{i % 500}"}
                async with session.get(url + "job/indexing", params=params) as response:
                    await response.read()
                    assert response.status == 200, response.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-app", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--synchronous", default="FULL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_app:  # the baseline's own process
        import uvicorn

        uvicorn.run(
            baseline_app(args.baseline_app, args.synchronous),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        return

    key = "ask_" + secrets.token_hex(16)
    headers = {"X-API-KEY": key, "X-USER-EMAIL": "bench@example.com"}
    names = ("durable", "fast", "jobkit")
    with tempfile.TemporaryDirectory() as tmp:
        urls: dict[str, str] = {}
        processes = []
        try:
            for name in names:
                port = _free_port()
                urls[name] = f"http://127.0.0.1:{port}/v1/"
                processes.append(
                    _start(
                        _command(name, port, tmp, key), {**os.environ, "JOBKIT_HOME": f"{tmp}/home"}
                    )
                )
                _wait(urls[name], processes[-1])
            for name in names:
                asyncio.run(_drive(urls[name], headers, 300, args.concurrency, "warm", "bench"))
            # Rounds alternate the servers, and the median is kept: the machine is shared, and
            # its load moves between (not within) a few seconds.
            rates: dict[str, list[float]] = {name: [] for name in names}
            for round_ in range(args.rounds):
                for name in names:
                    rate, statuses = asyncio.run(
                        _drive(
                            urls[name],
                            headers,
                            args.requests,
                            args.concurrency,
                            f"run{round_}",
                            "bench",
                        )
                    )
                    assert set(statuses) == {201}, statuses
                    rates[name].append(rate)
            get_rate = asyncio.run(
                _drive_gets(
                    urls["jobkit"], headers, args.requests, args.concurrency, "run0", "bench"
                )
            )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"POST job/indexing, {args.requests} requests x {args.rounds} rounds, "
        f"concurrency {args.concurrency}, one uvicorn worker each (median requests/s):"
    )
    for name in names:
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"  {name:>8}: {median[name]:6.0f}   (rounds: {runs})")
    print(f"  GET job/indexing?reference= on jobkit: {get_rate:.0f} requests/s")
    for base in ("durable", "fast"):
        print(f"  ratio jobkit / {base} baseline: {median['jobkit'] / median[base]:.2f}")


def _command(name: str, port: int, tmp: str, key: str) -> list[str]:
    if name == "jobkit":
        return [
            sys.executable,
            "-m",
            "jobkit._cli",
            "serve",
            "--port",
            str(port),
            "--db",
            f"{tmp}/jobkit.sqlite3",
            "--api-key",
            key,
            "--board",
            "bench",
        ]
    synchronous = "FULL" if name == "durable" else "NORMAL"
    return [
        sys.executable,
        __file__,
        "--baseline-app",
        f"{tmp}/{name}.sqlite3",
        "--port",
        str(port),
        "--synchronous",
        synchronous,
    ]


if __name__ == "__main__":
    main()
