"""Follows through the Discord double: a polled local feed alerts once per story, a second outlet edits the first
alert, a restart repeats nothing, channel alerts need Manage Server, DM alerts reach only their member, and alerts
past the hourly cap fold into one digest."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import create_bot
from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble
from tests.doubles.feeds_site import NewsSite, Page, rss
from tests.support.servers import until

pytestmark = pytest.mark.slow  # a bot on the Discord double

BRIDGE = ["Engineers closed the Tampere harbour bridge on Tuesday after a crack was found in its main span. "
          "Traffic was sent around the harbour while inspectors examined the steel beams.",
          "The city said the bridge over the Tampere harbour would stay shut for at least two weeks, and that ferries "
          "would run extra crossings during the repairs to the cracked span."]
CHOIR = ["A youth choir from Oulu won the national singing contest on Saturday evening in a packed concert hall.",
         "The judges praised the choir's folk songs and its conductor, who has led it for twenty years."]


@pytest.fixture
def fetching(tmp_path):
    from rag.services import build_services

    return build_services(make_settings(tmp_path / "store", allow_private_urls=True, fetch_read_timeout_s=60,
                                        fetch_total_timeout_s=60))


def outlet_feed(site: NewsSite, name: str, stories: list[tuple[str, str, list[str]]]) -> str:
    """A feed of outlet `name` whose items carry their full text; its URL."""
    items = [{"guid": f"{name}-{slug}", "link": f"https://{name.lower().replace(' ', '')}.example/{slug}",
              "title": title, "content": "".join(f"<p>{p}</p>" for p in body * 3)} for slug, title, body in stories]
    path = f"/{name.lower().replace(' ', '-')}.xml"
    site.routes[path] = Page(rss(name, items))
    return site.url(path)


def resolving_channels(double: DiscordDouble) -> None:
    """The double sends channel options without resolved data; a Discord client sends the channel along."""
    build = double._build_options

    def with_channels(definitions, values, resolved, guild_id=None):
        out = build(definitions, values, resolved, guild_id)
        for option in out:
            if option["type"] == 7:
                resolved.setdefault("channels", {})[option["value"]] = {
                    **double.channels[int(option["value"])], "permissions": "0"}
        return out

    double._build_options = with_channels


async def slash(double, name, options, user):
    record = await double.invoke_slash(name, options, user=user, guild_id=double.guild_id)
    return await record.wait_for_reply(60)


def posts(double, channel_id):
    return [m for m in double.bot_messages(channel_id) if not m["flags"] & MESSAGE_FLAG_EPHEMERAL]


async def poll(services, library):
    return await asyncio.to_thread(services.poll_feeds, library=library)


async def test_a_followed_story_is_alerted_once_updated_by_a_second_outlet_and_never_repeated_after_a_restart(
        fetching):
    with NewsSite() as site:
        courier = outlet_feed(site, "Tampere Courier", [("bridge", "Tampere harbour bridge closed after crack found",
                                                         BRIDGE), ("choir", "Oulu choir wins contest", CHOIR)])
        herald = outlet_feed(site, "Harbour Herald", [("span", "Crack shuts Tampere harbour bridge for two weeks",
                                                       BRIDGE[::-1])])
        async with DiscordDouble() as double:
            resolving_channels(double)
            library = f"guild-{double.guild_id}"
            settings = make_settings(fetching.settings.data_dir, alert_poll_s=0.1)
            bob = double.create_user("bob")
            async with double.running_bot(create_bot(settings, fetching, guild_ready_timeout=0.05)) as bot:
                bot.get_cog("FeedsCog").poller.cancel()
                refused = await slash(double, "follow", {"topic": "Tampere harbour bridge",
                                                         "channel": str(double.news_id)}, double.member)
                assert "Manage Server" in refused["content"] and fetching.list_follows(library=library) == []
                made = await slash(double, "follow", {"topic": "Tampere harbour bridge",
                                                      "channel": str(double.news_id)}, double.admin)
                assert "Following **Tampere harbour bridge**" in made["content"]
                mine = await slash(double, "follow", {"topic": "Tampere harbour bridge"}, double.member)
                assert "by DM" in mine["content"]

                await asyncio.to_thread(fetching.add_feed, courier, library=library)
                await poll(fetching, library)
                await until(lambda: posts(double, double.news_id) and
                            posts(double, double.dm_channel_for(double.member)))
                first = posts(double, double.news_id)
                assert len(first) == 1 and "Tampere harbour bridge closed" in first[0]["content"]
                assert "> Engineers closed the Tampere harbour bridge" in first[0]["content"]
                assert "Oulu" not in first[0]["content"] and first[0]["mentions"] == []
                dm = posts(double, double.dm_channel_for(double.member))
                assert len(dm) == 1 and "Tampere harbour bridge closed" in dm[0]["content"]
                assert posts(double, double.dm_channel_for(bob)) == []  # DM follows reach only their member

                await asyncio.to_thread(fetching.add_feed, herald, library=library)
                await poll(fetching, library)
                await until(lambda: "Also reported by: Harbour Herald" in
                            double.get_message(int(first[0]["id"]))["content"])
                assert len(posts(double, double.news_id)) == 1  # edited, not posted again
                await asyncio.sleep(0.5)
                assert len(posts(double, double.dm_channel_for(double.member))) == 1
            seen = len(double.bot_messages())
            async with double.running_bot(create_bot(settings, fetching, guild_ready_timeout=0.05)) as bot:
                bot.get_cog("FeedsCog").poller.cancel()
                fetching.feeds.store.resume(library, courier)
                await asyncio.to_thread(fetching.poll_feeds, library=library, all_feeds=True)
                await asyncio.sleep(1.0)  # ten turns of the alert loop
                assert len(double.bot_messages()) == seen  # the restart repeats nothing


async def test_alerts_past_the_hourly_cap_fold_into_one_digest_and_a_topic_is_shown_escaped(fetching):
    with NewsSite() as site:
        courier = outlet_feed(site, "Tampere Courier", [("bridge", "Tampere harbour bridge closed after crack found",
                                                         BRIDGE)])
        async with DiscordDouble() as double:
            library = f"guild-{double.guild_id}"
            settings = make_settings(fetching.settings.data_dir, alert_poll_s=0.1, alerts_per_hour=1)
            for topic in ("Tampere harbour bridge", "harbour bridge crack", "bridge @everyone **closed**"):
                fetching.add_follow(topic, owner_id=double.admin.id, channel_id=double.news_id,
                                    guild_id=double.guild_id, library=library)
            async with double.running_bot(create_bot(settings, fetching, guild_ready_timeout=0.05)) as bot:
                bot.get_cog("FeedsCog").poller.cancel()
                await asyncio.to_thread(fetching.add_feed, courier, library=library)
                await poll(fetching, library)
                await until(lambda: len(posts(double, double.news_id)) == 2 and
                            posts(double, double.news_id)[-1]["content"].count("\n•") == 2)
                alert, digest = posts(double, double.news_id)
                assert alert["content"].startswith("🔔") and "NEWSBOT_ALERTS_PER_HOUR" in digest["content"]
                assert "@everyone" not in digest["content"].replace("@\u200beveryone", "")
                assert "**closed**" not in digest["content"] and all(m["mentions"] == [] for m in (alert, digest))
                await asyncio.sleep(0.5)
                assert len(posts(double, double.news_id)) == 2


async def test_a_hit_recorded_in_the_bot_process_wakes_the_alert_loop_before_its_poll_interval(fetching):
    with NewsSite() as site:
        courier = outlet_feed(site, "Tampere Courier", [("bridge", "Tampere harbour bridge closed after crack found",
                                                         BRIDGE)])
        async with DiscordDouble() as double:
            library = f"guild-{double.guild_id}"
            settings = make_settings(fetching.settings.data_dir, alert_poll_s=600)  # the poll alone: 10 minutes
            fetching.add_follow("Tampere harbour bridge", owner_id=double.admin.id, channel_id=double.news_id,
                                guild_id=double.guild_id, library=library)
            async with double.running_bot(create_bot(settings, fetching, guild_ready_timeout=0.05)) as bot:
                bot.get_cog("FeedsCog").poller.cancel()
                await asyncio.to_thread(fetching.add_feed, courier, library=library)
                await poll(fetching, library)
                await asyncio.wait_for(until(lambda: posts(double, double.news_id)), 20)
                assert "Tampere harbour bridge closed" in posts(double, double.news_id)[0]["content"]
            assert fetching.follows.listeners == []  # the unloaded cog no longer listens
