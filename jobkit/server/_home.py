"""Where the embedded local board store lives, and its local key.

`jobkit.connect()` with no configuration, `jobkit index FILE --board demo` and `jobkit serve`
without `--db` all use one store under the jobkit home:

* `$JOBKIT_HOME` if set, else `$XDG_DATA_HOME/jobkit`, else `~/.local/share/jobkit`;
* `boards.sqlite3` there holds the boards and jobs (plus the `-wal`/`-shm` files SQLite keeps
  beside it), and only sha256 hashes of keys;
* `api-key` (mode 0600) holds the plaintext local key, made on first use, since the database
  cannot give it back.

Examples
--------
>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     os.environ["JOBKIT_HOME"] = tmp
...     try:
...         local = local_app()
...         same = local_app()
...         files = sorted(p.name for p in jobkit_home().iterdir() if "sqlite3-" not in p.name)
...         mode = oct((jobkit_home() / "api-key").stat().st_mode & 0o777)
...     finally:
...         del os.environ["JOBKIT_HOME"]
...         close_local_apps()
>>> local.api_key.startswith("ask_"), local.api_key == same.api_key, files, mode
(True, True, ['api-key', 'boards.sqlite3'], '0o600')
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

from jobkit.server.store import Store

if TYPE_CHECKING:
    from jobkit.server.app import BoardApp

__all__ = [
    "DB_NAME",
    "KEY_FILE",
    "LOCAL_USER_EMAIL",
    "LocalApp",
    "close_local_apps",
    "jobkit_home",
    "local_app",
    "local_key",
]

DB_NAME: Final = "boards.sqlite3"
KEY_FILE: Final = "api-key"
LOCAL_USER_EMAIL: Final = "you@localhost"


class LocalApp(NamedTuple):
    """The embedded server: an ASGI app over the home store, and the key and email to use."""

    app: BoardApp
    api_key: str
    user_email: str

    @property
    def store(self) -> Store:
        """The store behind the app (`store.ensure_board(key, grant=[api_key])`)."""
        store: Store = self.app.state.store
        return store


def jobkit_home() -> Path:
    """`$JOBKIT_HOME`, else `$XDG_DATA_HOME/jobkit`, else `~/.local/share/jobkit`."""
    explicit = os.environ.get("JOBKIT_HOME")
    if explicit:
        return Path(explicit).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    base = Path(data).expanduser() if data else Path.home() / ".local" / "share"
    return base / "jobkit"


def local_key(home: Path) -> str:
    """The home's local key: read from `api-key`, or made (0600) on first use."""
    path = home / KEY_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, one writes and the other reads
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    import secrets

    secret = "ask_" + secrets.token_hex(16)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
        out.flush()
        os.fsync(out.fileno())
    return secret


def _read_key(path: Path) -> str:
    for _ in range(100):  # the creator may still be writing it
        secret = path.read_text().strip()
        if secret:
            return secret
        threading.Event().wait(0.01)
    msg = f"{path} is empty: delete it and a new local key will be made"
    raise RuntimeError(msg)


_LOCAL_APPS: dict[Path, LocalApp] = {}
_LOCK = threading.Lock()


def local_app(home: Path | None = None) -> LocalApp:
    """The embedded board server for `home` (default `jobkit_home()`), made once per process.

    Boards are created on first use by the local key, so that indexing into `--board demo`
    works on a fresh machine; requests go through the same app as `jobkit serve`'s.
    """
    from jobkit.server.app import create_app

    root = (home or jobkit_home()).expanduser().resolve()
    with _LOCK:
        cached = _LOCAL_APPS.get(root)
        if cached is not None:
            return cached
        secret = local_key(root)
        store = Store(root / DB_NAME)
        store.add_key(secret, "all")
        app = create_app(store, auto_create_boards=True)
        local = LocalApp(app, secret, LOCAL_USER_EMAIL)
        _LOCAL_APPS[root] = local
        return local


def close_local_apps() -> None:
    """Close every embedded store this process opened (also run at exit)."""
    with _LOCK:
        for local in _LOCAL_APPS.values():
            local.store.close()
        _LOCAL_APPS.clear()


atexit.register(close_local_apps)
