"""Follows for one store: add/remove/list with their limits, matching each ingested article against its library's
follows (one story id per story), the claimed alerts a front end sends, and the dry run (`check`).

Built without the embedding model: only matching needs it (the Matcher is made on the first article that meets a
follow), so `newsbot follows list` opens nothing heavier than SQLite.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rag.briefing.stories import DEFAULT_GROUPING, LEAD_CHARS, LEAD_CHUNKS, StoryItem, similarity
from rag.follows.match import ArticleText
from rag.follows.store import Follow, FollowStore, Shards, StoryAlert
from rag.follows.topic import FollowError, Topic, parse_topic
from rag.text import int_to_date, sentences, terms

logger = logging.getLogger(__name__)

STORY_WINDOW_S = 48 * 3600  # an article of a story alerted this recently updates that alert instead of posting
KEY_SENTENCES = 12  # sentences of the lead searched for the key sentence


@dataclass(frozen=True)
class AlertArticle:
    """One article as an alert shows it; `quote` occurs verbatim in the article's text."""

    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    quote: str


@dataclass(frozen=True)
class PendingAlert:
    """A claimed hit with everything a front end needs to send it. `story`: the story's first article and the
    alert already sent for it, when this article is an update of a story alerted in the last 48 hours."""

    follow: Follow
    article: AlertArticle
    story_id: str
    score: float
    first: AlertArticle | None = None  # the story's first alerted article (an update only)
    alert: StoryAlert | None = None  # where that first alert is, and the outlets it names (an update only)

    @property
    def is_update(self) -> bool:
        return self.story_id != self.article.article_id


def key_sentence(title: str, text: str) -> str:
    """The lead's sentence that shares most of the title's words (the first sentence when none does); always a
    verbatim slice of `text` (the alert quotes it, so it is checked like a citation)."""
    wanted = set(terms(title))
    best, best_score = "", -1
    for sentence in sentences(text[:LEAD_CHARS * 2])[:KEY_SENTENCES]:
        score = len(wanted & set(terms(sentence)))
        if score > best_score and sentence in text:
            best, best_score = sentence, score
    return best


