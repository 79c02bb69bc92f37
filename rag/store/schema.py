"""The registry's schema: its tables on SQLite and on PostgreSQL, its version, and migrating an older store.

With NEWSBOT_DATABASE_URL the same tables, under the same names and columns, live in PostgreSQL (PG_SCHEMA: only
types differ), and the same statements run there (rag/store/sql.py). PostgreSQL has no FTS5: instead, chunk rowids
come from a sequence, dropped chunks are logged in `chunk_deletions`, and each process keeps a local FTS5 mirror
in step (mirror.py).

Schema 1 (before libraries) had one `articles` row per article: it is migrated in place, in one transaction, each
article becoming a version whose id is its article id (its chunk ids stay as they are, so no vector is renamed or
embedded again) and landing in the `default` library.
"""

from __future__ import annotations

from rag.errors import StoreError
from rag.libraries import DEFAULT_LIBRARY
from rag.store.db import StoreDB
from rag.store.fts import FTS_TOKENIZE

SCHEMA_VERSION = 2

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS versions (
    version_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, title TEXT NOT NULL, source TEXT,
    published INTEGER NOT NULL, url TEXT, content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, origin TEXT,
    ingested_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_content ON versions (article_id, content_hash);
CREATE INDEX IF NOT EXISTS versions_published ON versions (published DESC);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, version_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_version ON chunks (version_id);
CREATE TABLE IF NOT EXISTS library_articles (
    library TEXT NOT NULL, article_id TEXT NOT NULL, version_id TEXT NOT NULL, added_at REAL NOT NULL,
    PRIMARY KEY (library, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS library_articles_version ON library_articles (version_id);
CREATE TABLE IF NOT EXISTS vector_journal (chunk_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, source, body, tokenize = '{FTS_TOKENIZE}'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts_vocab USING fts5vocab(chunks_fts, 'row');
"""

# Schema 1 -> 2. `chunks` keeps its rows and rowids (chunks_fts is keyed on them); only a column is renamed.
# The same tables on PostgreSQL (schema 2). Text compares bytewise ("C"), as SQLite's does, so lists sort alike;
# `end` is quoted (a reserved word there); rowids come from a sequence (the keyword mirror pulls rows past the last
# rowid it saw) and dropped chunks' rowids are logged with a sequence of their own.
PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, title TEXT COLLATE "C" NOT NULL, source TEXT COLLATE "C",
    published INTEGER NOT NULL, url TEXT, content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, origin TEXT,
    ingested_at DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_content ON versions (article_id, content_hash);
CREATE INDEX IF NOT EXISTS versions_published ON versions (published DESC);
CREATE TABLE IF NOT EXISTS chunks (
    rowid BIGSERIAL PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, version_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_version ON chunks (version_id);
CREATE TABLE IF NOT EXISTS library_articles (
    library TEXT COLLATE "C" NOT NULL, article_id TEXT NOT NULL, version_id TEXT NOT NULL,
    added_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (library, article_id)
);
CREATE INDEX IF NOT EXISTS library_articles_version ON library_articles (version_id);
CREATE TABLE IF NOT EXISTS vector_journal (chunk_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS chunk_deletions (seq BIGSERIAL PRIMARY KEY, rowid BIGINT NOT NULL)
"""

MIGRATE_1_TO_2 = [
    "ALTER TABLE articles RENAME TO articles_v1",
    "DROP INDEX IF EXISTS articles_published",
    "ALTER TABLE chunks RENAME COLUMN article_id TO version_id",
    "DROP INDEX IF EXISTS chunks_article",
    *[s.strip() for s in SCHEMA.split(";") if s.strip()],
    "INSERT INTO versions SELECT article_id, article_id, title, source, published, url, content_hash, n_chunks, "
    "origin, ingested_at FROM articles_v1",
    f"INSERT INTO library_articles SELECT '{DEFAULT_LIBRARY}', article_id, article_id, ingested_at FROM articles_v1",
    "DROP TABLE articles_v1",
]


def open_schema(db: StoreDB) -> None:
    """Create the schema in a new store, migrate an older one in place, refuse one from a newer newsbot."""
    if db.postgres:
        with db.schema_lock():  # several processes may open a new database at once
            _open_pg_schema(db)
        return
    conn = db.conn
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    found = int(db.get_meta("schema_version") or (1 if "articles" in tables else 0))
    _refuse_newer(db, found)
    if found == SCHEMA_VERSION:
        conn.executescript(SCHEMA)  # idempotent; nothing to add today
        return
    conn.execute("BEGIN IMMEDIATE")  # one transaction: a crash leaves the old schema, migrated on the next open
    try:
        if found == 1:
            for statement in MIGRATE_1_TO_2:
                conn.execute(statement)
        else:
            for statement in (s.strip() for s in SCHEMA.split(";")):
                if statement:
                    conn.execute(statement)
        db.set_meta("schema_version", str(SCHEMA_VERSION))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _refuse_newer(db: StoreDB, found: int) -> None:
    if found > SCHEMA_VERSION:
        raise StoreError(f"{db.where} was written by a newer newsbot (schema {found}, this one "
                         f"reads up to {SCHEMA_VERSION}); upgrade newsbot")


def _open_pg_schema(db: StoreDB) -> None:
    """PostgreSQL's schema, created in one transaction with its version, the content counter and the store's id."""
    import uuid

    found = int(db.get_meta("schema_version") or 0)
    _refuse_newer(db, found)
    if found == SCHEMA_VERSION:
        return
    with db.conn:
        db.conn.executescript(PG_SCHEMA)
        db.set_meta("schema_version", str(SCHEMA_VERSION))
        db.set_meta("content_version", "0")
        db.set_meta("store_id", uuid.uuid4().hex)
