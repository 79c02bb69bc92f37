"""Retrievers over a `NewsIndex`, as LangChain `BaseRetriever`s: dense, bm25 and the default hybrid."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag.retrieval.question import DateRef, OutletMatcher, parse_question, strip_meta, strip_meta_in
from rag.store.fts import selective_words
from rag.text import TOKEN_RE, split_sentences, stem, stem_words

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
    libraries: tuple[str, ...] | None = None  # only articles these libraries hold (None: the whole store)
    candidates: int = 40
    recipe: Any = None  # the hybrid's Recipe; None = DEFAULT_RECIPE

    def warm(self, wait: bool = False) -> None:
        """Keep the hybrid's keyword side in memory (for long-running processes; see NewsIndex.keep_keyword_index)."""
        if self.mode == "hybrid":
            recipe = self.recipe or DEFAULT_RECIPE
            self.index.keep_keyword_index(recipe.weights, recipe.max_df, wait=wait)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun | None = None
    ) -> list[Document]:
        return self.search(query, k=self.k)

    def search(self, query: str, k: int, since: int | None = None, until: int | None = None,
               source: str | None = None) -> list[Document]:
        """The top-k committed chunks as Documents whose metadata carries the article's fields."""
        since, until, source = since or self.since, until or self.until, source or self.source
        ranked = self._rank(query, max(k, self.candidates), since, until, source, self.libraries)
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

    def _rank(self, query: str, n: int, since, until, source, libraries) -> list[tuple[str, float]]:
        if self.mode == "dense":
            return self.index.dense_search(query, n, since, until, source, libraries=libraries)
        if self.mode == "bm25":
            return self.index.keyword_search(query, n, since, until, source, libraries=libraries)
        if self.mode == "rrf":
            lists = [self.index.keyword_search(query, n, since, until, source, libraries=libraries),
                     self.index.dense_search(query, n, since, until, source, libraries=libraries)]
            return rrf(lists)
        return HybridRanker(self.index, self.recipe or DEFAULT_RECIPE).rank(query, n, since, until, source,
                                                                            libraries)


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
    w_sentence: float = 1.25  # weight of the best single sentence's share of the question's IDF mass
    sharpen_top: int = 15  # how many of each list's leaders the sentence score may reorder
    title_discount: float = 0.0  # sentence-score weight of question words that are in the chunk's title
    segment_dense: bool = True  # embed each outlet's clause too (else its sub-query is keyword-only)
    pooled_segments: bool = True  # clause vectors pooled from the question's own pass (local model only)
    rounds_by_score: bool = True  # inside each round-robin round, the best-scored pick first


DEFAULT_RECIPE = Recipe()


def outlet_matcher(index) -> OutletMatcher:
    """An outlet matcher built from the store's own sources, rebuilt when the store's contents change."""
    return index.derived("outlet_matcher", lambda: OutletMatcher(sorted(index.sources()), index.lower_vocabulary()))


@dataclass(frozen=True)
class OutletGroup:
    """Outlets the question names together, with the dates and the clause of the question that go with them."""

    sources: list[str]  # the outlets' names, sorted
    dates: list[DateRef]
    clause: str  # the question's clause about these outlets
    spans: list[tuple[int, int]]  # where that clause sits in the question


@dataclass(frozen=True)
class _Searches:
    """What `HybridRanker._search` found: item 0 of each side is the whole question's, then one per clause."""

    keyword: list[dict[str, float]]
    dense: list[dict[str, float]]
    clauses: dict[int, str]  # group index -> its clause, for the groups searched on their own


