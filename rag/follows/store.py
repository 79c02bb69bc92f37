"""Follows, their hits and the alerts sent per story: three tables in the store's SQLite file, or in PostgreSQL
(NEWSBOT_DATABASE_URL) with the same columns (Discord ids as BIGINT, times as DOUBLE PRECISION there).

Created with `CREATE TABLE IF NOT EXISTS` beside the store's tables (as rag/feeds/registry.py does), so an older
store gains them on first use. Exactly once lives here: a hit's primary key (follow, article) means no article is
recorded twice for a follow, whichever process ingests it (the bot, its polling child, the CLI); and a hit is
taken (pending → claimed) by a conditional UPDATE before it is sent, so two senders never take the same hit. A hit
claimed by a sender that died before `mark_sent` stays claimed: it is not sent again (at most once in that
crash window, never twice).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.store.db import DB_NAME
from rag.store.sql import open_room

TABLES = ("follows", "follow_hits", "story_alerts")  # what `newsbot migrate` copies of this room
SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    id INTEGER PRIMARY KEY, library TEXT NOT NULL, topic TEXT NOT NULL, owner_id INTEGER NOT NULL,
    channel_id INTEGER, guild_id INTEGER, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS follows_library ON follows (library, owner_id);
CREATE TABLE IF NOT EXISTS follow_hits (
    follow_id INTEGER NOT NULL, article_id TEXT NOT NULL, story_id TEXT NOT NULL, score REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', message_id INTEGER, channel_id INTEGER, created_at REAL NOT NULL,
    PRIMARY KEY (follow_id, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS follow_hits_state ON follow_hits (state, created_at);
CREATE TABLE IF NOT EXISTS story_alerts (
    follow_id INTEGER NOT NULL, story_id TEXT NOT NULL, channel_id INTEGER NOT NULL, message_id INTEGER NOT NULL,
    outlets TEXT NOT NULL, first_at REAL NOT NULL, PRIMARY KEY (follow_id, story_id)
) WITHOUT ROWID;
"""
STATES = ("pending", "claimed", "sent", "folded", "dropped")
Shards = tuple[int, tuple[int, ...]]  # a bot process's shards: (NEWSBOT_SHARD_COUNT, NEWSBOT_SHARD_IDS)


@dataclass(frozen=True)
class Follow:
    id: int
    library: str
    topic: str
    owner_id: int
    channel_id: int | None  # None: alerts go to the owner by DM
    guild_id: int | None
    created_at: float

    def shown(self) -> dict:
        """What `follows list --json` prints."""
        return {"id": self.id, "topic": self.topic, "owner_id": self.owner_id, "channel_id": self.channel_id,
                "guild_id": self.guild_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                       time.gmtime(self.created_at))}


@dataclass(frozen=True)
class Hit:
    """A claimed hit, as the store holds it (the service adds the article's text)."""

    follow: Follow
    article_id: str
    story_id: str
    score: float
    created_at: float


@dataclass(frozen=True)
class StoryAlert:
    """The first alert sent for a story to a follow: where it is, and the outlets it names."""

    follow_id: int
    story_id: str
    channel_id: int
    message_id: int
    outlets: tuple[str, ...]
    first_at: float

SCHEMA_LOCK = 0x6E657773666F6C6C  # "newsfoll": the advisory lock that makes creating these tables one at a time


_FOLLOW = "id, library, topic, owner_id, channel_id, guild_id, created_at"


