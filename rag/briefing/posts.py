"""Forum posts of briefing stories: one table in the store's database (SQLite or PostgreSQL, through
rag/store/sql.py), so a later briefing replies in a story's post instead of opening another.

A story is the same as a posted one when, in the same forum within `SAME_STORY_DAYS` of the post's last message,
they share an article, or the briefing's own story grouping (rag/briefing/stories.py: lead vectors, shared rare
names, days apart, the clustering that groups outlets into one story) puts one of the new story's articles in one
story with one of the post's. So "the same story" means here what it means inside a briefing, and a story
continued the next day replies where it began; the same kind of event a week later (the grouping's day penalty)
gets a post of its own. The most recent matching post wins.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from rag.briefing.build import Story, shares_a_story
from rag.store.db import DB_NAME
from rag.store.index import NewsIndex
from rag.store.sql import Connection, open_room
from rag.text import date_to_int, iso_to_date

SAME_STORY_DAYS = 7  # a post older than this is not continued: the story gets a new one
SCHEMA_LOCK = 0x6E657773_0004  # the advisory lock held while creating these tables on PostgreSQL (story posts)
TABLES = ("story_posts",)  # what `newsbot migrate` copies of this room
SCHEMA = """
CREATE TABLE IF NOT EXISTS story_posts (
    thread_id BIGINT PRIMARY KEY, guild_id BIGINT, forum_id BIGINT NOT NULL, headline TEXT NOT NULL,
    article_ids TEXT NOT NULL, posted_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS story_posts_forum ON story_posts (forum_id, posted_at)
"""


class StoryPosts:
    """Where each story was posted in a forum; every statement runs under a lock."""

    def __init__(self, data_dir: Path, index: NewsIndex, database_url: str | None = None) -> None:
        self.conn: Connection = open_room(database_url, Path(data_dir) / DB_NAME, SCHEMA, SCHEMA_LOCK)
        self.index = index
        self.lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    def find(self, forum_id: int, story: Story, now: float | None = None,
             libraries: Sequence[str] | None = None) -> int | None:
        """The thread of the most recent post in this forum that is the same story, or None (blocking: the
        grouping reads the articles of the libraries, None: all)."""
        now = time.time() if now is None else now
        with self.lock:
            rows = self.conn.execute("SELECT thread_id, article_ids FROM story_posts WHERE forum_id = ? AND "
                                     "posted_at >= ? ORDER BY posted_at DESC",
                                     (forum_id, now - SAME_STORY_DAYS * 86400)).fetchall()
        articles = {s.article_id for s in story.sources}
        posts = [(thread, set(json.loads(ids))) for thread, ids in rows]
        shared = next((thread for thread, ids in posts if ids & articles), None)
        first = iso_to_date(story.first)
        if shared is not None or not posts or first is None:
            return shared
        until = max(iso_to_date(story.latest) or first, date.fromtimestamp(now))
        window = self.index.articles_between(date_to_int(first - timedelta(days=SAME_STORY_DAYS + 2)),
                                             date_to_int(until), None, libraries)
        return next((thread for thread, ids in posts if shares_a_story(self.index, window, articles, ids)), None)

    def record(self, thread_id: int, guild_id: int | None, forum_id: int, story: Story,
               now: float | None = None) -> None:
        """Remember a post (a new one, or a reply: the post then also stands for the new articles)."""
        articles = {s.article_id for s in story.sources}
        with self.lock, self.conn.transaction():
            old = self.conn.execute("SELECT article_ids FROM story_posts WHERE thread_id = ?", (thread_id,)).fetchone()
            if old:
                articles |= set(json.loads(old[0]))
            self.conn.execute("INSERT INTO story_posts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE "
                              "SET article_ids = excluded.article_ids, posted_at = excluded.posted_at",
                              (thread_id, guild_id, forum_id, story.headline, json.dumps(sorted(articles)),
                               time.time() if now is None else now))

    def forget(self, thread_id: int) -> None:
        """A post that is gone (deleted in Discord): the story gets a new one next time."""
        with self.lock:
            self.conn.execute("DELETE FROM story_posts WHERE thread_id = ?", (thread_id,))
