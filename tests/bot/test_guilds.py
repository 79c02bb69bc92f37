"""Servers kept apart (issue #12, the Discord side): two servers A and B and a DM, through the Discord double.

What each server may read is the store's job; here: every Services call from a server or a DM carries that
place's libraries, schedules, cooldowns and answer slots are per server, the allow-list, and the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime

import pytest

import rag.briefing.schedule
from bot.app import create_bot, main
from bot.limits import FairSlots
from bot.scope import scope_of
from rag.briefing.schedule import Schedule, ScheduleStore
from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble
from tests.support.servers import DRONES, PARTY_ARTICLE, two_servers, until

pytestmark = pytest.mark.slow  # bots on the Discord double


class Recorder:
    """The real services, recording the libraries each call from the bot asks for: (method, libraries)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, query):
        self.calls.append(("ask", query.libraries))
        return self.inner.ask(query)

    def condense(self, history, question):
        self.calls.append(("condense", None))
        return self.inner.condense(history, question)

    def briefing(self, *args, libraries=(), **kwargs):
        self.calls.append(("briefing", libraries))
        return self.inner.briefing(*args, libraries=libraries, **kwargs)

    def list_articles(self, query=None, limit=None, libraries=()):
        self.calls.append(("list_articles", libraries))
        return self.inner.list_articles(query, limit, libraries=libraries)

    def ingest(self, items, library=None):
        self.calls.append(("ingest", library))
        return self.inner.ingest(items, library=library)

    def remove(self, article_id, library=None):
        self.calls.append(("remove", library))
        return self.inner.remove(article_id, library=library)


@pytest.fixture
def clock(monkeypatch):
    now = {"t": datetime(2024, 11, 13, 6, 0, tzinfo=UTC)}
    monkeypatch.setattr(rag.briefing.schedule, "utcnow", lambda: now["t"])
    return now


@pytest.fixture
def schedules(store):
    """The module store's schedules, cleared after the test (each test's servers are new)."""
    state = ScheduleStore(store.settings.data_dir)
    yield state
    state.clear()


async def stop_minute_ticks(bot) -> None:
    """After the briefing loop's startup work, stop its minute ticks: the test fires it with its fake clock."""
    cog = bot.get_cog("BriefingCog")
    await until(lambda: cog.daily.next_iteration is not None)
    cog.daily.cancel()


def libraries(guild_id: int) -> tuple[str, str]:
    return (f"guild-{guild_id}", "default")


def headings(double, channel_id: int) -> list[str]:
    """The bot's public posts with text in a channel (a briefing's heading; not the ephemeral confirmations)."""
    return [m["content"] for m in double.bot_messages(channel_id)
            if m["content"] and not m["flags"] & MESSAGE_FLAG_EPHEMERAL]


def audit_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.audit" and r.levelno == logging.INFO]


# ---- scope -----------------------------------------------------------------------------------------------


def test_a_server_reads_its_own_library_and_the_shared_ones_and_a_dm_only_the_shared_ones():
    assert scope_of(7, ("default", "wire")).reads == ("guild-7", "default", "wire")
    assert scope_of(7, ("default",)).writes == "guild-7"
    assert scope_of(None, ("default", "wire")).reads == ("default", "wire")
    assert scope_of(None, ("default",)).writes is None
    assert scope_of(7, ("guild-7", "default")).reads == ("guild-7", "default")  # listed once