class FollowStore:
    """Follows and their hits; every method is one short transaction (its own connection and lock)."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.conn = open_room(database_url, Path(data_dir) / DB_NAME, SCHEMA, SCHEMA_LOCK)
        self.lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    def _write(self, sql: str, args: Sequence = ()) -> int:
        with self.lock:
            return self.conn.execute(sql, args).rowcount

    def _follows(self, where: str, args: Sequence) -> list[Follow]:
        with self.lock:
            rows = self.conn.execute(f"SELECT {_FOLLOW} FROM follows WHERE {where} ORDER BY id", args).fetchall()
        return [Follow(*row) for row in rows]

    # ---- follows --------------------------------------------------------------------------------------------

    def add(self, library: str, topic: str, owner_id: int, channel_id: int | None,
            guild_id: int | None) -> Follow:
        now = time.time()
        with self.lock:
            new_id = self.conn.execute(
                "INSERT INTO follows (library, topic, owner_id, channel_id, guild_id, created_at) VALUES (?,?,?,?,?,?) "
                "RETURNING id", (library, topic, owner_id, channel_id, guild_id, now)).fetchone()[0]
        return Follow(new_id, library, topic, owner_id, channel_id, guild_id, now)

    def get(self, library: str, follow_id: int) -> Follow | None:
        found = self._follows("library=? AND id=?", (library, follow_id))
        return found[0] if found else None

    def remove(self, library: str, follow_id: int, owner_id: int | None = None) -> bool:
        """Forget a follow of the library (only the owner's, when `owner_id` is given) and its hits."""
        where, args = "library=? AND id=?", [library, follow_id]
        if owner_id is not None:
            where, args = where + " AND owner_id=?", [*args, owner_id]
        with self.lock, self.conn.transaction():
            gone = self.conn.execute(f"DELETE FROM follows WHERE {where}", args).rowcount == 1
            if gone:
                self.conn.execute("DELETE FROM follow_hits WHERE follow_id=?", (follow_id,))
                self.conn.execute("DELETE FROM story_alerts WHERE follow_id=?", (follow_id,))
        return gone

    def list(self, library: str, owner_id: int | None = None) -> list[Follow]:
        """The library's follows (only one member's, when `owner_id` is given), oldest first."""
        if owner_id is None:
            return self._follows("library=?", (library,))
        return self._follows("library=? AND owner_id=?", (library, owner_id))

    def counts(self, library: str, owner_id: int) -> tuple[int, int]:
        """(the member's follows, all follows) in the library."""
        with self.lock:
            row = self.conn.execute("SELECT COALESCE(SUM(CASE WHEN owner_id=? THEN 1 ELSE 0 END), 0), COUNT(*) FROM follows "
                                    "WHERE library=?",
                                    (owner_id, library)).fetchone()
        return int(row[0]), int(row[1])

    def drop_follows_of(self, owner_ids: Iterable[int], guild_id: int | None = None) -> int:
        """Forget the DM follows of these members (of one server's library, when `guild_id` is given)."""
        dropped = 0
        for owner in owner_ids:
            where, args = "owner_id=? AND channel_id IS NULL", [owner]
            if guild_id is not None:
                where, args = where + " AND guild_id=?", [*args, guild_id]
            for follow in self._follows(where, args):
                dropped += self.remove(follow.library, follow.id)
        return dropped

    # ---- hits -----------------------------------------------------------------------------------------------

    def record_hits(self, rows: Iterable[tuple[int, str, str, float]]) -> int:
        """(follow id, article id, story id, score): new hits pending; a hit already recorded is left as it is."""
        now = time.time()
        with self.lock, self.conn.transaction():
            added = sum(self.conn.execute(
                "INSERT INTO follow_hits (follow_id, article_id, story_id, score, state, created_at) "
                "VALUES (?,?,?,?,'pending',?) ON CONFLICT (follow_id, article_id) DO NOTHING", (*row, now)).rowcount
                for row in rows)
        return added

    def hit_exists(self, follow_id: int, article_id: str) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1 FROM follow_hits WHERE follow_id=? AND article_id=?",
                                     (follow_id, article_id)).fetchone() is not None

    def recent_hits(self, follow_id: int, since_ts: float) -> list[tuple[str, str]]:
        """(article id, story id) of the follow's hits recorded since `since_ts` and not dropped, oldest first."""
        with self.lock:
            return [tuple(r) for r in self.conn.execute(
                "SELECT article_id, story_id FROM follow_hits WHERE follow_id=? AND created_at>=? AND "
                "state<>'dropped' ORDER BY created_at", (follow_id, since_ts))]

    def claim_pending(self, limit: int, shards: Shards | None = None) -> list[Hit]:
        """Up to `limit` pending hits, oldest first, now claimed: each taken by a conditional UPDATE that succeeds for
        one sender only (SQLite's write lock; PostgreSQL re-checks `state` after the row lock), so two senders
        (threads, processes, machines) never take the same hit. With `shards` (count, ids): only the hits of follows
        in servers on those bot shards (Discord's (guild_id >> 22) % count; no server: shard 0)."""
        where, args = "", [limit]
        if shards is not None:
            count, ids = shards
            where = f" AND (COALESCE(f.guild_id, 0) / 4194304) % ? IN ({', '.join('?' * len(ids))})"
            args = [count, *ids, limit]
        with self.lock, self.conn.transaction():
            rows = self.conn.execute(
                f"SELECT {', '.join('f.' + c.strip() for c in _FOLLOW.split(','))}, h.article_id, h.story_id, "
                "h.score, h.created_at FROM follow_hits h JOIN follows f ON f.id=h.follow_id "
                f"WHERE h.state='pending'{where} ORDER BY h.created_at, h.follow_id LIMIT ?", args).fetchall()
            taken = [r for r in rows if self.conn.execute(
                "UPDATE follow_hits SET state='claimed' WHERE follow_id=? AND article_id=? AND state='pending'",
                (r[0], r[7])).rowcount == 1]
        return [Hit(Follow(*r[:7]), r[7], r[8], r[9], r[10]) for r in taken]

    def mark(self, follow_id: int, article_id: str, state: str) -> bool:
        if state not in STATES:
            raise ValueError(f"state {state!r}: one of {', '.join(STATES)}")
        return self._write("UPDATE follow_hits SET state=? WHERE follow_id=? AND article_id=?",
                           (state, follow_id, article_id)) == 1

    def mark_sent(self, follow_id: int, article_id: str, channel_id: int, message_id: int, story_id: str,
                  outlets: Sequence[str]) -> None:
        """The hit was posted (or edited into its story's first alert) as `message_id`; the story's alert is
        recorded on its first send and its outlets updated after."""
        with self.lock, self.conn.transaction():
            self.conn.execute("UPDATE follow_hits SET state='sent', message_id=?, channel_id=? WHERE "
                              "follow_id=? AND article_id=?", (message_id, channel_id, follow_id, article_id))
            self.conn.execute(
                "INSERT INTO story_alerts VALUES (?,?,?,?,?,?) ON CONFLICT (follow_id, story_id) DO UPDATE "
                "SET outlets=excluded.outlets", (follow_id, story_id, channel_id, message_id,
                                                 json.dumps(list(outlets)), time.time()))

    def story_alert(self, follow_id: int, story_id: str, since_ts: float) -> StoryAlert | None:
        """The story's first alert to this follow, if it was sent since `since_ts`."""
        with self.lock:
            row = self.conn.execute("SELECT * FROM story_alerts WHERE follow_id=? AND story_id=? AND first_at>=?",
                                    (follow_id, story_id, since_ts)).fetchone()
        return StoryAlert(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5]) if row else None

    def states(self, follow_id: int) -> dict[str, str]:
        """article id -> state of the follow's hits (for tests and `follows list`)."""
        with self.lock:
            return dict(self.conn.execute("SELECT article_id, state FROM follow_hits WHERE follow_id=?",
                                          (follow_id,)).fetchall())
