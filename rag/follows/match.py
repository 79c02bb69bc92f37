"""Does a new article match a follow's topic? Meaning and words together, with hard rules for phrases and exclusions.

score = meaning_weight * (best cosine between the topic vector and the article's title and chunk vectors)
      + words_weight * (the topic's words found in the article, each weighed by its rarity in the store: a word in
                        the title counts whole, one first met in the lead `lead_credit`, one only further down
                        `body_credit`)
An article matches when score >= threshold, every `"exact phrase"` occurs verbatim (case-insensitive) in the title
or body, and no `-word` occurs anywhere in it (what the /follow help says: "-word must not" occur; the labels'
rule too).

Words are the topic's content words, stemmed, stopwords dropped, and hyphenated names split ("Israel-Hamas war" is
israel, hamas, war; "Sam Bankman-Fried" is sam, bankman, fried), so an article naming one side still counts it.
A word's weight is its idf over the store's chunks (`NewsIndex.document_frequencies`): in "Black Friday deals" the
rare "black" and "friday" outweigh the everyday "deals", so a Cyber Monday roundup with "deals" in its title no
longer scores like a Black Friday one. Without a store (tests) every word weighs the same.

The knobs were chosen on tests/data/follow_labels.json with the stored chunk vectors (`newsbot eval follows`;
benchmarks/follow_match.py prints the grid, the curve around the threshold, and a half-tuned, half-held-out split).
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.follows.topic import Topic
from rag.text import TOKEN_RE, stem, terms

_TOPIC_CACHE = 1024  # topic vectors and word weights kept (a library's follows, many times over)
_WEIGHTS_TTL_S = 3600.0  # word weights are re-read from the store this often (the store grows; rarity drifts slowly)
LEAD_CHARS = 1500  # the lead: as rag.briefing.stories reads it
_HYPHENS = re.compile(r"[-‐‑–]")


@dataclass(frozen=True)
class MatchKnobs:
    """The matching knobs (chosen on the labels; see the module docstring)."""

    # `newsbot eval follows` on the 41 labelled topics, stored chunk vectors: precision 0.916, recall 0.861 overall;
    # the curve and the even/odd split are in benchmarks/follow_match.py
    threshold: float = 0.64
    meaning_weight: float = 0.4
    words_weight: float = 0.6
    body_credit: float = 0.1  # a topic word only past the lead counts this much of a title hit
    lead_credit: float = 0.7  # a topic word in the lead (first LEAD_CHARS characters), not the title


DEFAULT_KNOBS = MatchKnobs()


@dataclass(frozen=True)
class ArticleText:
    """What matching needs of one article. `vectors`: its stored chunk vectors (rows); embedded when None."""

    article_id: str
    title: str
    text: str
    vectors: np.ndarray | None = None


@dataclass(frozen=True)
class Parts:
    """What `combine` weighs, apart so calibration can reweigh without re-embedding: `allowed` (phrases present,
    exclusions absent), `meaning` (best cosine), and the rarity-weighted share of the topic's words whose best place
    in the article is the title, the lead, or only the rest of the body (the three add up to at most 1)."""

    allowed: bool
    meaning: float = 0.0
    title: float = 0.0
    lead: float = 0.0
    body: float = 0.0


def _unit(rows) -> np.ndarray:
    array = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)


def word_units(text: str) -> set[str]:
    """Content terms with hyphenated words split: what topic words are looked for as."""
    return set(terms(_HYPHENS.sub(" ", text)))


def _has_word(text_lower: str, word: str) -> bool:
    """`word` (any of its inflections, by stem) occurs in the text."""
    target = stem(word.lower())
    return target in set(terms(text_lower)) or re.search(rf"\b{re.escape(word.lower())}\b", text_lower) is not None


class Matcher:
    """Scores articles against topics. Topic vectors are cached: 50 follows embed 50 topics once, not per article.

    `index` (a NewsIndex, optional) gives the word weights: its `document_frequencies` and `chunk_count`."""

    def __init__(self, embeddings: Embeddings, knobs: MatchKnobs = DEFAULT_KNOBS, index=None):
        self.embeddings = embeddings
        self.knobs = knobs
        self.index = index
        self._topics: OrderedDict[str, np.ndarray] = OrderedDict()
        self._weights: OrderedDict[str, tuple[float, dict[str, float]]] = OrderedDict()
        self._article: tuple[ArticleText, np.ndarray, set[str], set[str], set[str]] | None = None

    def _prepared(self, article: ArticleText) -> tuple[np.ndarray, set[str], set[str], set[str]]:
        """Vectors and title/lead/body words of the article, computed once for all the follows it meets."""
        if self._article is None or self._article[0] is not article:
            self._article = (article, self.article_vectors(article), word_units(article.title),
                             word_units(article.text[:LEAD_CHARS]), word_units(article.text))
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

    def word_weights(self, topic: Topic) -> dict[str, float]:
        """Each topic word's weight: its idf over the store's chunks (1 each without a store)."""
        wanted = word_units(topic.positive)
        if self.index is None or not wanted:
            return dict.fromkeys(wanted, 1.0)
        key = topic.positive.lower()
        cached = self._weights.get(key)
        if cached is not None and time.monotonic() - cached[0] < _WEIGHTS_TTL_S:
            self._weights.move_to_end(key)
            return cached[1]
        words = list(dict.fromkeys(TOKEN_RE.findall(topic.positive.lower())))
        found = self.index.document_frequencies(words)
        n = max(int(self.index.chunk_count()), 1)
        df: dict[str, int] = {}
        for word in words:
            for unit in terms(word):
                df[unit] = max(df.get(unit, 0), found.get(word, 0))
        weights = {u: math.log(1 + n / max(df.get(u, 0), 1)) for u in wanted}
        self._weights[key] = (time.monotonic(), weights)
        if len(self._weights) > _TOPIC_CACHE:
            self._weights.popitem(last=False)
        return weights

    def article_vectors(self, article: ArticleText) -> np.ndarray:
        """The title's vector and the article's chunk vectors (embedded here when not given), unit rows."""
        title = self.embeddings.embed_query(article.title) if article.title.strip() else None
        chunks = article.vectors
        if chunks is None or len(chunks) == 0:
            chunks = self.embeddings.embed_documents([article.text[:2000]]) if article.text.strip() else []
        rows = [r for r in ([title] if title is not None else []) + list(chunks)]
        return _unit(rows) if rows else np.zeros((0, 1), dtype=np.float32)

    def word_shares(self, topic: Topic, article: ArticleText) -> tuple[float, float, float]:
        """The weighted shares of the topic's words found first in the title, in the lead, and only further on."""
        weights = self.word_weights(topic)
        total = sum(weights.values())
        if not total:
            return 0.0, 0.0, 0.0
        _, title, lead, body = self._prepared(article)
        shares = [0.0, 0.0, 0.0]
        for unit, weight in weights.items():
            place = 0 if unit in title else 1 if unit in lead else 2 if unit in body else None
            if place is not None:
                shares[place] += weight / total
        return shares[0], shares[1], shares[2]

    def allowed(self, topic: Topic, article: ArticleText) -> bool:
        """Every exact phrase occurs (case-insensitive) and no excluded word does."""
        haystack = f"{article.title}\n{article.text}".lower()
        haystack = " ".join(haystack.split())
        if any(" ".join(p.lower().split()) not in haystack for p in topic.phrases):
            return False
        return not any(_has_word(haystack, word) for word in topic.excluded)

    def parts(self, topic: Topic, article: ArticleText) -> Parts:
        """What `score` weighs, apart for calibration (see Parts)."""
        if not self.allowed(topic, article):
            return Parts(False)
        vectors = self._prepared(article)[0]
        meaning = float(np.max(vectors @ self.topic_vector(topic))) if len(vectors) else 0.0
        return Parts(True, meaning, *self.word_shares(topic, article))

    def score(self, topic: Topic, article: ArticleText) -> float:
        """0 when a phrase is missing or an excluded word occurs; else the weighted meaning + words score."""
        return combine(self.parts(topic, article), self.knobs)

    def matches(self, topic: Topic, article: ArticleText) -> bool:
        """Phrases present, exclusions absent, and the score at or above the threshold."""
        return is_match(self.parts(topic, article), self.knobs)


def combine(parts: Parts, knobs: MatchKnobs) -> float:
    """The score from `Matcher.parts` under `knobs` (calibration reweighs stored parts without re-embedding)."""
    if not parts.allowed:
        return 0.0
    words = parts.title + knobs.lead_credit * parts.lead + knobs.body_credit * parts.body
    return knobs.meaning_weight * parts.meaning + knobs.words_weight * words


def is_match(parts: Parts, knobs: MatchKnobs) -> bool:
    """A phrase missing or an excluded word present is never a match, whatever the threshold."""
    return parts.allowed and combine(parts, knobs) >= knobs.threshold
