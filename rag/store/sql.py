"""One connection type for the registry's SQL, on SQLite (embedded, the default) or PostgreSQL (`NEWSBOT_DATABASE_URL`).

newsbot's SQL is written once, in SQLite's spelling with `?` parameters and portable statements (`INSERT ... ON
CONFLICT ... DO NOTHING/UPDATE`, no `INSERT OR ...`, no `PRAGMA` outside the SQLite-only branches). On PostgreSQL,
`Connection.execute` turns each `?` outside a quoted string into psycopg's `%s` (and a literal `%` into `%%`), so
the same text runs on both. What differs by dialect (column types, `WITHOUT ROWID`, FTS5) is chosen by the caller
from `Connection.postgres`.

Why not SQLAlchemy: the registry is ~80 hand-written statements that already run; a translation of placeholders is
all they need, and an ORM would rewrite every one of them for no gain in what they do.

psycopg is imported only when a PostgreSQL URL is used, so the embedded store needs nothing beyond the stdlib.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import ConfigError


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0] in ("postgresql", "postgres")


def check_database_url(url: str | None) -> None:
    """A NEWSBOT_DATABASE_URL newsbot can use, or a ConfigError that says what is wrong with it."""
    if url and not is_postgres_url(url):
        raise ConfigError(f"NEWSBOT_DATABASE_URL must start with postgresql:// (got {url.split(':', 1)[0]!r}); "
                          "leave it empty for the embedded SQLite store in NEWSBOT_DATA_DIR")


def to_pyformat(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s`; `%` doubled; quoted text ('...', "...") left as it is."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def split_script(script: str) -> list[str]:
    """A schema script's statements (`;`-separated; newsbot's scripts put no `;` inside a string or trigger)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def pg_types(script: str) -> str:
    """A schema script in SQLite's spelling as PostgreSQL needs it: SQLite's rowid alias (`INTEGER PRIMARY KEY`)
    becomes a sequence, INTEGER 8 bytes (Discord ids), REAL 8 bytes (4 would round epoch seconds to minutes), and
    `WITHOUT ROWID` (SQLite's alone) goes."""
    return (script.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY").replace(" INTEGER", " BIGINT")
            .replace(" REAL", " DOUBLE PRECISION").replace(") WITHOUT ROWID", ")"))


def create_tables(conn: Connection, script: str, lock_key: int) -> None:
    """A room's `CREATE ... IF NOT EXISTS` script, inside the caller's transaction.

    On PostgreSQL one process at a time (`lock_key`, an advisory lock held to the end of the transaction):
    processes starting at once on an empty database otherwise race on IF NOT EXISTS ("duplicate key value")."""
    if conn.postgres:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (lock_key,))
        script = pg_types(script)
    conn.executescript(script)


def open_room(database_url: str | None, sqlite_path: Path, script: str, lock_key: int) -> Connection:
    """A room's own connection (feeds, follows, answers…) with its tables made: on PostgreSQL when `database_url` is
    set, else in the store's SQLite file, created 0600 if missing (`touch_private` never reopens an existing one)."""
    from rag.store.private import private_folder, touch_private

    if not database_url:
        touch_private(private_folder(sqlite_path.parent) / sqlite_path.name)
    conn = connect(database_url, sqlite_path)
    with conn.transaction():
        create_tables(conn, script, lock_key)
    return conn


class Connection:
    """A DB-API connection with SQLite's `?` spelling on either database, and one way to open a write transaction.

    Each instance is used by one thread at a time (callers that share one across threads hold their own lock)."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        if self.postgres:
            return self.raw.execute(to_pyformat(sql), tuple(args))
        return self.raw.execute(sql, tuple(args))

    def executemany(self, sql: str, rows: Any) -> Any:
        if self.postgres:
            cur = self.raw.cursor()
            cur.executemany(to_pyformat(sql), [tuple(r) for r in rows])
            return cur
        return self.raw.executemany(sql, rows)

    def executescript(self, script: str) -> None:
        """Run a schema script inside the caller's transaction (SQLite's executescript would commit first)."""
        for statement in split_script(script):
            self.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction: committed at the end, rolled back on any exception.

        SQLite takes the write lock at BEGIN (IMMEDIATE), so two writers queue instead of failing at their first
        write; PostgreSQL's row locks do the same inside a plain BEGIN."""
        if self.postgres:
            with self.raw.transaction():
                yield self
            return
        self.raw.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        if self.postgres:
            from psycopg.pq import TransactionStatus

            return self.raw.info.transaction_status != TransactionStatus.IDLE
        return self.raw.in_transaction

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


def connect(database_url: str | None, sqlite_path: Path, *, timeout_s: float = 30.0) -> Connection:
    """A connection to PostgreSQL when `database_url` is set, else to the SQLite file at `sqlite_path`.

    PostgreSQL connections are in autocommit mode: a statement outside `transaction()` commits on its own, as a
    statement outside BEGIN does on SQLite with isolation_level=None."""
    if database_url:
        check_database_url(database_url)
        return Connection(_pg_connect(database_url, timeout_s), postgres=True)
    raw = sqlite3.connect(sqlite_path, timeout=timeout_s, check_same_thread=False, isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    return Connection(raw, postgres=False)


def _pg_connect(url: str, timeout_s: float) -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        raise ConfigError("NEWSBOT_DATABASE_URL needs psycopg: pip install 'psycopg[binary]'") from exc
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout_s)))
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"can't reach the database in NEWSBOT_DATABASE_URL ({_masked(url)}): {first}") from exc


def _masked(url: str) -> str:
    """The URL with its password hidden (for messages and logs)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


class AdvisoryLock:
    """A cross-machine lock on PostgreSQL (`pg_advisory_lock`), held on a connection of its own.

    The lock dies with its session, so a process killed with -9 never leaves it held."""

    def __init__(self, database_url: str, key: int) -> None:
        self._url = database_url
        self._key = key

    @contextmanager
    def held(self, wait: bool = True) -> Iterator[None]:
        """Hold the lock; with `wait=False`, raise BlockingIOError at once if another session holds it. Each hold
        is a session of its own, so threads of one process take turns as processes do."""
        conn = connect(self._url, Path("."))
        try:
            if wait:
                conn.execute("SELECT pg_advisory_lock(?)", (self._key,))
            elif not conn.execute("SELECT pg_try_advisory_lock(?)", (self._key,)).fetchone()[0]:
                raise BlockingIOError("another newsbot process holds the lock")
            yield
        finally:
            conn.close()  # ends the session, which releases the lock
