"""Forum posts of briefing stories: one table in the store's SQLite file, so a later briefing replies in a story's
post instead of opening another.

A story is the same as a posted one when, in the same forum within `SAME_STORY_DAYS`, they share an article, or the
names in their summaries (`named_entities`, the names the briefing's own story grouping compares) have at least
`MIN_SHARED_NAMES` in common, a name that is part of another shared name not counting ("putin" within "russian
president vladimir putin"; possessives dropped). A weak rule: two stories on the same two people within a week are
one post. Headlines are not compared: they are Title Case,
where every word looks like a name. The most recent matching post wins.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path

from rag.briefing.build import Story
from rag.briefing.stories import named_entities
from rag.store.db import DB_NAME
from rag.store.private import private_folder, touch_private

SAME_STORY_DAYS = 7  # a post older than this is not continued: the story gets a new one
MIN_SHARED_NAMES = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS story_posts (
    thread_id INTEGER PRIMARY KEY, guild_id INTEGER, forum_id INTEGER NOT NULL, headline TEXT NOT NULL,
    names TEXT NOT NULL, article_ids TEXT NOT NULL, posted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS story_posts_forum ON story_posts (forum_id, posted_at);
"""


def story_names(story: Story) -> set[str]:
    names = named_entities(" ".join([story.summary, *(c.text for c in story.claims)]))
    return {re.sub(r"['’]s$", "", name) for name in names}


def same_story(names: set[str], articles: set[str], post_names: set[str], post_articles: set[str]) -> bool:
    if articles & post_articles:
        return True
    shared = names & post_names
    distinct = [n for n in shared if not any(n != m and n in m.split() for m in shared)]
    return len(distinct) >= MIN_SHARED_NAMES


class StoryPosts:
    """Where each story was posted in a forum; every method is one short statement under a lock."""

    def __init__(self, data_dir: Path) -> None:
        touch_private(private_folder(Path(data_dir)) / DB_NAME)
        self.conn = sqlite3.connect(Path(data_dir) / DB_NAME, timeout=30, check_same_thread=False,
                                    isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.lock = threading.RLock()
        with self.lock:
            self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def find(self, forum_id: int, story: Story, now: float | None = None) -> int | None:
        """The thread of the most recent post in this forum that is the same story, or None."""
        since = (now or time.time()) - SAME_STORY_DAYS * 86400
        names, articles = story_names(story), {s.article_id for s in story.sources}
        with self.lock:
            rows = self.conn.execute("SELECT thread_id, names, article_ids FROM story_posts WHERE forum_id = ? AND "
                                     "posted_at >= ? ORDER BY posted_at DESC", (forum_id, since)).fetchall()
        return next((thread for thread, post_names, post_articles in rows
                     if same_story(names, articles, set(json.loads(post_names)), set(json.loads(post_articles)))),
                    None)

    def record(self, thread_id: int, guild_id: int | None, forum_id: int, story: Story,
               now: float | None = None) -> None:
        """Remember a post (a new one, or a reply: the post then also stands for the new articles' names)."""
        names, articles = story_names(story), {s.article_id for s in story.sources}
        with self.lock:
            old = self.conn.execute("SELECT names, article_ids FROM story_posts WHERE thread_id = ?",
                                    (thread_id,)).fetchone()
            if old:
                names |= set(json.loads(old[0]))
                articles |= set(json.loads(old[1]))
            self.conn.execute("INSERT OR REPLACE INTO story_posts VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (thread_id, guild_id, forum_id, story.headline, json.dumps(sorted(names)),
                               json.dumps(sorted(articles)), now or time.time()))

    def forget(self, thread_id: int) -> None:
        """A post that is gone (deleted in Discord): the story gets a new one next time."""
        with self.lock:
            self.conn.execute("DELETE FROM story_posts WHERE thread_id = ?", (thread_id,))
