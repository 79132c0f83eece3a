"""`jobkit index` and `jobkit export`: index a file into a board, write a board to a file.

Credentials come from the environment (`JOBKIT_API_KEY` / `HRFLOW_API_KEY`, `JOBKIT_USER_EMAIL`
/ `HRFLOW_USER_EMAIL`, `JOBKIT_BASE_URL`); with none, both use the embedded local store in
`$JOBKIT_HOME`, so `jobkit index data/network-jobs-sample.jsonl --board demo` works on a fresh
machine. `jobkit index` exits 0 when every row is on the board (or valid, in a dry run), 1 when
some rows were invalid, duplicate or rejected, and 2 when some could not be indexed (failed,
not sent: rerun the same command to finish).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

_OK = frozenset({"created", "updated", "exists", "valid"})
_RETRYABLE = frozenset({"failed", "not_sent"})
_SHOWN_PROBLEMS = 10


def register(commands: Any) -> None:
    """Add `index` and `export` to the `jobkit` parser."""
    index = commands.add_parser(
        "index",
        help="index a parquet, CSV or NDJSON file of jobs into a board (exactly once)",
        description="Index every row of FILE into a board; one result per row.",
    )
    index.add_argument("file", metavar="FILE", type=Path, help="parquet, CSV or NDJSON/JSONL")
    index.add_argument("--board", required=True, metavar="KEY", help="the board's key")
    index.add_argument(
        "--on-conflict",
        choices=["skip", "update", "fail"],
        default="skip",
        help="what a reference already on the board means: skip (exists), update (PUT), "
        "fail (rejected); default: skip",
    )
    index.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    index.add_argument("--concurrency", type=_positive, default=32, metavar="N")
    index.add_argument("--chunk-size", type=_positive, default=5000, metavar="N")
    index.add_argument("--deadline", type=float, default=None, metavar="SECONDS")
    index.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the results (row, reference, key, status, ...) to .parquet, .csv or .jsonl",
    )
    index.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: on a terminal only)",
    )
    index.set_defaults(handler=_run_index)

    export = commands.add_parser(
        "export",
        help="write a board's jobs to a parquet or JSONL file",
        description="Write every job of a board to FILE (.parquet, or .jsonl/.ndjson).",
    )
    export.add_argument("--board", required=True, metavar="KEY")
    export.add_argument("--output", required=True, type=Path, metavar="FILE")
    export.add_argument("--include-archived", action="store_true")
    export.set_defaults(handler=_run_export)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _where(board: Any) -> str:
    url = str(board.connection.base_url)
    if url.startswith("jobkit-local://"):
        return f"the embedded local store ({url.removeprefix('jobkit-local://')})"
    return url


def _run_index(args: argparse.Namespace) -> int:
    import polars as pl

    from jobkit._client import board as open_board
    from jobkit._exceptions import JobkitError
    from jobkit._index import index_frame

    if not args.file.exists():
        print(f"jobkit index: {args.file}: no such file", file=sys.stderr)
        return 2
    try:
        board = open_board(args.board)
        results = index_frame(
            args.file,
            board,
            chunk_size=args.chunk_size,
            concurrency=args.concurrency,
            on_conflict=args.on_conflict,
            dry_run=args.dry_run,
            progress=args.progress,
            deadline=args.deadline,
        )
    except (JobkitError, OSError) as exc:
        print(f"jobkit index: {exc}", file=sys.stderr)
        return 2
    verb = "checked (dry run)" if args.dry_run else "indexed"
    print(
        f"{verb} {results.height} rows of {args.file} into board {args.board!r} at {_where(board)}"
    )
    counts = results["status"].value_counts(sort=True)
    for status, n in counts.iter_rows():
        print(f"  {status:<10} {n:>8}")
    problems = results.filter(~pl.col("status").cast(pl.String).is_in(list(_OK)))
    for row, status, error in (
        problems.head(_SHOWN_PROBLEMS).select("row", "status", "error").rows()
    ):
        print(f"  row {row} ({status}): {error}")
    if problems.height > _SHOWN_PROBLEMS:
        print(f"  ... and {problems.height - _SHOWN_PROBLEMS} more rows with problems")
    if args.output is not None:
        _write_results(results, args.output)
        print(f"results: {args.output}")
    statuses = set(results["status"].cast(pl.String).unique().to_list())
    if statuses & _RETRYABLE:
        print("some rows could not be indexed: rerun the same command to finish", file=sys.stderr)
        return 2
    return 0 if statuses <= _OK else 1


def _write_results(results: Any, path: Path) -> None:
    import polars as pl

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        results.write_parquet(path)
    elif suffix == ".csv":
        results.with_columns(pl.col("status").cast(pl.String)).write_csv(path)
    elif suffix in (".jsonl", ".ndjson"):
        results.with_columns(pl.col("status").cast(pl.String)).write_ndjson(path)
    else:
        msg = f"--output {path}: use a .parquet, .csv or .jsonl file"
        raise SystemExit(msg)


def _run_export(args: argparse.Namespace) -> int:
    import orjson

    from jobkit._board import read_board
    from jobkit._client import board as open_board
    from jobkit._convert import to_jobs
    from jobkit._exceptions import JobkitError

    path: Path = args.output
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".jsonl", ".ndjson"):
        print(f"jobkit export: --output {path}: use a .parquet or .jsonl file", file=sys.stderr)
        return 2
    try:
        board = open_board(args.board)
        frame = read_board(board, include_archived=args.include_archived)
    except JobkitError as exc:
        print(f"jobkit export: {exc}", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.write_parquet(path)
    else:
        with path.open("wb") as out:
            for job in to_jobs(frame):
                out.write(orjson.dumps(job) + b"\n")
    print(f"exported {frame.height} jobs of board {args.board!r} at {_where(board)} to {path}")
    return 0