async def test_every_services_call_carries_the_libraries_of_its_server_or_dm(services):
    recorder = Recorder(services)
    a = None
    async with two_servers(recorder) as (double, b, _):
        a = double.guild_id

        async def slash(name, options, user, guild_id, **kwargs):
            before = len(recorder.calls)
            record = await double.invoke_slash(name, options, user=user, guild_id=guild_id, **kwargs)
            await (record.wait_for_response(30) if "autocomplete" in kwargs else record.wait_for_reply(60))
            return recorder.calls[before:]

        upload = double.add_attachment("oulu.txt", PARTY_ARTICLE.replace("Turku", "Oulu").encode(), "text/plain")
        assert await slash("ingest", {"file": upload}, b.admin, b.id) == [("ingest", f"guild-{b.id}")]
        assert await slash("ask", {"question": DRONES}, double.member, a) == [("ask", libraries(a))]
        assert await slash("ask", {"question": DRONES}, b.admin, b.id) == [("ask", libraries(b.id))]
        assert await slash("sources", {}, b.admin, b.id) == [("list_articles", libraries(b.id))]
        assert await slash("briefing", {"date": "2024-11-12"}, double.member, a) == [("briefing", libraries(a))]
        assert await slash("forget", {"article": "oul"}, b.admin, b.id, autocomplete="article") == \
            [("list_articles", (f"guild-{b.id}",))]  # only the server's own articles can be forgotten
        assert await slash("forget", {"article": "nope"}, double.admin, a) == [("remove", f"guild-{a}")]

        asked = await double.send_message(b.general_id, b.admin, f"{double.bot_user.mention} {DRONES}")
        answer = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
        await until(lambda: int(answer["id"]) in double.channels)  # its follow-up thread
        follow = await double.send_message(int(answer["id"]), b.admin, f"{double.bot_user.mention} and Kyiv?")
        await double.wait_for_message(author_id=double.bot_user.id, after=follow["id"], timeout=60)
        dm = await double.send_dm(double.member, DRONES)
        await double.wait_for_message(author_id=double.bot_user.id, after=dm["id"], timeout=60)
    assert recorder.calls[-4:] == [("ask", libraries(b.id)), ("condense", None), ("ask", libraries(b.id)),
                                   ("ask", ("default",))]


# ---- schedules -------------------------------------------------------------------------------------------


async def test_each_server_posts_its_briefing_in_its_own_channel_at_its_own_time(store, schedules, clock, caplog):
    caplog.set_level(logging.INFO, logger="bot.audit")
    recorder = Recorder(store)
    async with two_servers(recorder) as (double, b, bot):
        a = double.guild_id
        await stop_minute_ticks(bot)
        cog = bot.get_cog("BriefingCog")
        for options, user, guild_id, channel in (({"time": "08:00", "timezone": "UTC"}, double.admin, a,
                                                  double.news_id),
                                                 ({"time": "16:30", "timezone": "Asia/Tokyo"}, b.admin, b.id,
                                                  b.general_id)):
            record = await double.invoke_slash("briefing-schedule", options, user=user, guild_id=guild_id,
                                               channel_id=channel)
            assert "will be posted" in (await record.wait_for_reply())["content"]

        clock["t"] = datetime(2024, 11, 13, 7, 29, tzinfo=UTC)
        assert await cog.post_due() == 0
        clock["t"] = datetime(2024, 11, 13, 7, 30, tzinfo=UTC)  # 16:30 in Tokyo: B's time, not A's
        assert await cog.post_due() == 1
        [heading] = headings(double, b.general_id)
        assert heading.startswith("**Briefing for 2024-11-12**")
        assert headings(double, double.news_id) == [] and recorder.calls[-1] == ("briefing", libraries(b.id))
        clock["t"] = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)  # A's time
        assert await cog.post_due() == 1
        [heading] = headings(double, double.news_id)
        assert heading.startswith("**Briefing for 2024-11-12**")
        assert recorder.calls[-1] == ("briefing", libraries(a))
        assert await cog.post_due() == 0 and len(headings(double, b.general_id)) == 1
    assert any(f"/briefing-schedule by user {b.admin.id}" in line and f"in server {b.id}" in line
               and f"channel {b.general_id}" in line and "16:30 Asia/Tokyo" in line for line in audit_lines(caplog))


