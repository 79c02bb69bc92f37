"""Libraries: named sets of articles in one store. Each read sees only its libraries' articles, inside the search;
an article held by several libraries is stored and embedded once; a write touches one library only."""

from __future__ import annotations

import pytest

from rag.answering.query import Query
from rag.articles.article import Article, make_article
from rag.articles.loaders import load_paths
from rag.errors import LibraryError
from rag.retrieval.retriever import NewsRetriever

from tests.conftest import SEEDS, make_settings

HARBOUR = "The harbour authority of Port Ellery voted to dredge the eastern channel before the autumn storms."


def news(title: str, body: str, url: str | None = None, source: str = "Coast Wire", day: str = "2024-05-02"):
    return make_article(title=title, body=body, origin="test", source=source, published=day, url=url)


def unique_fact() -> Article:
    return news("Quokka sanctuary opens on Rottnest", "A quokka sanctuary with 40 enclosures opened on Rottnest "
                "Island on Tuesday, rangers said. The sanctuary cost 12 million dollars.", "https://x.test/quokka")


def counts(services) -> tuple[int, int]:
    """(chunks in the registry, vectors in Chroma) for the whole store."""
    return services.index.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0], services.index.vectors.count()


@pytest.fixture
def two(services):
    """The seeds in library "a" and "b"; a unique article in "a" only."""
    assert services.ingest(load_paths([SEEDS]), library="a").ok
    assert services.ingest(load_paths([SEEDS]), library="b").ok
    assert services.ingest([unique_fact()], library="a").ok
    return services


def test_a_read_sees_only_its_libraries(two):
    question = "How many enclosures does the quokka sanctuary on Rottnest have?"
    in_a = two.ask(Query(question, libraries=("a",)))
    in_b = two.ask(Query(question, libraries=("b",)))

    assert any("40 enclosures" in c.quote for c in in_a.citations)
    assert "quokka" not in in_b.answer.lower() and all("quokka" not in c.quote.lower() for c in in_b.citations)
    assert "Quokka" not in {a.title.split()[0] for a in two.list_articles(libraries=("b",))}
    assert len(two.list_articles(libraries=("a",))) == 3 and len(two.list_articles(libraries=("a", "b"))) == 3
    for mode in ("dense", "bm25", "hybrid"):
        docs = NewsRetriever(index=two.index, k=10, mode=mode, libraries=("b",)).invoke(question)
        assert docs and all("quokka" not in d.page_content.lower() for d in docs), mode


def test_an_article_in_two_libraries_is_stored_once(two):
    stats = {row["library"]: row for row in two.libraries()}
    seeds_chunks = stats["b"]["chunks"]

    assert stats["a"]["articles"] == 3 and stats["b"]["articles"] == 2
    assert counts(two) == (stats["a"]["chunks"], stats["a"]["chunks"])  # b's two seeds are a's two seeds
    assert two.stats("b") == {"library": "b", "articles": 2, "chunks": seeds_chunks,
                              "embedding_model": two.index.model_id, "data_dir": str(two.settings.data_dir)}


def test_a_shared_version_is_not_embedded_again(two, monkeypatch):
    embedded = []
    monkeypatch.setattr(two.index.embeddings, "embed_documents",
                        lambda texts: embedded.append(len(texts)) or pytest.fail("embedded again"))

    result = two.ingest([unique_fact()], library="c")

    assert result.added == [unique_fact().article_id] and result.chunks_written == 0 and embedded == []
    assert [a.title for a in two.list_articles(libraries=("c",))] == [unique_fact().title]


def test_remove_takes_the_article_out_of_one_library_only(two):
    quokka = unique_fact().article_id
    seed = two.list_articles(libraries=("b",))[0]
    before = counts(two)

    assert two.remove(seed.article_id, library="b")
    assert seed.article_id not in {a.article_id for a in two.list_articles(libraries=("b",))}
    assert seed.article_id in {a.article_id for a in two.list_articles(libraries=("a",))}
    assert counts(two) == before  # "a" still holds it: its chunks and vectors stay

    assert not two.remove(quokka, library="b")  # not in "b": nothing changes
    assert counts(two) == before and len(two.list_articles(libraries=("a",))) == 3

    assert two.remove(seed.article_id, library="a")  # no library holds it now: its chunks go
    gone = before[0] - seed.chunks
    assert counts(two) == (gone, gone)
    assert not two.index.vectors.ids([f"{seed.version_id}:{i:04d}" for i in range(seed.chunks)])


def test_the_same_url_with_other_text_is_one_version_per_library(services):
    url = "https://x.test/harbour"
    first = news("Harbour vote", HARBOUR, url)
    second = news("Harbour vote", HARBOUR.replace("eastern channel", "western basin"), url)
    assert first.article_id == second.article_id

    assert services.ingest([first], library="a").added and services.ingest([second], library="b").added
    again = services.ingest([second], library="a")  # "a" moves to the second version; "b" already holds it

    assert again.updated == [first.article_id] and again.chunks_written == 0
    assert services.ingest([first], library="b").updated  # and "b" back to the first: two versions again
    for library, want, other in (("a", "western basin", "eastern channel"), ("b", "eastern channel", "western basin")):
        docs = NewsRetriever(index=services.index, k=5, mode="bm25", libraries=(library,)).invoke("harbour dredge")
        assert docs and all(want in d.page_content and other not in d.page_content for d in docs), library
    assert counts(services)[0] == counts(services)[1] == 2 * len(services.index.version_chunks(
        services.list_articles(libraries=("a",))[0].version_id))


