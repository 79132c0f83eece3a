"""The `jobkit` console script: one sub-command per job, each handled by its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobkit",
        description="Move job postings between DataFrames and HrFlow.ai job boards.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    schema = commands.add_parser("schema", help="print the Job JSON Schema")
    schema.set_defaults(handler=_run_schema)

    # Each sub-command registers itself from the module that owns it.
    from jobkit.server import _serve_cli

    _serve_cli.register(commands)
    try:
        from jobkit import _index_cli
    except ImportError:  # pragma: no cover - index CLI not built yet
        pass
    else:
        _index_cli.register(commands)
    return parser


def _run_schema(args: argparse.Namespace) -> int:
    import json

    from jobkit._schema import job_json_schema

    print(json.dumps(job_json_schema(), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