async def test_b_admin_changing_b_schedule_leaves_a_schedule_alone_and_cannot_change_a(store, schedules, clock,
                                                                                       caplog):
    caplog.set_level(logging.INFO, logger="bot.audit")
    async with two_servers(store) as (double, b, bot):
        a = double.guild_id
        state = schedules
        record = await double.invoke_slash("briefing-schedule", {"time": "08:00", "timezone": "Europe/Paris"},
                                           user=double.admin, guild_id=a, channel_id=double.news_id)
        await record.wait_for_reply()
        a_schedule = state.load(a)
        for time in ("09:00", "10:15"):
            record = await double.invoke_slash("briefing-schedule", {"time": time, "timezone": "UTC"},
                                               user=b.admin, guild_id=b.id)
            await record.wait_for_reply()
        refused = await double.invoke_slash("briefing-schedule", {"time": "23:00", "timezone": "UTC"},
                                            user=b.admin, guild_id=a)  # B's admin is a plain member in A
        assert "for server admins" in (await refused.wait_for_reply())["content"]
        assert state.load(a) == a_schedule == Schedule(double.news_id, "08:00", "Europe/Paris", "2024-11-12", a)
        assert state.load(b.id) == Schedule(b.general_id, "10:15", "UTC", "2024-11-12", b.id)
    lines = audit_lines(caplog)
    assert len(lines) == 4 and sum(f"in server {b.id}" in line for line in lines) == 2
    assert lines[-1] == (f"/briefing-schedule by user {b.admin.id} ('admin-B') in server {a} ('Test Guild'): "
                         "refused: not a server admin here")