class HybridRanker:
    """FTS5 + dense weighted-sum fusion, a soft date boost, and per-outlet round-robin routing with sub-queries.

    Outlets and dates found in the question never filter: routing interleaves per-outlet lists and then falls
    back to the global list. Explicit since/until/source still filter every search."""

    def __init__(self, index, recipe: Recipe = DEFAULT_RECIPE) -> None:
        self.index = index
        self.r = recipe

    def rank(self, query: str, n: int, since, until, source, libraries=None) -> list[tuple[str, float]]:
        parsed = parse_question(query, outlet_matcher(self.index))
        groups = self._groups(parsed, source)
        text = strip_meta(query, parsed)
        found = self._search(query, text, parsed, groups, max(n, self.r.pool), since, until, source, libraries)
        lists = self._fuse(found, groups, parsed.dates)
        if self.r.w_sentence:
            scorer = SentenceScorer(self.index, text)
            lists = scorer.sharpen(lists, self.r.sharpen_top, self.r.w_sentence, self.r.title_discount)
        return round_robin(lists, n, self.r.rounds_by_score)

    def _search(self, query: str, text: str, parsed, groups: list[OutletGroup], pool: int, since, until, source,
                libraries) -> _Searches:
        """Step 1: the keyword and dense searches for the question and for each group's clause."""
        clauses = {}  # group -> the question's clause about that group's outlet, if it says enough
        if len(groups) > 1:
            for g, group in enumerate(groups):
                if len(TOKEN_RE.findall(group.clause)) >= 4:
                    clauses[g] = group.clause
        # One unfiltered search per text and side; each outlet's list is cut from them (filtered searches cost
        # 4-30x more in Chroma). Running the keyword side in a thread gained nothing on 2 cores: the embedding
        # model uses both.
        keyword = self._keyword_lists([text, *(strip_meta_in(query, parsed, groups[g].spans) for g in clauses)],
                                      pool, since, until, source, libraries)
        vectors = self._vectors(query, [groups[g] for g in clauses])
        dense = [dict(found) for found in self.index.dense_search_many(vectors, pool, since, until, source,
                                                                        libraries)]
        dense += [{} for _ in range(1 + len(clauses) - len(dense))]
        return _Searches(keyword, dense, clauses)

    def _vectors(self, query: str, with_clause: list[OutletGroup]) -> list:
        """The question's embedding, then (when the recipe says so) one per group clause."""
        embeddings = self.index.embeddings
        if self.r.segment_dense and with_clause and self.r.pooled_segments and hasattr(embeddings,
                                                                                       "embed_with_parts"):
            return embeddings.embed_with_parts(query, [group.spans for group in with_clause])
        vectors = [embeddings.embed_query(query)]
        if self.r.segment_dense and with_clause:
            vectors += embeddings.embed_documents([group.clause for group in with_clause])  # padded to the longest only
        return vectors

    def _fuse(self, found: _Searches, groups: list[OutletGroup], dates: list[DateRef]) -> list[dict[str, float]]:
        """Step 2: one fused, date-boosted list per outlet group (cut from the global searches), then the global
        list."""
        meta = chunk_meta(self.index)
        kw, dense = found.keyword[0], found.dense[0]
        norm = _Norm(kw, dense)
        base = self._boost(norm.fuse(kw, dense, self.r.w_dense), dates, meta)
        lists = []
        by_clause = dict(zip(found.clauses, zip(found.keyword[1:], found.dense[1:])))
        for g, group in enumerate(groups):
            keep = set(group.sources)
            gkw, gdense = _only(kw, keep, meta), _only(dense, keep, meta)
            scores = norm.fuse(gkw, gdense, self.r.w_dense)
            if g in by_clause:
                skw, sdense = (_only(d, keep, meta) for d in by_clause[g])
                clause_scores = _Norm(skw, sdense).fuse(skw, sdense, self.r.w_dense)
                ids = set(scores) | set(clause_scores)
                scores = {c: (1 - self.r.w_segment) * scores.get(c, 0.0)
                          + self.r.w_segment * clause_scores.get(c, 0.0) for c in ids}
            lists.append(self._boost(self._boost(scores, dates, meta), group.dates, meta))
        lists.append(base)
        return lists

    def _keyword_lists(self, texts: list[str], pool: int, since, until, source,
                       libraries) -> list[dict[str, float]]:
        return [dict(self.index.keyword_search(t, pool, since, until, source, weights=self.r.weights,
                                               max_df=self.r.max_df, libraries=libraries)) for t in texts]

    def _groups(self, parsed, source) -> list[OutletGroup]:
        groups = []
        for (sources, dates, clause), spans in zip(parsed.groups, parsed.spans):
            kept = sorted(s for s in sources if not source or s.lower() == source.lower())
            if kept:
                groups.append(OutletGroup(kept, dates, clause, spans))
        return groups

    def _boost(self, scores: dict[str, float], windows: list[DateRef], meta: dict[str, tuple[str, int]]):
        if not windows:
            return scores
        return {c: s + self.r.date_boost * any(w.lo <= meta.get(c, ("", 0))[1] <= w.hi for w in windows)
                for c, s in scores.items()}


