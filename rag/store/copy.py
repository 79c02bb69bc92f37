"""Copy a whole store into an empty one without embedding again: the registry's rows and the Chroma vectors.

The core of moving an embedded store onto PostgreSQL and a Chroma server (`newsbot migrate`, #27), and how the
server-mode benchmark fills its store. It follows the write protocol (ingest.py): the ids are journalled first,
the vectors written, then one transaction commits every row, so a copy killed midway leaves an empty-looking
target whose journalled vectors the next write sweeps. The source is only read.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.errors import StoreError
from rag.store import sql
from rag.store.index import NewsIndex

BATCH = 1000  # vectors read and written per Chroma call


def copy_store(src: NewsIndex, dst: NewsIndex) -> dict:
    """Copy `src` into the empty `dst` (same embedding model); returns the counts, checked on both sides."""
    if src.model_id != dst.model_id:
        raise StoreError(f"the target store embeds with {dst.model_id!r}, the source with {src.model_id!r}")
    with dst.write_lock():
        if dst.registry.chunk_count() or dst.list_articles(limit=1):
            raise StoreError("the target store is not empty; copy into a new database and Chroma collection")
        rows = src.db.execute('SELECT rowid, chunk_id, version_id, chunk_index, start, "end", text FROM chunks '
                              "ORDER BY rowid").fetchall()
        ids = [r[1] for r in rows]
        with dst.db:
            dst.registry.journal_add(ids)
        for lo in range(0, len(ids), BATCH):
            with src.chroma_access():
                got = src.vectors.collection.get(ids=ids[lo:lo + BATCH],
                                                 include=["embeddings", "metadatas", "documents"])
            with dst.chroma_access(exclusive=True):
                dst.vectors.upsert(got["ids"], list(got["embeddings"]), got["metadatas"], got["documents"])
        with dst.db:
            _copy_rows(src, dst, rows)
            dst.registry.journal_remove(ids)
    return _checked(src, dst)


def _copy_rows(src: NewsIndex, dst: NewsIndex, rows: list) -> None:
    """Versions, chunks (in rowid order, with their keyword rows on SQLite) and library membership."""
    dst.db.executemany("INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?,?)",
                       src.db.execute("SELECT * FROM versions").fetchall())
    insert = 'INSERT INTO chunks (chunk_id, version_id, chunk_index, start, "end", text) VALUES (?,?,?,?,?,?)'
    if dst.store.postgres:  # the keyword mirrors pull these rows themselves
        dst.db.executemany(insert, [r[1:] for r in rows])
    else:
        meta = {r[0]: (r[1], r[2] or "") for r in src.db.execute("SELECT version_id, title, source FROM versions")}
        for r in rows:
            cur = dst.db.execute(insert, r[1:])
            title, source = meta[r[2]]
            dst.db.execute("INSERT INTO chunks_fts (rowid, title, source, body) VALUES (?,?,?,?)",
                           (cur.lastrowid, title, source, r[6]))
    dst.db.executemany("INSERT INTO library_articles VALUES (?,?,?,?)",
                       src.db.execute("SELECT library, article_id, version_id, added_at FROM library_articles")
                       .fetchall())


def _checked(src: NewsIndex, dst: NewsIndex) -> dict:
    counts = {"articles": len(src.list_articles()), "chunks": src.registry.chunk_count(),
              "libraries": len(src.libraries())}
    found = {"articles": len(dst.list_articles()), "chunks": dst.registry.chunk_count(),
             "libraries": len(dst.libraries())}
    with dst.chroma_access():
        vectors = dst.vectors.count()
    if found != counts or vectors < counts["chunks"]:
        raise StoreError(f"the copy does not match its source: {found} and {vectors} vectors, not {counts}")
    return {**counts, "vectors": vectors}


def copy_tables(src: sql.Connection, dst: sql.Connection, tables: Sequence[str]) -> dict[str, int]:
    """Copy whole tables (the rooms' own: feeds, follows, schedules…) into the same, empty, tables of `dst`.

    Columns are matched by name (those both sides have); one transaction on `dst`; a sequence-backed `id` on
    PostgreSQL is moved past the copied ids, so the next row gets a new one. Returns each table's row count,
    checked on both sides."""
    have = _sqlite_tables(src) if not src.postgres else set(tables)
    counts: dict[str, int] = {}
    with dst.transaction():
        for table in tables:
            if dst.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
                raise StoreError(f"the target database already has rows in {table}; migrate into an empty one")
            if table not in have:  # the source never used this room (e.g. no follows yet)
                counts[table] = 0
                continue
            columns = [c for c in _columns(src, table) if c in set(_columns(dst, table))]
            names = ", ".join(f'"{c}"' for c in columns)
            rows = src.execute(f"SELECT {names} FROM {table}").fetchall()
            if rows:
                dst.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
            if dst.postgres and "id" in columns:
                dst.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")
            counts[table] = len(rows)
    for table, n in counts.items():
        found = dst.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        if found != n:
            raise StoreError(f"the copy of {table} has {found} rows, not {n}")
    return counts


def _sqlite_tables(conn: sql.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()}


def _columns(conn: sql.Connection, table: str) -> list[str]:
    """A table's column names, in order (read from an empty result's description: the same on both databases)."""
    cur = conn.execute(f"SELECT * FROM {table} WHERE 1=0")
    return [d[0] for d in cur.description]
