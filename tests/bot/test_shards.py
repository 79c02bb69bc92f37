"""Bot shards apart: two bots with NEWSBOT_SHARD_COUNT=2 and different NEWSBOT_SHARD_IDS on one Discord double,
sharing one store (the same data folder, and PostgreSQL through NEWSBOT_DATABASE_URL), each serving its shards'
servers; a scheduled briefing is posted once per server and day across them, across restarts and past a dead
claimant. Most tests run the two bots as two discord.py clients in this process, with a fake clock; the last runs
two real bot processes (benchmarks/bot_child.py) against the double in this one, on the real clock."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

import rag.briefing.schedule
from bot.app import ShardedNewsBot, create_bot, main
from rag.briefing.schedule import Schedule, ScheduleStore
from rag.follows.store import FollowStore
from rag.store.db import DB_NAME
from rag.store.sql import connect
from tests.conftest import make_settings
from tests.doubles.discord_double import DiscordDouble
from tests.support.bot_process import bot_env, bot_process
from tests.support.servers import until

pytestmark = pytest.mark.slow  # bots on the Discord double, and PostgreSQL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    """None: the embedded registry in the data folder; else a PostgreSQL database of the test's own."""
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


@pytest.fixture
def clock(monkeypatch):
    now = {"t": datetime(2024, 11, 13, 9, 0, tzinfo=UTC)}  # the 08:00 UTC posts of the 13th are due (late)
    monkeypatch.setattr(rag.briefing.schedule, "utcnow", lambda: now["t"])
    return now


@pytest.fixture
def schedules(store, database_url):
    state = ScheduleStore(store.settings.data_dir, database_url)
    yield state
    state.clear()


def shard_services(store, database_url, shard_ids: str | None, count: int | None = 2):
    """The module's store as one bot process of its own sees it: its settings, its schedule store."""
    settings = make_settings(store.settings.data_dir, database_url=database_url, shard_count=count,
                             shard_ids=shard_ids)
    return replace(store, settings=settings)


@contextlib.asynccontextmanager
async def bots(double, *services):
    """One running bot per Services, each after its briefing loop's startup work (its ticks then stopped)."""
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for svc in services:
            bot = create_bot(svc.settings, svc, guild_ready_timeout=0.05)
            running.append(await stack.enter_async_context(double.running_bot(bot)))
        for bot in running:
            cog = bot.get_cog("BriefingCog")
            await until(lambda cog=cog: cog.daily.next_iteration is not None, 60)
            cog.daily.cancel()
        yield running


def headings(double, channel_id: int) -> list[str]:
    return [m["content"] for m in double.bot_messages(channel_id) if m["content"]]


def claimants(database_url, data_dir) -> dict[int, str]:
    conn = connect(database_url, data_dir / DB_NAME)
    try:
        return dict(conn.execute("SELECT guild_id, claimed_by FROM briefing_posts").fetchall())
    finally:
        conn.close()


async def test_each_servers_briefing_is_posted_once_by_the_bot_of_its_shard_and_a_restart_posts_nothing_more(
        store, database_url, schedules, clock):
    async with DiscordDouble() as double:
        b, c = double.add_guild("B", shard=(0, 2)), double.add_guild("C", shard=(1, 2))
        channels = {double.guild_id: double.news_id, b.id: b.general_id, c.id: c.general_id}
        for guild, channel in channels.items():
            schedules.save(Schedule(channel, "08:00", "UTC", "2024-11-12", guild))
        shard = {guild: (guild >> 22) % 2 for guild in channels}
        processes = [shard_services(store, database_url, "0"), shard_services(store, database_url, "1")]
        async with bots(double, *processes) as (bot0, bot1):
            assert isinstance(bot0, ShardedNewsBot) and bot0.shard_ids == [0] and bot1.shard_ids == [1]
            assert {g.id for g in bot0.guilds} == {g for g in channels if shard[g] == 0}
            assert {g.id for g in bot1.guilds} == {g for g in channels if shard[g] == 1}
            for channel in channels.values():
                await double._wait_until(lambda ch=channel: headings(double, ch) or None, 60, "the late briefing")
            assert [await bot.get_cog("BriefingCog").post_due() for bot in (bot0, bot1)] == [0, 0]
            by_shard = [bot0.get_cog("BriefingCog").claimant, bot1.get_cog("BriefingCog").claimant]
        assert claimants(database_url, store.settings.data_dir) == {g: by_shard[shard[g]] for g in channels}
        async with bots(double, *processes) as restarted:  # both restart the same morning
            assert [await bot.get_cog("BriefingCog").post_due() for bot in restarted] == [0, 0]
        for channel in channels.values():
            [heading] = headings(double, channel)
            assert heading.startswith("**Late briefing for 2024-11-12**")
        assert all(s.last_posted == "2024-11-13" for s in schedules.load_all())


