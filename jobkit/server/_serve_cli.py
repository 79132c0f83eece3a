"""`jobkit serve` and the local store's admin commands (boards and keys).

```
jobkit serve [--host 127.0.0.1] [--port 8000] [--db PATH] [--api-key KEY ...]
             [--user-email EMAIL] [--board KEY ...] [--faults SPEC] [--max-body-bytes N]
jobkit board create KEY [--name NAME] [--api-key KEY ...] [--db PATH]
jobkit board list [--db PATH]
jobkit key create [--permission all|read|write] [--board KEY ...] [--user-email EMAIL] [--db PATH]
```

Without `--db` every command works on the embedded store under the jobkit home (the one
`jobkit.connect()` uses), and `serve` serves that home's local key. Startup prints the key:
it is the user's own local key, and the console they started the server from is the one
place it is shown (never in a response or a log line).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from jobkit._exceptions import ServerConfigError
from jobkit.server._home import DB_NAME, jobkit_home, local_key
from jobkit.server.app import DEFAULT_MAX_BODY_BYTES, create_app
from jobkit.server.faults import FaultSpec
from jobkit.server.store import PERMISSIONS, Store

__all__ = ["register", "serve"]


def register(commands: Any) -> None:
    """Add the server's sub-commands to the `jobkit` parser."""
    serve_cmd = commands.add_parser(
        "serve",
        help="serve the HrFlow job API on a local SQLite store",
        description="Serve the HrFlow job API (/v1/) over HTTP on a local SQLite store.",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=8000, help="default 8000; 0: any free")
    _db_option(serve_cmd)
    serve_cmd.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a key to accept (repeatable; askr_ = read, askw_ = write, else all). "
        "Default: the home's local key, or a new key with --db",
    )
    serve_cmd.add_argument("--user-email", help="the X-USER-EMAIL these keys must send")
    serve_cmd.add_argument(
        "--board", action="append", default=[], metavar="KEY", help="a board to serve (created)"
    )
    serve_cmd.add_argument(
        "--faults",
        metavar="SPEC",
        help="inject faults, e.g. latency_ms=20,error_rate=0.1,lost_response_rate=0.05,"
        "throttle_rate=0.05,seed=1",
    )
    serve_cmd.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="larger request bodies get a 413 (default 1 MiB)",
    )
    serve_cmd.set_defaults(handler=_run_serve)

    board = commands.add_parser("board", help="create or list boards of a local store")
    board_commands = board.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    create = board_commands.add_parser("create", help="create a board")
    create.add_argument("key", help="the board key (any string, e.g. demo)")
    create.add_argument("--name", help="a display name (default: the key)")
    create.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="the keys that may use it (default: every key of the store)",
    )
    _db_option(create)
    create.set_defaults(handler=_run_board_create)
    listing = board_commands.add_parser("list", help="list the boards and their job counts")
    _db_option(listing)
    listing.set_defaults(handler=_run_board_list)

    key = commands.add_parser("key", help="create API keys for a local store")
    key_commands = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    key_create = key_commands.add_parser("create", help="create a key and print it")
    key_create.add_argument("--permission", choices=PERMISSIONS, default="all")
    key_create.add_argument(
        "--board", action="append", default=[], metavar="KEY", help="a board it may use"
    )
    key_create.add_argument("--user-email", help="the X-USER-EMAIL it must be sent with")
    _db_option(key_create)
    key_create.set_defaults(handler=_run_key_create)


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help=f"the SQLite file (default: JOBKIT_HOME/{DB_NAME})"
    )


def _open(db: Path | None) -> Store:
    return Store(db if db is not None else jobkit_home() / DB_NAME)


def _run_board_create(args: argparse.Namespace) -> int:
    store = _open(args.db)
    try:
        store.ensure_board(args.key, name=args.name, grant=args.api_key)
        if not args.api_key:
            store.grant_all_keys(args.key)
        print(args.key)
    finally:
        store.close()
    return 0


def _run_board_list(args: argparse.Namespace) -> int:
    store = _open(args.db)
    try:
        for board_key, name, size in store.board_sizes():
            print(f"{board_key}\t{name}\t{size} jobs")
    finally:
        store.close()
    return 0


def _run_key_create(args: argparse.Namespace) -> int:
    store = _open(args.db)
    try:
        secret = store.create_key(args.permission, user_email=args.user_email)
        for board_key in args.board:
            store.ensure_board(board_key, grant=[secret])
        print(secret)
    finally:
        store.close()
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    try:
        return serve(
            args.db,
            host=args.host,
            port=args.port,
            api_keys=args.api_key,
            user_email=args.user_email,
            boards=args.board,
            faults=FaultSpec.parse(args.faults) if args.faults else None,
            max_body_bytes=args.max_body_bytes,
        )
    except ServerConfigError as exc:
        print(f"jobkit serve: error: {exc}", file=sys.stderr)
        return 2


def serve(
    db: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_keys: list[str] | None = None,
    user_email: str | None = None,
    boards: list[str] | None = None,
    faults: FaultSpec | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    out: TextIO = sys.stdout,
) -> int:
    """Serve a store over HTTP with uvicorn (one worker) until interrupted."""
    import uvicorn

    if max_body_bytes < 1:
        msg = f"--max-body-bytes must be positive, not {max_body_bytes}"
        raise ServerConfigError(msg)
    path = db if db is not None else jobkit_home() / DB_NAME
    store = Store(path)
    try:
        keys = list(api_keys or [])
        if not keys:
            keys = [local_key(path.parent) if db is None else store.create_key("all")]
        for secret in keys:
            store.add_key(secret, user_email=user_email)
        for board_key in boards or []:
            store.ensure_board(board_key, grant=keys)
        sock = _bind(host, port)
        app = create_app(store, faults=faults, max_body_bytes=max_body_bytes)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        visible = store.list_boards(store.key_info(keys[0]).hash, limit=10_000)[1]  # type: ignore[union-attr]
        lines = [
            "jobkit local board server (HrFlow job API)",
            f"  url:        http://{shown}:{bound_port}/v1/",
            f"  api key:    {', '.join(keys)}",
            f"  user email: {user_email or 'any (send X-USER-EMAIL)'}",
            f"  boards:     {', '.join(b['key'] for b in visible) or '(none: add --board KEY)'}",
            f"  database:   {path}",
            f"  faults:     {faults or 'none'}",
        ]
        if not ipaddress.ip_address(bound_host).is_loopback:
            lines.append(f"  WARNING: listening on {bound_host}, reachable from other machines")
        print("\n".join(lines), file=out, flush=True)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", server_header=False
        )
        # The store's writer thread hands the GIL back and forth with the event loop at every
        # SQLite call; at the default 5 ms switch interval a busy loop starves it (group
        # commits measured 10x slower). This process is ours alone: switch faster.
        sys.setswitchinterval(0.0005)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server is stopped
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.close()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        msg = f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port (0 = any free)"
        raise ServerConfigError(msg) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