def chunk_meta(index) -> dict[str, tuple[str, int]]:
    """Every committed chunk's (source, published), memoised until the store changes."""
    return index.derived("chunk_meta", index.chunk_sources_and_dates)


def _only(scores: dict[str, float], sources: set[str], meta: dict[str, tuple[str, int]]) -> dict[str, float]:
    return {c: s for c, s in scores.items() if meta.get(c, ("", 0))[0] in sources}


class SentenceScorer:
    """How well a chunk's best sentence covers the question: the IDF mass of the question's words found in it.

    A chunk-level score dilutes a sentence that paraphrases the question among 256 tokens of other text; news
    questions usually ask about one reported statement, so the best sentence separates chunks of the same
    article that chunk-level BM25 and cosine scores barely tell apart."""

    def __init__(self, index, question: str) -> None:
        self.index = index
        df = index.document_frequencies(selective_words(question))
        n = max(index.chunk_count(), 1)
        self.idf: dict[str, float] = {}
        for word, freq in df.items():
            stemmed = stem(word)
            self.idf[stemmed] = max(self.idf.get(stemmed, 0.0), math.log(1 + (n - freq + 0.5) / (freq + 0.5)))
        self.total = sum(self.idf.values())

    def scores(self, chunks: dict, title_discount: float = 1.0) -> dict[str, float]:
        out = {}
        for cid, chunk in chunks.items():
            idf = self.idf
            if title_discount != 1.0:
                in_title = frozenset().union(*_sentence_stems(chunk.title))
                idf = {s: w * (title_discount if s in in_title else 1.0) for s, w in idf.items()}
            best = max((sum(idf[s] for s in stems & idf.keys()) for stems in _sentence_stems(chunk.text)),
                       default=0.0)
            out[cid] = best / self.total if self.total else 0.0
        return out

    def sharpen(self, lists: list[dict[str, float]], top: int, weight: float,
                title_discount: float = 1.0) -> list[dict[str, float]]:
        """Each list with its `top` leaders' scores raised by weight x their best sentence's coverage."""
        leaders = [sorted(scores, key=scores.__getitem__, reverse=True)[:top] for scores in lists]
        wanted = list(dict.fromkeys(c for ids in leaders for c in ids))
        found = self.index.get_chunks(wanted)
        bonus = self.scores({c: found[c] for c in wanted if c in found}, title_discount)
        return [{**scores, **{c: scores[c] + weight * bonus.get(c, 0.0) for c in ids}}
                for scores, ids in zip(lists, leaders)]


@lru_cache(maxsize=4096)
def _sentence_stems(text: str) -> tuple[frozenset[str], ...]:
    """The set of Porter stems of each sentence of a chunk (memoised: the same chunks lead many questions)."""
    sentences = [TOKEN_RE.findall(text[s:e].lower()) for s, e in split_sentences(text)]
    stems = iter(stem_words([w for words in sentences for w in words]))
    return tuple(frozenset(next(stems) for _ in words) for words in sentences)


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


def round_robin(lists: list[dict[str, float]], n: int, by_score: bool = False) -> list[tuple[str, float]]:
    """Best unseen item from each of lists[:-1] in turn, then the rest from the last (global) list.

    With `by_score`, each round's picks are ordered by their scores instead of by list."""
    orders = [sorted(scores.items(), key=lambda item: item[1], reverse=True) for scores in lists]
    chosen: dict[str, float] = {}
    pointers = [0] * len(orders)

    def next_unseen(i: int, also: dict[str, float]) -> tuple[str, float] | None:
        while pointers[i] < len(orders[i]):
            cid, score = orders[i][pointers[i]]
            pointers[i] += 1
            if cid not in chosen and cid not in also:
                return cid, score
        return None

    live = list(range(len(orders) - 1))
    while len(chosen) < n and live:
        picks: dict[str, float] = {}  # this round's: one from each live list
        for i in list(live):
            item = next_unseen(i, picks)
            if item is None:
                live.remove(i)
            else:
                picks[item[0]] = item[1]
        ordered = sorted(picks.items(), key=lambda item: item[1], reverse=True) if by_score else picks.items()
        for cid, score in ordered:
            if len(chosen) < n:
                chosen[cid] = score
    while len(chosen) < n and (item := next_unseen(len(orders) - 1, {})):
        chosen[item[0]] = item[1]
    return list(chosen.items())
