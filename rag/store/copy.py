"""Copy a whole store into an empty one without embedding again: the registry's rows and the Chroma vectors.

The core of moving an embedded store onto PostgreSQL and a Chroma server (`newsbot migrate`, #27), and how the
server-mode benchmark fills its store. It follows the write protocol (ingest.py): the ids are journalled first,
the vectors written, then one transaction commits every row, so a copy killed midway leaves an empty-looking
target whose journalled vectors the next write sweeps. The source is only read.
"""

from __future__ import annotations

from rag.errors import StoreError
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
