"""`read_board`: a board's jobs as a canonical polars frame, pages fetched concurrently.

Pages come from `GET storing/jobs?return_job=True`, oldest first (`sort_by=created_at`,
`order_by=asc`), so that jobs added while we read land on the last pages instead of shifting
the ones being fetched; a job seen twice across a page boundary is kept once (by key). Each
page is converted on arrival (`from_jobs`, vectorised), so the JSON of the whole board is
never held at once. Transient errors (429, 5xx, network) are retried: reads are idempotent.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Final

import orjson
import polars as pl

from jobkit._client import AsyncBoard, AsyncClient, Board, LoopThread, error_for, parse_envelope
from jobkit._exceptions import APIConnectionError, APIStatusError
from jobkit._progress import Progress
from jobkit._retry import RetryPolicy, parse_retry_after

__all__ = ["read_board"]

DEFAULT_PAGE_SIZE: Final = 500
_PATH: Final = "storing/jobs"


async def _page(
    client: AsyncClient,
    params: dict[str, str | int],
    policy: RetryPolicy,
    rng: random.Random,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page's jobs and its `meta`, retrying transient failures."""
    retry = 0
    while True:
        response = None
        try:
            response = await client.send("GET", _PATH, params=params)
            error = error_for(response, client.connection, f"GET {_PATH} page {params['page']}")
            transient = error is not None and (error.status == 429 or error.status >= 500)
            if error is not None and not transient:
                raise error
            envelope = parse_envelope(response) if error is None else None
            if envelope is not None:
                data, meta = envelope.get("data"), envelope.get("meta")
                if isinstance(data, list) and isinstance(meta, dict):
                    return data, meta
                if error is None:
                    msg = f"GET {_PATH}: the answer has no list of jobs and no meta"
                    raise APIStatusError(msg, status=response.status_code, api_message="")
            last: Exception | None = error
        except APIConnectionError as exc:
            last = exc
        retry += 1
        if retry > policy.max_retries:
            assert last is not None
            raise last
        header = response.headers.get("Retry-After") if response is not None else None
        await asyncio.sleep(policy.delay(retry, retry_after=parse_retry_after(header), rng=rng))


async def _read(
    board: Board | AsyncBoard,
    include_archived: bool,
    page_size: int,
    concurrency: int,
    progress: Progress,
) -> pl.DataFrame:
    from jobkit._convert import from_jobs

    conn = board.client.connection
    policy, rng = RetryPolicy(), random.Random()
    async with AsyncClient(conn, max_connections=concurrency + 4) as client:
        base: dict[str, str | int] = {
            "board_keys": orjson.dumps([board.key]).decode(),
            "return_job": "true",
            "limit": page_size,
            "sort_by": "created_at",
            "order_by": "asc",
            "include_archived": "true" if include_archived else "false",
        }
        first, meta = await _page(client, {**base, "page": 1}, policy, rng)
        progress.set_total(int(meta.get("total") or 0))
        frames = [from_jobs(first)]
        progress.update("read", len(first))
        semaphore = asyncio.Semaphore(concurrency)

        async def fetch(page: int) -> pl.DataFrame:
            async with semaphore:
                jobs, _meta = await _page(client, {**base, "page": page}, policy, rng)
            frame = await asyncio.to_thread(from_jobs, jobs)
            progress.update("read", len(jobs))
            return frame

        rest = range(2, int(meta.get("maxPage") or 0) + 1)
        frames += await asyncio.gather(*(fetch(page) for page in rest))
    frame = pl.concat(frames, how="vertical")
    return frame.filter(pl.col("key").is_null() | pl.col("key").is_first_distinct())


def read_board(
    board: Board | AsyncBoard | str,
    include_archived: bool = False,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    concurrency: int = 8,
    progress: bool | None = False,
) -> pl.DataFrame:
    """The jobs of `board` as a canonical polars frame (`JOB_POLARS_SCHEMA`), oldest first.

    `board` is a `Board` or a board key (`jobkit.board(key)`); archived jobs are left out
    unless `include_archived`. Pages of `page_size` jobs are fetched `concurrency` at a time.
    `from_jobs(...)`'s counterpart: `to_jobs(read_board(b))` gives back what `index_frame`
    sent, plus the fields the server sets (`key`, `board`, `updated_at`...).

    Examples
    --------
    >>> import polars as pl, tempfile, jobkit
    >>> df = pl.DataFrame({"name": ["Data Engineer", "ML Engineer"], "reference": ["de", "ml"]})
    >>> with tempfile.TemporaryDirectory() as home, jobkit.connect(home=home) as client:
    ...     board = client.board("demo")
    ...     _ = jobkit.index_frame(df, board, progress=False)
    ...     back = jobkit.read_board(board)
    >>> back.sort("reference").select("reference", "name").rows()  # sent concurrently: any order
    [('de', 'Data Engineer'), ('ml', 'ML Engineer')]
    """
    if isinstance(board, str):
        from jobkit._client import board as default_board

        board = default_board(board)
    bar = Progress(total=None, enabled=progress, desc="reading", unit="job")
    loop = LoopThread("jobkit-read")
    try:
        return loop.run(_read(board, include_archived, page_size, concurrency, bar))
    finally:
        loop.close()
        bar.close()
