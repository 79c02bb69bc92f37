"""`newsbot migrate`: an embedded store moved into PostgreSQL and a `chroma run` server, nothing embedded again."""

from __future__ import annotations

import json
import sqlite3

import pytest

from rag.articles.loaders import load_paths
from rag.briefing.schedule import Schedule

from tests.conftest import SEEDS, make_settings
from tests.support.cli import newsbot

pytestmark = pytest.mark.slow  # PostgreSQL, `chroma run` and newsbot processes


@pytest.fixture
def embedded(tmp_path):
    """An embedded store as a server grows one: articles in two libraries, a feed, a follow, a schedule, an audit row."""
    from rag.services import build_services

    data = tmp_path / "embedded"
    services = build_services(make_settings(data))
    assert services.ingest(load_paths([SEEDS])).ok
    assert services.ingest(load_paths([next(SEEDS.iterdir())]), "sports").ok
    services.feeds.store.add("default", "https://news.example/feed.xml", "Example news", "Example", 1800, "auto")
    services.add_follow("Putin and Ukraine", owner_id=7, channel_id=9, guild_id=5)
    services.schedules.save(Schedule(42, "08:00", "UTC", "2024-11-11", 5))
    services.record_audit("/ingest", 5, 7, "file 'a.txt' into guild-5: added 1")
    return data


def test_an_embedded_store_moves_to_postgresql_and_a_chroma_server_and_answers_the_same(tmp_path, embedded,
                                                                                         postgres_url, chroma_server):
    before = json.loads(newsbot("ask", "--json", "What did Trump warn Putin about?", data=embedded).stdout)
    with sqlite3.connect(embedded / "newsbot.sqlite3") as db:
        rows_before = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    done = newsbot("migrate", "--database-url", postgres_url, "--chroma-host", "127.0.0.1", "--chroma-port",
                   str(chroma_server), "--json", data=embedded)

    counts = json.loads(done.stdout)
    assert counts["articles"] == 2 and counts["chunks"] == rows_before and counts["vectors"] == rows_before
    assert counts["feeds"] == 1 and counts["follows"] == 1 and counts["briefing_schedules"] == 1
    assert counts["audit_log"] == 1
    server = {"NEWSBOT_DATABASE_URL": postgres_url, "NEWSBOT_CHROMA_HOST": "127.0.0.1",
              "NEWSBOT_CHROMA_PORT": str(chroma_server)}
    other = tmp_path / "another-machine"
    after = json.loads(newsbot("ask", "--json", "What did Trump warn Putin about?", data=other, **server).stdout)
    assert [c["article_id"] for c in after["citations"]] == [c["article_id"] for c in before["citations"]]
    assert {r["library"] for r in json.loads(newsbot("libraries", "--json", data=other, **server).stdout)} == \
        {"default", "sports"}
    assert "news.example" in newsbot("feeds", "list", data=other, **server).stdout
    assert "Putin and Ukraine" in newsbot("follows", "list", data=other, **server).stdout
    with sqlite3.connect(embedded / "newsbot.sqlite3") as db:  # the embedded store is left as it was
        assert db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == rows_before
    assert json.loads(newsbot("ask", "--json", "What did Trump warn Putin about?", data=embedded).stdout) == before

    again = newsbot("migrate", "--database-url", postgres_url, "--chroma-host", "127.0.0.1", "--chroma-port",
                    str(chroma_server), data=embedded, code=1)
    assert "not empty" in again.stderr or "already has rows" in again.stderr
    assert json.loads(newsbot("sources", "--json", data=other, **server).stdout).__len__() == 2  # nothing doubled


def test_migrate_needs_an_embedded_source_and_a_chroma_server_and_says_so(tmp_path, embedded, postgres_url):
    no_chroma = newsbot("migrate", "--database-url", postgres_url, data=embedded, code=2)
    assert "--chroma-host" in no_chroma.stderr
    not_embedded = newsbot("migrate", "--database-url", postgres_url, "--chroma-host", "127.0.0.1", data=embedded,
                           code=2, NEWSBOT_DATABASE_URL=postgres_url)
    assert "unset NEWSBOT_DATABASE_URL" in not_embedded.stderr
    wrong = newsbot("migrate", "--database-url", "mysql://db/x", "--chroma-host", "127.0.0.1", data=embedded, code=2)
    assert "postgresql://" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["backup", "snapshot"], ["restore", "snapshot"]])
def test_backup_and_restore_of_a_store_in_postgresql_point_to_its_own_tools(tmp_path, command):
    done = newsbot(*command, data=tmp_path / "data", code=2, NEWSBOT_DATABASE_URL="postgresql://newsbot@/newsbot",
                   NEWSBOT_CHROMA_HOST="127.0.0.1")
    assert "pg_dump" in done.stderr and not (tmp_path / "snapshot").exists()
