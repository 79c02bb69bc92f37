"""The feeds of each library and the entries already seen: two tables beside the store's, in its SQLite file or in
PostgreSQL (NEWSBOT_DATABASE_URL), the same columns on both.

They are created with `CREATE TABLE IF NOT EXISTS` beside the store's tables and touch none of them, so an older
store gains them on first use and an older newsbot reading a newer store never sees them (no schema bump; the two
lease columns are added to an older feeds table, and an older newsbot ignores them).
Its own connection and lock: the bot polls in a worker thread while the event loop lists feeds.

A due feed is fetched only by the poller that claimed it: one conditional UPDATE sets its lease (owner, until) only
if nobody holds one, and succeeds for exactly one claimer (SQLite's write lock; PostgreSQL's READ COMMITTED
re-checks the WHERE after the row lock). Storing the feed's result clears the lease; a poller killed with -9 holds
its feeds until `lease_until` (NEWSBOT_FEED_LEASE_S), then any poller takes them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.libraries import check_library
from rag.store.db import DB_NAME
from rag.store.sql import open_room

TABLES = ("feeds", "feed_entries")  # what `newsbot migrate` copies of this room
SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    library TEXT NOT NULL, url TEXT NOT NULL, title TEXT, source TEXT, every_s INTEGER NOT NULL,
    full_text TEXT NOT NULL DEFAULT 'auto', etag TEXT, last_modified TEXT, last_ok REAL, last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0, paused INTEGER NOT NULL DEFAULT 0, next_due REAL NOT NULL,
    added_at REAL NOT NULL, lease_owner TEXT, lease_until REAL, PRIMARY KEY (library, url)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feeds_due ON feeds (paused, next_due);
CREATE TABLE IF NOT EXISTS feed_entries (
    library TEXT NOT NULL, feed_url TEXT NOT NULL, entry_id TEXT NOT NULL, article_url TEXT,
    fingerprint TEXT NOT NULL, article_id TEXT, seen_at REAL NOT NULL,
    PRIMARY KEY (library, feed_url, entry_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_entries_article ON feed_entries (library, article_url);
"""
FULL_TEXT = ("auto", "always", "never")
_FREE = "(lease_until IS NULL OR lease_until<?)"  # nobody holds the feed, or its holder's lease ran out

SCHEMA_LOCK = 0x6E65777366656564  # "newsfeed": the advisory lock that makes creating these tables one at a time


