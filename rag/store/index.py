"""The store's facade: chunk vectors in Chroma beside a registry of articles, libraries and keyword rows (SQLite in
the data folder, or PostgreSQL with NEWSBOT_DATABASE_URL).

`NewsIndex` is what the rest of newsbot calls; each job lives in its own room under `rag/store/` (its
`__init__` lists them). Reads take `libraries`: None reads the whole store, a list of names reads only the
articles those libraries hold, inside the search itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.articles.article import Article, LoadFailure
from rag.embeddings.embedders import embedding_model_id
from rag.store.catalog import Catalog
from rag.store.ingest import IngestResult, Writer
from rag.store.keyword import KeywordSearch
from rag.store.mirror import KeywordMirror
from rag.libraries import DEFAULT_LIBRARY
from rag.store.registry import ChunkScope, StoredArticle, StoredChunk
from rag.store.vectors import Vectors, chroma_where, open_chroma, store_collection

__all__ = ["IngestResult", "NewsIndex", "StoredArticle", "StoredChunk", "open_chroma", "open_index"]

KEEP_SCOPES = 16  # library scopes memoised per store version


class NewsIndex:
    """The store; receives its Chroma client and embeddings, never builds them."""

    def __init__(self, client: Any, embeddings: Embeddings, data_dir: Path,
                 chunk_tokens: int = 256, chunk_overlap: int = 32, database_url: str | None = None) -> None:
        self.embeddings = embeddings
        self.model_id = embedding_model_id(embeddings)
        self.data_dir = Path(data_dir)
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.catalog = Catalog(self.data_dir, self.model_id, database_url)  # refuses another model's store
        self.store = self.catalog.store
        self.registry = self.catalog.registry
        collection = store_collection(self.store, self.model_id)  # before a new store records its model
        self.catalog.record_model()
        self.vectors = Vectors(client, collection, self.model_id)
        self.store.watch_generation(self.vectors.reopen)
        mirror = KeywordMirror(self.store) if self.store.postgres else None  # FTS5 beside PostgreSQL (mirror.py)
        self.keyword = KeywordSearch(self.store, self.scope, self.chunk_count, mirror)
        self.writer = Writer(self.store, self.registry, self.vectors, embeddings, chunk_tokens, chunk_overlap)

    @property
    def db(self):
        """The registry's shared connection, SQLite or PostgreSQL (for tools and tests that read it directly)."""
        return self.store.conn

    # ---- locks (also used by backup and restore) ---------------------------------------------------

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time across processes; readers never wait."""
        with self.store.write_lock():
            yield

    @contextmanager
    def chroma_access(self, exclusive: bool = False) -> Iterator[None]:
        """Hold the Chroma lock (shared to read, exclusive to write) with a client that is not behind the disk."""
        with self.store.chroma_access(exclusive):
            yield

    # ---- writing -----------------------------------------------------------------------------------

    def ingest(self, items: Iterable[Article | LoadFailure], batch_chunks: int = 256,
               on_progress: Callable[[int], None] | None = None, library: str = DEFAULT_LIBRARY) -> IngestResult:
        """Add new articles to the library, replace changed ones, skip unchanged ones (rag/store/ingest.py)."""
        return self.writer.ingest(items, library, batch_chunks, on_progress)

    def remove(self, article_id: str, library: str = DEFAULT_LIBRARY) -> bool:
        """Take the article out of the library (its chunks go when no library holds it); False if not there."""
        return self.writer.remove(article_id, library)

    def sweep_orphans(self) -> int:
        """Delete vectors an interrupted write left without a committed chunk."""
        with self.write_lock():
            return self.writer.sweep_orphans()

    # ---- the registry ------------------------------------------------------------------------------

    def list_articles(self, query: str | None = None, limit: int | None = None,
                      libraries: Sequence[str] | None = None) -> list[StoredArticle]:
        """Articles newest first, optionally those whose title or source contains `query`."""
        return self.catalog.list_articles(query, limit, libraries)

    def articles_between(self, since: int, until: int, source: str | None = None,
                         libraries: Sequence[str] | None = None) -> list[StoredArticle]:
        """Articles dated in [since, until] (YYYYMMDD ints), newest first."""
        return self.registry.articles_between(since, until, source, libraries)

    def stats(self, library: str | None = None) -> dict:
        """Articles and chunks (of one library, or of the whole store), the embedding model and the data folder."""
        return self.catalog.stats(library)

    def libraries(self) -> list[dict]:
        """`[{"library", "articles", "chunks"}]` for every library that holds an article."""
        return self.catalog.libraries()

    def holders(self, article_id: str, libraries: Sequence[str]) -> list[str]:
        """Those of `libraries` that hold the article."""
        return self.registry.holders(article_id, libraries)

    def sources(self) -> list[str]:
        """The distinct outlets in the store, for parsing them out of questions."""
        return self.registry.sources()

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, StoredChunk]:
        """Committed chunks by id; ids of uncommitted or stale vectors are simply missing."""
        return self.registry.get_chunks(chunk_ids)

    def version_chunks(self, version_id: str) -> list[StoredChunk]:
        """All chunks of one stored version (`StoredArticle.version_id`) in order."""
        return self.registry.version_chunks(version_id)

    def lead_chunk_ids(self, version_ids: list[str], n: int) -> dict[str, list[str]]:
        """The ids of each stored version's first `n` committed chunks, in order."""
        return self.registry.lead_chunk_ids(version_ids, n)

    def chunk_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk id; ids without one are missing."""
        with self.chroma_access():
            return self.vectors.get_vectors(chunk_ids)

    def content_version(self) -> tuple[int, int]:
        """Changes whenever anyone commits to the registry (see StoreDB.content_version)."""
        return self.store.content_version()

    def writing(self) -> bool:
        """Whether this process has a write open on the registry (not yet committed)."""
        return self.store.writing()

    def derived(self, name: Any, build: Callable[[], Any]) -> Any:
        """`build()`, memoised until the store's contents change (for values derived from the whole store)."""
        return self.store.derived(name, build)

    def chunk_count(self) -> int:
        """Committed chunks in the whole store (memoised until the store changes)."""
        return self.derived("chunk_count", self.registry.chunk_count)

    def lower_vocabulary(self) -> set[str]:
        """Words seen lower-case in the committed chunks (tells ordinary words from outlet names)."""
        from rag.text import lower_vocabulary

        return lower_vocabulary(self.registry.chunk_texts())

    def chunk_sources_and_dates(self) -> dict[str, tuple[str, int]]:
        """chunk_id -> (source, published YYYYMMDD int, 0 = undated) for every committed chunk."""
        return self.registry.chunk_sources_and_dates()

    def scope(self, libraries: Sequence[str]) -> tuple[tuple[str, ...], ChunkScope]:
        """The libraries' committed chunks (memoised per store version), with the key they are memoised under."""
        key = tuple(sorted(set(libraries)))
        return key, self.store.derived(("scope", key), lambda: self.registry.scope(key), keep=KEEP_SCOPES)

    # ---- search ------------------------------------------------------------------------------------

    def keyword_search(self, query: str, k: int, since: int | None = None, until: int | None = None,
                       source: str | list[str] | None = None,
                       weights: tuple[float, float, float] = (2.0, 1.0, 1.0), max_df: float | None = None,
                       libraries: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """BM25 over title, source and body, best first, as (chunk_id, score) (rag/store/keyword.py)."""
        return self.keyword.search(query, k, since, until, source, weights, max_df, libraries)

    def keep_keyword_index(self, weights: tuple[float, float, float], max_df: float, wait: bool = False) -> None:
        """Keep an in-memory copy of the keyword index current (long-running processes; see KeywordSearch.keep)."""
        self.keyword.keep(weights, max_df, wait)

    def selective_fts_query(self, text: str, max_df: float) -> str | None:
        return self.keyword.selective_fts_query(text, max_df)

    def document_frequencies(self, words: list[str]) -> dict[str, int]:
        """How many chunks of the whole store hold each word (by FTS5's own stem of it)."""
        return self.keyword.document_frequencies(words)

    def dense_search(self, query: str | list[float], k: int, since: int | None = None, until: int | None = None,
                     source: str | list[str] | None = None,
                     libraries: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks by cosine similarity, best first, as (chunk_id, similarity)."""
        vector = self.embeddings.embed_query(query) if isinstance(query, str) else query
        return self.dense_search_many([vector], k, since, until, source, libraries)[0]

    def dense_search_many(self, vectors: list[list[float]], k: int, since: int | None = None,
                          until: int | None = None, source: str | list[str] | None = None,
                          libraries: Sequence[str] | None = None) -> list[list[tuple[str, float]]]:
        """dense_search for several query vectors at once (one Chroma call, or one matrix product)."""
        if libraries is None:
            with self.chroma_access():
                return self.vectors.query(vectors, k, chroma_where(since, until, source))
        key, scope = self.scope(libraries)
        total = self.chunk_count()
        with self.chroma_access():
            return self.vectors.search_scope(vectors, k, key, scope, total, since, until, source)


def open_index(settings) -> NewsIndex:
    """The store as configured: its Chroma client (on disk or a server) and the embedder (loaded on first use)."""
    from rag.embeddings.embedders import make_embeddings
    from rag.store.catalog import check_server_mode

    check_server_mode(settings)
    if settings.database_url:  # an unreachable database is one clear line, before Chroma is tried
        from rag.store.sql import connect

        connect(settings.database_url, settings.data_dir).close()
    return NewsIndex(open_chroma(settings), make_embeddings(settings), settings.data_dir, settings.chunk_tokens,
                     settings.chunk_overlap, settings.database_url)
