"""Does a new article match a follow's topic? Meaning and words together, with hard rules for phrases and exclusions.

score = meaning_weight * (best cosine between the topic vector and the article's title/chunk vectors)
      + words_weight * (share of the topic's content words (stemmed, stopwords dropped) in the article: a title hit
                        counts 1, a body-only hit `body_credit`)
An article matches when score >= threshold, every `"exact phrase"` occurs verbatim (case-insensitive) in the title
or body, and no `-word` occurs. The knobs were chosen on tests/data/follow_labels.json (`newsbot eval follows`,
benchmarks/follow_match.py prints the grid).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.follows.topic import Topic
from rag.text import stem, terms

_TOPIC_CACHE = 1024  # topic vectors kept (a library's follows, many times over)


@dataclass(frozen=True)
class MatchKnobs:
    """The matching knobs (chosen on the labels; see the module docstring)."""

    # best micro F1 on the 41 labelled topics (benchmarks/follow_match.py): precision 0.83, recall 0.89 there,
    # with each article's vector from its title and first 2,000 characters (not yet its stored chunks)
    threshold: float = 0.48
    meaning_weight: float = 0.8
    words_weight: float = 0.2
    body_credit: float = 0.3  # a topic word only in the body counts this much of a title hit


DEFAULT_KNOBS = MatchKnobs()


@dataclass(frozen=True)
class ArticleText:
    """What matching needs of one article. `vectors`: its stored chunk vectors (rows); embedded when None."""

    article_id: str
    title: str
    text: str
    vectors: np.ndarray | None = None


def _unit(rows) -> np.ndarray:
    array = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)


def _has_word(text_lower: str, word: str) -> bool:
    """`word` (any of its inflections, by stem) occurs in the text."""
    target = stem(word.lower())
    return target in set(terms(text_lower)) or re.search(rf"\b{re.escape(word.lower())}\b", text_lower) is not None


class Matcher:
    """Scores articles against topics. Topic vectors are cached: 50 follows embed 50 topics once, not per article."""

    def __init__(self, embeddings: Embeddings, knobs: MatchKnobs = DEFAULT_KNOBS):
        self.embeddings = embeddings
        self.knobs = knobs
        self._topics: OrderedDict[str, np.ndarray] = OrderedDict()
        self._article: tuple[ArticleText, np.ndarray, set[str], set[str]] | None = None  # the last article's work

    def _prepared(self, article: ArticleText) -> tuple[np.ndarray, set[str], set[str]]:
        """Vectors and title/body terms of the article, computed once for all the follows it is matched against."""
        if self._article is None or self._article[0] is not article:
            self._article = (article, self.article_vectors(article), set(terms(article.title)),
                             set(terms(article.text)))
        return self._article[1:]

    def topic_vector(self, topic: Topic) -> np.ndarray:
        key = topic.positive.lower()
        vector = self._topics.get(key)
        if vector is None:
            vector = _unit(self.embeddings.embed_query(topic.positive))[0]
            self._topics[key] = vector
            if len(self._topics) > _TOPIC_CACHE:
                self._topics.popitem(last=False)
        else:
            self._topics.move_to_end(key)
        return vector

    def article_vectors(self, article: ArticleText) -> np.ndarray:
        """The title's vector and the article's chunk vectors (embedded here when not given), unit rows."""
        title = self.embeddings.embed_query(article.title) if article.title.strip() else None
        chunks = article.vectors
        if chunks is None or len(chunks) == 0:
            chunks = self.embeddings.embed_documents([article.text[:2000]]) if article.text.strip() else []
        rows = [r for r in ([title] if title is not None else []) + list(chunks)]
        return _unit(rows) if rows else np.zeros((0, 1), dtype=np.float32)

    def words_share(self, topic: Topic, article: ArticleText) -> float:
        wanted = set(terms(topic.positive))
        if not wanted:
            return 0.0
        _, title, body = self._prepared(article)
        credit = sum(1.0 if t in title else self.knobs.body_credit if t in body else 0.0 for t in wanted)
        return credit / len(wanted)

    def allowed(self, topic: Topic, article: ArticleText) -> bool:
        """Every exact phrase occurs (case-insensitive) and no excluded word does."""
        haystack = f"{article.title}\n{article.text}".lower()
        haystack = " ".join(haystack.split())
        if any(" ".join(p.lower().split()) not in haystack for p in topic.phrases):
            return False
        return not any(_has_word(haystack, word) for word in topic.excluded)

    def parts(self, topic: Topic, article: ArticleText) -> tuple[bool, float, float]:
        """(phrases and exclusions allowed, meaning, words share): what `score` weighs, apart for calibration."""
        if not self.allowed(topic, article):
            return False, 0.0, 0.0
        vectors = self._prepared(article)[0]
        meaning = float(np.max(vectors @ self.topic_vector(topic))) if len(vectors) else 0.0
        return True, meaning, self.words_share(topic, article)

    def score(self, topic: Topic, article: ArticleText) -> float:
        """0 when a phrase is missing or an excluded word occurs; else the weighted meaning + words score."""
        return combine(self.parts(topic, article), self.knobs)

    def matches(self, topic: Topic, article: ArticleText) -> bool:
        """Phrases present, exclusions absent, and the score at or above the threshold."""
        return is_match(self.parts(topic, article), self.knobs)


def combine(parts: tuple[bool, float, float], knobs: MatchKnobs) -> float:
    """The score from `Matcher.parts` under `knobs` (calibration reweighs stored parts without re-embedding)."""
    allowed, meaning, words = parts
    return knobs.meaning_weight * meaning + knobs.words_weight * words if allowed else 0.0


def is_match(parts: tuple[bool, float, float], knobs: MatchKnobs) -> bool:
    """A phrase missing or an excluded word present is never a match, whatever the threshold."""
    return parts[0] and combine(parts, knobs) >= knobs.threshold
