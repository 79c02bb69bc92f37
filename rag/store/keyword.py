"""Keyword search: BM25 over the chunks' title, source and body (FTS5), or over its in-memory copy when one is kept.

In server mode (registry in PostgreSQL) FTS5 is read from the process's local mirror (mirror.py), brought up to
date before each read; the store's version, scopes and memoised values still come from the registry itself.

Scores use the whole store's statistics (each word's document frequency, the mean chunk length), as FTS5 keeps
them, whatever the libraries searched: a library filter keeps rows, inside the search, before the top k are cut.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from rag.store.db import StoreDB
from rag.store.faults import point
from rag.store.fts import df_limit, fts_query, fts_stemmer, selective_words
from rag.store.keyword_copy import KeywordIndex
from rag.store.mirror import KeywordMirror
from rag.store.registry import ChunkScope, in_scope

logger = logging.getLogger(__name__)

Weights = tuple[float, float, float]


class KeywordSearch:
    """FTS5 queries, plus the in-memory copy that long-running processes keep current in a background thread."""

    def __init__(self, db: StoreDB, scope_of: Callable[[Sequence[str]], tuple[tuple[str, ...], ChunkScope]],
                 chunk_count: Callable[[], int], mirror: KeywordMirror | None = None) -> None:
        self.db = db
        self.fts: StoreDB | KeywordMirror = mirror or db  # where chunks_fts is read (reader() / connect())
        self._scope_of = scope_of  # the libraries' chunks, memoised on the store version (the facade's)
        self._chunk_count = chunk_count
        self._config: tuple[Weights, float] | None = None  # see keep()
        self._copy: tuple[tuple[int, int], KeywordIndex] | None = None  # (store version, in-memory copy)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failed: tuple[int, int] | None = None

    def search(self, query: str, k: int, since: int | None = None, until: int | None = None,
               source: str | list[str] | None = None, weights: Weights = (2.0, 1.0, 1.0),
               max_df: float | None = None, libraries: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """BM25, best first, as (chunk_id, score) with higher = better; only chunks the libraries hold (None: all).

        With `max_df`, stopwords and terms found in more than that share of chunks (and more than 10) are left
        out of the query."""
        copy = self._current(weights, max_df)
        if copy is not None:
            stems = [s for s in fts_stemmer.stems(selective_words(query)) if copy.kept(s)]
            allowed = None if libraries is None else self._allowed(copy, libraries)
            return copy.search(stems, k, since, until, source, allowed)
        match = fts_query(query) if max_df is None else self.selective_fts_query(query, max_df)
        if not match:
            return []
        args: list = [*weights, match]
        if since or until or source or libraries is not None:  # join every match, keep those that pass, rank
            sql, args = _add_filters(
                "SELECT c.chunk_id, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts "
                "JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN versions v ON v.version_id = c.version_id "
                "WHERE chunks_fts MATCH ?", args, since, until, source, libraries)
            sql += " ORDER BY s LIMIT ?"
        else:  # ranked inside FTS5 first, so only the best k rows are joined to their chunk ids
            sql = ("SELECT c.chunk_id, f.s FROM (SELECT rowid, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts "
                   "WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?) f JOIN chunks c ON c.rowid = f.rowid ORDER BY f.s")
        args.append(k)
        return [(r[0], -r[1]) for r in self.fts.reader().execute(sql, args)]

    def _allowed(self, copy: KeywordIndex, libraries: Sequence[str]) -> np.ndarray:
        """The copy's positions of the libraries' chunks, memoised with the scope (per store version)."""
        key, scope = self._scope_of(libraries)
        return self.db.derived(("keyword_mask", key, id(copy)), lambda: copy.positions(scope.rowids), keep=16)

    def keep(self, weights: Weights, max_df: float, wait: bool = False) -> None:
        """Keep an in-memory copy of the keyword index for selective searches with these settings (`KeywordIndex`).

        For long-running processes: the copy is rebuilt in a background thread whenever the store changes, and
        FTS5 answers (with the same scores, more slowly) until it is ready. `wait` builds it now, in this thread."""
        config = (tuple(weights), max_df)
        with self._lock:
            if self._config != config:
                self._config, self._copy = config, None
        if wait:
            version = self.db.content_version()
            if self._at(version) is None and not self.db.writing():  # built once per store version
                self._build(version, config)
        else:
            self._current(*config)

    def _current(self, weights, max_df) -> KeywordIndex | None:
        """The in-memory copy if it is kept for these settings and reflects the store as it is now; else None
        (and a rebuild is started if none is running)."""
        config = self._config
        if config is None or max_df is None or config != (tuple(weights), max_df):
            return None
        version = self.db.content_version()
        with self._lock:
            if (current := self._at(version)) is not None:
                return current
            building = self._thread is not None and self._thread.is_alive()
            # Built only from committed contents: a build that starts while our own write is open would read the
            # store before that commit under the version after it (the version is read first, so any commit it
            # counts happened before the build's snapshot).
            if not building and self._failed != version and not self.db.writing():
                self._thread = threading.Thread(target=self._build, args=(version, config),
                                                name="newsbot-keyword-index", daemon=True)
                self._thread.start()
        return None

    def _at(self, version: tuple[int, int]) -> KeywordIndex | None:
        """The in-memory copy if it was built at this store version (whatever its settings), else None."""
        kept = self._copy
        return kept[1] if kept is not None and kept[0] == version else None

    def _build(self, version: tuple[int, int], config) -> None:
        start = time.perf_counter()
        try:
            if isinstance(self.fts, KeywordMirror):
                self.fts.sync()  # up to `version` at least: a later commit moves the version, and we build again
            conn = self.fts.connect()
            try:
                point("keyword.building")
                built = KeywordIndex.build(conn, *config)
            finally:
                conn.close()
        except Exception:  # FTS5 keeps answering; not retried until the store changes again
            logger.exception("could not build the in-memory keyword index; searching FTS5 instead")
            self._failed = version
            return
        with self._lock:
            if self._config == config:
                self._copy = (version, built)
        logger.info("in-memory keyword index: %d chunks, %d postings, built in %.1f s",
                    built.n_rows, len(built.post_pos), time.perf_counter() - start)

    def selective_fts_query(self, text: str, max_df: float) -> str | None:
        """An FTS5 OR-query of the text's words that occur in at most `max_df` of the chunks (and not stopwords)."""
        n_chunks = self._chunk_count() or 1
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
        copy = self._at(self.db.content_version())
        if copy is not None:  # the in-memory copy knows every word's df
            return {w: copy.df[s] for w, s in stems.items() if s in copy.df}
        marks = ",".join("?" * len(set(stems.values())))
        found = dict(self.fts.reader().execute(f"SELECT term, doc FROM chunks_fts_vocab WHERE term IN ({marks})",
                                              list(set(stems.values()))))
        return {w: found[s] for w, s in stems.items() if s in found}


def _add_filters(sql: str, args: list, since: int | None, until: int | None, source: str | list[str] | None,
                 libraries: Sequence[str] | None) -> tuple[str, list]:
    if since:
        sql += " AND v.published >= ?"
        args.append(since)
    if until:
        sql += " AND v.published <= ?"
        args.append(until)
    if isinstance(source, list):
        sql += f" AND v.source IN ({','.join('?' * len(source))})"
        args.extend(source)
    elif source:
        sql += " AND lower(v.source) = lower(?)"
        args.append(source)
    if libraries is not None:
        where, scope_args = in_scope(libraries)
        sql += f" AND {where}"
        args.extend(scope_args)
    return sql, args
