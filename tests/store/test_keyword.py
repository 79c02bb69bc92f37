"""The in-memory keyword index (rag/store/keyword_copy.py): FTS5's rankings, never a stale store, FTS5 when it can't help."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from datetime import date

import numpy as np
import pytest

from rag.articles.article import Article
from rag.store.index import NewsIndex
from rag.store.fts import FtsStemmer, fts_stemmer
from rag.store.keyword_copy import KeywordIndex
from rag.retrieval.retriever import DEFAULT_RECIPE, NewsRetriever

from tests.conftest import make_settings

W, MAX_DF = DEFAULT_RECIPE.weights, DEFAULT_RECIPE.max_df
COMMON = "council harbour ferry mayor budget residents said week city plan".split()
RARE = ("technology apology assembly subsidy tourists timetable crossings dredging lighthouse pier ferries "
        "strike pensions election referendum ballot turbines offshore wind salmon quotas us as").split()
OUTLETS = ("Coast Gazette", "Harbour Times", "Island Post")


def _articles(n: int, seed: int = 7) -> list[Article]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.sample(RARE, 3)
        words = [rng.choice(COMMON) if rng.random() < 0.6 else rng.choice(topic) for _ in range(90)]
        body = ". ".join(" ".join(words[j:j + 9]).capitalize() for j in range(0, len(words), 9)) + "."
        out.append(Article(title=f"{topic[0].title()} report {i}", body=body,
                           source=OUTLETS[i % len(OUTLETS)], published=date(2024, 3, 1 + i % 20)))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from rag.services import build_services

    services = build_services(make_settings(tmp_path_factory.mktemp("kw"), chunk_tokens=48, chunk_overlap=0))
    assert services.index.ingest(_articles(40)).ok
    return services


def _plain(index: NewsIndex) -> NewsIndex:
    """A second handle on the same store that never keeps a copy: FTS5 answers every search."""
    return NewsIndex(index.vectors.client, index.embeddings, index.data_dir, index.chunk_tokens, index.chunk_overlap)


QUESTIONS = ["What did the council say about the ferry subsidy for tourists?",
             "technology apology", "Which outlet covered the offshore wind turbines and salmon quotas?",
             "Did the US election referendum ballot pass as planned?", "lighthouse dredging strike pensions",
             "nothing here matches zzyzx"]
FILTERS = [{}, {"since": 20240305}, {"until": 20240310}, {"since": 20240303, "until": 20240312},
           {"source": "harbour times"}, {"source": ["Coast Gazette", "Island Post"]},
           {"since": 20240308, "source": "Island Post"}]


def _tied_groups(ranked: list[tuple[str, float]]) -> list[tuple[float, frozenset[str] | int]]:
    """A ranking as its runs of equal scores (FTS5 orders ties arbitrarily); the last run may be cut by the limit,
    so only its size counts."""
    groups: list[tuple[float, set[str]]] = []
    for cid, score in ranked:
        if groups and abs(groups[-1][0] - score) <= 1e-9 * max(1.0, abs(score)):
            groups[-1][1].add(cid)
        else:
            groups.append((round(score, 9), {cid}))
    return [(s, frozenset(ids) if i < len(groups) - 1 else len(ids)) for i, (s, ids) in enumerate(groups)]


def test_the_copy_ranks_exactly_as_fts5(corpus):
    index = corpus.index
    fts = _plain(index)
    index.keep_keyword_index(W, MAX_DF, wait=True)
    n = index.chunk_count()
    assert n > 40 and any(df > MAX_DF * n for df in index.keyword._copy[1].df.values())  # some words are too common
    compared = 0
    for question in QUESTIONS:
        for filters in FILTERS:
            want = fts.keyword_search(question, 25, weights=W, max_df=MAX_DF, **filters)
            got = index.keyword_search(question, 25, weights=W, max_df=MAX_DF, **filters)
            assert _tied_groups(got) == _tied_groups(want), (question, filters)
            compared += bool(want)
    assert compared > 25
    assert index.keyword._current(W, MAX_DF) is not None  # the searches above really used the copy


def test_other_settings_still_search_fts5(corpus):
    index = corpus.index
    index.keep_keyword_index(W, MAX_DF, wait=True)
    assert index.keyword._current((2.0, 1.0, 1.0), MAX_DF) is None  # e.g. an ablation's weights
    assert index.keyword._current(W, None) is None  # the bm25 baseline keeps every word


def test_ties_at_the_cut_go_to_the_lowest_rowids():
    n = 24
    copy = KeywordIndex(weights=W, max_df=MAX_DF, n_rows=n, rowids=np.arange(1, n + 1),
                        chunk_ids=tuple(f"c{i:02d}" for i in range(n)),
                        live=np.ones(n, bool), sources=np.array([""] * n, dtype=object),
                        published=np.zeros(n, np.int64), df={"w": n}, spans={"w": (0, n)},
                        post_pos=np.arange(n, dtype=np.int32),
                        post_score=np.array([3.0, 1, 1, 1, 1, 1, 1, 2] * 3))
    assert copy.search(["w"], 5) == [("c00", 3.0), ("c08", 3.0), ("c16", 3.0), ("c07", 2.0), ("c15", 2.0)]
    assert [c for c, _ in copy.search(["w"], 8)][6:] == ["c01", "c02"]


def test_a_word_porter_stems_differently_is_still_searched(corpus):
    """PyStemmer stems "technology" to "technologi", FTS5 to "technolog": the word used to drop out of queries."""
    index = corpus.index
    assert "technology" in index.document_frequencies(["technology", "us"])
    assert "us" in index.document_frequencies(["us"])
    plain = _plain(index)
    hits = plain.keyword_search("technology", 50, weights=W, max_df=MAX_DF)
    texts = plain.get_chunks([c for c, _ in hits])
    assert hits and all("technology" in texts[c].text.lower() or "technology" in texts[c].title.lower()
                        for c, _ in hits)


def test_fts_stemmer_gives_the_stems_the_store_indexed(corpus):
    from rag.store.schema import SCHEMA

    assert f"tokenize = '{FtsStemmer.TOKENIZE}'" in SCHEMA
    words = sorted({w.lower() for a in _articles(40) for w in a.body.replace(".", " ").split()})
    vocabulary = {r[0] for r in corpus.index.db.execute("SELECT term FROM chunks_fts_vocab")}
    stems = fts_stemmer.stems(words)
    assert all(s in vocabulary for s in stems), [(w, s) for w, s in zip(words, stems) if s not in vocabulary]
    assert dict(zip(words, stems))["technology"] == "technolog" and dict(zip(words, stems))["us"] == "us"


def test_fts_stemmer_keeps_answering_when_its_memo_is_full():
    stemmer = FtsStemmer(max_words=2)
    assert stemmer.stems(["election", "ballots", "ferries"]) == ["elect", "ballot", "ferri"]
    assert stemmer.stems(["election", "technology"]) == ["elect", "technolog"]
    assert stemmer.stems(["election", "technology", "election"]) == ["elect", "technolog", "elect"]


def test_an_article_ingested_or_removed_shows_at_once(tmp_path):
    """The copy describes the store when it was built: after a change, FTS5 answers until the copy is rebuilt."""
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "store", chunk_tokens=48, chunk_overlap=0))
    index = services.index
    assert index.ingest(_articles(12)).ok
    index.keep_keyword_index(W, MAX_DF, wait=True)
    old = index.keyword._copy
    news = Article(title="Lighthouse keeper retires", body="The quokka sanctuary opened beside the lighthouse.",
                   source="Island Post", published=date(2024, 3, 30))
    assert index.ingest([news]).ok
    hits = index.keyword_search("quokka sanctuary", 5, weights=W, max_df=MAX_DF)
    assert hits and index.get_chunks([hits[0][0]])[hits[0][0]].title == news.title
    article_id = index.get_chunks([hits[0][0]])[hits[0][0]].article_id
    assert index.remove(article_id)
    assert index.keyword_search("quokka sanctuary", 5, weights=W, max_df=MAX_DF) == []
    if index.keyword._thread:
        index.keyword._thread.join(30)
    index.keyword_search("quokka", 5, weights=W, max_df=MAX_DF)  # starts a rebuild for the current store
    if index.keyword._thread:
        index.keyword._thread.join(30)
    assert index.keyword._copy is not old and index.keyword._copy[0] == index.content_version()
    assert index.keyword_search("quokka sanctuary", 5, weights=W, max_df=MAX_DF) == []


@pytest.mark.slow
def test_searches_while_the_store_changes(tmp_path, monkeypatch):
    """Threads searching while another ingests and removes: no error; each copy used agrees with FTS5 after."""
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "store", chunk_tokens=48, chunk_overlap=0))
    index = services.index
    assert index.ingest(_articles(20)).ok
    retriever = NewsRetriever(index=index, k=5)
    retriever.warm()  # in the background, as the bot does
    used = []
    search = KeywordIndex.search
    monkeypatch.setattr(KeywordIndex, "search", lambda self, *a, **kw: used.append(1) or search(self, *a, **kw))
    extra = _articles(6, seed=11)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                retriever.invoke("salmon quotas offshore turbines")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for a in extra:
            result = index.ingest([a])
            assert result.ok and result.added
            time.sleep(0.3)
            assert index.remove(result.added[0])
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert used  # the copy served some of those searches
    index.keyword_search("salmon", 5, weights=W, max_df=MAX_DF)
    if index.keyword._thread:
        index.keyword._thread.join(30)
    assert index.keyword._current(W, MAX_DF) is not None
    plain = _plain(index)
    for question in QUESTIONS:
        got = index.keyword_search(question, 25, weights=W, max_df=MAX_DF)
        assert _tied_groups(got) == _tied_groups(plain.keyword_search(question, 25, weights=W, max_df=MAX_DF))


def test_no_copy_is_built_from_a_write_not_yet_committed(tmp_path):
    """Our own open write already moved the store version; a copy built then would read the store from before
    the commit under the version after it, and serve removed chunks from then on."""
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "store", chunk_tokens=48, chunk_overlap=0))
    index = services.index
    news = Article(title="Quokka sanctuary opens", body="The quokka sanctuary opened beside the lighthouse.",
                   source="Island Post", published=date(2024, 3, 30))
    assert index.ingest([*_articles(8), news]).ok
    gone = index.keyword_search("quokka", 5, weights=W, max_df=MAX_DF)
    article_id = index.get_chunks([gone[0][0]])[gone[0][0]].article_id
    version_id = index.registry.release("default", article_id)  # what remove() does inside its transaction,
    index.registry.drop_if_unheld([version_id])  # not committed yet
    assert index.writing()
    index.keep_keyword_index(W, MAX_DF, wait=True)
    assert index.keyword_search("quokka", 5, weights=W, max_df=MAX_DF) == []  # FTS5 sees our own write
    index.db.commit()
    index.keep_keyword_index(W, MAX_DF, wait=True)
    assert index.keyword._current(W, MAX_DF) is not None
    assert index.keyword_search("quokka", 5, weights=W, max_df=MAX_DF) == []


def test_a_copy_that_cannot_be_built_leaves_fts5_answering(corpus, monkeypatch, caplog):
    index = _plain(corpus.index)
    want = index.keyword_search(QUESTIONS[0], 10, weights=W, max_df=MAX_DF)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(KeywordIndex, "build", broken)
    index.keep_keyword_index(W, MAX_DF, wait=True)
    assert "could not build the in-memory keyword index" in caplog.text
    assert index.keyword_search(QUESTIONS[0], 10, weights=W, max_df=MAX_DF) == want
    assert index.keyword._thread is None  # a failed build is not retried until the store changes
