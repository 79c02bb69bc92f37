"""Retrievers over a `NewsIndex`, as LangChain `BaseRetriever`s: dense, bm25 and the default hybrid."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag.query_parse import WORD_RE, DateRef, OutletMatcher, parse_question, strip_meta

logger = logging.getLogger(__name__)

RRF_K = 60  # the usual reciprocal-rank-fusion constant


class NewsRetriever(BaseRetriever):
    """Hybrid keyword + dense retrieval over committed chunks, with date and outlet filters."""

    index: Any
    k: int = 6
    mode: str = "hybrid"  # "hybrid" (the recipe below), "dense", "bm25" or "rrf" (plain fusion)
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
        if self.mode == "rrf":
            lists = [self.index.keyword_search(query, n, since, until, source),
                     self.index.dense_search(query, n, since, until, source)]
            return rrf(lists)
        return HybridRanker(self.index, self.recipe).rank(query, n, since, until, source)

    @property
    def recipe(self) -> Recipe:
        return DEFAULT_RECIPE


def rrf(ranked_lists: list[list[tuple[str, float]]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: sum of 1/(k + rank) over the lists an id appears in."""
    scores: dict[str, float] = {}
    for ranked in ranked_lists:
        for rank, (cid, _) in enumerate(ranked, start=1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


@dataclass(frozen=True)
class Recipe:
    """The hybrid recipe's knobs (values chosen on the MultiHop-RAG dev set; see docs/benchmarks.md)."""

    weights: tuple[float, float, float] = (1.0, 0.0, 1.0)  # bm25() column weights: title, source, body
    max_df: float = 0.25  # query words in more than this share of chunks are dropped
    w_dense: float = 0.35  # weighted-sum fusion: (1 - w_dense) * keyword + w_dense * dense
    date_boost: float = 0.25  # added to chunks dated inside a window the question names
    w_segment: float = 0.5  # weight of an outlet's own clause inside that outlet's list
    pool: int = 200  # candidates asked of each side


DEFAULT_RECIPE = Recipe()
_MATCHERS: dict[tuple, OutletMatcher] = {}


def outlet_matcher(index) -> OutletMatcher:
    """An outlet matcher built from the store's own sources, rebuilt when the store's contents change."""
    key = (id(index), index.stats()["chunks"], tuple(sorted(index.sources())))
    if key not in _MATCHERS:
        _MATCHERS.clear()
        _MATCHERS[key] = OutletMatcher(list(key[2]), index.lower_vocabulary())
    return _MATCHERS[key]


class HybridRanker:
    """FTS5 + dense weighted-sum fusion, a soft date boost, and per-outlet round-robin routing with sub-queries.

    Outlets and dates found in the question never filter: routing interleaves per-outlet lists and then falls
    back to the global list. Explicit since/until/source still filter every search."""

    def __init__(self, index, recipe: Recipe = DEFAULT_RECIPE) -> None:
        self.index = index
        self.r = recipe

    def rank(self, query: str, n: int, since, until, source) -> list[tuple[str, float]]:
        parsed = parse_question(query, outlet_matcher(self.index))
        groups = self._groups(parsed, source)
        segments = [seg for _, _, seg in groups] if len(groups) > 1 else []
        vectors = self.index.embeddings.embed_documents([query, *segments])
        pool = max(n, self.r.pool)
        kw = dict(self.index.keyword_search(strip_meta(query, parsed), pool, since, until, source,
                                            weights=self.r.weights, max_df=self.r.max_df))
        dense = dict(self.index.dense_search(vectors[0], pool, since, until, source))
        norm = _Norm(kw, dense)
        base = norm.fuse(kw, dense, self.r.w_dense)
        dates = self._published(base)
        base = self._boost(base, parsed.dates, dates)
        lists = []
        for g, (sources, group_dates, seg) in enumerate(groups):
            gkw = dict(self.index.keyword_search(strip_meta(query, parsed), pool, since, until, sources,
                                                 weights=self.r.weights, max_df=self.r.max_df))
            gdense = dict(self.index.dense_search(vectors[0], pool, since, until, sources))
            scores = norm.fuse(gkw, gdense, self.r.w_dense)
            if segments and len(WORD_RE.findall(seg)) >= 4:
                seg_text = strip_meta(seg, parse_question(seg, outlet_matcher(self.index)))
                skw = dict(self.index.keyword_search(seg_text, pool, since, until, sources,
                                                     weights=self.r.weights, max_df=self.r.max_df))
                sdense = dict(self.index.dense_search(vectors[1 + g], pool, since, until, sources))
                seg_scores = _Norm(skw, sdense).fuse(skw, sdense, self.r.w_dense)
                ids = set(scores) | set(seg_scores)
                scores = {c: (1 - self.r.w_segment) * scores.get(c, 0.0)
                          + self.r.w_segment * seg_scores.get(c, 0.0) for c in ids}
            dates.update(self._published(scores, skip=dates))
            scores = self._boost(self._boost(scores, parsed.dates, dates), group_dates, dates)
            lists.append(scores)
        return round_robin([*lists, base], n)

    def _groups(self, parsed, source) -> list[tuple[list[str], list[DateRef], str]]:
        groups = []
        for sources, dates, seg in parsed.groups:
            kept = sorted(s for s in sources if not source or s.lower() == source.lower())
            if kept:
                groups.append((kept, dates, seg))
        return groups

    def _published(self, scores: dict[str, float], skip: dict | None = None) -> dict[str, int]:
        return self.index.published_of([c for c in scores if not skip or c not in skip])

    def _boost(self, scores: dict[str, float], windows: list[DateRef], published: dict[str, int]):
        if not windows:
            return scores
        return {c: s + self.r.date_boost * any(w.lo <= published.get(c, 0) <= w.hi for w in windows)
                for c, s in scores.items()}


class _Norm:
    """Score normalisation of one query: keyword by its max, dense by (cos - floor) / (max - floor), clipped at 0.

    The recipe's floor is the median cosine over all chunks; only the top of the dense list is fetched here,
    so the floor is the median of the fetched list (lower when the store is small enough to fetch it all)."""

    def __init__(self, kw: dict[str, float], dense: dict[str, float]) -> None:
        self.kw_max = max(kw.values(), default=0.0)
        values = np.array(list(dense.values()) or [0.0])
        self.d_max = float(values.max())
        self.d_lo = float(np.percentile(values, 50)) if len(values) > 20 else float(values.min())

    def fuse(self, kw: dict[str, float], dense: dict[str, float], w_dense: float) -> dict[str, float]:
        out = {}
        for c in set(kw) | set(dense):
            k = kw.get(c, 0.0) / (self.kw_max + 1e-9)
            d = max((dense[c] - self.d_lo) / (self.d_max - self.d_lo + 1e-9), 0.0) if c in dense else 0.0
            out[c] = (1 - w_dense) * k + w_dense * d
        return out


def round_robin(lists: list[dict[str, float]], n: int) -> list[tuple[str, float]]:
    """Best unseen item from each of lists[:-1] in turn, then the rest from the last (global) list."""
    orders = [sorted(scores.items(), key=lambda item: item[1], reverse=True) for scores in lists]
    chosen: dict[str, float] = {}
    pointers = [0] * len(orders)

    def take(i: int) -> bool:
        while pointers[i] < len(orders[i]):
            cid, score = orders[i][pointers[i]]
            pointers[i] += 1
            if cid not in chosen:
                chosen[cid] = score
                return True
        return False

    live = list(range(len(orders) - 1))
    while len(chosen) < n and live:
        for i in list(live):
            if len(chosen) >= n:
                break
            if not take(i):
                live.remove(i)
    while len(chosen) < n and take(len(orders) - 1):
        pass
    return list(chosen.items())
