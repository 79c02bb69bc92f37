"""Follow topics and matching (issue #28, part A): what a reader typing a topic would notice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.follows.match import ArticleText, Matcher, MatchKnobs
from rag.follows.topic import FollowError, parse_topic


class WordEmbeddings:
    """A tiny deterministic embedder: a bag of known words, so meaning is testable without the model."""

    VOCAB = ["prime", "day", "deals", "amazon", "discount", "rates", "fed", "interest", "walmart", "trial", "fraud"]

    def __init__(self):
        self.queries = []

    def _vector(self, text):
        words = text.lower().replace(",", " ").replace(".", " ").split()
        return [float(sum(w.startswith(v) for w in words)) + 0.01 for v in self.VOCAB]

    def embed_query(self, text):
        self.queries.append(text)
        return self._vector(text)

    def embed_documents(self, texts):
        return [self._vector(t) for t in texts]


DEALS = ArticleText("a1", "Amazon Prime Day deals on TVs", "The best Prime Day discounts on televisions this year.")
WALMART = ArticleText("a2", "Walmart counters Prime Day", "Walmart announced its own deals for Prime Day week.")
RATES = ArticleText("a3", "Fed raises interest rates", "The Federal Reserve raised interest rates again today.")


def test_a_topic_is_split_into_plain_words_exact_phrases_and_exclusions():
    topic = parse_topic('  "Prime Day"   deals -Walmart ')
    assert topic.phrases == ("Prime Day",)
    assert topic.excluded == ("walmart",)
    assert topic.words == ("deals",)
    assert topic.text == '"Prime Day" deals -Walmart'


def test_a_hyphenated_name_is_a_word_not_an_exclusion():
    topic = parse_topic("Sam Bankman-Fried's trial")
    assert topic.excluded == ()
    assert "Bankman-Fried's" in topic.words


def test_discord_mentions_in_a_topic_are_not_words_to_match():
    topic = parse_topic("bridge @everyone <@123> **closed**")
    assert topic.words == ("bridge", "closed")
    assert topic.text == "bridge @everyone <@123> **closed**"  # shown as typed (escaped where shown)


@pytest.mark.parametrize("text, says", [("", "empty"), ("   ", "empty"), ("-Musk -Tesla", "only exclusions"),
                                        ("x" * 201, "NEWSBOT_FOLLOW_MAX_TOPIC_CHARS")])
def test_an_unusable_topic_is_refused_with_a_message_saying_why(text, says):
    with pytest.raises(FollowError, match=says):
        parse_topic(text)


def test_the_topic_length_limit_is_the_one_given():
    assert parse_topic("x" * 30, max_chars=30).words
    with pytest.raises(FollowError, match="limit is 20"):
        parse_topic("x" * 30, max_chars=20)


def test_an_article_on_the_topic_matches_and_one_on_another_subject_does_not():
    matcher = Matcher(WordEmbeddings())
    topic = parse_topic("Prime Day deals")
    assert matcher.matches(topic, DEALS)
    assert not matcher.matches(topic, RATES)
    assert matcher.score(topic, DEALS) > matcher.score(topic, RATES)


def test_an_excluded_word_wins_over_a_strong_match():
    matcher = Matcher(WordEmbeddings())
    assert matcher.matches(parse_topic("Prime Day deals"), WALMART)
    assert not matcher.matches(parse_topic("Prime Day deals -walmart"), WALMART)
    assert matcher.score(parse_topic("Prime Day deals -Walmart"), WALMART) == 0.0


def test_an_exact_phrase_must_occur_verbatim_in_the_article():
    matcher = Matcher(WordEmbeddings(), MatchKnobs(threshold=0.0))
    assert matcher.matches(parse_topic('"prime day" deals'), DEALS)  # case does not matter
    assert not matcher.matches(parse_topic('"day prime" deals'), DEALS)


def test_stored_chunk_vectors_are_used_instead_of_embedding_the_body():
    embeddings = WordEmbeddings()
    matcher = Matcher(embeddings)
    topic = parse_topic("interest rates fed")
    on_rates = ArticleText("a4", "Markets today", "Stocks moved.", np.array([embeddings._vector("rates fed interest")]))
    on_deals = ArticleText("a4", "Markets today", "Stocks moved.", np.array([embeddings._vector("prime deals")]))
    # the meaning part tells them apart by the stored vectors alone (same title, same text); the score's margin
    # is that times meaning_weight (0.4 since the knobs were calibrated on the stored chunk vectors)
    assert matcher.parts(topic, on_rates).meaning > matcher.parts(topic, on_deals).meaning + 0.4
    assert matcher.score(topic, on_rates) > matcher.score(topic, on_deals) + 0.15


def test_fifty_follows_embed_each_topic_once_however_many_articles_arrive():
    embeddings = WordEmbeddings()
    matcher = Matcher(embeddings)
    topics = [parse_topic(f"prime deals {i}") for i in range(50)]
    for article in (DEALS, WALMART, RATES):
        for topic in topics:
            matcher.score(topic, article)
    topic_embeds = [q for q in embeddings.queries if q.startswith("prime deals")]
    assert len(topic_embeds) == 50


@pytest.mark.slow
def test_eval_follows_prints_precision_and_recall_for_each_labelled_topic(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rag.articles.formats import record_to_article
    from rag.cli.app import app

    records = [{"title": "Amazon Prime Day deals on TVs and laptops", "source": "A", "published_at": "2023-10-10",
                "body": "Amazon's Prime Day sale cuts prices on TVs, laptops and headphones. " * 5},
               {"title": "Fed holds interest rates steady", "source": "B", "published_at": "2023-10-11",
                "body": "The Federal Reserve kept interest rates unchanged, citing cooling inflation. " * 5},
               {"title": "Chiefs beat the Jets on Sunday night", "source": "C", "published_at": "2023-10-02",
                "body": "Kansas City won a close football game against New York on Sunday. " * 5}]
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(records))
    ids = [record_to_article(r, "x", None).article_id for r in records]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"topics": [
        {"topic": "Prime Day deals", "relevant": [ids[0]], "not_relevant": [ids[1], ids[2]]},
        {"topic": "interest rates", "relevant": [ids[1]], "not_relevant": [ids[0], ids[2]]}]}))
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["eval", "follows", "--labels", str(labels), "--corpus", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert [t["topic"] for t in figures["topics"]] == ["Prime Day deals", "interest rates"]
    assert figures["overall"]["precision"] == 1.0 and figures["overall"]["recall"] == 1.0
    text = CliRunner().invoke(app, ["eval", "follows", "--labels", str(labels), "--corpus", str(corpus)])
    assert "Prime Day deals" in text.output and "precision" in text.output
