"""The registry's connections (SQLite in the data folder, or PostgreSQL), its locks, its generation, and values
memoised on its version.

Chroma's PersistentClient is not process-safe: a process that reads while another writes gets "Error finding id",
and a client that another process wrote behind stays stale. So every Chroma call holds data_dir/chroma.lock
(exclusive to write, shared to read), and the client is reopened from disk when the store's generation (a value in
the `meta` table, changed after every exclusive section) moved since it was opened.

This room knows no other room: whoever owns the Chroma client hands `watch_generation` the callable that reopens it.

With `NEWSBOT_DATABASE_URL` the registry lives in PostgreSQL and the vectors on a `chroma run` server, shared by
processes on several machines: the write lock is a PostgreSQL advisory lock (one writer across machines, released
when its session dies, so kill -9 never leaves it held), Chroma needs no file lock or reopening (a server client is
never stale), and the content version is a counter in `meta` that every write transaction bumps.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.store import sql
from rag.store.faults import point
from rag.store.private import private_folder, private_opener, touch_private

DB_NAME = "newsbot.sqlite3"
LOCK_NAME = "ingest.lock"
# pg_advisory_lock keys ("news" in ASCII, then a number): other rooms that take advisory locks pick other numbers.
WRITE_LOCK_KEY = 0x6E657773_0001
SCHEMA_LOCK_KEY = 0x6E657773_0002
META_DDL = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


class PgStoreConnection(sql.Connection):
    """The registry's PostgreSQL connection, used like sqlite3's: `with conn:` is one write transaction.

    Every write transaction bumps `meta.content_version` before it commits, so that every process sees that the
    store changed (SQLite's `PRAGMA data_version` does this for free in embedded mode)."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw, postgres=True)
        self._open: list[Any] = []

    def __enter__(self) -> PgStoreConnection:
        tx = self.raw.transaction()
        tx.__enter__()
        self._open.append(tx)
        return self

    def __exit__(self, kind, value, trace) -> Any:
        tx = self._open.pop()
        if kind is None and not self._open:
            try:
                self.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
                             "WHERE key = 'content_version'")
            except BaseException as exc:  # a lost connection: roll the transaction back, never leave it open
                tx.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return tx.__exit__(kind, value, trace)

    @property
    def total_changes(self) -> int:  # only SQLite counts them; PostgreSQL's version is the meta counter
        return 0


