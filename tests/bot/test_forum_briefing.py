"""The scheduled briefing into a forum channel: one post per story, tagged, and later articles reply in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rag.briefing.schedule import Schedule, ScheduleStore
from tests.support.briefing_bot import clock, failed, running, started  # noqa: F401 - `clock` is a fixture
from tests.doubles.discord_double import DiscordDouble

pytestmark = pytest.mark.slow  # a bot on the Discord double


async def test_a_forum_gets_one_tagged_post_per_story_and_the_next_days_article_replies_in_it(store, clock):
    state = ScheduleStore(store.settings.data_dir)
    async with DiscordDouble() as double:
        forum = double.add_forum("briefings", tags=["1 outlet", "2+ outlets", "Politics"])
        state.save(Schedule(forum, "08:00", "UTC", "2024-11-11", double.guild_id))
        clock["t"] = datetime(2024, 11, 12, 7, 59, tzinfo=UTC)
        async with running(store, double) as (_, bot):
            await started(bot)
            cog = bot.get_cog("BriefingCog")
            clock["t"] = datetime(2024, 11, 12, 8, 0, tzinfo=UTC)  # covers the 11th: one outlet's article
            assert await cog.post_due() == 1
            [post] = double.forum_posts(forum)
            assert "Donald Trump" in post["name"] and len(post["name"]) <= 100  # the headline, cut to fit
            assert post["tags"] == ["1 outlet"]
            [first] = post["messages"]
            assert first["content"] == "Briefing for 2024-11-11"
            assert "Reported by 1 outlet: Outlet B" in first["embeds"][0]["description"]

            clock["t"] = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)  # covers the 12th: the other outlet's report
            assert await cog.post_due() == 1
            [post] = double.forum_posts(forum)  # no new post: a reply in the story's post
            first, reply = post["messages"]
            assert reply["content"] == "Briefing for 2024-11-12"
            assert "Outlet A" in reply["embeds"][0]["description"]
        assert not failed(double)
        assert double.messages_in(forum) == []
        for message in first, reply:
            assert message["mentions"] == [] and not message["mention_everyone"]
    state.clear()


async def test_a_deleted_story_post_gets_a_new_post_next_time(store, clock):
    state = ScheduleStore(store.settings.data_dir)
    async with DiscordDouble() as double:
        forum = double.add_forum("briefings", tags=["2+ outlets"])
        state.save(Schedule(forum, "08:00", "UTC", "2024-11-11", double.guild_id))
        clock["t"] = datetime(2024, 11, 12, 7, 59, tzinfo=UTC)
        async with running(store, double) as (_, bot):
            await started(bot)
            cog = bot.get_cog("BriefingCog")
            clock["t"] = datetime(2024, 11, 12, 8, 0, tzinfo=UTC)
            assert await cog.post_due() == 1
            [post] = double.forum_posts(forum)
            assert post["tags"] == []  # the forum has no "1 outlet" tag: none is applied
            del double.channels[int(post["id"])]  # a moderator deleted the post
            guild = bot.get_guild(double.guild_id)
            guild._threads.pop(int(post["id"]), None)  # noqa: SLF001 - as THREAD_DELETE would
            clock["t"] = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)
            assert await cog.post_due() == 1
            [new] = double.forum_posts(forum)
            assert new["id"] != post["id"] and len(new["messages"]) == 1
    store.story_posts.conn.execute("DELETE FROM story_posts")
    state.clear()


FESTIVAL = """ date 2024-11-12 Turku harbour festival opens on Saturday

Turku harbour festival opens on Saturday

The Turku harbour festival opens on Saturday with boats, music and food stalls along the Aura river. Entry to the \
harbour festival is free, the organisers said, and the city expects forty thousand visitors over the weekend.
"""


async def test_the_next_day_a_continued_story_replies_in_its_post_and_a_new_story_opens_its_own(store, clock,
                                                                                                  tmp_path):
    from rag import guild_library
    from rag.articles.loaders import load_paths

    state = ScheduleStore(store.settings.data_dir)
    async with DiscordDouble() as double:
        library = guild_library(double.guild_id)  # the server's own library: other tests don't read it
        (tmp_path / "festival.txt").write_text(FESTIVAL, encoding="utf-8")
        [festival] = load_paths([tmp_path], source="Turku Daily")
        assert store.ingest([festival], library).ok
        forum = double.add_forum("briefings", tags=["1 outlet", "2+ outlets"])
        state.save(Schedule(forum, "08:00", "UTC", "2024-11-11", double.guild_id))
        clock["t"] = datetime(2024, 11, 12, 7, 59, tzinfo=UTC)
        try:
            async with running(store, double) as (_, bot):
                await started(bot)
                cog = bot.get_cog("BriefingCog")
                clock["t"] = datetime(2024, 11, 12, 8, 0, tzinfo=UTC)  # the 11th: Outlet B's report of the call
                assert await cog.post_due() == 1
                clock["t"] = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)  # the 12th: Outlet A's report, the festival
                assert await cog.post_due() == 1
                call, fest = double.forum_posts(forum)
                assert "Trump" in call["name"] and len(call["messages"]) == 2, "the call's story replies in its post"
                assert "Outlet A" in call["messages"][1]["embeds"][0]["description"]
                assert "festival" in fest["name"] and len(fest["messages"]) == 1 and fest["tags"] == ["1 outlet"]
            assert not failed(double)
        finally:
            store.remove(festival.article_id, library)
            store.story_posts.conn.execute("DELETE FROM story_posts")
            state.clear()
