"""The local board server's SQLite store: boards, hashed API keys and jobs.

One file, stdlib `sqlite3`, WAL journal and `synchronous=FULL`, so that a job acknowledged
with 201 has reached the disk and survives a `kill -9` of the server.

Writes go through one writer thread that commits in groups: every write queued while the
previous commit was on its way to the disk is applied in the next transaction, each inside its
own SAVEPOINT (so one failing write, e.g. a duplicate reference, does not undo its
neighbours), and each caller is answered only after that transaction has committed. One fsync
then acknowledges many writes, and the event loop never waits on the disk. Reads use one
connection per thread and, under WAL, never wait for the writer.

Secrets are never stored: a key is kept as its sha256, with its permission and the boards it
may see.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = Store(pathlib.Path(tmp) / "boards.sqlite3")
...     secret = store.create_key("all")
...     board = store.ensure_board("demo", grant=[secret])
...     job = store.insert_job("demo", {"name": "Data Engineer", "reference": "de-1"})
...     found = store.get_job("demo", reference="de-1")
...     store.close()
>>> secret.startswith("ask_"), board["key"], found["name"], found["id"]
(True, 'demo', 'Data Engineer', 1)
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import orjson
import polars as pl

from jobkit._schema import JOB_POLARS_SCHEMA

__all__ = [
    "PERMISSIONS",
    "DuplicateReferenceError",
    "JobPage",
    "KeyInfo",
    "Store",
    "hash_key",
    "now_timestamp",
    "permission_of",
]

T = TypeVar("T")
Permission = Literal["all", "read", "write"]
PERMISSIONS: Final[tuple[Permission, ...]] = ("all", "read", "write")
_PREFIX: Final[dict[str, str]] = {"all": "ask_", "read": "askr_", "write": "askw_"}

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS boards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY,
    permission TEXT NOT NULL CHECK (permission IN ('all', 'read', 'write')),
    user_email TEXT,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_boards (
    key_hash TEXT NOT NULL REFERENCES api_keys(hash),
    board_key TEXT NOT NULL REFERENCES boards(key),
    PRIMARY KEY (key_hash, board_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    board_key TEXT NOT NULL REFERENCES boards(key),
    reference TEXT,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ts REAL NOT NULL,
    updated_at TEXT NOT NULL,
    archived_at TEXT,
    body BLOB NOT NULL,
    -- one reference per board, archived jobs included (NULLs do not collide in SQLite)
    UNIQUE (board_key, reference)
);
CREATE INDEX IF NOT EXISTS jobs_by_board_created ON jobs (board_key, created_ts, id);
"""

# The fields the server owns; whatever a request body says about them is ignored.
_SERVER_OWNED: Final = frozenset({"key", "board_key", "id", "board", "updated_at", "archived_at"})
_SORT_COLUMNS: Final = {"created_at": "created_ts", "updated_at": "updated_at", "id": "id"}
# Every request checks its key and board: known-good answers are kept this long, so that
# the common case costs no SQLite call (unknown keys and boards are always looked up, so a
# key or board made by `jobkit key/board create` works at once).
_AUTH_CACHE_SECONDS: Final = 2.0


class DuplicateReferenceError(Exception):
    """The board already holds a job (maybe archived) with this reference."""

    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


@dataclass(frozen=True)
class KeyInfo:
    """What the store knows of an API key: never the secret itself."""

    hash: str
    permission: Permission
    user_email: str | None


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing: `rows` are full jobs or their keys-and-dates summaries."""

    total: int
    rows: list[bytes]


def hash_key(secret: str) -> str:
    """The sha256 under which a key is stored (the secret itself never is)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def permission_of(secret: str) -> Permission:
    """The permission HrFlow's key prefixes denote: `askr_` read, `askw_` write, else all.

    >>> permission_of("askr_" + "0" * 32), permission_of("askw_x"), permission_of("demo-key")
    ('read', 'write', 'all')
    """
    if secret.startswith("askr_"):
        return "read"
    if secret.startswith("askw_"):
        return "write"
    return "all"


