"""A local FTS5 mirror of a registry in PostgreSQL, so that keyword search keeps FTS5's exact scores in server mode.

PostgreSQL has no FTS5, and its own full-text ranking would score differently from the bm25() the hybrid recipe
was fitted on. So each process keeps, in its data folder, an SQLite file with the registry's keyword tables
(`chunks`, `versions`, `library_articles`, `chunks_fts`) and pulls what changed before it searches:
- new chunks: those whose rowid (a PostgreSQL sequence) is past the last one it saw. Writers hold the advisory
  write lock for a whole ingest (db.py), so rowids commit in increasing order and none is ever skipped;
- dropped chunks: `chunk_deletions` rows past the last sequence it saw (read first: a chunk dropped between the
  two reads is gone from the chunk read, and its deletion is applied on the next pull, harmlessly);
- library membership: copied whole (a few thousand rows), as holding a version changes no chunk.
A pull runs only when the store's content version moved since the last one (one indexed read), and never while
this process has a write open (it would copy rows that may yet roll back). A one-shot `newsbot ask` catches up
from the mirror file it left last time, or builds it on first use. The mirror names the database it copies
(`store_id`): pointed at another database it starts again.
"""

from __future__ import annotations

import sqlite3
import threading

from rag.store.db import META_DDL, StoreDB
from rag.store.private import touch_private
from rag.store.schema import SCHEMA

MIRROR_NAME = "keyword-mirror.sqlite3"
PULL_ROWS = 5000  # new chunks read per query

_CHUNK_COLUMNS = 'c.rowid, c.chunk_id, c.version_id, c.chunk_index, c.start, c."end", c.text'
_VERSION_COLUMNS = "v.version_id, v.article_id, v.title, v.source, v.published, v.url, v.content_hash, " \
                   "v.n_chunks, v.origin, v.ingested_at"


class KeywordMirror:
    """The FTS5 mirror in `data_dir`, kept in step with the PostgreSQL registry of `db`."""

    def __init__(self, db: StoreDB) -> None:
        self.db = db
        self.path = db.data_dir / MIRROR_NAME
        touch_private(self.path)
        self._conn = self.connect()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(f"{META_DDL};\n{SCHEMA}")
        self._lock = threading.Lock()
        self._local = threading.local()
        self._synced: tuple[int, int] | None = None

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)

    def reader(self) -> sqlite3.Connection:
        """A read connection of the calling thread's own, on a mirror that has caught up with the registry."""
        self.sync()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def sync(self) -> None:
        """Pull what changed in PostgreSQL since the last pull, if the store's content version moved."""
        if self.db.writing():
            return
        version = self.db.content_version()  # read first: a commit during the pull moves it, and we pull again
        if version == self._synced:
            return
        with self._lock:
            if version != self._synced:
                self._pull(self.db.reader())
                self._synced = version

    def _pull(self, pg) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # other processes of this data folder pull into the same file
        try:
            state = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'mirror_%'").fetchall())
            store_id = self.db.get_meta("store_id") or ""
            if state.get("mirror_store_id") != store_id:
                for table in ("chunks_fts", "chunks", "versions", "library_articles"):
                    conn.execute(f"DELETE FROM {table}")
                state = {"mirror_store_id": store_id}
            last_row, last_del = int(state.get("mirror_rowid", 0)), int(state.get("mirror_deleted", 0))
            deleted = pg.execute("SELECT seq, rowid FROM chunk_deletions WHERE seq > ? ORDER BY seq",
                                 (last_del,)).fetchall()
            conn.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(r[1],) for r in deleted])
            conn.executemany("DELETE FROM chunks WHERE rowid=?", [(r[1],) for r in deleted])
            if deleted:
                conn.execute("DELETE FROM versions WHERE version_id NOT IN (SELECT version_id FROM chunks)")
                last_del = deleted[-1][0]
            while rows := pg.execute(
                    f"SELECT {_CHUNK_COLUMNS}, {_VERSION_COLUMNS} FROM chunks c JOIN versions v USING (version_id) "
                    f"WHERE c.rowid > ? ORDER BY c.rowid LIMIT {PULL_ROWS}", (last_row,)).fetchall():
                self._add(conn, rows)
                last_row = rows[-1][0]
            members = pg.execute("SELECT library, article_id, version_id, added_at FROM library_articles").fetchall()
            conn.execute("DELETE FROM library_articles")
            conn.executemany("INSERT INTO library_articles VALUES (?,?,?,?)", members)
            conn.executemany("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                             [("mirror_store_id", store_id), ("mirror_rowid", str(last_row)),
                              ("mirror_deleted", str(last_del))])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _add(conn: sqlite3.Connection, rows: list) -> None:
        """New chunks with their versions. Every row is past `mirror_rowid`, read in the same BEGIN IMMEDIATE that
        commits it with the rows, so the mirror has none of them yet (another process's pull committed both or
        neither); a version may already be there."""
        conn.executemany("INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (version_id) DO NOTHING",
                         {r[2]: r[7:] for r in rows}.values())
        conn.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)", [r[:7] for r in rows])
        conn.executemany("INSERT INTO chunks_fts (rowid, title, source, body) VALUES (?,?,?,?)",
                         [(r[0], r[9], r[10] or "", r[6]) for r in rows])

    def close(self) -> None:
        self._conn.close()