def test_library_names_are_checked(services):
    for bad in ("", "News", "a b", "../x", "-x", "x" * 65, "guild/1"):
        with pytest.raises(LibraryError, match="not valid"):
            services.ingest([unique_fact()], library=bad)
        with pytest.raises(LibraryError):
            services.list_articles(libraries=(bad,))
    with pytest.raises(LibraryError, match="try 'news'"):
        services.remove("x", library="News")
    assert services.index.stats()["articles"] == 0


def test_services_default_to_the_configured_library(tmp_path):
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "s", library="newsroom"))
    assert services.ingest([unique_fact()]).added
    assert [row["library"] for row in services.libraries()] == ["newsroom"]
    assert services.list_articles() and not services.list_articles(libraries=("default",))
    assert services.ask(Query("How many enclosures does the quokka sanctuary have?")).citations


def crowd(n: int, topic: str = "ferry") -> list[Article]:
    """n short articles about the same harbour story, each a chunk or two."""
    return [news(f"Harbour {topic} report {i}", f"The {topic} from Port Ellery sailed at {i} o'clock. Harbour "
                 f"officials said the {topic} timetable for route {i} would change in June. " * 3,
                 f"https://x.test/{topic}/{i}") for i in range(n)]


def exact_top(services, library: str, vector: list[float], k: int) -> list[str]:
    """The library's k nearest chunks by brute force over its own stored vectors."""
    import numpy as np

    ids = [c.chunk_id for a in services.list_articles(libraries=(library,))
           for c in services.index.version_chunks(a.version_id)]
    stored = services.index.chunk_vectors(ids)
    sims = {cid: float(np.dot(stored[cid], vector) / np.linalg.norm(stored[cid]) / np.linalg.norm(vector))
            for cid in ids}
    return sorted(sims, key=sims.get, reverse=True)[:k]


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """60 ferry articles in "crowd", 3 in "tiny": tiny's chunks are never in the store's top 10 for a ferry
    question, so filtering an unscoped top-k afterwards would leave tiny with nothing."""
    from rag.services import build_services

    services = build_services(make_settings(tmp_path_factory.mktemp("crowded")))
    assert services.ingest(crowd(60), library="crowd").ok
    assert services.ingest(crowd(3, "barge"), library="tiny").ok
    return services


QUESTION = "When does the Port Ellery ferry sail?"


def test_a_small_library_gets_its_own_best_passages_inside_a_crowded_store(crowded):
    vector = crowded.index.embeddings.embed_query(QUESTION)
    tiny_ids = {c for c in exact_top(crowded, "tiny", vector, 100)}
    assert not tiny_ids & {cid for cid, _ in crowded.index.dense_search(vector, 10)}  # crowded out of the top 10

    found = crowded.index.dense_search(vector, 5, libraries=("tiny",))
    assert [cid for cid, _ in found] == exact_top(crowded, "tiny", vector, 5)[:len(found)]
    assert len(found) == min(5, len(tiny_ids))
    docs = NewsRetriever(index=crowded.index, k=5, libraries=("tiny",)).invoke(QUESTION)
    assert len(docs) == min(5, len(tiny_ids)) and {d.metadata["chunk_id"] for d in docs} <= tiny_ids
    keyword = crowded.index.keyword_search("Port Ellery timetable route", 5, libraries=("tiny",))
    assert len(keyword) == min(5, len(tiny_ids)) and {cid for cid, _ in keyword} <= tiny_ids


@pytest.mark.parametrize(("library", "overfetch", "fell_back"), [
    ("crowd", 1.5, False),  # enough of the unfiltered candidates are the library's own
    ("tiny", 0.01, True),  # too few are: the exact search takes over
])
def test_a_large_scope_asks_chroma_unfiltered_and_checks_what_it_kept(crowded, monkeypatch, caplog, library,
                                                                      overfetch, fell_back):
    import logging

    from rag.store import vectors

    monkeypatch.setattr(vectors, "EXACT_ROWS", 0)  # every scope counts as large
    monkeypatch.setattr(vectors, "EXACT_SHARE", 0.0)
    monkeypatch.setattr(vectors, "OVERFETCH", overfetch)
    vector = crowded.index.embeddings.embed_query(QUESTION)

    with caplog.at_level(logging.INFO, logger="rag.store.vectors"):
        found = crowded.index.dense_search(vector, 10, libraries=(library,))

    assert [cid for cid, _ in found] == exact_top(crowded, library, vector, 10)
    assert ("searching it exactly" in caplog.text) == fell_back
