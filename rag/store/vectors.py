"""Chunk vectors in Chroma: one collection per store, written with precomputed vectors, searched whole or scoped.

The collection is used through chromadb's public `Collection` API. LangChain's `Chroma` wrapper has no public
way to write vectors computed elsewhere or to query several vectors in one call, and reaching into its
`_collection` is what this room replaced.

Which collection: one per embedding model and per store. Two stores (data folders) on one `chroma run` server
used to share a collection, so each one's orphan sweep deleted the other's vectors; a store created now names its
collection after a random id kept in its registry. A store created before that keeps the collection it has.

Scoped search (a set of libraries): a library's chunks are a subset of the collection. A small scope is searched
exactly, in numpy, over its own vectors (read once from Chroma, kept per scope, reloaded only where the scope
changed), so a library of 10 articles in a 90k-chunk store still gets its own best passages. A scope that holds
most of the store asks Chroma's index unfiltered for enough candidates to expect k of its own, keeps those, and
searches exactly if fewer than k remain. docs/benchmarks.md has the measurements behind the thresholds.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigError
from rag.store.db import StoreDB
from rag.store.private import private_folder
from rag.store.registry import ChunkScope

logger = logging.getLogger(__name__)

EXACT_ROWS = 20_000  # scopes up to this many chunks are always searched exactly
EXACT_SHARE = 0.5  # and larger ones too while they hold less than this share of the store
OVERFETCH = 1.5  # an unfiltered query asks for k / share x this many candidates (plus a few)
KEEP_SCOPES = 16  # scopes whose vectors are kept in memory, least recently used dropped first


def collection_name(model_id: str, store_id: str | None = None) -> str:
    """One collection per embedding model (and per store, for stores created since libraries)."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_id).strip("-._")
    base = f"news-{slug}"[:60].rstrip("-._")
    return f"{base[:50].rstrip('-._')}-{store_id[:12]}" if store_id else base


def store_collection(db: StoreDB, model_id: str) -> str:
    """The store's collection name, chosen once: new stores get their own, older ones keep the shared name.

    Kept in the registry's meta, so every process of a store in PostgreSQL uses the same collection whatever its
    data folder."""
    name = db.get_meta("collection")
    if name is None:
        older = db.get_meta("embedding_model") is not None  # the store existed before collections were per store
        name = db.first_meta("collection", collection_name(model_id, None if older else uuid.uuid4().hex))
    return name


def open_chroma(settings) -> Any:
    """A Chroma client: on disk in the data folder, or a `chroma run` server if a host is set.

    An on-disk client always reads the disk as it is now, even if this process opened the same folder before
    (see `_uncached_client`)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port or 8000,
                                       settings=chroma_settings)
        except ValueError as exc:  # chromadb's "Could not connect to a Chroma server"
            raise ConfigError(f"can't reach the Chroma server at NEWSBOT_CHROMA_HOST={settings.chroma_host} "
                              f"NEWSBOT_CHROMA_PORT={settings.chroma_port or 8000}: is `chroma run` up?") from exc
    path = private_folder(private_folder(Path(settings.data_dir)) / "chroma")  # Chroma's own files: private.py
    return _uncached_client(str(path), chroma_settings)


def fresh_client(client: Any) -> Any:
    """The same on-disk store through a new client, for a process whose client another process wrote behind;
    server clients need no reopening."""
    settings = client.get_settings()
    if not settings.is_persistent:
        return client
    logger.debug("reopening the Chroma store at %s: another process wrote to it", settings.persist_directory)
    return _uncached_client(settings.persist_directory, settings)


def _uncached_client(path: str, settings: Any) -> Any:
    """A PersistentClient with a system of its own, not the one Chroma cached for this path.

    Chroma keeps one client system per path in a class-level cache (`SharedSystemClient`), and that system holds
    the HNSW index as it was when it loaded, so a client built later in the same process would not see what
    other processes wrote since. Chroma has no public call that drops one path's entry (`clear_system_cache`
    drops every path's, which would break other stores open in this process), so this is the one place that
    touches that private cache. Clients already open keep the system they hold."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)
    return chromadb.PersistentClient(path=path, settings=settings)


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


