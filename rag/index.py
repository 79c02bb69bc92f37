"""The store: chunk vectors in Chroma, and beside them a SQLite registry of articles with an FTS5 keyword index.

An article version becomes visible only when its registry rows commit, which happens after its vectors are written;
an update swaps the old version's rows for the new one's in that same transaction, and chunk ids name the version,
so a crash leaves each article in its old or its new version, never neither and never a mix. Vectors no committed
chunk names (a killed write's) are swept by the next ingest. docs/reliability.md, "Write protocol", has each step.

Chroma's PersistentClient is not process-safe: a process that reads while another writes gets "Error finding id",
and a client that another process wrote behind stays stale. So every Chroma call holds data_dir/chroma.lock
(exclusive to write, shared to read), and a client is reopened from disk when the store's generation moved.
"""

from __future__ import annotations

import fcntl
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from rag.articles import Article, LoadFailure
from rag.chunking import Chunk, chunk_article, date_to_int, int_to_date
from rag.embeddings import embedding_model_id
from rag.errors import StoreError
from rag.keyword import FTS_TOKENIZE, KeywordIndex, df_limit, fts_stemmer
from rag.store.faults import point

logger = logging.getLogger(__name__)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT, published INTEGER NOT NULL,
    url TEXT, content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, origin TEXT, ingested_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published DESC);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, source, body, tokenize = '{FTS_TOKENIZE}'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts_vocab USING fts5vocab(chunks_fts, 'row');