async def test_two_bots_serving_the_same_servers_post_each_briefing_once(store, database_url, schedules, clock):
    async with DiscordDouble() as double:
        b = double.add_guild("B")
        for guild, channel in ((double.guild_id, double.news_id), (b.id, b.general_id)):
            schedules.save(Schedule(channel, "08:00", "UTC", "2024-11-12", guild))
        both = [shard_services(store, database_url, None, count=None) for _ in range(2)]
        async with bots(double, *both) as running:
            for channel in (double.news_id, b.general_id):
                await double._wait_until(lambda ch=channel: headings(double, ch) or None, 60, "the late briefing")
            clock["t"] = datetime(2024, 11, 14, 8, 0, tzinfo=UTC)  # the next day's post time: both tick at once
            ticks = await asyncio.gather(*(bot.get_cog("BriefingCog").post_due() for bot in running))
            assert sorted(ticks) == [0, 2]
        for channel in (double.news_id, b.general_id):
            assert [h.split("**")[1] for h in headings(double, channel)] == ["Late briefing for 2024-11-12",
                                                                            "Briefing for 2024-11-13"]


async def test_a_claim_left_by_a_bot_that_died_is_taken_over_after_its_lease(store, database_url, schedules, clock):
    async with DiscordDouble() as double:
        schedules.save(Schedule(double.news_id, "08:00", "UTC", "2024-11-12", double.guild_id))
        assert schedules.claim(double.guild_id, date(2024, 11, 13), "dead-host:1:gone", clock["t"])
        async with bots(double, shard_services(store, database_url, None, count=None)) as [bot]:
            cog = bot.get_cog("BriefingCog")
            clock["t"] = datetime(2024, 11, 13, 9, 9, tzinfo=UTC)
            assert await cog.post_due() == 0 and headings(double, double.news_id) == []  # it may still be posting
            clock["t"] = datetime(2024, 11, 13, 9, 10, tzinfo=UTC)  # its 10-minute lease is up
            assert await cog.post_due() == 1
            assert await cog.post_due() == 0
        [heading] = headings(double, double.news_id)
        assert heading.startswith("**Late briefing for 2024-11-12**")
        assert claimants(database_url, store.settings.data_dir) == {double.guild_id: cog.claimant}


@pytest.mark.parametrize("env,problem", [
    ({"NEWSBOT_SHARD_COUNT": "2", "NEWSBOT_SHARD_IDS": "0,2"},
     "NEWSBOT_SHARD_IDS: shard id 2 is not below NEWSBOT_SHARD_COUNT=2 (ids run from 0 to 1)"),
    ({"NEWSBOT_SHARD_IDS": "1"}, "NEWSBOT_SHARD_IDS: shard ids need NEWSBOT_SHARD_COUNT"),
    ({"NEWSBOT_SHARD_COUNT": "2", "NEWSBOT_SHARD_IDS": "one"}, "NEWSBOT_SHARD_IDS: 'one' is not a shard id"),
    ({"NEWSBOT_SHARD_COUNT": "0"}, "NEWSBOT_SHARD_COUNT: Input should be greater than or equal to 1"),
])
def test_wrong_shard_settings_stop_the_bot_with_one_line_naming_the_setting(monkeypatch, tmp_path, capsys, env,
                                                                            problem):
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DISCORD_TOKEN", "a-token")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main() == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {problem}")