class FollowService:
    """The follow operations over one store; `index` (a NewsIndex) is needed to match, check and alert."""

    def __init__(self, settings, store: FollowStore | None = None, index=None,
                 matcher_factory: Callable | None = None) -> None:
        self.settings = settings
        self.store = store or FollowStore(settings.data_dir, settings.database_url)
        self.index = index
        self._matcher_factory = matcher_factory
        # called with the number of new hits after `on_ingested` records any (the bot's alert loop wakes on it);
        # a listener that fails is logged and skipped
        self.listeners: list[Callable[[int], None]] = []

    @cached_property
    def matcher(self):
        if self._matcher_factory is not None:
            return self._matcher_factory(self.index.embeddings)
        from rag.follows.match import Matcher

        return Matcher(self.index.embeddings, index=self.index)

    # ---- follows --------------------------------------------------------------------------------------------

    def add(self, library: str, topic: str, owner_id: int, channel_id: int | None = None,
            guild_id: int | None = None) -> Follow:
        """Check the topic and the limits, then record the follow; FollowError names the setting reached."""
        s = self.settings
        parsed = parse_topic(topic, s.follow_max_topic_chars)
        mine, everyone = self.store.counts(library, owner_id)
        if mine >= s.follow_max_per_member:
            raise FollowError(f"You already follow {mine} topics here, the limit (setting "
                              "NEWSBOT_FOLLOW_MAX_PER_MEMBER): remove one first with /unfollow.")
        if everyone >= s.follow_max_per_server:
            raise FollowError(f"This server already has {everyone} follows, its limit (setting "
                              "NEWSBOT_FOLLOW_MAX_PER_SERVER): remove one first.")
        return self.store.add(library, parsed.text, owner_id, channel_id, guild_id)

    def remove(self, library: str, follow_id: int, owner_id: int | None = None, admin: bool = False) -> bool:
        """Forget a follow: the owner's own, or (an admin) any of the library's channel follows."""
        follow = self.store.get(library, follow_id)
        if follow is None:
            return False
        if owner_id is not None and follow.owner_id != owner_id and not (admin and follow.channel_id is not None):
            return False
        return self.store.remove(library, follow_id)

    def list(self, library: str, owner_id: int | None = None, channels: bool = False) -> list[Follow]:
        """The library's follows; with `owner_id`, that member's, plus every channel follow when `channels`."""
        follows = self.store.list(library)
        if owner_id is None:
            return follows
        return [f for f in follows if f.owner_id == owner_id or (channels and f.channel_id is not None)]

    # ---- matching -------------------------------------------------------------------------------------------

    def _articles(self, library: str, article_ids: Sequence[str]) -> list[tuple[ArticleText, StoryItem, np.ndarray,
                                                                                  dict]]:
        """(ArticleText, StoryItem, lead vector, metadata) of the library's stored versions of these articles."""
        out = []
        for article_id in dict.fromkeys(article_ids):
            held = self.index.registry.held_version(library, article_id)
            if held is None:
                continue
            chunks = self.index.version_chunks(held[0])
            if not chunks:
                continue
            stored = self.index.chunk_vectors([c.chunk_id for c in chunks])
            vectors = np.array([stored[c.chunk_id] for c in chunks if c.chunk_id in stored], dtype=np.float32)
            text = _body(chunks)
            first = chunks[0]
            lead = _unit_mean(vectors[:LEAD_CHUNKS]) if len(vectors) else \
                _unit_mean(np.array(self.index.embeddings.embed_documents([first.title + "\n" + text[:LEAD_CHARS]])))
            meta = {"article_id": article_id, "title": first.title, "source": first.source,
                    "published": _iso(first.published), "url": first.url, "text": text}
            out.append((ArticleText(article_id, first.title, text, vectors if len(vectors) else None),
                        StoryItem(first.title, text[:LEAD_CHARS], int_to_date(first.published) if first.published
                                  else None), lead, meta))
        return out

    def on_ingested(self, library: str, article_ids: Sequence[str]) -> int:
        """Match new or updated articles against the library's follows and record the hits (each with its story
        id); the number of new hits. Cheap when the library has no follows (one query)."""
        follows = self.store.list(library)
        if not follows or not article_ids:
            return 0
        parsed = {f.id: _parse(f.topic) for f in follows}
        hits = 0
        for article, item, lead, _meta in self._articles(library, article_ids):
            for follow in follows:
                topic = parsed[follow.id]
                if topic is None or self.store.hit_exists(follow.id, article.article_id):
                    continue
                score = self.matcher.score(topic, article)
                if score < self.matcher.knobs.threshold:
                    continue
                story = self._story_of(library, follow.id, article.article_id, item, lead)
                hits += self.store.record_hits([(follow.id, article.article_id, story, float(score))])
        if hits:
            for listener in list(self.listeners):
                try:
                    listener(hits)
                except Exception:  # e.g. the bot's event loop already closed: the hits wait for the next poll
                    logger.exception("a follow-hit listener failed")
        return hits

    def _story_of(self, library: str, follow_id: int, article_id: str, item: StoryItem, lead: np.ndarray) -> str:
        """The story id of a new hit: the story of the most similar article hit for this follow in the last 48 h
        when `rag.briefing.stories.similarity` puts them in one story, else the article's own id."""
        recent = [(a, s) for a, s in self.store.recent_hits(follow_id, time.time() - STORY_WINDOW_S) if a != article_id]
        if not recent:
            return article_id
        earlier = self._articles(library, [a for a, _ in recent])
        if not earlier:
            return article_id
        vectors = np.stack([lead, *[e[2] for e in earlier]])
        scores = similarity(vectors, [item, *[e[1] for e in earlier]], DEFAULT_GROUPING)[0, 1:]
        best = int(np.argmax(scores))
        if scores[best] < DEFAULT_GROUPING.threshold:
            return article_id
        story_of = dict(recent)
        return story_of[earlier[best][0].article_id]

    # ---- alerts ---------------------------------------------------------------------------------------------

    def pending(self, limit: int = 20, shards: Shards | None = None) -> list[PendingAlert]:
        """Claim up to `limit` pending hits (pending → claimed: no other caller gets them) with what to send; with
        `shards`, only those of servers on these bot shards."""
        alerts = []
        for hit in self.store.claim_pending(limit, shards):
            found = self._articles(hit.follow.library, [hit.article_id])
            if not found:  # the article was removed meanwhile: nothing to alert
                self.store.mark(hit.follow.id, hit.article_id, "dropped")
                continue
            article = _alert_article(found[0][3])
            first, alert = None, None
            if hit.story_id != hit.article_id:
                alert = self.story_alert(hit.follow.id, hit.story_id)
                earlier = self._articles(hit.follow.library, [hit.story_id])
                first = _alert_article(earlier[0][3]) if earlier else None
            alerts.append(PendingAlert(hit.follow, article, hit.story_id, hit.score, first, alert))
        return alerts

    def story_alert(self, follow_id: int, story_id: str) -> StoryAlert | None:
        """The story's first alert to this follow, if it was sent in the last 48 hours."""
        return self.store.story_alert(follow_id, story_id, time.time() - STORY_WINDOW_S)

    def sent(self, alert: PendingAlert, channel_id: int, message_id: int, outlets: Sequence[str]) -> None:
        """The alert was posted as (or edited into) `message_id`; `outlets`: those the story's alert now names."""
        self.store.mark_sent(alert.follow.id, alert.article.article_id, channel_id, message_id, alert.story_id,
                             outlets)

    def check(self, library: str, since: int, until: int) -> list[dict]:
        """The dry run: for each follow of the library, the stored articles dated in [since, until] (YYYYMMDD) it
        matches. Records and sends nothing."""
        stored = self.index.articles_between(since, until, libraries=(library,))
        articles = self._articles(library, [a.article_id for a in stored])
        out = []
        for follow in self.store.list(library):
            topic = _parse(follow.topic)
            matched = [] if topic is None else [
                {k: meta[k] for k in ("article_id", "title", "source", "published", "url")}
                for article, _, _, meta in articles if self.matcher.matches(topic, article)]
            out.append({"id": follow.id, "topic": follow.topic, "articles": matched})
        return out


def _parse(text: str) -> Topic | None:
    try:
        return parse_topic(text, max(len(text), 1))  # a stored topic was checked when added
    except FollowError:
        return None


def _body(chunks) -> str:
    """The article's text from its overlapping chunks (each knows where it starts in the text)."""
    text = ""
    for c in chunks:
        text += c.text[max(0, len(text) - c.start):] if c.start < len(text) else " " * (c.start - len(text)) + c.text
    return text


def _unit_mean(rows: np.ndarray) -> np.ndarray:
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)
    mean = rows.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)


def _iso(published: int | None) -> str | None:
    day = int_to_date(published) if published else None
    return day.isoformat() if day else None


def _alert_article(meta: dict) -> AlertArticle:
    return AlertArticle(meta["article_id"], meta["title"], meta["source"], meta["published"], meta["url"],
                        key_sentence(meta["title"], meta["text"]))
