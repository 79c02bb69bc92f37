"""/feeds through the Discord double: admins only, each server's own library, polled off the event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL
from tests.doubles.feeds_site import NewsSite
from tests.support.feeds import teaser_site
from tests.support.servers import two_servers, until

pytestmark = pytest.mark.slow  # a bot on the Discord double


@pytest.fixture
def fetching(tmp_path):
    from rag.services import build_services

    return build_services(make_settings(tmp_path / "store", allow_private_urls=True, fetch_read_timeout_s=60,
                                        fetch_total_timeout_s=60))


async def slash(double, name, options, user, guild_id):
    record = await double.invoke_slash(name, options, user=user, guild_id=guild_id)
    return await record.wait_for_reply(60)


async def test_admins_add_list_and_remove_feeds_of_their_own_server_and_the_bot_polls_them(fetching):
    with NewsSite() as site:
        teaser_site(site)
        url = site.url("/news/rss.xml")
        async with two_servers(fetching) as (double, b, bot):
            a = double.guild_id
            cog = bot.get_cog("FeedsCog")
            await until(lambda: cog.last_poll is not None)
            cog.poller.cancel()
            assert double.global_commands["feeds"]["default_member_permissions"] == \
                double.global_commands["ingest"]["default_member_permissions"]
            refused = await slash(double, "feeds add", {"url": url}, double.member, a)
            assert "for server admins" in refused["content"] and refused["flags"] & MESSAGE_FLAG_EPHEMERAL
            added = await slash(double, "feeds add", {"url": url, "every": "2h"}, b.admin, b.id)
            assert "Added **Tampere Courier**" in added["content"] and "every 120 min" in added["content"]
            bad = await slash(double, "feeds add", {"url": url, "every": "soon"}, b.admin, b.id)
            assert "interval 'soon' is not valid" in bad["content"]
            assert [f.url for f in fetching.list_feeds(library=f"guild-{b.id}")] == [url]
            assert fetching.list_feeds(library=f"guild-{a}") == []

            result = await cog.poll_due()
            assert result.new == 3 and result.failed == []
            assert len(fetching.list_articles(libraries=(f"guild-{b.id}",))) == 3
            assert fetching.list_articles(libraries=(f"guild-{a}",)) == []

            listed = await slash(double, "feeds list", {}, b.admin, b.id)
            assert url in listed["content"] and "3 entries" in listed["content"]
            empty = await slash(double, "feeds list", {}, double.admin, a)
            assert "polls no feeds yet" in empty["content"]
            gone = await slash(double, "feeds remove", {"url": url}, double.admin, a)  # A cannot remove B's feed
            assert "has no feed" in gone["content"] and fetching.list_feeds(library=f"guild-{b.id}")
            gone = await slash(double, "feeds remove", {"url": url}, b.admin, b.id)
            assert "Stopped polling" in gone["content"] and fetching.list_feeds(library=f"guild-{b.id}") == []
            assert len(fetching.list_articles(libraries=(f"guild-{b.id}",))) == 3  # its articles stay


async def test_the_bot_answers_while_a_poll_waits_on_a_slow_feed(fetching):
    with NewsSite() as site:
        teaser_site(site)
        arrived, release = threading.Event(), threading.Event()
        body = site.routes["/news/rss.xml"]

        def slow(handler):
            arrived.set()
            release.wait(30)
            handler._send(body)

        site.routes["/slow.xml"] = slow
        async with two_servers(fetching) as (double, b, bot):
            cog = bot.get_cog("FeedsCog")
            await until(lambda: cog.last_poll is not None)  # its first pass (nothing due) is over
            cog.poller.cancel()  # this test runs the pass itself
            fetching.feeds.import_opml(f'<opml><body><outline xmlUrl="{site.url("/slow.xml")}"/></body></opml>'
                                       .encode(), f"guild-{b.id}")
            polling = asyncio.ensure_future(cog.poll_due())
            await until(arrived.is_set)
            listed = await slash(double, "feeds list", {}, b.admin, b.id)  # answered while the poll waits
            assert site.url("/slow.xml") in listed["content"] and not polling.done()
            release.set()
            result = await polling
            assert result.new == 3
