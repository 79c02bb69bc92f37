"""The write path: ingest articles into a library, take one out of a library, sweep vectors a crash left behind.

The protocol, and what a crash at each step leaves (docs/reliability.md has it step by step, with the named points
of `rag.store.faults` where the crash tests kill a child process):
1. Chunk and embed new versions (nothing written yet).
2. Journal their chunk ids and commit: from here the store knows these vectors may exist without committed rows.
3. Write the vectors (Chroma). New versions have new chunk ids, so no vector a committed row points at changes.
4. One SQLite transaction: the new versions' rows, chunks and keyword rows; each library now holds its new
   version; versions no library holds any more are deleted and their chunk ids journalled; the new ids leave
   the journal. This commit is the moment an update becomes visible, old version and new swapped at once.
5. Delete the dropped versions' vectors, then clear them from the journal.
The next write first sweeps: it deletes the vectors of journalled ids that have no committed chunk. The store
deletes only vectors it wrote or dropped, never "whatever the registry does not know" (two stores may share a
Chroma server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from rag.articles.article import Article, LoadFailure
from rag.articles.chunking import Chunk, chunk_article
from rag.store.db import StoreDB
from rag.store.faults import point
from rag.articles.chunking import new_version_id
from rag.libraries import check_library
from rag.store.registry import Registry
from rag.store.vectors import Vectors

logger = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What one ingest did to its library; `failed` holds one reason per skipped input."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[LoadFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks_written: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Batch:
    """Articles on their way into one library: new versions to embed, and versions already stored to hold."""

    new: list[tuple[Article, str, list[Chunk]]] = field(default_factory=list)
    held: list[tuple[Article, str]] = field(default_factory=list)

    def chunks(self) -> int:
        return sum(len(c) for _, _, c in self.new)

    def __contains__(self, article_id: str) -> bool:
        return any(a.article_id == article_id for a, _, _ in self.new) or \
            any(a.article_id == article_id for a, _ in self.held)

    def __len__(self) -> int:
        return len(self.new) + len(self.held)


class Writer:
    """Ingest, remove and sweep, one writer at a time across processes (the store's write lock)."""

    def __init__(self, db: StoreDB, registry: Registry, vectors: Vectors, embeddings: Embeddings,
                 chunk_tokens: int, chunk_overlap: int) -> None:
        self.db = db
        self.registry = registry
        self.vectors = vectors
        self.embeddings = embeddings
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap

    def ingest(self, items: Iterable[Article | LoadFailure], library: str, batch_chunks: int = 256,
               on_progress: Callable[[int], None] | None = None) -> IngestResult:
        """Add new articles to the library, replace changed ones, skip unchanged ones; embeds in batches."""
        check_library(library)
        result = IngestResult()
        with self.db.write_lock():
            self.sweep_orphans()
            batch = _Batch()
            for item in items:
                if isinstance(item, LoadFailure):
                    result.failed.append(item)
                    continue
                result.warnings.extend(f"{item.origin}: {w}" for w in item.warnings)
                held = self.registry.held_version(library, item.article_id)
                if (held and held[1] == item.content_hash) or item.article_id in batch:
                    result.unchanged.append(item.article_id)
                    if on_progress:
                        on_progress(1)
                    continue
                (result.updated if held else result.added).append(item.article_id)
                stored = self.registry.stored_version(item.article_id, item.content_hash)
                if stored:  # another library holds this very version: nothing to embed
                    batch.held.append((item, stored))
                else:
                    version_id = new_version_id(item.article_id, item.content_hash)
                    batch.new.append((item, version_id, chunk_article(item, self.chunk_tokens, self.chunk_overlap)))
                if batch.chunks() >= batch_chunks:
                    result.chunks_written += self._write(batch, library, on_progress)
                    batch = _Batch()
            if batch:
                result.chunks_written += self._write(batch, library, on_progress)
        return result

    def _write(self, batch: _Batch, library: str, on_progress: Callable[[int], None] | None) -> int:
        """One batch (docs/reliability.md, "Write protocol"): journal the new ids, write their vectors, then one
        transaction shows the new versions and lets the replaced ones go, then the replaced ones' vectors go."""
        chunks = [c for _, _, cs in batch.new for c in cs]
        ids = [c.chunk_id for c in chunks]
        vectors = self.embeddings.embed_documents([c.text for c in chunks]) if chunks else []
        point("ingest.embedded")
        if chunks:
            with self.db.conn:
                self.registry.journal_add(ids)
            point("ingest.journalled")
            with self.db.chroma_access(exclusive=True):  # embedded above, so readers wait only for the write
                self.vectors.upsert(ids, vectors, [c.metadata for c in chunks], [c.text for c in chunks])
                point("ingest.vectors_upserted")
        with self.db.conn:  # the commit that makes the new versions visible and the old ones go, at once
            for article, version_id, cs in batch.new:
                self.registry.insert_version(version_id, article, cs)
            point("ingest.new_rows_inserted")
            replaced = [self.registry.hold(library, article.article_id, version_id)
                        for article, version_id in [(a, v) for a, v, _ in batch.new] + batch.held]
            point("library.held")
            dropped = self.registry.drop_if_unheld([v for v in replaced if v])
            point("ingest.old_rows_deleted")
            self.registry.journal_remove(ids)
            self.registry.journal_add(dropped)
            point("ingest.before_commit")
        point("ingest.committed")
        self._delete_vectors(dropped, "ingest.old_vectors_deleted")
        if on_progress:
            on_progress(len(batch))
        return len(chunks)

    def _delete_vectors(self, chunk_ids: list[str], done: str) -> None:
        """Vectors of versions just dropped (journalled, so a crash here leaves them to the next sweep)."""
        if not chunk_ids:
            return
        with self.db.chroma_access(exclusive=True):
            self.vectors.delete(chunk_ids)
            point(done)
        with self.db.conn:
            self.registry.journal_remove(chunk_ids)

    def sweep_orphans(self) -> int:
        """Delete vectors this store wrote or dropped that no committed chunk has (an interrupted write's)."""
        journalled, orphans = self.registry.journal()
        if orphans:
            with self.db.chroma_access(exclusive=True):
                self.vectors.delete(orphans)
                point("sweep.deleted")
            logger.info("swept %d orphaned vectors from an interrupted write", len(orphans))
        if journalled:
            with self.db.conn:
                self.registry.journal_remove(journalled)
        return len(orphans)

    def remove(self, article_id: str, library: str) -> bool:
        """Take the article out of the library (its chunks go when no library holds it); False if not there."""
        check_library(library)
        with self.db.write_lock():
            with self.db.conn:  # gone from the library's searches once this commits
                version_id = self.registry.release(library, article_id)
                point("library.released")
                dropped = self.registry.drop_if_unheld([version_id]) if version_id else []
                self.registry.journal_add(dropped)
                point("remove.before_commit")
            point("remove.committed")
            self._delete_vectors(dropped, "remove.vectors_deleted")
        return version_id is not None
