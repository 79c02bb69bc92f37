"""`newsbot worker`: workers running at once share the due feeds (each fetched once), a worker killed mid-fetch gives
its feed up when its lease ends, and a bot told NEWSBOT_FEEDS_IN_BOT=false polls nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from rag.feeds.registry import FeedStore
from tests.conftest import make_settings
from tests.doubles.feeds_site import NewsSite, Page, rss
from tests.support.cli import NEWSBOT, env_for, newsbot
from tests.support.feeds import many_feeds
from tests.support.servers import two_servers

pytestmark = pytest.mark.slow  # newsbot processes, and a bot on the Discord double


def register(data, site: NewsSite, paths: list[str], library: str = "default") -> None:
    data.mkdir(parents=True, exist_ok=True)
    store = FeedStore(data)
    for path in paths:
        store.add(library, site.url(path), None, None, 1800, "auto")
    store.close()


def start_worker(data, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([str(NEWSBOT), "worker", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env_for(data, NEWSBOT_ALLOW_PRIVATE_URLS="true", **env))


def articles_in(data) -> int:
    return json.loads(newsbot("stats", "--json", data=data).stdout)["articles"]


def test_two_workers_at_once_fetch_each_due_feed_and_page_exactly_once_and_store_every_article(tmp_path):
    data = tmp_path / "store"
    with NewsSite() as site:
        paths = many_feeds(site, feeds=12, entries=2, feed_delay_s=0.3)
        register(data, site, paths)
        workers = [start_worker(data, "--once", "--json") for _ in range(2)]
        outputs = [w.communicate(timeout=300) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
        passes = [json.loads(out) for out, _ in outputs]
        assert sum(p["feeds"] for p in passes) == 12 and sum(p["new"] for p in passes) == 24
        assert {path: site.hits[path] for path in site.hits} == {path: 1 for path in site.hits}  # feeds and pages
        assert len(site.hits) == 12 + 24
    assert articles_in(data) == 24


def test_a_worker_killed_mid_fetch_holds_its_feed_only_until_its_lease_ends_then_another_stores_it(tmp_path):
    data, lease = tmp_path / "store", 12
    with NewsSite() as site:
        site.routes["/feed.xml"] = lambda request: site.release.wait()  # a server that never answers
        register(data, site, ["/feed.xml"])
        stalled = start_worker(data, "--once", NEWSBOT_FEED_LEASE_S=str(lease))
        try:
            deadline = time.monotonic() + 120
            while not site.hits["/feed.xml"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert site.hits["/feed.xml"] == 1, stalled.stderr and stalled.stderr.read()
        finally:
            os.kill(stalled.pid, signal.SIGKILL)
            stalled.wait()
        site.routes["/feed.xml"] = Page(rss("Harbour Courier", [{
            "guid": "h1", "link": "https://harbour.example/1", "title": "Harbour bridge closed",
            "description": "Engineers closed the harbour bridge on Tuesday after a crack was found. " * 20}]))
        store = FeedStore(data)
        assert not store.any_due(time.time())  # still leased by the dead worker: nobody takes it
        time.sleep(max(0.0, store.next_claimable() - time.time()) + 0.5)
        store.close()

        taken = newsbot("worker", "--once", "--json", data=data, NEWSBOT_ALLOW_PRIVATE_URLS="true",
                        NEWSBOT_FEED_LEASE_S=str(lease))
        assert json.loads(taken.stdout)["new"] == 1 and site.hits["/feed.xml"] == 2
    assert articles_in(data) == 1


def test_many_pollers_racing_on_one_feed_table_claim_each_feed_once(tmp_path):
    data = tmp_path / "store"
    data.mkdir()
    FeedStore(data).close()
    stores = [FeedStore(data) for _ in range(6)]
    for i in range(30):
        stores[0].add("news", f"https://n.example/{i}.xml", None, None, 1800, "auto")
    won: list[str] = []
    start = threading.Barrier(len(stores))

    def poller(store: FeedStore, name: str) -> None:
        start.wait()
        now = time.time()
        won.extend(f.url for f in store.candidates(None, now) if store.claim(f, name, now, 60))

    threads = [threading.Thread(target=poller, args=(s, str(i))) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == sorted(f"https://n.example/{i}.xml" for i in range(30))


async def test_a_bot_told_not_to_poll_fetches_no_feed_but_still_lists_them(tmp_path):
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "store", allow_private_urls=True))
    with NewsSite() as site:
        many_feeds(site, feeds=1, entries=1)
        b_library = None
        async with two_servers(services, feeds_in_bot=False, feed_poll_s=1) as (double, b, bot):
            b_library = f"guild-{b.id}"
            services.feeds.store.add(b_library, site.url("/f0/rss.xml"), "Town 0 Courier", None, 1800, "auto")
            cog = bot.get_cog("FeedsCog")
            await asyncio.sleep(3)  # three poll intervals
            assert not cog.poller.is_running() and cog.last_poll is None
            record = await double.invoke_slash("feeds list", {}, user=b.admin, guild_id=b.id)
            listed = await record.wait_for_reply(60)
            assert site.url("/f0/rss.xml") in listed["content"]
        assert site.hits["/f0/rss.xml"] == 0
        assert services.list_articles(libraries=(b_library,)) == []


def test_workers_on_two_machines_sharing_postgresql_fetch_each_feed_once_between_them(tmp_path, postgres_url,
                                                                                    chroma_server):
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]  # two data folders, one store
    servers = {"NEWSBOT_DATABASE_URL": postgres_url, "NEWSBOT_CHROMA_HOST": "127.0.0.1",
               "NEWSBOT_CHROMA_PORT": str(chroma_server)}
    with NewsSite() as site:
        paths = many_feeds(site, feeds=12, entries=2, feed_delay_s=0.3)
        store = FeedStore(machines[0], postgres_url)
        for path in paths:
            store.add("default", site.url(path), None, None, 1800, "auto")
        store.close()
        workers = [start_worker(data, "--once", "--json", **servers) for data in machines]
        outputs = [w.communicate(timeout=300) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
        assert sum(json.loads(out)["new"] for out, _ in outputs) == 24
        assert {path: site.hits[path] for path in site.hits} == {path: 1 for path in site.hits}
    listed = json.loads(newsbot("feeds", "list", "--json", data=machines[1], **servers).stdout)
    assert len(listed) == 12 and all(f["last_ok"] and f["entries"] == 2 for f in listed)
    assert len(json.loads(newsbot("sources", "--json", data=tmp_path / "machine-c", **servers).stdout)) == 24


def test_a_worker_given_an_unreachable_database_says_so_in_one_line_and_exits_2(tmp_path):
    proc = newsbot("worker", "--once", data=tmp_path / "store", code=2,
                   NEWSBOT_DATABASE_URL="postgresql://newsbot:secret@127.0.0.1:9/newsbot",
                   NEWSBOT_CHROMA_HOST="127.0.0.1", NEWSBOT_CHROMA_PORT="9")
    assert "can't reach the database in NEWSBOT_DATABASE_URL" in proc.stderr and "secret" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_running_worker_polls_at_once_and_ends_cleanly_on_sigterm_with_its_pass_stored(tmp_path):
    data = tmp_path / "store"
    with NewsSite() as site:
        register(data, site, many_feeds(site, feeds=2, entries=2))
        running = start_worker(data, "--json")
        deadline = time.monotonic() + 120
        while sum(site.hits.values()) < 6 and time.monotonic() < deadline:  # 2 feeds and their 4 pages
            time.sleep(0.1)
        running.send_signal(signal.SIGTERM)
        out, err = running.communicate(timeout=60)
    assert running.returncode == 0, err
    assert json.loads(out.splitlines()[0])["new"] == 4 and "Traceback" not in err
    assert articles_in(data) == 4