def poller_id() -> str:
    """Who holds a lease, as `feeds list` and the logs can tell: host, process and a random part (pids recur)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Feed:
    library: str
    url: str
    title: str | None
    source: str | None
    every_s: int
    full_text: str
    etag: str | None
    last_modified: str | None
    last_ok: float | None
    last_error: str | None
    failures: int
    paused: bool
    next_due: float
    added_at: float
    entries: int = 0

    def shown(self) -> dict:
        """What `feeds list --json` prints for the feed."""
        return {"url": self.url, "title": self.title, "every_s": self.every_s, "last_ok": _iso(self.last_ok),
                "last_error": self.last_error, "entries": self.entries,
                "next_due": None if self.paused else _iso(self.next_due), "paused": self.paused,
                "failures": self.failures, "source": self.source, "full_text": self.full_text}


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


_COLUMNS = ("library, url, title, source, every_s, full_text, etag, last_modified, last_ok, last_error, failures, "
            "paused, next_due, added_at")


class FeedStore:
    """Feeds and seen entries; every method is one short transaction."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.conn = open_room(database_url, Path(data_dir) / DB_NAME, SCHEMA, SCHEMA_LOCK)
        self.lock = threading.RLock()
        with self.lock, self.conn.transaction():
            self._add_lease_columns()
            # A Retry-After of hundreds of digits was once stored as infinity (never polled again, `feeds list`
            # failing); no schedule is ever more than an interval (7 days at most) ahead: bring such feeds back.
            now = time.time()
            self.conn.execute("UPDATE feeds SET next_due=? WHERE next_due>?", (now + 86400, now + 8 * 86400))

    def _add_lease_columns(self) -> None:
        """A feeds table made by a newsbot before leases gains their two columns (NULL: nobody holds the feed)."""
        if self.conn.postgres:  # newsbot's tables there were made with leases from the first
            return
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(feeds)")}
        for column, kind in (("lease_owner", "TEXT"), ("lease_until", "REAL")):
            if column not in have:
                self.conn.execute(f"ALTER TABLE feeds ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.conn.close()

    def _feeds(self, where: str, args: Sequence) -> list[Feed]:
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS}, (SELECT COUNT(*) FROM feed_entries e WHERE e.library=f.library AND "
                f"e.feed_url=f.url) FROM feeds f WHERE {where} ORDER BY library, added_at, url", args).fetchall()
        return [Feed(*row[:11], bool(row[11]), *row[12:]) for row in rows]

    def get(self, library: str, url: str) -> Feed | None:
        found = self._feeds("library=? AND url=?", (library, url))
        return found[0] if found else None

    def list(self, library: str | None) -> list[Feed]:
        """One library's feeds (None: every library's), oldest first."""
        return self._feeds("library=?", (check_library(library),)) if library else self._feeds("1=1", ())

    def add(self, library: str, url: str, title: str | None, source: str | None, every_s: int,
            full_text: str) -> bool:
        """Register a feed, due at once; False (nothing changed) if the library already has it."""
        now = time.time()
        with self.lock:
            cur = self.conn.execute(
                f"INSERT INTO feeds ({_COLUMNS}) VALUES (?,?,?,?,?,?,NULL,NULL,NULL,NULL,0,0,?,?) "
                "ON CONFLICT (library, url) DO NOTHING",
                (check_library(library), url, title, source, every_s, full_text, now, now))
        return cur.rowcount == 1

    def remove(self, library: str, url: str) -> bool:
        """Forget the feed and its seen entries (the articles it brought stay in the library)."""
        with self.lock, self.conn.transaction():
            cur = self.conn.execute("DELETE FROM feeds WHERE library=? AND url=?", (library, url))
            self.conn.execute("DELETE FROM feed_entries WHERE library=? AND feed_url=?", (library, url))
        return cur.rowcount == 1

    def any_due(self, now: float) -> bool:
        """Whether any unpaused feed, of any library, is due by `now` and free to claim (nothing is claimed)."""
        with self.lock:
            return self.conn.execute(f"SELECT 1 FROM feeds WHERE paused=0 AND next_due<=? AND {_FREE} LIMIT 1",
                                     (now, now)).fetchone() is not None

    def next_claimable(self) -> float | None:
        """When the next unpaused feed is due and free to claim (a time.time(); None: no feed at all)."""
        with self.lock:
            row = self.conn.execute("SELECT MIN(CASE WHEN lease_until>next_due THEN lease_until ELSE next_due END) "
                                    "FROM feeds WHERE paused=0").fetchone()
        return row[0] if row else None

    def candidates(self, library: str | None, now: float, all_feeds: bool = False,
                   polled: Callable[[str], bool] | None = None) -> list[Feed]:
        """Feeds due now (or all unpaused ones) of `library` (None: of the libraries `polled` accepts, all when
        None) that nobody holds; nothing is claimed: `claim` each before fetching it."""
        where, args = (f"paused=0 AND {_FREE}", [now]) if all_feeds else \
            (f"paused=0 AND next_due<=? AND {_FREE}", [now, now])
        if library:
            where, args = where + " AND library=?", [*args, library]
        return [f for f in self._feeds(where, args) if polled is None or polled(f.library)]

    def claim(self, feed: Feed, owner: str, now: float, lease_s: float, all_feeds: bool = False) -> bool:
        """Take the feed for `lease_s` if it is still due (any time, with `all_feeds`) and nobody holds it: True for
        exactly one of any number of claimers, on either database (one conditional UPDATE)."""
        due, args = ("", []) if all_feeds else (" AND next_due<=?", [now])
        with self.lock:
            cur = self.conn.execute(
                f"UPDATE feeds SET lease_owner=?, lease_until=? WHERE library=? AND url=? AND paused=0{due} AND {_FREE}",
                (owner, now + lease_s, feed.library, feed.url, *args, now))
        return cur.rowcount == 1

    def record_ok(self, feed: Feed, *, title: str | None, etag: str | None, last_modified: str | None,
                  next_due: float, now: float) -> None:
        with self.lock, self.conn.transaction():
            self.conn.execute(
                "UPDATE feeds SET title=COALESCE(?, title), etag=?, last_modified=?, last_ok=?, last_error=NULL, "
                "failures=0, next_due=?, lease_owner=NULL, lease_until=NULL WHERE library=? AND url=?",
                (title, etag, last_modified, now, next_due, feed.library, feed.url))

    def record_failure(self, feed: Feed, reason: str, next_due: float, pause: bool) -> None:
        with self.lock, self.conn.transaction():
            self.conn.execute(
                "UPDATE feeds SET last_error=?, failures=failures+1, next_due=?, paused=?, lease_owner=NULL, "
                "lease_until=NULL WHERE library=? AND url=?",
                (reason, next_due, int(pause), feed.library, feed.url))

    def resume(self, library: str, url: str) -> bool:
        with self.lock, self.conn.transaction():
            cur = self.conn.execute("UPDATE feeds SET paused=0, failures=0, next_due=? WHERE library=? AND url=?",
                                    (time.time(), library, url))
        return cur.rowcount == 1

    def move(self, feed: Feed, new_url: str) -> bool:
        """A permanent redirect: the feed (and its seen entries) now live at `new_url`; False if taken."""
        with self.lock, self.conn.transaction():
            if self.conn.execute("SELECT 1 FROM feeds WHERE library=? AND url=?",
                                 (feed.library, new_url)).fetchone():
                return False
            self.conn.execute("UPDATE feeds SET url=? WHERE library=? AND url=?", (new_url, feed.library, feed.url))
            self.conn.execute("UPDATE feed_entries SET feed_url=? WHERE library=? AND feed_url=?",
                              (new_url, feed.library, feed.url))
        feed.url = new_url
        return True

    # ---- entries --------------------------------------------------------------------------------------------

    def seen(self, library: str, feed_url: str) -> dict[str, str]:
        """entry id -> fingerprint for the feed's entries already stored."""
        with self.lock:
            return dict(self.conn.execute("SELECT entry_id, fingerprint FROM feed_entries WHERE library=? AND "
                                          "feed_url=?", (library, feed_url)).fetchall())

    def owner_of(self, library: str, article_urls: Iterable[str], feed_url: str) -> dict[str, str]:
        """article url -> the other feed of the library that already brought it."""
        urls = list(article_urls)
        found: dict[str, str] = {}
        with self.lock:
            for start in range(0, len(urls), 500):
                part = urls[start:start + 500]
                marks = ",".join("?" * len(part))
                found.update(self.conn.execute(
                    f"SELECT article_url, feed_url FROM feed_entries WHERE library=? AND feed_url<>? AND "
                    f"article_url IN ({marks})", (library, feed_url, *part)).fetchall())
        return found

    def record_entries(self, library: str, feed_url: str, rows: Iterable[tuple[str, str | None, str, str | None]],
                       now: float) -> None:
        """(entry id, article url, fingerprint, article id) for entries now stored (after their ingest commits)."""
        with self.lock, self.conn.transaction():
            self.conn.executemany(
                "INSERT INTO feed_entries VALUES (?,?,?,?,?,?,?) ON CONFLICT (library, feed_url, entry_id) DO UPDATE "
                "SET article_url=excluded.article_url, fingerprint=excluded.fingerprint, "
                "article_id=excluded.article_id, seen_at=excluded.seen_at",
                [(library, feed_url, entry_id, url, fp, article_id, now) for entry_id, url, fp, article_id in rows])


def feeds_as_json(feeds: list[Feed]) -> list[dict]:
    return [f.shown() for f in feeds]