def now_timestamp() -> str:
    """Now, as the API writes timestamps: `2023-06-20T15:50:32+0000`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _sort_ts(created_at: str) -> float:
    # created_at is echoed exactly as sent, in any ISO 8601 shape; sorting uses its instant
    # (naive means UTC). The schema's pattern admits a few shapes fromisoformat rejects
    # (an hour-only offset): those sort as "now", which is what a missing date means.
    try:
        parsed = datetime.fromisoformat(created_at)
    except ValueError:
        return datetime.now(UTC).timestamp()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _board_info(board_key: str, name: str) -> dict[str, Any]:
    return {
        "key": board_key,
        "name": name,
        "type": "api",
        "subtype": "python",
        "environment": "local",
    }


class _Writer:
    """The single writer thread: group commit, one SAVEPOINT per queued write."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[
            tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, future))
        with self._lock:
            # started on first use, and again after close()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="jobkit-store-writer", daemon=True
                )
                self._thread.start()
        return future

    def close(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                stop = False
                while True:  # everything queued meanwhile rides on the same commit
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                try:
                    conn = conn or self._connect()
                    self._commit(conn, batch)
                except Exception as exc:
                    # No connection, or even ROLLBACK failed: every caller hears of it (a
                    # JSON 500), none waits forever; the next batch tries again.
                    for _fn, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                if stop:
                    return
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def _commit(
        conn: sqlite3.Connection,
        batch: list[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]],
    ) -> None:
        outcomes: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, future in batch:
                conn.execute("SAVEPOINT w")
                try:
                    result = fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO w")
                    outcomes.append((future, None, exc))
                else:
                    outcomes.append((future, result, None))
                conn.execute("RELEASE w")
            conn.execute("COMMIT")
        except Exception as exc:  # the commit itself failed: nobody's write is durable
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _fn, future in batch:
                future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