class Vectors:
    """The store's collection: write, delete and read vectors by chunk id; nearest chunks, whole or scoped.

    Callers hold the store's `chroma_access` around every call (db.py says why)."""

    def __init__(self, client: Any, name: str, model_id: str) -> None:
        self.client = client
        self.name = name
        self.model_id = model_id
        self.collection = self._open()
        self._scopes = _ScopeVectors(self.get_vectors)

    def _open(self) -> Any:
        return self.client.get_or_create_collection(
            self.name, metadata={"hnsw:space": "cosine", "embedding_model": self.model_id})

    def reopen(self) -> None:
        """After another process wrote: a client that sees the disk as it is now (on-disk stores only)."""
        client = fresh_client(self.client)
        if client is not self.client:
            self.client, self.collection = client, None
            self.collection = self._open()

    @property
    def server(self) -> bool:
        return not self.client.get_settings().is_persistent

    def count(self) -> int:
        return self.collection.count()

    def upsert(self, ids: list[str], vectors: Sequence[Sequence[float]], metadatas: list[dict],
               documents: list[str]) -> None:
        batch = self.client.get_max_batch_size()
        for lo in range(0, len(ids), batch):
            self.collection.upsert(ids=ids[lo:lo + batch], embeddings=vectors[lo:lo + batch],
                                   metadatas=metadatas[lo:lo + batch], documents=documents[lo:lo + batch])

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for lo in range(0, len(ids), 5000):
            self.collection.delete(ids=ids[lo:lo + 5000])

    def ids(self, ids: Sequence[str] | None = None) -> list[str]:
        """Which of these ids have a vector (None: every id in the collection)."""
        return self.collection.get(ids=None if ids is None else list(ids), include=[])["ids"]

    def get_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk id (float32); ids without a vector are missing."""
        found: dict[str, np.ndarray] = {}
        ids = list(ids)
        for lo in range(0, len(ids), 5000):
            got = self.collection.get(ids=ids[lo:lo + 5000], include=["embeddings"])
            found.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))
        return found

    def query(self, vectors: list[list[float]], k: int, where: dict | None = None) -> list[list[tuple[str, float]]]:
        """Nearest chunks of the whole collection, per query vector, as (chunk_id, cosine similarity)."""
        if k <= 0:
            return [[] for _ in vectors]
        result = self.collection.query(query_embeddings=vectors, n_results=k, where=where, include=["distances"])
        return [[(cid, 1.0 - dist) for cid, dist in zip(ids, dists)]
                for ids, dists in zip(result["ids"], result["distances"])]

    def search_scope(self, vectors: list[list[float]], k: int, key: Any, scope: ChunkScope, total: int,
                     since: int | None = None, until: int | None = None,
                     source: str | list[str] | None = None) -> list[list[tuple[str, float]]]:
        """Nearest chunks among the scope's own, per query vector (see the module's docstring for how)."""
        if len(scope) >= total:  # the libraries hold every chunk: nothing to keep out
            return self.query(vectors, k, chroma_where(since, until, source))
        mask = _filter(scope, since, until, source)
        wanted = min(k, int(mask.sum()) if mask is not None else len(scope))
        share = len(scope) / max(total, 1)
        if len(scope) > EXACT_ROWS and share >= EXACT_SHARE:
            found = self._over_fetch(vectors, k, wanted, key, scope, total, chroma_where(since, until, source))
            if found is not None:
                return found
            logger.info("an unfiltered query kept fewer than %d of library scope %s; searching it exactly", k, key)
        return self._exact(vectors, k, key, scope, mask)

    def _over_fetch(self, vectors, k, wanted, key, scope: ChunkScope, total: int, where) -> list | None:
        n = min(math.ceil(k * total / len(scope) * OVERFETCH) + 20, total)
        members = self._scopes.members(key, scope)
        lists = [[hit for hit in hits if hit[0] in members][:k] for hits in self.query(vectors, n, where)]
        return lists if all(len(hits) >= wanted for hits in lists) else None

    def _exact(self, vectors, k, key, scope: ChunkScope, mask: np.ndarray | None) -> list[list[tuple[str, float]]]:
        matrix = self._scopes.matrix(key, scope)
        queries = np.array(vectors, dtype=np.float32)  # a copy: normalised in place below
        if not len(matrix) or k <= 0 or matrix.shape[1] != queries.shape[1]:
            return [[] for _ in vectors]
        queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        # numpy's own loop, not BLAS: right after the embedding model ran, onnxruntime's threads still spin on
        # both cores and a BLAS product over 7k rows took 9 ms instead of 0.5 ms (docs/benchmarks.md, "Libraries").
        sims = np.einsum("nd,qd->qn", matrix, queries)
        if mask is not None:
            sims[:, ~mask] = -np.inf
        out = []
        for row in sims:
            n = min(k, int(np.isfinite(row).sum()))
            best = np.argpartition(-row, n - 1)[:n] if 0 < n < len(row) else np.flatnonzero(np.isfinite(row))
            best = best[np.argsort(-row[best], kind="stable")]
            out.append([(scope.chunk_ids[i], float(row[i])) for i in best])
        return out


def _filter(scope: ChunkScope, since, until, source) -> np.ndarray | None:
    """Which of the scope's chunks pass the date and outlet filters (as Chroma's `where` would), or None."""
    if not (since or until or source):
        return None
    ok = np.ones(len(scope), bool)
    if since:
        ok &= scope.published >= since
    if until:
        ok &= scope.published <= until
    if isinstance(source, list):
        ok &= np.isin(scope.sources, source)
    elif source:
        ok &= scope.sources == source
    return ok


class _ScopeVectors:
    """Library scopes' vectors in memory (unit length, rows in the scope's order), a few scopes at a time.

    A chunk id names one version's chunk, whose vector never changes, so when a scope changes (an article added
    or removed) only the new chunks' vectors are read from Chroma."""

    def __init__(self, fetch) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._matrices: OrderedDict[Any, tuple[tuple[str, ...], np.ndarray]] = OrderedDict()
        self._members: OrderedDict[Any, tuple[tuple[str, ...], frozenset[str]]] = OrderedDict()

    def matrix(self, key: Any, scope: ChunkScope) -> np.ndarray:
        with self._lock:
            old = self._matrices.pop(key, None)
            if old is not None and (old[0] is scope.chunk_ids or old[0] == scope.chunk_ids):
                self._matrices[key] = old
                return old[1]
            rows = {cid: i for i, cid in enumerate(old[0])} if old is not None else {}
            missing = [cid for cid in scope.chunk_ids if cid not in rows]
            fetched = self._fetch(missing) if missing else {}
            matrix = np.zeros((len(scope), old[1].shape[1] if old is not None and old[1].size else _dim(fetched)),
                              np.float32)
            for i, cid in enumerate(scope.chunk_ids):
                if cid in rows:
                    matrix[i] = old[1][rows[cid]]
                elif cid in fetched:  # a committed chunk always has its vector; a missing one stays 0
                    vector = fetched[cid]
                    matrix[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
            self._matrices[key] = (scope.chunk_ids, matrix)
            while len(self._matrices) > KEEP_SCOPES:
                self._matrices.popitem(last=False)
            return matrix

    def members(self, key: Any, scope: ChunkScope) -> frozenset[str]:
        with self._lock:
            old = self._members.pop(key, None)
            if old is None or old[0] is not scope.chunk_ids:
                old = (scope.chunk_ids, frozenset(scope.chunk_ids))
            self._members[key] = old
            while len(self._members) > KEEP_SCOPES:
                self._members.popitem(last=False)
            return old[1]


def _dim(vectors: dict[str, np.ndarray]) -> int:
    return len(next(iter(vectors.values()))) if vectors else 0
