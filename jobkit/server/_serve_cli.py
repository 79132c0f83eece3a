"""`jobkit serve` and the local store's admin commands (boards and keys)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the server's sub-commands to the `jobkit` parser."""
    serve = commands.add_parser("serve", help="serve the HrFlow job API on a local SQLite store")
    serve.set_defaults(handler=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    msg = "jobkit serve is not built yet"
    raise SystemExit(msg)
