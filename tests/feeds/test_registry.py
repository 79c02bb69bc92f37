"""The feeds registry (rag/feeds/registry.py) keeps the same state on SQLite and on a real PostgreSQL, and its lease
lets exactly one of several pollers take a due feed."""

from __future__ import annotations

import sqlite3
import time

import pytest

from rag.feeds.registry import FeedStore

pytestmark = pytest.mark.slow  # the PostgreSQL half starts a server


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    """(data folder, database URL or None): an embedded store, or an empty PostgreSQL database of the test's own."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return tmp_path / "store", url


def open_store(database) -> FeedStore:
    data, url = database
    data.mkdir(exist_ok=True)
    return FeedStore(data, url)


def test_feeds_and_their_seen_entries_are_added_listed_moved_and_removed_alike_on_both_databases(database):
    store = open_store(database)
    assert store.add("news", "https://a.example/feed.xml", "A", None, 1800, "auto")
    assert not store.add("news", "https://a.example/feed.xml", "A again", None, 1800, "auto")  # already there
    assert store.add("other", "https://b.example/feed.xml", None, "Outlet B", 3600, "never")
    store.record_entries("news", "https://a.example/feed.xml", [("e1", "https://a.example/1", "fp1", "art1"),
                                                                 ("e2", None, "fp2", None)], time.time())
    store.record_entries("news", "https://a.example/feed.xml", [("e1", "https://a.example/1", "fp1b", "art1")],
                         time.time())  # a changed entry: recorded again, not twice
    assert store.seen("news", "https://a.example/feed.xml") == {"e1": "fp1b", "e2": "fp2"}
    assert store.owner_of("news", ["https://a.example/1"], "https://other.example/x") == \
        {"https://a.example/1": "https://a.example/feed.xml"}
    [feed] = store.list("news")
    assert (feed.title, feed.entries, feed.paused) == ("A", 2, False)
    assert [f.library for f in store.list(None)] == ["news", "other"]

    assert store.move(feed, "https://a.example/new.xml")
    assert store.seen("news", "https://a.example/new.xml") == {"e1": "fp1b", "e2": "fp2"}
    store.record_failure(feed, "HTTP 500", time.time() + 60, pause=True)
    [paused] = store.list("news")
    assert paused.paused and paused.failures == 1 and paused.last_error == "HTTP 500"
    assert store.resume("news", paused.url)
    assert store.remove("news", paused.url) and store.list("news") == []
    store.close()


def test_a_due_feed_is_claimed_by_exactly_one_of_two_pollers_until_its_lease_runs_out(database):
    one, two = open_store(database), open_store(database)
    one.add("news", "https://a.example/feed.xml", None, None, 1800, "auto")
    now = time.time()
    [a] = one.candidates(None, now)
    [b] = two.candidates(None, now)
    assert one.claim(a, "one", now, lease_s=60)
    assert not two.claim(b, "two", now, lease_s=60)  # held: the second poller skips it
    assert two.candidates(None, now) == [] and not two.any_due(now)
    assert two.next_claimable() == pytest.approx(now + 60)

    later = now + 61  # the first poller was killed: its lease ran out, the feed is taken over
    assert two.claim(b, "two", later, lease_s=60)
    two.record_ok(b, title="A", etag=None, last_modified=None, next_due=later + 1800, now=later)
    assert not one.claim(a, "one", later + 1, lease_s=60)  # stored and scheduled: not due again yet
    assert one.next_claimable() == pytest.approx(later + 1800)
    one.close()
    two.close()


def test_a_feeds_table_from_before_leases_gains_them_and_keeps_its_feeds(tmp_path):
    data = tmp_path / "old"
    data.mkdir()
    with sqlite3.connect(data / "newsbot.sqlite3") as db:  # the feeds table as main wrote it before #27
        db.execute("CREATE TABLE feeds (library TEXT NOT NULL, url TEXT NOT NULL, title TEXT, source TEXT, every_s "
                   "INTEGER NOT NULL, full_text TEXT NOT NULL DEFAULT 'auto', etag TEXT, last_modified TEXT, "
                   "last_ok REAL, last_error TEXT, failures INTEGER NOT NULL DEFAULT 0, paused INTEGER NOT NULL "
                   "DEFAULT 0, next_due REAL NOT NULL, added_at REAL NOT NULL, PRIMARY KEY (library, url)) "
                   "WITHOUT ROWID")
        db.execute("INSERT INTO feeds (library, url, every_s, next_due, added_at) VALUES ('news', "
                   "'https://a.example/feed.xml', 1800, 0, 0)")
    store = FeedStore(data)
    [feed] = store.candidates(None, time.time())
    assert store.claim(feed, "me", time.time(), lease_s=60)
    store.close()


def test_pollers_starting_at_once_on_an_empty_postgresql_database_all_open_it(tmp_path, postgres_url):
    from concurrent.futures import ThreadPoolExecutor

    from rag.follows.store import FollowStore

    def open_both(_):
        FeedStore(tmp_path, postgres_url).close()
        FollowStore(tmp_path, postgres_url).close()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(open_both, range(6)))  # no "duplicate key value" from racing CREATE TABLE IF NOT EXISTS
    assert FeedStore(tmp_path, postgres_url).list(None) == []