"""


@dataclass(frozen=True)
class StoredArticle:
    """A registry row, as `newsbot sources` shows it."""

    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    chunks: int


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


@dataclass
class IngestResult:
    """What one ingest did; `failed` holds one reason per skipped input."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[LoadFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks_written: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def collection_name(model_id: str) -> str:
    """One Chroma collection per embedding model."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_id).strip("-._")
    return f"news-{slug}"[:60].rstrip("-._")


def fts_query(text: str) -> str | None:
    """A safe FTS5 OR-query from free text (quotes every term, so user text can't inject syntax)."""
    terms = [t for t in re.findall(r"[\w][\w'’.-]*", text.lower()) if len(t) > 1 or t.isdigit()]
    terms = [t.strip(".'’-") for t in terms]
    unique = list(dict.fromkeys(t for t in terms if t))
    return " OR ".join(f'"{t}"' for t in unique) or None


def selective_words(text: str) -> list[str]:
    """A selective keyword query's candidate words: distinct, lower-case, not stopwords, 2+ characters."""
    from rag.query_parse import WORD_RE
    from rag.text import FUNCTION_WORDS

    return [w for w in dict.fromkeys(WORD_RE.findall(text.lower())) if w not in FUNCTION_WORDS and len(w) >= 2]


class NewsIndex:
    """Chroma vectors plus the SQLite registry and keyword index; receives its clients, never builds them."""

    def __init__(self, vectors: Chroma, embeddings: Embeddings, data_dir: Path,
                 chunk_tokens: int = 256, chunk_overlap: int = 32) -> None:
        self.vectors = vectors
        self.embeddings = embeddings
        self.model_id = embedding_model_id(embeddings)
        self.data_dir = Path(data_dir)
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.data_dir / "newsbot.sqlite3", timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._check_model()
        # The store generation our Chroma client reflects (it was opened just before this, and loads lazily).
        self._generation: str | None = self._current_generation()
        self._derived: dict[str, tuple[tuple[int, int], Any]] = {}
        self._derived_lock = threading.Lock()
        self._local = threading.local()  # searches in worker threads read through their own connection
        self._kw_config: tuple[tuple[float, float, float], float] | None = None  # see keep_keyword_index
        self._kw: tuple[tuple[int, int], KeywordIndex] | None = None  # (store version, in-memory copy)
        self._kw_lock = threading.Lock()
        self._kw_thread: threading.Thread | None = None
        self._kw_failed: tuple[int, int] | None = None

    def _check_model(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='embedding_model'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('embedding_model', ?)", (self.model_id,))
        elif row[0] != self.model_id:
            raise StoreError(
                f"the store in {self.data_dir} was built with embedding model {row[0]!r}, not {self.model_id!r}; "
                "mixing them would give meaningless results. Use the same NEWSBOT_EMBEDDING_PROVIDER, "
                "or point NEWSBOT_DATA_DIR at a new folder and ingest again."
            )

    # ---- writing -------------------------------------------------------------------------------

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time across processes; readers never wait (SQLite WAL, committed rows only)."""
        with open(self.data_dir / "ingest.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def chroma_access(self, exclusive: bool = False) -> Iterator[None]:
        """Hold chroma.lock (shared to read, exclusive to write) with a client that is not behind the disk."""
        with open(self.data_dir / "chroma.lock", "a") as handle:
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
        row = self.db.execute("SELECT value FROM meta WHERE key='chroma_generation'").fetchone()
        return row[0] if row else "0"

    def _refresh_if_stale(self) -> None:
        current = self._current_generation()
        if current != self._generation:
            self.vectors = reopen_vectors(self.vectors, self.embeddings)
            self._generation = current

    def _bump_generation(self) -> None:
        self._generation = f"{time.time_ns()}"
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('chroma_generation', ?)", (self._generation,))

    def ingest(
        self, items: Iterable[Article | LoadFailure], batch_chunks: int = 256,
        on_progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """Add new articles, replace changed ones, skip unchanged ones; embeds in batches across articles."""
        result = IngestResult()
        with self.write_lock():
            with self.chroma_access(exclusive=True):
                self.sweep_orphans()
            pending: list[tuple[Article, list[Chunk]]] = []
            for item in items:
                if isinstance(item, LoadFailure):
                    result.failed.append(item)
                    continue
                result.warnings.extend(f"{item.origin}: {w}" for w in item.warnings)
                old = self._hash_of(item.article_id)
                if old == item.content_hash or any(a.article_id == item.article_id for a, _ in pending):
                    result.unchanged.append(item.article_id)
                    if on_progress:
                        on_progress(1)
                    continue
                chunks = chunk_article(item, self.chunk_tokens, self.chunk_overlap)
                (result.updated if old else result.added).append(item.article_id)
                pending.append((item, chunks))
                if sum(len(c) for _, c in pending) >= batch_chunks:
                    result.chunks_written += self._write(pending, on_progress)
                    pending = []
            if pending:
                result.chunks_written += self._write(pending, on_progress)
        return result

    def _hash_of(self, article_id: str) -> str | None:
        row = self.db.execute("SELECT content_hash FROM articles WHERE article_id=?", (article_id,)).fetchone()
        return row[0] if row else None

    def _write(self, batch: list[tuple[Article, list[Chunk]]],
               on_progress: Callable[[int], None] | None) -> int:
        """One batch: new vectors first, then the registry swaps old rows for new in one transaction, then the old
        versions' vectors go. A crash between any two steps leaves every article in its old or new version."""
        ids = [a.article_id for a, _ in batch]
        chunks = [c for _, cs in batch for c in cs]
        vectors = self.embeddings.embed_documents([c.text for c in chunks]) if chunks else []
        point("ingest.embedded")
        old_chunks = self._chunk_ids_of(ids)
        if chunks:
            with self.chroma_access(exclusive=True):  # embedded above, so readers wait only for the write itself
                self.vectors._collection.upsert(
                    ids=[c.chunk_id for c in chunks], embeddings=vectors,
                    metadatas=[c.metadata for c in chunks], documents=[c.text for c in chunks])
                point("ingest.vectors_upserted")
        with self.db:  # the old version disappears in the transaction that shows the new one
            self._delete_rows(ids)
            point("ingest.old_rows_deleted")
            for article, cs in batch:
                self._insert_rows(article, cs)
            point("ingest.before_commit")
        point("ingest.committed")
        new = {c.chunk_id for c in chunks}
        stale = [cid for cid in old_chunks if cid not in new]
        if stale:  # chunk ids name their version, so these are the old versions' vectors only
            with self.chroma_access(exclusive=True):
                self._delete_vectors(stale)
                point("ingest.old_vectors_deleted")
        if on_progress:
            on_progress(len(batch))
        return len(chunks)

    def _chunk_ids_of(self, article_ids: list[str]) -> list[str]:
        """The committed chunk ids of these articles."""
        marks = ",".join("?" * len(article_ids))
        return [r[0] for r in self.db.execute(
            f"SELECT chunk_id FROM chunks WHERE article_id IN ({marks})", article_ids)]

    def _insert_rows(self, article: Article, chunks: list[Chunk]) -> None:
        self.db.execute(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
            (article.article_id, article.title, article.source, date_to_int(article.published), article.url,
             article.content_hash, len(chunks), article.origin, time.time()),
        )
        for c in chunks:
            cur = self.db.execute(
                "INSERT INTO chunks (chunk_id, article_id, chunk_index, start, end, text) VALUES (?,?,?,?,?,?)",
                (c.chunk_id, c.article_id, c.index, c.start, c.end, c.text),
            )
            self.db.execute(
                "INSERT INTO chunks_fts (rowid, title, source, body) VALUES (?,?,?,?)",
                (cur.lastrowid, article.title, article.source or "", c.text),
            )

    def _delete_rows(self, article_ids: list[str]) -> None:
        marks = ",".join("?" * len(article_ids))
        self.db.execute(
            f"DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks WHERE article_id IN ({marks}))",
            article_ids,
        )
        self.db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", article_ids)
        self.db.execute(f"DELETE FROM articles WHERE article_id IN ({marks})", article_ids)

    def _delete_vectors(self, chunk_ids: list[str]) -> None:
        for lo in range(0, len(chunk_ids), 5000):
            self.vectors.delete(ids=chunk_ids[lo:lo + 5000])

    def sweep_orphans(self) -> int:
        """Delete vectors whose article never committed (an ingest that was killed)."""
        known = {r[0] for r in self.db.execute("SELECT chunk_id FROM chunks")}
        stored = self.vectors.get(include=[])["ids"]
        orphans = [i for i in stored if i not in known]
        self._delete_vectors(orphans)
        point("sweep.deleted")
        if orphans:
            logger.info("swept %d orphaned vectors from an interrupted ingest", len(orphans))
        return len(orphans)

    def remove(self, article_id: str) -> bool:
        """Delete one article everywhere; False if it was not there."""
        with self.write_lock():
            if self._hash_of(article_id) is None:
                return False
            chunk_ids = self._chunk_ids_of([article_id])
            with self.db:  # gone from every search once this commits; its vectors are only orphans after it
                self._delete_rows([article_id])
                point("remove.before_commit")
            point("remove.committed")
            with self.chroma_access(exclusive=True):
                self._delete_vectors(chunk_ids)
                point("remove.vectors_deleted")
        return True

    # ---- reading -------------------------------------------------------------------------------

    def list_articles(self, query: str | None = None, limit: int | None = None) -> list[StoredArticle]:
        """Articles newest first, optionally those whose title or source contains `query`."""
        sql = "SELECT article_id, title, source, published, url, n_chunks FROM articles"
        args: list = []
        if query:
            sql += " WHERE title LIKE ? OR source LIKE ?"
            args += [f"%{query}%", f"%{query}%"]
        sql += " ORDER BY published DESC, title"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [
            StoredArticle(r[0], r[1], r[2], _iso(r[3]), r[4], r[5]) for r in self.db.execute(sql, args)
        ]

    def content_version(self) -> tuple[int, int]:
        """Changes when anyone commits to the registry (ours: total_changes; others': data_version); cheap.

        Our own count moves at each change, before its commit: while `writing()`, the version may already name
        contents that other connections cannot see yet, so nothing may be memoised under it."""
        return self.db.total_changes, self.db.execute("PRAGMA data_version").fetchone()[0]

    def writing(self) -> bool:
        """Whether this process has a write open on the registry (not yet committed)."""
        return self.db.in_transaction

    def derived(self, name: str, build: Callable[[], Any]) -> Any:
        """`build()`, memoised until the store's contents change (for values derived from the whole store)."""
        with self._derived_lock:
            version = self.content_version()
            if self.writing():  # the version already counts uncommitted changes: build, but don't keep it
                return build()
            hit = self._derived.get(name)
            if hit is None or hit[0] != version:
                hit = self._derived[name] = (version, build())
            return hit[1]

    def _reader(self) -> sqlite3.Connection:
        """The main thread's connection, or a read connection of the calling thread's own (SQLite WAL)."""
        if threading.current_thread() is threading.main_thread():
            return self.db
        conn = getattr(self._local, "db", None)
        if conn is None:
            conn = self._local.db = sqlite3.connect(self.data_dir / "newsbot.sqlite3", timeout=30)
        return conn

    def stats(self) -> dict:
        articles, chunks = self.db.execute("SELECT COUNT(*), COALESCE(SUM(n_chunks), 0) FROM articles").fetchone()
        return {"articles": articles, "chunks": chunks, "embedding_model": self.model_id,
                "data_dir": str(self.data_dir)}

    def sources(self) -> list[str]:
        """The distinct outlets in the store, for parsing them out of questions."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT source FROM articles WHERE source IS NOT NULL")]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, StoredChunk]:
        """Committed chunks by id; ids of uncommitted or stale vectors are simply missing."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._reader().execute(
            "SELECT c.chunk_id, c.article_id, c.chunk_index, c.text, c.start, c.end, a.title, a.source, "
            f"a.published, a.url FROM chunks c JOIN articles a USING (article_id) WHERE c.chunk_id IN ({marks})",
            chunk_ids,
        ).fetchall()
        return {r[0]: StoredChunk(*r) for r in rows}

    def article_chunks(self, article_id: str) -> list[StoredChunk]:
        """All chunks of one article in order."""
        ids = [r[0] for r in self.db.execute(
            "SELECT chunk_id FROM chunks WHERE article_id=? ORDER BY chunk_index", (article_id,))]
        found = self.get_chunks(ids)
        return [found[i] for i in ids if i in found]

    def lead_chunk_ids(self, article_ids: list[str], n: int) -> dict[str, list[str]]:
        """The ids of each article's first `n` committed chunks, in order."""
        if not article_ids:
            return {}
        marks = ",".join("?" * len(article_ids))
        leads: dict[str, list[str]] = {}
        for article_id, chunk in self._reader().execute(
                f"SELECT article_id, chunk_id FROM chunks WHERE article_id IN ({marks}) AND chunk_index < ? "
                "ORDER BY article_id, chunk_index", [*article_ids, n]):
            leads.setdefault(article_id, []).append(chunk)
        return leads

    def articles_between(self, since: int, until: int, source: str | None = None) -> list[StoredArticle]:
        """Articles dated in [since, until] (YYYYMMDD ints), newest first."""
        sql = ("SELECT article_id, title, source, published, url, n_chunks FROM articles "
               "WHERE published BETWEEN ? AND ?")
        args: list = [since, until]
        if source:
            sql += " AND lower(source) = lower(?)"
            args.append(source)
        sql += " ORDER BY published DESC, title"
        return [StoredArticle(r[0], r[1], r[2], _iso(r[3]), r[4], r[5]) for r in self.db.execute(sql, args)]

    def keyword_search(self, query: str, k: int, since: int | None = None, until: int | None = None,
                       source: str | list[str] | None = None,
                       weights: tuple[float, float, float] = (2.0, 1.0, 1.0), max_df: float | None = None,
                       ) -> list[tuple[str, float]]:
        """BM25 over title, source and body (FTS5), best first, as (chunk_id, score) with higher = better.

        With `max_df`, stopwords and terms found in more than that share of chunks (and more than 10) are left
        out of the query."""
        copy = self._keyword_copy(weights, max_df)
        if copy is not None:
            stems = [s for s in fts_stemmer.stems(selective_words(query)) if copy.kept(s)]
            return copy.search(stems, k, since, until, source)
        match = fts_query(query) if max_df is None else self.selective_fts_query(query, max_df)
        if not match:
            return []
        args: list = [*weights, match]
        if since or until or source:  # join every match to its article, keep those that pass, rank them
            sql, args = _add_filters(
                "SELECT c.chunk_id, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts "
                "JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN articles a ON a.article_id = c.article_id "
                "WHERE chunks_fts MATCH ?", args, since, until, source)
            sql += " ORDER BY s LIMIT ?"
        else:  # ranked inside FTS5 first, so only the best k rows are joined to their chunk ids
            sql = ("SELECT c.chunk_id, f.s FROM (SELECT rowid, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts "
                   "WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?) f JOIN chunks c ON c.rowid = f.rowid ORDER BY f.s")
        args.append(k)
        return [(r[0], -r[1]) for r in self._reader().execute(sql, args)]

    def keep_keyword_index(self, weights: tuple[float, float, float], max_df: float, wait: bool = False) -> None:
        """Keep an in-memory copy of the keyword index for selective searches with these settings (`KeywordIndex`).

        For long-running processes: the copy is rebuilt in a background thread whenever the store changes, and
        FTS5 answers (with the same scores, more slowly) until it is ready. `wait` builds it now, in this thread."""
        config = (tuple(weights), max_df)
        with self._kw_lock:
            if self._kw_config != config:
                self._kw_config, self._kw = config, None
        if wait:
            version = self.content_version()
            if self._current_copy(version) is None and not self.writing():  # built once per store version
                self._build_keyword_copy(version, config)
        else:
            self._keyword_copy(*config)

    def _keyword_copy(self, weights, max_df) -> KeywordIndex | None:
        """The in-memory copy if it is kept for these settings and reflects the store as it is now; else None
        (and a rebuild is started if none is running)."""
        config = self._kw_config
        if config is None or max_df is None or config != (tuple(weights), max_df):
            return None
        version = self.content_version()
        with self._kw_lock:
            if (current := self._current_copy(version)) is not None:
                return current
            building = self._kw_thread is not None and self._kw_thread.is_alive()
            # Built only from committed contents: a build that starts while our own write is open would read the
            # store before that commit under the version after it (the version is read first, so any commit it
            # counts happened before the build's snapshot).
            if not building and self._kw_failed != version and not self.writing():
                self._kw_thread = threading.Thread(target=self._build_keyword_copy, args=(version, config),
                                                   name="newsbot-keyword-index", daemon=True)
                self._kw_thread.start()
        return None

    def _current_copy(self, version: tuple[int, int]) -> KeywordIndex | None:
        """The in-memory copy if it was built at this store version (whatever its settings), else None."""
        kept = self._kw
        return kept[1] if kept is not None and kept[0] == version else None

    def _build_keyword_copy(self, version: tuple[int, int], config) -> None:
        start = time.perf_counter()
        try:
            conn = sqlite3.connect(self.data_dir / "newsbot.sqlite3", timeout=30)
            try:
                point("keyword.building")
                built = KeywordIndex.build(conn, *config)
            finally:
                conn.close()
        except Exception:  # FTS5 keeps answering; not retried until the store changes again
            logger.exception("could not build the in-memory keyword index; searching FTS5 instead")
            self._kw_failed = version
            return
        with self._kw_lock:
            if self._kw_config == config:
                self._kw = (version, built)
        logger.info("in-memory keyword index: %d chunks, %d postings, built in %.1f s",
                    built.n_rows, len(built.post_pos), time.perf_counter() - start)

    def selective_fts_query(self, text: str, max_df: float) -> str | None:
        """An FTS5 OR-query of the text's words that occur in at most `max_df` of the chunks (and not stopwords)."""
        n_chunks = self.chunk_count() or 1
        words = selective_words(text)
        df = self.document_frequencies(words)
        kept = [w for w in words if w in df and df[w] <= df_limit(max_df, n_chunks)]
        terms = [f'"{w}"' for w in kept]
        return " OR ".join(terms) or None

    def document_frequencies(self, words: list[str]) -> dict[str, int]:
        """How many chunks hold each word (by FTS5's own stem of it); words in no chunk are left out."""
        stems = dict(zip(words, fts_stemmer.stems(words)))
        if not stems:
            return {}
        copy = self._current_copy(self.content_version())
        if copy is not None:  # the in-memory copy knows every word's df
            return {w: copy.df[s] for w, s in stems.items() if s in copy.df}
        marks = ",".join("?" * len(set(stems.values())))
        found = dict(self._reader().execute(f"SELECT term, doc FROM chunks_fts_vocab WHERE term IN ({marks})",
                                     list(set(stems.values()))))
        return {w: found[s] for w, s in stems.items() if s in found}

    def chunk_count(self) -> int:
        """Committed chunks (memoised until the store changes)."""
        return self.derived("chunk_count", lambda: self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def lower_vocabulary(self) -> set[str]:
        """Words seen lower-case in the committed chunks (tells ordinary words from outlet names)."""
        from rag.query_parse import lower_vocabulary

        return lower_vocabulary(r[0] for r in self.db.execute("SELECT text FROM chunks"))

    def chunk_sources_and_dates(self) -> dict[str, tuple[str, int]]:
        """chunk_id -> (source, published YYYYMMDD int, 0 = undated) for every committed chunk."""
        return {r[0]: (r[1] or "", r[2] or 0) for r in self._reader().execute(
            "SELECT c.chunk_id, a.source, a.published FROM chunks c JOIN articles a USING (article_id)")}

    def dense_search(self, query: str | list[float], k: int, since: int | None = None,
                     until: int | None = None, source: str | list[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks by cosine similarity, best first, as (chunk_id, similarity)."""
        vector = self.embeddings.embed_query(query) if isinstance(query, str) else query
        return self.dense_search_many([vector], k, since, until, source)[0]

    def dense_search_many(self, vectors: list[list[float]], k: int, since: int | None = None,
                          until: int | None = None, source: str | list[str] | None = None,
                          ) -> list[list[tuple[str, float]]]:
        """dense_search for several query vectors in one Chroma call."""
        where = chroma_where(since, until, source)
        with self.chroma_access():
            result = self.vectors._collection.query(
                query_embeddings=vectors, n_results=k, where=where, include=["distances"]
            )
        return [[(cid, 1.0 - dist) for cid, dist in zip(ids, dists)]
                for ids, dists in zip(result["ids"], result["distances"])]


def chroma_where(since: int | None, until: int | None, source: str | list[str] | None) -> dict | None:
    """Chroma metadata filter for the date range (YYYYMMDD ints) and outlet."""
    clauses: list[dict] = []
    if since:
        clauses.append({"published": {"$gte": since}})
    if until:
        clauses.append({"published": {"$lte": until}})
    if isinstance(source, list):
        clauses.append({"source": {"$in": source}})
    elif source:
        clauses.append({"source": source})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _add_filters(sql: str, args: list, since: int | None, until: int | None,
                 source: str | list[str] | None) -> tuple[str, list]:
    if since:
        sql += " AND a.published >= ?"
        args.append(since)
    if until:
        sql += " AND a.published <= ?"
        args.append(until)
    if isinstance(source, list):
        sql += f" AND a.source IN ({','.join('?' * len(source))})"
        args.extend(source)
    elif source:
        sql += " AND lower(a.source) = lower(?)"
        args.append(source)
    return sql, args


def _iso(value: int) -> str | None:
    day = int_to_date(value)
    return day.isoformat() if day else None


def reopen_vectors(vectors: Chroma, embeddings: Embeddings) -> Chroma:
    """The same collection through a fresh on-disk client (Chroma caches one per path); servers need none."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    settings = vectors._client.get_settings()
    if not settings.is_persistent:
        return vectors
    path = settings.persist_directory
    SharedSystemClient._identifier_to_system.pop(path, None)  # the cached client holds a stale HNSW index
    SharedSystemClient._identifier_to_refcount.pop(path, None)
    client = chromadb.PersistentClient(path=path, settings=settings)
    logger.debug("reopened the Chroma store at %s: another process wrote to it", path)
    return Chroma(client=client, collection_name=vectors._collection.name, embedding_function=embeddings)


def open_vectors(settings, embeddings: Embeddings) -> Chroma:
    """The Chroma collection for this embedding model: on disk, or on a `chroma run` server if a host is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port or 8000,
                                     settings=chroma_settings)
    else:
        path = Path(settings.data_dir) / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    model_id = embedding_model_id(embeddings)
    return Chroma(
        client=client, collection_name=collection_name(model_id), embedding_function=embeddings,
        collection_metadata={"hnsw:space": "cosine", "embedding_model": model_id},
    )