def test_without_shard_settings_the_bot_is_the_plain_client_as_before(tmp_path):
    bot = create_bot(make_settings(tmp_path))
    assert not isinstance(bot, ShardedNewsBot) and bot.on_my_shards(1 << 22) and bot.my_shards() is None


def test_a_sharded_bot_claims_only_the_follow_alerts_of_servers_on_its_shards(tmp_path):
    on_0, on_1 = (1000 << 22) | 5, (1001 << 22) | 5  # server ids Discord sends to shards 0 and 1 of 2
    follows = FollowStore(tmp_path)
    ids = [follows.add("guild-x", "bridge", 1, 9, guild).id for guild in (on_0, on_1, None)]
    follows.record_hits([(follow_id, "article-a", "article-a", 1.0) for follow_id in ids])
    bot1 = create_bot(make_settings(tmp_path, shard_count=2, shard_ids="1"))
    assert [hit.follow.guild_id for hit in follows.claim_pending(10, bot1.my_shards())] == [on_1]
    bot0 = create_bot(make_settings(tmp_path, shard_count=2, shard_ids="0"))
    assert [hit.follow.guild_id for hit in follows.claim_pending(10, bot0.my_shards())] == [on_0, None]  # DMs: 0
    assert follows.claim_pending(10) == []  # each claimed once


@pytest.mark.parametrize("shared", ["one data folder", "PostgreSQL and two data folders"])
async def test_two_bot_processes_with_shard_ids_0_and_1_post_each_servers_briefing_once(
        tmp_path, request, shared):
    """Real processes and the real clock: each server's schedule is due at startup (00:00 UTC, last posted the day
    before yesterday's post), and each process posts only its shards' servers."""
    url = request.getfixturevalue("postgres_url") if shared.startswith("PostgreSQL") else None
    servers = {"NEWSBOT_DATABASE_URL": url, "NEWSBOT_CHROMA_HOST": "127.0.0.1",
               "NEWSBOT_CHROMA_PORT": str(request.getfixturevalue("chroma_server"))} if url else {}
    folders = [tmp_path / "a", tmp_path / "b"] if url else [tmp_path / "a"] * 2
    today = datetime.now(UTC).date()
    async with DiscordDouble() as double:
        b, c = double.add_guild("B", shard=(0, 2)), double.add_guild("C", shard=(1, 2))
        channels = {double.guild_id: double.news_id, b.id: b.general_id, c.id: c.general_id}
        state = ScheduleStore(folders[0], url)
        for guild, channel in channels.items():
            state.save(Schedule(channel, "00:00", "UTC", (today - timedelta(days=1)).isoformat(), guild))
        envs = [bot_env(folder, NEWSBOT_SHARD_COUNT="2", NEWSBOT_SHARD_IDS=str(i), **servers)
                for i, folder in enumerate(folders)]
        async with bot_process(double, envs[0], tmp_path) as p0, bot_process(double, envs[1], tmp_path) as p1:
            for channel in channels.values():
                await double._wait_until(lambda ch=channel: headings(double, ch) or None, 120, "the briefing")
            await asyncio.sleep(2)  # room for a second post, were there one
            pids = [p0.pid, p1.pid]
        for channel in channels.values():
            [heading] = headings(double, channel)
            assert f"riefing for {today - timedelta(days=1)}**" in heading
        claimed = claimants(url, folders[0])
        assert {g: int(claimed[g].split(":")[1]) for g in channels} == {g: pids[(g >> 22) % 2] for g in channels}