async def test_the_schedule_in_settings_serves_its_channels_server_unless_that_server_set_its_own(
        store, schedules, clock):
    async with DiscordDouble() as double:
        b = double.add_guild("B")
        own = Schedule(double.news_id, "09:00", "UTC", "2024-11-12", double.guild_id)
        schedules.save(own)  # A's admin set A's schedule earlier
        for channel in (b.general_id, double.general_id):  # NEWSBOT_BRIEFING_CHANNEL_ID in B, then in A
            settings = make_settings(store.settings.data_dir, briefing_channel_id=channel, briefing_time="07:00")
            bot = create_bot(settings, store, guild_ready_timeout=0.05)
            async with double.running_bot(bot):
                await stop_minute_ticks(bot)
        assert schedules.load(double.guild_id) == own
        assert schedules.load(b.id) == Schedule(b.general_id, "07:00", "UTC", "2024-11-12", b.id)  # from 06:00
        bot = create_bot(make_settings(store.settings.data_dir), store, guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            await stop_minute_ticks(bot)
            clock["t"] = datetime(2024, 11, 13, 7, 0, tzinfo=UTC)
            assert await bot.get_cog("BriefingCog").post_due() == 1
            assert headings(double, b.general_id)[0].startswith("**Briefing for 2024-11-12**")


# ---- the allow-list --------------------------------------------------------------------------------------


async def test_the_bot_leaves_servers_off_the_allow_list_at_startup_and_at_join(store):
    async with DiscordDouble() as double:
        b = double.add_guild("B")  # added while the bot was off
        settings = make_settings(store.settings.data_dir, allowed_guilds=str(double.guild_id))
        bot = create_bot(settings, store, guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            await double.wait_for_request(f"DELETE /users/@me/guilds/{b.id}", timeout=10)
            await until(lambda: bot.get_guild(b.id) is None)
            c = double.add_guild("C", joined=False)
            await double.add_bot_to_guild(c.id)  # someone adds the bot to their own server
            await double.wait_for_request(f"DELETE /users/@me/guilds/{c.id}", timeout=10)
            await until(lambda: bot.get_guild(c.id) is None)
            assert double.joined == [double.guild_id] and [g.id for g in bot.guilds] == [double.guild_id]
            reply = await (await double.invoke_slash("ask", {"question": DRONES})).wait_for_reply(60)
            assert "145 drones" in reply["content"]  # the allowed server is served


async def test_a_server_off_the_allow_list_gets_no_answer_while_the_bot_is_still_in_it(store, caplog):
    async with DiscordDouble() as double:
        settings = make_settings(store.settings.data_dir, allowed_guilds=str(double.guild_id))
        bot = create_bot(settings, store, guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            d = double.add_guild("D", joined=False)
            double.inject_error(f"DELETE /users/@me/guilds/{d.id}", status=403, code=50001)  # leaving fails
            await double.add_bot_to_guild(d.id)
            await double.wait_for_request(f"DELETE /users/@me/guilds/{d.id}", timeout=10)
            await until(lambda: bot.get_guild(d.id) is not None)
            record = await double.invoke_slash("ask", {"question": DRONES}, user=d.admin, guild_id=d.id)
            await until(lambda: any(f"ignoring /ask in server {d.id}" in r.getMessage() for r in caplog.records))
            mention = await double.send_message(d.general_id, d.admin, f"{double.bot_user.mention} {DRONES}")
            asked = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} {DRONES}")
            await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
            assert record.callback_attempts == [] and record.response_type is None
            assert int(mention["id"]) < int(asked["id"]) and double.bot_messages(d.general_id) == []
            assert not [r for r in double.requests if r.path == f"/channels/{d.general_id}/typing"]


def test_a_bad_allow_list_stops_the_bot_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    monkeypatch.setenv("NEWSBOT_ALLOWED_GUILDS", "123, my-server")
    assert main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: NEWSBOT_ALLOWED_GUILDS") and "'my-server' is not a server id" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["default, World News", "default,-wire"])
def test_a_bad_shared_library_name_stops_the_bot_and_the_cli_with_one_line(monkeypatch, capsys, value):
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    monkeypatch.setenv("NEWSBOT_SHARED_LIBRARIES", value)
    bad = value.split(",")[1].strip()
    assert main() == 2
    for err in (capsys.readouterr().err, cli_stderr(monkeypatch, capsys, ["stats"])):
        assert err.startswith(f"error: NEWSBOT_SHARED_LIBRARIES: library name {bad!r} is not valid"), err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_servers_own_library_cannot_be_shared_with_every_server(monkeypatch, capsys):
    """Sharing guild-<id> would let that server's admins write into what every server and DM reads."""
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    monkeypatch.setenv("NEWSBOT_SHARED_LIBRARIES", "default, guild-42")
    assert main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: NEWSBOT_SHARED_LIBRARIES: 'guild-42' is a server's own library"), err
    assert len(err.strip().splitlines()) == 1


def cli_stderr(monkeypatch, capsys, argv: list[str]) -> str:
    """`newsbot ARGV` through the console script's entry point, which must exit 2; its stderr."""
    from rag.cli.app import main as cli_main

    monkeypatch.setattr("sys.argv", ["newsbot", *argv])
    with pytest.raises(SystemExit) as exited:
        cli_main()
    assert exited.value.code == 2
    return capsys.readouterr().err


# ---- fairness and cooldowns ------------------------------------------------------------------------------


class Gated:
    """Services whose answers wait until the test opens their gate, recording the order questions start in."""

    def __init__(self, inner, questions: list[str]) -> None:
        self.inner = inner
        self.started: list[str] = []
        self.gates = {q: threading.Event() for q in questions}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, query):
        self.started.append(query.question)
        self.gates[query.question].wait(timeout=120)
        return self.inner.ask(query)


async def test_a_server_flooding_the_bot_does_not_hold_up_another_servers_question(store):
    flood = [f"What happened in Helsinki, part {i}?" for i in range(6)]
    gated = Gated(store, [*flood, DRONES])
    try:
        async with two_servers(gated, ask_concurrency=2, ask_cooldown_s=0) as (double, b, bot):
            a = double.guild_id
            records = [await double.invoke_slash("ask", {"question": q}, guild_id=a) for q in flood]
            await until(lambda: len(gated.started) == 2 and bot.rag_slots.waiting(a) == 4)  # A holds both slots
            records.append(await double.invoke_slash("ask", {"question": DRONES}, user=b.admin, guild_id=b.id))
            await until(lambda: bot.rag_slots.waiting(b.id) == 1)
            gated.gates[gated.started[0]].set()  # one of A's answers is done: its slot goes to B, not to A
            await until(lambda: len(gated.started) == 3)
            assert gated.started[2] == DRONES
            for gate in gated.gates.values():
                gate.set()
            replies = [await r.wait_for_reply(60) for r in records]
            assert not any(reply["flags"] & MESSAGE_FLAG_EPHEMERAL for reply in replies)  # all answered
            assert "145 drones" in replies[-1]["content"] and sorted(gated.started) == sorted([*flood, DRONES])
    finally:
        for gate in gated.gates.values():
            gate.set()


async def test_fair_slots_pass_on_a_slot_whose_waiter_gave_up():
    slots = FairSlots(1)
    order: list[str] = []

    async def job(key, name, hold: asyncio.Event):
        async with slots.slot(key):
            order.append(name)
            await hold.wait()

    first, never = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(job("A", "a1", first))
    await until(lambda: order == ["a1"])
    quitter = asyncio.create_task(job("B", "b1", never))
    waiter = asyncio.create_task(job("C", "c1", never))
    await until(lambda: slots.waiting() == 2)
    quitter.cancel()  # e.g. its question timed out while waiting
    await until(lambda: slots.waiting() == 1)
    first.set()
    await until(lambda: order == ["a1", "c1"])
    assert slots.running == {"C": 1}
    waiter.cancel()
    await asyncio.gather(running, quitter, waiter, return_exceptions=True)
    assert slots.running == {} and slots.waiting() == 0


async def test_cooldowns_are_per_server_and_user_and_dms_have_their_own(store):
    async with two_servers(store, ask_cooldown_rate=1, ask_cooldown_s=60) as (double, b, _):
        user = double.member

        async def ask_in(guild_id):
            return await (await double.invoke_slash("ask", {"question": DRONES}, user=user,
                                                    guild_id=guild_id)).wait_for_reply(60)

        assert "145 drones" in (await ask_in(double.guild_id))["content"]
        assert "please wait" in (await ask_in(double.guild_id))["content"]
        assert "145 drones" in (await ask_in(b.id))["content"]  # the same user, another server
        first = await double.send_dm(user, DRONES)
        assert "145 drones" in (await double.wait_for_message(author_id=double.bot_user.id, after=first["id"],
                                                              timeout=60))["content"]
        second = await double.send_dm(user, DRONES)
        assert "please wait" in (await double.wait_for_message(author_id=double.bot_user.id, after=second["id"],
                                                               timeout=60))["content"]


# ---- audit -----------------------------------------------------------------------------------------------


async def test_ingest_and_forget_are_in_the_audit_log_with_ids_and_titles_but_no_content(services, caplog):
    caplog.set_level(logging.INFO)
    text = PARTY_ARTICLE.replace("Turku", "Oulu")
    async with two_servers(services) as (double, b, _):
        upload = double.add_attachment("oulu.txt", text.encode(), "text/plain")
        record = await double.invoke_slash("ingest", {"file": upload}, user=b.admin, guild_id=b.id)
        assert "added 1" in (await record.wait_for_reply(60))["content"]
        [stored] = services.list_articles(libraries=(f"guild-{b.id}",))
        for article in ("nope", stored.article_id):
            record = await double.invoke_slash("forget", {"article": article}, user=b.admin, guild_id=b.id)
            await record.wait_for_reply(30)
    ingest, missing, removed = audit_lines(caplog)
    who = f"by user {b.admin.id} ({str(b.admin.username)!r}) in server {b.id} ('B')"
    assert ingest == f"/ingest {who}: file 'oulu.txt' into guild-{b.id}: added 1; {stored.article_id} {stored.title!r}"
    assert "Oulu harbour festival opens on Saturday" in stored.title
    assert missing == f"/forget {who}: article 'nope' from guild-{b.id}: not there"
    assert removed == f"/forget {who}: article '{stored.article_id}' from guild-{b.id}: removed"
    body = "boats, music and food stalls"
    assert not [r for r in caplog.records if body in r.getMessage()]
    rows = services.audit_log.recent(guild_id=b.id)  # the same three, kept in the store's database, newest first
    assert [(r["action"], r["user_id"]) for r in rows[:3]] == [("/forget", b.admin.id)] * 2 + [("/ingest", b.admin.id)]
    assert rows[0]["detail"] == f"article '{stored.article_id}' from guild-{b.id}: removed"
