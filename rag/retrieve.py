"""Retrievers over a `NewsIndex`, as LangChain `BaseRetriever`s: dense, bm25 and the default hybrid."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

logger = logging.getLogger(__name__)

RRF_K = 60  # the usual reciprocal-rank-fusion constant


class NewsRetriever(BaseRetriever):
    """Hybrid keyword + dense retrieval over committed chunks, with date and outlet filters."""

    index: Any
    k: int = 6
    mode: str = "hybrid"  # "hybrid", "dense" or "bm25"
    since: int | None = None
    until: int | None = None
    source: str | None = None
    candidates: int = 40

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun | None = None
    ) -> list[Document]:
        return self.search(query, k=self.k)

    def search(self, query: str, k: int, since: int | None = None, until: int | None = None,
               source: str | None = None) -> list[Document]:
        """The top-k committed chunks as Documents whose metadata carries the article's fields."""
        since, until, source = since or self.since, until or self.until, source or self.source
        ranked = self._rank(query, max(k, self.candidates), since, until, source)
        found = self.index.get_chunks([cid for cid, _ in ranked])
        docs = []
        for cid, score in ranked:
            chunk = found.get(cid)
            if chunk is None:  # an uncommitted or stale vector: never shown
                continue
            docs.append(Document(page_content=chunk.text, metadata={
                "chunk_id": cid, "article_id": chunk.article_id, "title": chunk.title,
                "source": chunk.source, "published": chunk.published, "url": chunk.url,
                "chunk_index": chunk.chunk_index, "start": chunk.start, "end": chunk.end, "score": score,
            }))
            if len(docs) == k:
                break
        return docs

    def _rank(self, query: str, n: int, since, until, source) -> list[tuple[str, float]]:
        if self.mode == "dense":
            return self.index.dense_search(query, n, since, until, source)
        if self.mode == "bm25":
            return self.index.keyword_search(query, n, since, until, source)
        lists = [self.index.keyword_search(query, n, since, until, source),
                 self.index.dense_search(query, n, since, until, source)]
        return rrf(lists)


def rrf(ranked_lists: list[list[tuple[str, float]]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: sum of 1/(k + rank) over the lists an id appears in."""
    scores: dict[str, float] = {}
    for ranked in ranked_lists:
        for rank, (cid, _) in enumerate(ranked, start=1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)
