"""The registry opened on its own: what the store holds, read without Chroma or an embedding model.

`newsbot stats`, `sources` and `libraries` only read counts and titles, and opening Chroma and the ONNX model for
them cost them a second and a third of a GB (docs/benchmarks.md, "CLI start-up"). `NewsIndex` opens its registry
through this class too, so both check the store's embedding model the same way. Nothing here imports Chroma,
onnxruntime, numpy or LangChain.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.errors import ConfigError, StoreError
from rag.store.db import StoreDB
from rag.store.registry import Registry, StoredArticle


def check_server_mode(settings) -> None:
    """A registry in PostgreSQL is shared by processes on several machines, so its vectors must be too."""
    from rag.store.sql import check_database_url

    check_database_url(settings.database_url)
    if settings.database_url and not settings.chroma_host:
        raise ConfigError("NEWSBOT_DATABASE_URL needs NEWSBOT_CHROMA_HOST (and NEWSBOT_CHROMA_PORT): vectors on "
                          "one machine's disk can't be shared; run `chroma run` and point newsbot at it")


class Catalog:
    """The registry of the store in `data_dir`, checked against the embedding model the settings choose."""

    def __init__(self, data_dir: Path, model_id: str, database_url: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.model_id = model_id
        self.store = StoreDB(self.data_dir, database_url)
        self.registry = Registry(self.store)
        self._check_model()

    def _check_model(self) -> None:
        found = self.store.get_meta("embedding_model")
        if found is not None and found != self.model_id:
            raise StoreError(
                f"{self.store.where} was built with embedding model {found!r}, not {self.model_id!r}; "
                "mixing them would give meaningless results. Use the same NEWSBOT_EMBEDDING_PROVIDER, "
                "or point NEWSBOT_DATA_DIR at a new folder and ingest again."
            )

    @classmethod
    def open(cls, settings) -> Catalog:
        """The registry the settings name: in NEWSBOT_DATA_DIR, or in NEWSBOT_DATABASE_URL's PostgreSQL."""
        check_server_mode(settings)
        return cls(settings.data_dir, settings.embedding_model_id, settings.database_url)

    def record_model(self) -> None:
        """Record the model in a new store (NewsIndex, once its Chroma collection is chosen)."""
        if self.store.get_meta("embedding_model") is None:
            self.store.first_meta("embedding_model", self.model_id)

    def list_articles(self, query: str | None = None, limit: int | None = None,
                      libraries: Sequence[str] | None = None) -> list[StoredArticle]:
        """Articles newest first, optionally those whose title or source contains `query`."""
        return self.registry.list_articles(query, limit, libraries)

    def stats(self, library: str | None = None) -> dict:
        """Articles and chunks (of one library, or of the whole store), the embedding model and the data folder."""
        counts = self.registry.stats(library)
        return {**({"library": library} if library is not None else {}), **counts,
                "embedding_model": self.model_id, "data_dir": str(self.data_dir)}

    def libraries(self) -> list[dict]:
        """`[{"library", "articles", "chunks"}]` for every library that holds an article."""
        return self.registry.libraries()
