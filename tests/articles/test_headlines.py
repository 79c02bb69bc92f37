"""A byline or date line where the headline should be is replaced at ingest by a headline from the lede, so
briefings and citations show a headline; the original stays in the metadata and the article keeps its id."""

from __future__ import annotations

import pytest

from rag.answering.query import Query
from rag.articles.article import Article
from rag.articles.loaders import load_paths
from rag.articles.chunking import chunk_id
from rag.articles.headlines import is_byline, lede_headline

from tests.conftest import SEEDS

BYLINE = "Published by Emmanuel Alejandro Rondón Verified by 10 de noviembre, 2024"  # seed 002's first line
LEDE_HEADLINE = "President-elect Donald Trump spoke with Russian President Vladimir Putin in the first call between the two…"


@pytest.mark.parametrize("title", [BYLINE, "By Jane Smith", "By Jane Smith | Reuters", "10 de noviembre, 2024",
                                   "Monday, Nov. 11, 2024", "Updated: 3:15 p.m. ET", "Posted on 11/12/2024"])
def test_bylines_and_date_lines_are_not_headlines(title):
    assert is_byline(title)


@pytest.mark.parametrize("title", ["By the numbers: Trump's cabinet picks", "2024 election results", "by the way",
                                   "Trump Warns Putin Over Ukraine War in First Call Since Election Win",
                                   "Nov. 5: the day America votes"])
def test_real_headlines_are_kept(title):
    assert not is_byline(title)


def test_a_headline_from_the_lede_drops_the_dateline_and_is_cut_at_a_word():
    assert lede_headline("WASHINGTON (AP) — The Senate passed the bill on Tuesday. More later.") == (
        "The Senate passed the bill on Tuesday")
    assert lede_headline("word " * 60).endswith("word…") and len(lede_headline("word " * 60)) <= 111


def test_the_seed_with_a_byline_title_gets_a_real_headline_and_keeps_the_original(seeded):
    [article] = [a for a in load_paths([SEEDS]) if a.original_title]
    assert article.original_title == BYLINE and article.title == LEDE_HEADLINE
    stored = {a.article_id: a.title for a in seeded.index.list_articles(None)}
    assert stored[article.article_id] == LEDE_HEADLINE
    chunk = seeded.index.vectors.collection.get(ids=[chunk_id(article, 0)], include=["metadatas"])["metadatas"][0]
    assert chunk["original_title"] == BYLINE and chunk["title"] == LEDE_HEADLINE
    answer = seeded.ask(Query("What did Trump warn Putin about?"))
    titles = {c.article_id: c.title for c in answer.citations}
    assert titles[article.article_id] == LEDE_HEADLINE and all("Published by" not in t for t in titles.values())


@pytest.mark.slow
def test_a_store_holding_the_byline_title_is_updated_in_place_not_duplicated(services):
    """What the previous main stored (the byline as title) is the same article: re-ingesting replaces it."""
    [fixed] = [a for a in load_paths([SEEDS]) if a.original_title]
    old = Article(title=BYLINE, body=fixed.body, published=fixed.published, origin="old main")
    assert old.article_id == fixed.article_id
    assert services.index.ingest([old]).ok
    assert [a.title for a in services.index.list_articles(None)] == [BYLINE]  # the old store still reads
    result = services.index.ingest(load_paths([SEEDS]))
    assert result.ok and len(result.updated) == 1
    titles = sorted(a.title for a in services.index.list_articles(None))
    assert len(titles) == 2 and BYLINE not in titles and LEDE_HEADLINE in titles
