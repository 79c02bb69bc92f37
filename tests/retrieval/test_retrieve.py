"""The default hybrid retriever: behaviour a user notices, on small synthetic stores."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from rag.articles.article import Article
from rag.retrieval.retriever import DEFAULT_RECIPE, NewsRetriever, outlet_matcher

from tests.conftest import make_settings

FILLER = [
    "The mayor spoke at length. The subsidy was criticised by the opposition. Fares came up twice. Tourists "
    "crowded the pier. The mayor thanked the crews. The subsidy costs money. Fares rose last spring. Tourists "
    "queued for hours.",
    "Council members debated the harbour budget for three hours. The mayor left early. Ferry fares were "
    "mentioned by residents. Tourists were not discussed. The budget vote was postponed to next week.",
    "Dock workers described the new timetable. Fares for residents are unchanged. The mayor was not present. "
    "Tourists will see more crossings in summer, the operator said. The harbour master approved the plan.",
]
STATEMENT = ("Late on Tuesday the council published its minutes. In a statement, the mayor said the subsidy "
             "would double ferry fares for tourists from July. The minutes run to forty pages.")


def _article(source: str = "Coast Gazette") -> Article:
    body = "\n\n".join([FILLER[0], FILLER[1], STATEMENT, FILLER[2]])
    return Article(title="Harbour council approves ferry budget", body=body, source=source,
                   published=date(2024, 3, 5))


@pytest.fixture
def harbour(tmp_path):
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "store", chunk_tokens=48, chunk_overlap=0))
    services.index.ingest([_article()])
    assert services.index.stats()["chunks"] >= 4
    return services


QUESTION = "What did the mayor say the subsidy would do to ferry fares for tourists?"


def test_the_chunk_whose_sentence_answers_the_question_comes_first(harbour):
    docs = NewsRetriever(index=harbour.index, k=3).invoke(QUESTION)
    assert "double ferry fares for tourists" in docs[0].page_content


def test_without_sentence_sharpening_a_chunk_that_merely_repeats_the_words_wins(harbour):
    """Shows what the sentence score is for: chunk-level scores favour the chunk that repeats the words."""
    plain = dataclasses.replace(DEFAULT_RECIPE, w_sentence=0.0)
    docs = NewsRetriever(index=harbour.index, k=3, recipe=plain).invoke(QUESTION)
    assert "double ferry fares for tourists" not in docs[0].page_content


def test_an_outlet_ingested_while_running_is_recognised_in_questions(seeded):
    index = seeded.index
    assert not outlet_matcher(index).find("What did the Coast Gazette say about ferries?")
    index.ingest([_article("Coast Gazette")])
    try:
        found = outlet_matcher(index).find("What did the Coast Gazette say about ferries?")
        assert [sorted(f[2]) for f in found] == [["Coast Gazette"]]
    finally:
        index.remove(_article().article_id)
    assert not outlet_matcher(index).find("What did the Coast Gazette say about ferries?")


def test_clause_vectors_come_from_the_question_pass():
    from rag.embeddings.embedders import LocalMiniLMEmbeddings

    emb = LocalMiniLMEmbeddings()
    question = "Did the Gazette praise the ferry budget, while the Herald said fares for tourists will double?"
    cut = question.index(", while")
    whole, first, second = (np.array(v) for v in emb.embed_with_parts(question, [[(0, cut)],
                                                                                 [(cut, len(question))]]))
    assert float(whole @ np.array(emb.embed_query(question))) > 0.999  # the same vector as a plain embedding
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in (whole, first, second))
    own_first, own_second = (np.array(emb.embed_query(question[a:b])) for a, b in [(0, cut), (cut, None)])
    assert first @ own_first > first @ own_second and second @ own_second > second @ own_first
