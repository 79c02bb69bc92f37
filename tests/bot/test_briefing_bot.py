"""The briefing cog end to end: real discord.py against the local Discord double, with a fake clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rag.briefing.schedule import Schedule, ScheduleStore
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble
from tests.support.briefing_bot import clock, failed, running, started  # noqa: F401 - `clock` is a fixture

pytestmark = pytest.mark.slow  # a bot on the Discord double


def posted_bodies(double) -> list[dict]:
    return [r.json for r in double.requests if isinstance(r.json, dict) and ("content" in r.json or "embeds" in r.json)]


async def test_briefing_posts_a_heading_then_one_message_per_story_without_pings(store, clock):
    clock["t"] = datetime(2024, 11, 12, 9, 0, tzinfo=UTC)  # the default range: yesterday and today
    async with running(store) as (double, _):
        record = await double.invoke_slash("briefing", {})
        await record.wait_for_reply(timeout=60)
        await double._wait_until(lambda: record.followups() or None, 30, "story message")
        assert record.response_type == 5
        heading, story = [m for m in [record.original_message(), *record.followups()] if m][:2]
        assert "Briefing for 2024-11-11 to 2024-11-12" in heading["content"] and "1 story" in heading["content"]
        [embed] = story["embeds"]
        assert embed["title"].startswith("1. Trump Warns Putin")
        assert "Reported by 2 outlets: Outlet A, Outlet B" in embed["description"]
        assert "[1]" in embed["description"] and "[2]" in embed["description"]
        assert not failed(double)
        for body in posted_bodies(double):
            assert body.get("allowed_mentions", {}).get("parse") == []


async def test_briefing_for_an_empty_day_says_so_and_a_bad_date_is_explained(store, clock):
    async with running(store) as (double, _):
        reply = await (await double.invoke_slash("briefing", {"date": "2020-01-01"})).wait_for_reply(timeout=60)
        assert "No articles for 2020-01-01" in reply["content"]
        reply = await (await double.invoke_slash("briefing", {"date": "someday"})).wait_for_reply()
        assert "is not a date" in reply["content"] and reply["flags"] & MESSAGE_FLAG_EPHEMERAL


async def test_schedule_is_admin_only_and_persisted(store, clock, tmp_path):
    async with running(store) as (double, bot):
        commands = {c["name"]: c for c in double.guild_commands.get(double.guild_id, {}).values()} or \
            double.global_commands
        assert str(commands["briefing-schedule"]["default_member_permissions"]) == "32"
        refusal = await (await double.invoke_slash(
            "briefing-schedule", {"time": "08:00", "timezone": "Europe/Paris"}, user=double.member,
            channel_id=double.news_id)).wait_for_reply()
        assert "for server admins" in refusal["content"]
        bad = await (await double.invoke_slash(
            "briefing-schedule", {"time": "8am", "timezone": "UTC"}, user=double.admin,
            channel_id=double.news_id)).wait_for_reply()
        assert "HH:MM" in bad["content"]
        ok = await (await double.invoke_slash(
            "briefing-schedule", {"time": "08:00", "timezone": "Europe/Paris"}, user=double.admin,
            channel_id=double.news_id)).wait_for_reply()
        assert "08:00 Europe/Paris" in ok["content"] and ok["flags"] & MESSAGE_FLAG_EPHEMERAL
        saved = ScheduleStore(store.settings.data_dir).load(double.guild_id)
        assert saved == Schedule(double.news_id, "08:00", "Europe/Paris", "2024-11-13",  # 10:00 Paris: done today
                                 guild_id=double.guild_id)
        assert bot.get_cog("BriefingCog").daily.is_running()
        assert double.messages_in(double.news_id) == []  # setting a schedule never posts at once
    ScheduleStore(store.settings.data_dir).clear()


async def test_a_missed_day_posts_once_late_at_startup_and_a_restart_does_not_repeat_it(store, clock):
    state = ScheduleStore(store.settings.data_dir)
    async with DiscordDouble() as double:
        # the state file as the bot wrote it before schedules were per server: it is the server of #news's now
        state.path.parent.mkdir(parents=True, exist_ok=True)
        state.path.write_text(json.dumps({"channel_id": double.news_id, "time": "08:00", "timezone": "UTC",
                                          "last_posted": "2024-11-12"}))
        async with running(store, double) as (_, bot):  # 09:00 on the 13th: the 08:00 post was missed
            await double._wait_until(lambda: len(double.bot_messages(double.news_id)) >= 2 or None, 60, "late post")
            await started(bot)
        assert state.load_all() == [Schedule(double.news_id, "08:00", "UTC", "2024-11-13", double.guild_id)]
        async with running(store, double) as (_, bot):  # a restart the same morning
            await started(bot)
            clock["t"] = datetime(2024, 11, 13, 23, 0, tzinfo=UTC)
            assert await bot.get_cog("BriefingCog").post_due() == 0
            clock["t"] = datetime(2024, 11, 14, 8, 0, tzinfo=UTC)  # the loop's next firing
            assert await bot.get_cog("BriefingCog").post_due() == 1
        posts = double.bot_messages(double.news_id)
        headings = [m["content"] for m in posts if m["content"]]
        assert headings[0].startswith("**Late briefing for 2024-11-12**")
        assert headings[1].startswith("**Briefing for 2024-11-13**") and "No articles for 2024-11-13" in headings[1]
        assert len(headings) == 2 and not failed(double)
        assert state.load(double.guild_id).last_posted == "2024-11-14"
    assert not state.path.exists() and state.path.with_name("briefing_schedule.json.imported").is_file()
    state.clear()
    state.path.with_name("briefing_schedule.json.imported").unlink()