class StoreDB:
    """The registry's connections (one shared, one per reading thread) and the store's locks."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.data_dir = private_folder(Path(data_dir))
        self.path = self.data_dir / DB_NAME
        self.database_url = database_url or None
        self.postgres = self.database_url is not None
        if self.postgres:
            self.conn: Any = PgStoreConnection(sql.connect(self.database_url, self.path).raw)
            with self.schema_lock():  # CREATE TABLE IF NOT EXISTS races on PostgreSQL when two processes start
                self.conn.execute(META_DDL)
        else:
            touch_private(self.path)
            self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(META_DDL)
            self.conn.commit()
        self._local = threading.local()  # searches in worker threads read through their own connection
        self._derived: dict[str, tuple[tuple[int, int], Any]] = {}
        self._derived_lock = threading.Lock()
        self._generation: str | None = None
        self._on_stale: Callable[[], None] | None = None

    def connect(self) -> Any:
        """A new connection of the caller's own (e.g. for a long read in a background thread)."""
        if self.postgres:
            return sql.connect(self.database_url, self.path)
        return sqlite3.connect(self.path, timeout=30)

    @property
    def where(self) -> str:
        """Where the registry lives, for messages (never the database's password)."""
        return "the database in NEWSBOT_DATABASE_URL" if self.postgres else f"the store in {self.data_dir}"

    def reader(self) -> sqlite3.Connection:
        """The main thread's connection, or a read connection of the calling thread's own (SQLite WAL)."""
        if threading.current_thread() is threading.main_thread():
            return self.conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def close(self) -> None:
        self.conn.close()

    # ---- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Inside the caller's transaction (no commit here)."""
        self.conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, value))

    def first_meta(self, key: str, value: str) -> str:
        """The key's value, set to `value` if it has none yet; processes opening a new store at once agree."""
        with self.conn:
            self.conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
        return self.get_meta(key) or value

    # ---- locks and the generation ----------------------------------------------------------------

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Held while the schema is created or migrated: processes that open a new database at once take turns
        (SQLite's own write transaction does this in embedded mode)."""
        if not self.postgres:
            yield
            return
        with sql.AdvisoryLock(self.database_url, SCHEMA_LOCK_KEY).held():
            yield

    @contextmanager
    def write_lock(self, wait: bool = True) -> Iterator[None]:
        """One writer at a time across processes; readers never wait (SQLite WAL, committed rows only).

        With `wait=False`, raises BlockingIOError at once if another process holds it. On PostgreSQL the lock is
        held for a whole ingest, so chunk rowids (a sequence) commit in increasing order: the keyword mirror
        (mirror.py) relies on it."""
        if self.postgres:
            with sql.AdvisoryLock(self.database_url, WRITE_LOCK_KEY).held(wait):
                yield
            return
        with open(self.data_dir / LOCK_NAME, "w", opener=private_opener) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def watch_generation(self, on_stale: Callable[[], None]) -> None:
        """Call `on_stale` inside `chroma_access` whenever another process wrote to Chroma since we last looked.

        Called right after the client is opened (it loads lazily, so it reflects the store from here on)."""
        self._on_stale = on_stale
        self._generation = self._current_generation()

    @contextmanager
    def chroma_access(self, exclusive: bool = False) -> Iterator[None]:
        """Hold chroma.lock (shared to read, exclusive to write) with a client that is not behind the disk.

        Nothing to hold on PostgreSQL: the vectors are on a Chroma server, which serialises its own writes."""
        if self.postgres:
            yield
            return
        with open(self.data_dir / "chroma.lock", "a", opener=private_opener) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                self._refresh_if_stale()
                if exclusive:  # before any write: other processes reopen even if this one dies mid-write
                    self._bump_generation()
                    point("vectors.generation_bumped")
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _current_generation(self) -> str:
        return self.get_meta("chroma_generation") or "0"

    def _refresh_if_stale(self) -> None:
        current = self._current_generation()
        if current != self._generation:
            if self._on_stale is not None:
                self._on_stale()
            self._generation = current

    def _bump_generation(self) -> None:
        self._generation = f"{time.time_ns()}"
        with self.conn:
            self.set_meta("chroma_generation", self._generation)

    # ---- the store's version and what is memoised on it ------------------------------------------

    def content_version(self) -> tuple[int, int]:
        """Changes when anyone commits to the registry (ours: total_changes; others': data_version); cheap.

        Our own count moves at each change, before its commit: while `writing()`, the version may already name
        contents that other connections cannot see yet, so nothing may be memoised under it. On PostgreSQL it is
        the `content_version` counter every write transaction bumps (one indexed read)."""
        if self.postgres:
            row = self.reader().execute("SELECT value FROM meta WHERE key='content_version'").fetchone()
            return 0, int(row[0]) if row else 0
        return self.conn.total_changes, self.conn.execute("PRAGMA data_version").fetchone()[0]

    def writing(self) -> bool:
        """Whether this process has a write open on the registry (not yet committed)."""
        return self.conn.in_transaction

    def derived(self, name: Any, build: Callable[[], Any], keep: int | None = None) -> Any:
        """`build()`, memoised under `name` until the store's contents change (values derived from the store).

        With `keep`, at most that many names of the same kind (`name[0]`) are kept, the least recently used
        dropped first (for values memoised per library scope)."""
        with self._derived_lock:
            version = self.content_version()
            if self.writing():  # the version already counts uncommitted changes: build, but don't keep it
                return build()
            hit = self._derived.pop(name, None)
            if hit is None or hit[0] != version:
                hit = (version, build())
            self._derived[name] = hit  # most recently used last
            if keep is not None:
                same = [n for n in self._derived if isinstance(n, tuple) and n[:1] == name[:1]]
                for old in same[:-keep]:
                    del self._derived[old]
            return hit[1]