class Store:
    """The boards, keys and jobs of one local board server, in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._keys: dict[str, tuple[float, KeyInfo]] = {}
        self._grants: dict[tuple[str, str], float] = {}
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        setup = self._connect()
        try:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.executescript(_SCHEMA)
        finally:
            setup.close()
        self._writer = _Writer(self._connect)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE in the writer)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=FULL")  # a 201 means the job is on the disk
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @property
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Stop the writer (after its queued writes) and close every connection."""
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    # -- writes --------------------------------------------------------------------------------

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        """Queue a write; the future resolves once its transaction has committed."""
        return self._writer.submit(fn)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write and wait for its commit (for synchronous callers)."""
        return self._writer.submit(fn).result()

    # -- keys and boards -----------------------------------------------------------------------

    def add_key(
        self,
        secret: str,
        permission: Permission | None = None,
        *,
        user_email: str | None = None,
    ) -> KeyInfo:
        """Register `secret` (stored hashed); its permission defaults to its prefix's."""
        info = KeyInfo(hash_key(secret), permission or permission_of(secret), user_email)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_keys (hash, permission, user_email, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE"
                " SET permission = excluded.permission,"
                " user_email = coalesce(excluded.user_email, api_keys.user_email)",
                (info.hash, info.permission, user_email, now_timestamp()),
            )

        self.write(run)
        return self.key_info(secret) or info

    def create_key(self, permission: Permission = "all", *, user_email: str | None = None) -> str:
        """A new key in the SDK's format (`ask_`, `askr_` or `askw_` + 32 hex), registered."""
        secret = _PREFIX[permission] + secrets.token_hex(16)
        self.add_key(secret, permission, user_email=user_email)
        return secret

    def key_info(self, secret: str) -> KeyInfo | None:
        """The stored key matching `secret`, or None."""
        digest = hash_key(secret)
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = self._reader.execute(
            "SELECT hash, permission, user_email FROM api_keys WHERE hash = ?", (digest,)
        ).fetchone()
        if row is None:
            return None
        info = KeyInfo(row[0], row[1], row[2])
        self._keys[digest] = (now + _AUTH_CACHE_SECONDS, info)
        return info

    def ensure_board(
        self, board_key: str, *, name: str | None = None, grant: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Create the board if missing and let each key in `grant` (secrets) see it."""
        hashes = [hash_key(secret) for secret in grant]
        return self.write(lambda conn: self.ensure_board_in(conn, board_key, name, hashes))

    @staticmethod
    def ensure_board_in(
        conn: sqlite3.Connection, board_key: str, name: str | None, key_hashes: Sequence[str]
    ) -> dict[str, Any]:
        """`ensure_board` inside the writer's transaction (key hashes, not secrets)."""
        conn.execute(
            "INSERT INTO boards (key, name, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (board_key, name or board_key, now_timestamp()),
        )
        conn.executemany(
            "INSERT INTO key_boards (key_hash, board_key) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(h, board_key) for h in key_hashes],
        )
        row = conn.execute(
            "SELECT id, key, name, created_at FROM boards WHERE key = ?", (board_key,)
        ).fetchone()
        return _board_row(row, conn)

    def grant_all_keys(self, board_key: str) -> None:
        """Let every registered key see `board_key` (the single-user local store's default)."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO key_boards (key_hash, board_key) SELECT hash, ? FROM api_keys"
                " WHERE 1 ON CONFLICT DO NOTHING",
                (board_key,),
            )

        self.write(run)

    def board_sizes(self) -> list[tuple[str, str, int]]:
        """Every board: (key, name, number of jobs not archived)."""
        return self._reader.execute(
            "SELECT b.key, b.name, count(j.id) FROM boards b LEFT JOIN jobs j"
            " ON j.board_key = b.key AND j.archived_at IS NULL GROUP BY b.key ORDER BY b.id"
        ).fetchall()

    def board_access(self, key_hash: str, board_key: str) -> Literal["ok", "missing", "denied"]:
        """Whether the key may use the board, or why not."""
        now = time.monotonic()
        if self._grants.get((key_hash, board_key), 0.0) > now:
            return "ok"
        row = self._reader.execute(
            "SELECT b.key, kb.key_hash FROM boards b LEFT JOIN key_boards kb"
            " ON kb.board_key = b.key AND kb.key_hash = ? WHERE b.key = ?",
            (key_hash, board_key),
        ).fetchone()
        if row is None:
            return "missing"
        if row[1] is None:
            return "denied"
        self._grants[(key_hash, board_key)] = now + _AUTH_CACHE_SECONDS
        return "ok"

    def get_board(self, board_key: str) -> dict[str, Any] | None:
        """The full board object, or None."""
        conn = self._reader
        row = conn.execute(
            "SELECT id, key, name, created_at FROM boards WHERE key = ?", (board_key,)
        ).fetchone()
        return None if row is None else _board_row(row, conn)

    def list_boards(
        self,
        key_hash: str,
        *,
        name: str | None = None,
        page: int = 1,
        limit: int = 30,
        descending: bool = True,
    ) -> tuple[int, list[dict[str, Any]]]:
        """The boards a key may see, newest first by default: (total, one page)."""
        conn = self._reader
        where = "kb.key_hash = ?"
        params: list[Any] = [key_hash]
        if name:
            where += " AND b.name LIKE ? ESCAPE '\\'"
            params.append(f"%{_escape_like(name)}%")
        base = f"FROM boards b JOIN key_boards kb ON kb.board_key = b.key WHERE {where}"
        (total,) = conn.execute(f"SELECT count(*) {base}", params).fetchone()
        order = "DESC" if descending else "ASC"
        rows = conn.execute(
            f"SELECT b.id, b.key, b.name, b.created_at {base} ORDER BY b.id {order}"
            " LIMIT ? OFFSET ?",
            [*params, limit, (page - 1) * limit],
        ).fetchall()
        return total, [_board_row(row, conn) for row in rows]

    # -- jobs ----------------------------------------------------------------------------------

    def insert_job(self, board_key: str, job: dict[str, Any]) -> dict[str, Any]:
        """Store a new job (a validated Job dumped to JSON); raises DuplicateReferenceError."""
        stored: dict[str, Any] = orjson.loads(
            self.write(lambda conn: self.insert_job_in(conn, board_key, job))
        )
        return stored

    @staticmethod
    def insert_job_in(conn: sqlite3.Connection, board_key: str, job: dict[str, Any]) -> bytes:
        """Insert inside the writer's transaction; returns the stored job as JSON bytes."""
        board = conn.execute("SELECT name FROM boards WHERE key = ?", (board_key,)).fetchone()
        if board is None:
            msg = f"no board {board_key!r}"
            raise LookupError(msg)
        reference = job.get("reference")
        (job_id,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM jobs").fetchone()
        now = now_timestamp()
        created_at = job.get("created_at") or now
        stored = {
            "id": job_id,
            "key": secrets.token_hex(20),
            "reference": reference,
            "board_key": board_key,
            "board": _board_info(board_key, board[0]),
            **{k: v for k, v in job.items() if k not in _SERVER_OWNED},
            "created_at": created_at,
            "updated_at": now,
            "archived_at": None,
        }
        body = orjson.dumps(stored)
        try:
            conn.execute(
                "INSERT INTO jobs (id, key, board_key, reference, name, created_at, created_ts,"
                " updated_at, archived_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    job_id,
                    stored["key"],
                    board_key,
                    reference,
                    stored["name"],
                    created_at,
                    _sort_ts(created_at),
                    now,
                    body,
                ),
            )
        except sqlite3.IntegrityError as exc:  # UNIQUE (board_key, reference) decides
            if reference is not None and "reference" in str(exc):
                raise DuplicateReferenceError(reference) from exc
            raise
        return body

    @staticmethod
    def replace_job_in(
        conn: sqlite3.Connection,
        board_key: str,
        job: dict[str, Any],
        *,
        key: str | None,
        reference: str | None,
    ) -> bytes | None:
        """PUT: replace the job found by key (else reference); None if there is none.

        `key`, `id`, `board_key`, `created_at` and `archived_at` are kept, `updated_at`
        bumped, lists left out come back `[]` (as the API does after an edit). A reference
        left out keeps the stored one; a new one must be free on the board.
        """
        row = _find_job(conn, board_key, key=key, reference=None if key else reference)
        if row is None:
            return None
        old = orjson.loads(row[1])
        new_reference = job.get("reference") or old.get("reference")
        if new_reference is not None and new_reference != old.get("reference"):
            clash = conn.execute(
                "SELECT 1 FROM jobs WHERE board_key = ? AND reference = ?",
                (board_key, new_reference),
            ).fetchone()
            if clash is not None:
                raise DuplicateReferenceError(new_reference)
        now = now_timestamp()
        content = {
            k: ([] if v is None and k in _LIST_FIELDS else v)
            for k, v in job.items()
            if k not in _SERVER_OWNED and k != "reference"
        }
        stored = {
            "id": old["id"],
            "key": old["key"],
            "reference": new_reference,
            "board_key": board_key,
            "board": old["board"],
            **content,
            "created_at": old["created_at"],
            "updated_at": now,
            "archived_at": old["archived_at"],
        }
        body = orjson.dumps(stored)
        conn.execute(
            "UPDATE jobs SET reference = ?, name = ?, updated_at = ?, body = ? WHERE id = ?",
            (new_reference, stored["name"], now, body, row[0]),
        )
        return body

    @staticmethod
    def archive_job_in(
        conn: sqlite3.Connection,
        board_key: str,
        *,
        key: str | None,
        reference: str | None,
        archive: bool = True,
    ) -> str | None:
        """Set (or clear) `archived_at`; the job's key, or None if there is no such job."""
        row = _find_job(conn, board_key, key=key, reference=reference)
        if row is None:
            return None
        stored = orjson.loads(row[1])
        if archive and stored.get("archived_at") is None:
            stored["archived_at"] = now_timestamp()
        elif not archive:
            stored["archived_at"] = None
        conn.execute(
            "UPDATE jobs SET archived_at = ?, body = ? WHERE id = ?",
            (stored["archived_at"], orjson.dumps(stored), row[0]),
        )
        return str(stored["key"])

    def get_job_bytes(
        self, board_key: str, *, key: str | None = None, reference: str | None = None
    ) -> bytes | None:
        """The stored job as JSON bytes (archived ones included), or None."""
        row = _find_job(self._reader, board_key, key=key, reference=reference)
        return None if row is None else bytes(row[1])

    def get_job(
        self, board_key: str, *, key: str | None = None, reference: str | None = None
    ) -> dict[str, Any] | None:
        """The stored job (archived ones included), or None."""
        body = self.get_job_bytes(board_key, key=key, reference=reference)
        if body is None:
            return None
        job: dict[str, Any] = orjson.loads(body)
        return job

    def list_jobs(
        self,
        board_keys: Sequence[str],
        *,
        page: int = 1,
        limit: int = 30,
        sort_by: str = "created_at",
        descending: bool = True,
        full: bool = True,
        include_archived: bool = False,
        key: str | None = None,
        reference: str | None = None,
        name: str | None = None,
        text: str | None = None,
        created_at_min: float | None = None,
        created_at_max: float | None = None,
    ) -> JobPage:
        """One page of the jobs on `board_keys`, and the total that match."""
        marks = ", ".join("?" * len(board_keys))
        where = [f"board_key IN ({marks})"]
        params: list[Any] = list(board_keys)
        if not include_archived:
            where.append("archived_at IS NULL")
        for column, value in (("key", key), ("reference", reference)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if name:
            where.append("name LIKE ? ESCAPE '\\'")
            params.append(f"%{_escape_like(name)}%")
        if text:
            # a plain keyword search over the posting's JSON text
            where.append("CAST(body AS TEXT) LIKE ? ESCAPE '\\'")
            params.append(f"%{_escape_like(text)}%")
        if created_at_min is not None:
            where.append("created_ts >= ?")
            params.append(created_at_min)
        if created_at_max is not None:
            where.append("created_ts < ?")
            params.append(created_at_max)
        clause = " AND ".join(where)
        conn = self._reader
        (total,) = conn.execute(f"SELECT count(*) FROM jobs WHERE {clause}", params).fetchone()
        order = "DESC" if descending else "ASC"
        column = _SORT_COLUMNS.get(sort_by, "id")
        if full:
            select = "body"
        else:
            # keys, reference and dates only, built by SQLite itself
            select = (
                "json_object('id', id, 'key', key, 'reference', reference,"
                " 'board_key', board_key, 'name', name, 'created_at', created_at,"
                " 'updated_at', updated_at, 'archived_at', archived_at)"
            )
        rows = conn.execute(
            f"SELECT {select} FROM jobs WHERE {clause} ORDER BY {column} {order}, id {order}"
            " LIMIT ? OFFSET ?",
            [*params, limit, (page - 1) * limit],
        ).fetchall()
        return JobPage(total, [r[0] if isinstance(r[0], bytes) else r[0].encode() for r in rows])


# The list parts of a Job (skills, tags, ranges...), read off the schema.
_LIST_FIELDS: Final = frozenset(
    name for name, dtype in JOB_POLARS_SCHEMA.items() if isinstance(dtype, pl.List)
)


def _find_job(
    conn: sqlite3.Connection, board_key: str, *, key: str | None, reference: str | None
) -> tuple[int, bytes] | None:
    # As the old docs say, a reference wins over a key when both are given.
    if reference is not None:
        row = conn.execute(
            "SELECT id, body FROM jobs WHERE board_key = ? AND reference = ?",
            (board_key, reference),
        ).fetchone()
    elif key is not None:
        row = conn.execute(
            "SELECT id, body FROM jobs WHERE board_key = ? AND key = ?", (board_key, key)
        ).fetchone()
    else:
        return None
    return None if row is None else (row[0], row[1])


def _board_row(row: tuple[Any, ...], conn: sqlite3.Connection) -> dict[str, Any]:
    board_id, key, name, created_at = row
    (size,) = conn.execute(
        "SELECT count(*) FROM jobs WHERE board_key = ? AND archived_at IS NULL", (key,)
    ).fetchone()
    return {
        "id": board_id,
        **_board_info(key, name),
        "description": None,
        "status": 1,
        "archive": None,
        "created_at": created_at,
        "updated_at": created_at,
        "stats": {"size": size},
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
