"""The registry opened on its own: what the store holds, read without Chroma or an embedding model.

`newsbot stats`, `sources` and `libraries` only read counts and titles, and opening Chroma and the ONNX model for
them cost them a second and a third of a GB (docs/benchmarks.md, "CLI start-up"). `NewsIndex` opens its registry
through this class too, so both check the store's embedding model the same way. Nothing here imports Chroma,
onnxruntime, numpy or LangChain.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.errors import StoreError
from rag.store.db import StoreDB
from rag.store.registry import Registry, StoredArticle


class Catalog:
    """The registry of the store in `data_dir`, checked against the embedding model the settings choose."""

    def __init__(self, data_dir: Path, model_id: str) -> None:
        self.data_dir = Path(data_dir)
        self.model_id = model_id
        self.store = StoreDB(self.data_dir)
        self.registry = Registry(self.store)
        self._check_model()

    def _check_model(self) -> None:
        found = self.store.get_meta("embedding_model")
        if found is not None and found != self.model_id:
            raise StoreError(
                f"the store in {self.data_dir} was built with embedding model {found!r}, not {self.model_id!r}; "
                "mixing them would give meaningless results. Use the same NEWSBOT_EMBEDDING_PROVIDER, "
                "or point NEWSBOT_DATA_DIR at a new folder and ingest again."
            )

    def record_model(self) -> None:
        """Record the model in a new store (NewsIndex, once its Chroma collection is chosen)."""
        if self.store.get_meta("embedding_model") is None:
            with self.store.conn:
                self.store.set_meta("embedding_model", self.model_id)

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
