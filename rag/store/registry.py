"""The registry (SQLite, or PostgreSQL: schema.py): stored versions of articles, their chunks, and which libraries
hold which version.

A library is a named set of articles. The same article (same id: its url, or outlet, title and date) may be held
by several libraries; each holds one version of it (its content hash). A version is stored once, chunks, keyword
rows and vectors included, however many libraries hold it, and it is deleted when the last library lets it go.
Chunk ids name their version (`article:version:index`), so two versions never share a vector id and replacing one
version by another never overwrites vectors a committed row still points at.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.text import date_to_int, int_to_iso
from rag.store.db import StoreDB
from rag.store.schema import open_schema

if TYPE_CHECKING:
    import numpy as np

    from rag.articles.article import Article
    from rag.articles.chunking import Chunk


@dataclass(frozen=True)
class StoredArticle:
    """A stored version of an article, as `newsbot sources` shows it."""

    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    chunks: int
    version_id: str = ""


@dataclass(frozen=True)
class StoredChunk:
    """A committed chunk with the metadata of its article."""

    chunk_id: str
    article_id: str
    chunk_index: int
    text: str
    start: int
    end: int
    title: str
    source: str | None
    published: int
    url: str | None


@dataclass(frozen=True)
class ChunkScope:
    """The committed chunks a set of libraries can read, ordered by rowid (the FTS5 rowid), with their filters."""

    rowids: np.ndarray  # int64, ascending
    chunk_ids: tuple[str, ...]
    sources: np.ndarray  # object: each chunk's outlet ("" = none)
    published: np.ndarray  # int64 YYYYMMDD, 0 = undated

    def __len__(self) -> int:
        return len(self.chunk_ids)


def in_scope(libraries: Sequence[str] | None, column: str = "v.version_id") -> tuple[str, list]:
    """An SQL condition keeping versions held by these libraries (None = every stored version)."""
    if libraries is None:
        return "1=1", []
    marks = ",".join("?" * len(libraries))
    return f"{column} IN (SELECT version_id FROM library_articles WHERE library IN ({marks}))", list(libraries)


class Registry:
    """Reads and writes of the registry tables, through the store's connections."""

    def __init__(self, db: StoreDB) -> None:
        self.db = db
        open_schema(db)

    # ---- reading ---------------------------------------------------------------------------------

    def list_articles(self, query: str | None = None, limit: int | None = None,
                      libraries: Sequence[str] | None = None) -> list[StoredArticle]:
        """Versions the libraries hold, newest first, optionally those whose title or source contains `query`."""
        where, args = in_scope(libraries)
        sql = f"SELECT {_ARTICLE_COLUMNS} FROM versions v WHERE {where}"
        if query:  # SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE does the same
            like = "ILIKE" if self.db.postgres else "LIKE"
            sql += f" AND (v.title {like} ? OR v.source {like} ?)"
            args += [f"%{query}%", f"%{query}%"]
        sql += " ORDER BY v.published DESC, v.title"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_article(r) for r in self.db.reader().execute(sql, args)]

    def articles_between(self, since: int, until: int, source: str | None = None,
                         libraries: Sequence[str] | None = None) -> list[StoredArticle]:
        """Versions dated in [since, until] (YYYYMMDD ints) that the libraries hold, newest first."""
        where, args = in_scope(libraries)
        sql = f"SELECT {_ARTICLE_COLUMNS} FROM versions v WHERE v.published BETWEEN ? AND ? AND {where}"
        args = [since, until, *args]
        if source:
            sql += " AND lower(v.source) = lower(?)"
            args.append(source)
        sql += " ORDER BY v.published DESC, v.title"
        return [_article(r) for r in self.db.reader().execute(sql, args)]

    def stats(self, library: str | None = None) -> dict:
        """Articles and chunks of one library (None: the whole store, each stored version counted once)."""
        if library is None:
            row = self.db.reader().execute("SELECT COUNT(*), COALESCE(SUM(n_chunks), 0) FROM versions").fetchone()
        else:
            row = self.db.reader().execute(
                "SELECT COUNT(*), COALESCE(SUM(v.n_chunks), 0) FROM library_articles m "
                "JOIN versions v USING (version_id) WHERE m.library = ?", (library,)).fetchone()
        return {"articles": int(row[0]), "chunks": int(row[1])}  # PostgreSQL's SUM is a Decimal

    def libraries(self) -> list[dict]:
        """Every library that holds an article, with its article and chunk counts, by name."""
        rows = self.db.reader().execute(
            "SELECT m.library, COUNT(*), COALESCE(SUM(v.n_chunks), 0) FROM library_articles m "
            "JOIN versions v USING (version_id) GROUP BY m.library ORDER BY m.library")
        return [{"library": r[0], "articles": int(r[1]), "chunks": int(r[2])} for r in rows]

    def holders(self, article_id: str, libraries: Sequence[str]) -> list[str]:
        """Those of `libraries` that hold the article (in the order given)."""
        if not libraries:
            return []
        marks = ",".join("?" * len(libraries))
        held = {r[0] for r in self.db.reader().execute(
            f"SELECT library FROM library_articles WHERE article_id=? AND library IN ({marks})",
            [article_id, *libraries])}
        return [name for name in libraries if name in held]

    def sources(self) -> list[str]:
        """The distinct outlets in the store, for parsing them out of questions."""
        return [r[0] for r in self.db.reader().execute(
            "SELECT DISTINCT source FROM versions WHERE source IS NOT NULL")]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, StoredChunk]:
        """Committed chunks by id; ids of uncommitted or stale vectors are simply missing."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.db.reader().execute(
            "SELECT c.chunk_id, v.article_id, c.chunk_index, c.text, c.start, c.\"end\", v.title, v.source, "
            f"v.published, v.url FROM chunks c JOIN versions v USING (version_id) WHERE c.chunk_id IN ({marks})",
            chunk_ids,
        ).fetchall()
        return {r[0]: StoredChunk(*r) for r in rows}

    def lead_chunk_ids(self, version_ids: Sequence[str], n: int) -> dict[str, list[str]]:
        """The ids of each version's first `n` committed chunks, in order."""
        if not version_ids:
            return {}
        marks = ",".join("?" * len(version_ids))
        leads: dict[str, list[str]] = {}
        for version_id, chunk in self.db.reader().execute(
                f"SELECT version_id, chunk_id FROM chunks WHERE version_id IN ({marks}) AND chunk_index < ? "
                "ORDER BY version_id, chunk_index", [*version_ids, n]):
            leads.setdefault(version_id, []).append(chunk)
        return leads

    def version_chunks(self, version_id: str) -> list[StoredChunk]:
        """All chunks of one stored version in order."""
        ids = [r[0] for r in self.db.reader().execute(
            "SELECT chunk_id FROM chunks WHERE version_id=? ORDER BY chunk_index", (version_id,))]
        found = self.get_chunks(ids)
        return [found[i] for i in ids if i in found]

    def chunk_count(self) -> int:
        return self.db.reader().execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_texts(self) -> list[str]:
        return [r[0] for r in self.db.reader().execute("SELECT text FROM chunks")]

    def chunk_sources_and_dates(self) -> dict[str, tuple[str, int]]:
        """chunk_id -> (source, published YYYYMMDD int, 0 = undated) for every committed chunk."""
        return {r[0]: (r[1] or "", r[2] or 0) for r in self.db.reader().execute(
            "SELECT c.chunk_id, v.source, v.published FROM chunks c JOIN versions v USING (version_id)")}

    def scope(self, libraries: Sequence[str]) -> ChunkScope:
        """The committed chunks these libraries hold (read fresh; the facade memoises it per store version)."""
        import numpy as np  # here, not at the top: listing commands read the registry without numpy

        where, args = in_scope(libraries)
        rows = self.db.reader().execute(
            "SELECT c.rowid, c.chunk_id, v.source, v.published FROM chunks c JOIN versions v USING (version_id) "
            f"WHERE {where} ORDER BY c.rowid", args).fetchall()
        return ChunkScope(rowids=np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                          chunk_ids=tuple(r[1] for r in rows),
                          sources=np.array([r[2] or "" for r in rows], dtype=object),
                          published=np.fromiter((r[3] or 0 for r in rows), np.int64, len(rows)))

    # ---- writing (inside the caller's transaction; the write path commits) -------------------------

    def held_version(self, library: str, article_id: str) -> tuple[str, str] | None:
        """(version_id, content_hash) of the version this library holds of the article, if any."""
        return self.db.conn.execute(
            "SELECT v.version_id, v.content_hash FROM library_articles m JOIN versions v USING (version_id) "
            "WHERE m.library=? AND m.article_id=?", (library, article_id)).fetchone()

    def stored_version(self, article_id: str, content_hash: str) -> str | None:
        """The version id of this exact content of the article, if some library holds it already."""
        row = self.db.conn.execute("SELECT version_id FROM versions WHERE article_id=? AND content_hash=?",
                                   (article_id, content_hash)).fetchone()
        return row[0] if row else None

    def insert_version(self, version_id: str, article: Article, chunks: list[Chunk]) -> None:
        """The version's row, its chunk rows and their keyword rows."""
        self.db.conn.execute(
            "INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?,?)",
            (version_id, article.article_id, article.title, article.source, date_to_int(article.published),
             article.url, article.content_hash, len(chunks), article.origin, time.time()))
        insert = 'INSERT INTO chunks (chunk_id, version_id, chunk_index, start, "end", text) VALUES (?,?,?,?,?,?)'
        if self.db.postgres:  # no FTS5 there: the keyword mirrors pull the new rows (mirror.py)
            self.db.conn.executemany(insert, [(c.chunk_id, version_id, c.index, c.start, c.end, c.text)
                                              for c in chunks])
            return
        for c in chunks:
            cur = self.db.conn.execute(insert, (c.chunk_id, version_id, c.index, c.start, c.end, c.text))
            self.db.conn.execute("INSERT INTO chunks_fts (rowid, title, source, body) VALUES (?,?,?,?)",
                                 (cur.lastrowid, article.title, article.source or "", c.text))

    def hold(self, library: str, article_id: str, version_id: str) -> str | None:
        """Make the library hold this version of the article; returns the version it held before, if another."""
        before = self.held_version(library, article_id)
        self.db.conn.execute("INSERT INTO library_articles VALUES (?,?,?,?) ON CONFLICT (library, article_id) "
                             "DO UPDATE SET version_id=excluded.version_id, added_at=excluded.added_at",
                             (library, article_id, version_id, time.time()))
        return before[0] if before and before[0] != version_id else None

    def release(self, library: str, article_id: str) -> str | None:
        """Take the article out of the library; returns the version it held (None: it held none)."""
        before = self.held_version(library, article_id)
        if before:
            self.db.conn.execute("DELETE FROM library_articles WHERE library=? AND article_id=?",
                                 (library, article_id))
        return before[0] if before else None

    def drop_if_unheld(self, version_ids: Sequence[str]) -> list[str]:
        """Delete the versions no library holds any more (rows, chunks, keyword rows); returns their chunk ids."""
        dropped: list[str] = []
        for version_id in dict.fromkeys(version_ids):
            if self.db.conn.execute("SELECT 1 FROM library_articles WHERE version_id=? LIMIT 1",
                                    (version_id,)).fetchone():
                continue
            rows = self.db.conn.execute("SELECT rowid, chunk_id FROM chunks WHERE version_id=?",
                                        (version_id,)).fetchall()
            gone = "INSERT INTO chunk_deletions (rowid) VALUES (?)" if self.db.postgres else \
                "DELETE FROM chunks_fts WHERE rowid=?"  # PostgreSQL: logged for the keyword mirrors
            self.db.conn.executemany(gone, [(r[0],) for r in rows])
            self.db.conn.execute("DELETE FROM chunks WHERE version_id=?", (version_id,))
            self.db.conn.execute("DELETE FROM versions WHERE version_id=?", (version_id,))
            dropped += [r[1] for r in rows]
        return dropped

    # ---- the vector journal: ids whose vectors may exist without a committed chunk ------------------

    def journal_add(self, chunk_ids: Sequence[str]) -> None:
        self.db.conn.executemany("INSERT INTO vector_journal VALUES (?) ON CONFLICT (chunk_id) DO NOTHING",
                                 [(i,) for i in chunk_ids])

    def journal_remove(self, chunk_ids: Sequence[str]) -> None:
        self.db.conn.executemany("DELETE FROM vector_journal WHERE chunk_id=?", [(i,) for i in chunk_ids])

    def journal(self) -> tuple[list[str], list[str]]:
        """Every journalled id, and those no committed chunk has (vectors this store wrote or dropped)."""
        rows = self.db.conn.execute(
            "SELECT j.chunk_id, c.chunk_id IS NULL FROM vector_journal j LEFT JOIN chunks c USING (chunk_id)"
        ).fetchall()
        return [r[0] for r in rows], [r[0] for r in rows if r[1]]


_ARTICLE_COLUMNS = "v.article_id, v.title, v.source, v.published, v.url, v.n_chunks, v.version_id"


def _article(row: sqlite3.Row | tuple) -> StoredArticle:
    return StoredArticle(row[0], row[1], row[2], int_to_iso(row[3]), row[4], row[5], row[6])
