"""Discord faults (issue #6, item 5): newsbot's own bot against 429 storms, 5xx on send and gateway drops.

The real discord.py client runs `NewsBot` against the local Discord double (tests/doubles/discord_double/), which injects
the faults. Every test asserts what a user would notice: each question gets exactly one answer (none lost, none
doubled), and the daily briefing is posted exactly once for its day with the day persisted.

What discord.py does on its own (2.7): both its REST client and its webhook client (interaction callbacks and
follow-ups) retry a 429 after `retry_after`, up to 5 attempts per request. The REST client retries 500/502/504/524
after 1 s, 3 s, ...; it raises a 503 at once. The webhook client retries every 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

import pytest

import rag.briefing.schedule
from bot.app import create_bot
from rag.briefing.schedule import Schedule, ScheduleStore
from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_LOADING, DiscordDouble
from tests.support.servers import DRONES, until

pytestmark = pytest.mark.slow  # a bot on the Discord double

ANSWER = "145 drones"
SEND = "POST /channels/{channel_id}/messages"
TYPING = "POST /channels/{channel_id}/typing"
CALLBACK = "POST /interactions/{interaction_id}/{token}/callback"
FOLLOWUP = "POST /webhooks/{application_id}/{token}"


@pytest.fixture
def state(store):
    """The persisted briefing schedule; removed after the test so the next bot starts without one."""
    state = ScheduleStore(store.settings.data_dir)
    yield state
    state.clear()


@pytest.fixture
def clock(monkeypatch):
    """The briefing cog's clock, set by the test."""
    now = {"t": datetime(2024, 11, 13, 7, 59, tzinfo=UTC)}
    monkeypatch.setattr(rag.briefing.schedule, "utcnow", lambda: now["t"])
    return now


class Slow:
    """The store's services with `ask` slowed down, so a fault can land while an answer is being worked on."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, query):
        time.sleep(self.delay_s)
        return self.inner.ask(query)


@contextlib.asynccontextmanager
async def running(services, double=None, **overrides):
    """A double (new unless given) plus a NewsBot logged in to it and ready."""
    settings = make_settings(services.settings.data_dir, **{"ask_cooldown_s": 0, **overrides})
    async with contextlib.AsyncExitStack() as stack:
        double = double or await stack.enter_async_context(DiscordDouble())
        bot = create_bot(settings, services, guild_ready_timeout=0.05)
        await stack.enter_async_context(double.running_bot(bot))
        yield double, bot


async def settle() -> None:
    """Let any retry still in flight land, so a doubled answer would be seen."""
    await asyncio.sleep(0.5)


def statuses(double: DiscordDouble, route: str) -> list[int | None]:
    return [r.status for r in double.requests_to(route)]


def unexpected_failures(double: DiscordDouble, *expected: int) -> list:
    """Requests that failed with a status the test did not inject."""
    return [r for r in double.requests if r.status is None or (r.status >= 400 and r.status not in expected)]


def slash_answers(record) -> list[dict]:
    """The visible messages of one /ask: the filled deferred response and any follow-ups."""
    original = record.original_message()
    return [m for m in [original, *record.followups()] if m is not None]


def replies_to(double: DiscordDouble, question: dict) -> list[dict]:
    """The bot's messages that reply to `question` (mention answers are replies)."""
    return [m for m in double.bot_messages()
            if (m.get("message_reference") or {}).get("message_id") == question["id"]]


async def ask_by_slash(double: DiscordDouble, user) -> object:
    return await double.invoke_slash("ask", {"question": DRONES}, user=user)


async def ask_by_mention(double: DiscordDouble, user) -> dict:
    return await double.send_message(double.general_id, user, f"{double.bot_user.mention} {DRONES}")


async def wait_for_slash_answer(double: DiscordDouble, record) -> None:
    reply = await record.wait_for_reply(timeout=60)
    if ANSWER in reply["content"]:  # the bot opens a follow-up thread on the answer: let it finish
        await until(lambda: int(reply["id"]) in double.channels)


async def wait_for_mention_answer(double: DiscordDouble, question: dict) -> None:
    await until(lambda: replies_to(double, question))
    await until(lambda: int(replies_to(double, question)[0]["id"]) in double.channels)


def assert_answered_once(double: DiscordDouble, records=(), questions=()) -> None:
    """Every /ask and every mention got exactly one answer message, carrying the answer."""
    for record in records:
        sent = slash_answers(record)
        assert [ANSWER in m["content"] for m in sent] == [True], sent
        assert record.callback_attempts == [200], "acknowledged exactly once"
    for question in questions:
        sent = replies_to(double, question)
        assert [ANSWER in m["content"] for m in sent] == [True], sent


# ---- 1. a 429 storm ------------------------------------------------------------------------------------


async def test_a_429_storm_on_every_send_route_loses_and_doubles_no_answer(store):
    async with running(store) as (double, _):
        users = [double.member, double.admin, double.create_user("bob")]
        storm = {CALLBACK: 2, FOLLOWUP: 3, SEND: 3, TYPING: 2}
        for route, count in storm.items():
            double.inject_rate_limit(route, count=count, retry_after=0.2)
        double.inject_rate_limit(SEND, count=1, retry_after=0.2, is_global=True)  # and one global 429
        records = [await ask_by_slash(double, user) for user in users]
        questions = [await ask_by_mention(double, user) for user in users]
        for record in records:
            await wait_for_slash_answer(double, record)
        for question in questions:
            await wait_for_mention_answer(double, question)
        await settle()

        assert double.pending_faults == 0, "every injected 429 was served"
        assert sum(r.status == 429 for r in double.requests) == sum(storm.values()) + 1
        assert_answered_once(double, records, questions)
        assert not unexpected_failures(double, 429)

        after = await ask_by_mention(double, double.member)  # and the bot keeps answering
        await wait_for_mention_answer(double, after)
        assert_answered_once(double, questions=[after])


async def test_a_429_storm_longer_than_discord_py_retries_ends_in_an_apology_and_the_bot_keeps_answering(store):
    async with running(store) as (double, _):
        double.inject_rate_limit(FOLLOWUP, count=5, retry_after=0.05)  # discord.py gives up after 5 attempts
        record = await ask_by_slash(double, double.member)
        apology = await record.wait_for_reply(timeout=60)
        assert "something went wrong" in apology["content"], "it fills the deferred reply (public, like the defer)"
        assert "Traceback" not in apology["content"] and "429" not in apology["content"]
        assert statuses(double, FOLLOWUP) == [429] * 5 + [200]

        double.inject_rate_limit(SEND, count=5, retry_after=0.05)
        question = await ask_by_mention(double, double.member)
        await until(lambda: replies_to(double, question))
        [apology] = replies_to(double, question)
        assert "something went wrong" in apology["content"] and "Traceback" not in apology["content"]

        record, question = await ask_by_slash(double, double.admin), await ask_by_mention(double, double.admin)
        await wait_for_slash_answer(double, record)
        await wait_for_mention_answer(double, question)
        await settle()
        assert_answered_once(double, [record], [question])


# ---- 2. a 5xx on send ----------------------------------------------------------------------------------


async def test_a_500_on_the_first_send_of_an_answer_is_retried_and_the_next_question_is_answered(store):
    async with running(store) as (double, _):
        double.inject_server_error(FOLLOWUP, count=1)
        record = await ask_by_slash(double, double.member)
        await wait_for_slash_answer(double, record)
        double.inject_server_error(SEND, count=1)
        question = await ask_by_mention(double, double.member)
        await wait_for_mention_answer(double, question)
        await settle()
        assert statuses(double, FOLLOWUP) == [500, 200] and statuses(double, SEND) == [500, 200]
        assert_answered_once(double, [record], [question])

        record, question = await ask_by_slash(double, double.admin), await ask_by_mention(double, double.admin)
        await wait_for_slash_answer(double, record)
        await wait_for_mention_answer(double, question)
        await settle()
        assert_answered_once(double, [record], [question])
        assert not unexpected_failures(double, 500)


async def test_a_503_that_discord_py_does_not_retry_still_delivers_the_answer_once(store):
    """discord.py's REST client raises a 503 at once; the bot tries the send once more."""
    async with running(store) as (double, _):
        double.inject_server_error(SEND, count=1, status=503)
        question = await ask_by_mention(double, double.member)
        await wait_for_mention_answer(double, question)
        await settle()
        assert statuses(double, SEND) == [503, 200]
        assert_answered_once(double, questions=[question])

        double.inject_server_error(TYPING, count=1, status=503)  # the typing indicator is not the answer
        question = await ask_by_mention(double, double.admin)
        await wait_for_mention_answer(double, question)
        await settle()
        assert statuses(double, TYPING)[-1] == 503
        assert_answered_once(double, questions=[question])
        assert not unexpected_failures(double, 503)


async def test_a_send_that_keeps_failing_gets_an_apology_without_a_traceback_and_the_bot_keeps_answering(
        store, caplog):
    async with running(store) as (double, _):
        double.inject_server_error(SEND, count=2, status=503)
        question = await ask_by_mention(double, double.member)
        await until(lambda: replies_to(double, question))
        await settle()
        [apology] = replies_to(double, question)
        assert "something went wrong" in apology["content"] and "error id" in apology["content"]
        assert "Traceback" not in apology["content"] and "503" not in apology["content"]
        error_id = apology["content"].split("error id `")[1][:8]
        assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records), "the traceback is logged"

        question = await ask_by_mention(double, double.member)
        await wait_for_mention_answer(double, question)
        await settle()
        assert_answered_once(double, questions=[question])


# ---- 3. gateway disconnect and resume ------------------------------------------------------------------


async def test_after_a_gateway_drop_the_bot_resumes_and_answers_questions_from_during_and_after_it(store):
    async with running(store) as (double, _):
        (session,) = double.sessions.values()
        await double.disconnect_gateway(code=4000)
        record = await ask_by_slash(double, double.member)
        question = await ask_by_mention(double, double.member)
        assert session.connection is None, "both were asked while the socket was down: they come with the RESUME"
        assert (await double.wait_for_resume(timeout=10)) is session
        await wait_for_slash_answer(double, record)
        await wait_for_mention_answer(double, question)

        later_record = await ask_by_slash(double, double.admin)
        later_question = await ask_by_mention(double, double.admin)
        await wait_for_slash_answer(double, later_record)
        await wait_for_mention_answer(double, later_question)
        await settle()
        assert_answered_once(double, [record, later_record], [question, later_question])
        assert len([p for p in double.gateway_received if p["op"] == 2]) == 1, "resumed, not re-identified"
        assert not unexpected_failures(double)


async def test_a_question_in_flight_when_the_gateway_drops_is_answered_once(store):
    async with running(Slow(store, delay_s=1.0)) as (double, _):
        record = await ask_by_slash(double, double.member)
        question = await ask_by_mention(double, double.admin)
        await record.wait_for_response()  # deferred: the answer is being worked on
        await double.wait_for_request(TYPING)
        assert not replies_to(double, question) and record.original_message()["flags"] & MESSAGE_FLAG_LOADING
        await double.disconnect_gateway(code=4000)
        await double.wait_for_resume(timeout=10)
        await wait_for_slash_answer(double, record)
        await wait_for_mention_answer(double, question)
        await settle()
        assert_answered_once(double, [record], [question])
        assert not unexpected_failures(double)


async def test_an_invalidated_session_reidentifies_and_the_bot_keeps_answering(store):
    async with running(store) as (double, bot):
        bot.before_identify_hook = no_wait  # discord.py otherwise waits 5 s before identifying again
        await double.invalidate_sessions(resumable=False)
        await double.wait_for_gateway_op(2, count=2, timeout=10)  # a fresh IDENTIFY
        await until(lambda: sum(p["t"] == "GUILD_CREATE" for p in double.gateway_sent if p["op"] == 0) == 2)
        record, question = await ask_by_slash(double, double.member), await ask_by_mention(double, double.member)
        await wait_for_slash_answer(double, record)
        await wait_for_mention_answer(double, question)
        await settle()
        assert_answered_once(double, [record], [question])


async def no_wait(shard_id, *, initial=False) -> None:
    return None


# ---- 4. the scheduled daily briefing ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def scheduled(store, state, clock):
    """A bot whose daily briefing (08:00 UTC, in #news) last posted on the 12th; started at 07:59 on the 13th."""
    async with DiscordDouble() as double:
        state.save(Schedule(double.news_id, "08:00", "UTC", last_posted="2024-11-12", guild_id=double.guild_id))
        async with running(store, double) as (_, bot):
            cog = bot.get_cog("BriefingCog")
            await until(lambda: cog.daily.next_iteration is not None)  # its startup catch-up found nothing
            cog.daily.cancel()  # the test fires the schedule itself (the real loop wakes every minute)
            assert double.bot_messages(double.news_id) == []
            clock["t"] = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)  # the post time
            yield double, cog


def briefing_posts(double: DiscordDouble) -> tuple[list[str], list[str]]:
    """(headings, story titles) posted in #news."""
    posts = double.bot_messages(double.news_id)
    return ([m["content"] for m in posts if m["content"]],
            [e["title"] for m in posts for e in m["embeds"]])


def assert_one_briefing_for_the_day(double: DiscordDouble, state: ScheduleStore) -> None:
    headings, stories = briefing_posts(double)
    assert len(headings) == 1 and headings[0].startswith("**Briefing for 2024-11-12**"), headings
    assert len(stories) == 1 and stories[0].startswith("1. Trump Warns Putin"), stories
    assert state.load(double.guild_id).last_posted == "2024-11-13"


async def test_the_daily_briefing_rides_out_a_429_storm_once(store, state, clock):
    async with scheduled(store, state, clock) as (double, cog):
        route = f"POST /channels/{double.news_id}/messages"
        double.inject_rate_limit(route, count=3, retry_after=0.2)  # the heading, three times
        double.inject_rate_limit(route, count=2, retry_after=0.2, is_global=True, after=1)  # the story, twice
        assert await cog.post_due() == 1  # the loop's firing at 08:00
        clock["t"] = datetime(2024, 11, 13, 8, 5, tzinfo=UTC)
        assert await cog.post_due() == 0, "a second firing the same day posts nothing"
        assert statuses(double, route) == [429, 429, 429, 200, 429, 429, 200]
        assert_one_briefing_for_the_day(double, state)
        assert not unexpected_failures(double, 429)


@pytest.mark.parametrize("status", [500, 503])
async def test_the_daily_briefing_survives_a_5xx_on_each_of_its_sends_once(store, state, clock, status):
    """500: discord.py retries after 1 s; 503: discord.py raises and the cog tries the send once more."""
    async with scheduled(store, state, clock) as (double, cog):
        route = f"POST /channels/{double.news_id}/messages"
        double.inject_server_error(route, count=1, status=status)  # the heading
        double.inject_server_error(route, count=1, status=status, after=1)  # the story
        assert await cog.post_due() == 1
        assert await cog.post_due() == 0
        assert statuses(double, route) == [status, 200, status, 200]
        assert_one_briefing_for_the_day(double, state)


async def test_a_briefing_whose_story_cannot_be_sent_is_not_posted_again_in_full(store, state, clock, caplog):
    """The heading is out, the story fails twice: the day counts as posted (no second heading), the gap is logged."""
    async with scheduled(store, state, clock) as (double, cog):
        route = f"POST /channels/{double.news_id}/messages"
        double.inject_server_error(route, count=2, status=503, after=1)
        assert await cog.post_due() == 1
        clock["t"] = datetime(2024, 11, 14, 8, 0, tzinfo=UTC)  # the next day's firing
        assert await cog.post_due() == 1
        headings, _ = briefing_posts(double)
        assert [h.split("**")[1] for h in headings] == ["Briefing for 2024-11-12", "Briefing for 2024-11-13"]
        assert state.load(double.guild_id).last_posted == "2024-11-14"
        assert any("2024-11-13" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


async def test_a_briefing_that_cannot_be_sent_at_all_is_posted_once_at_the_next_firing(store, state, clock):
    async with scheduled(store, state, clock) as (double, cog):
        route = f"POST /channels/{double.news_id}/messages"
        double.inject_server_error(route, count=2, status=503)  # the heading, and the cog's one more try
        assert await cog.post_due() == 0
        assert briefing_posts(double) == ([], []) and state.load(double.guild_id).last_posted == "2024-11-12"
        sends = len(double.requests_to(route))
        clock["t"] = datetime(2024, 11, 13, 8, 1, tzinfo=UTC)  # the loop's next tick, a minute later
        assert await cog.post_due() == 0 and len(double.requests_to(route)) == sends, "no new try before its time"
        clock["t"] = datetime(2024, 11, 14, 8, 0, tzinfo=UTC)
        assert await cog.post_due() == 2  # the missed day late, then the day's own
        headings, _ = briefing_posts(double)
        assert headings[0].startswith("**Late briefing for 2024-11-12**")
        assert headings[1].startswith("**Briefing for 2024-11-13**") and len(headings) == 2
        assert state.load(double.guild_id).last_posted == "2024-11-14"


async def test_the_daily_briefing_is_posted_once_across_a_gateway_drop_at_its_time(store, state, clock):
    async with scheduled(store, state, clock) as (double, cog):
        (session,) = double.sessions.values()
        await double.disconnect_gateway(code=4000)
        first, resumed = await asyncio.gather(cog.post_due(), double.wait_for_resume(timeout=10))
        assert first == 1 and resumed is session
        assert await cog.post_due() == 0, "a firing after the resume posts nothing"
        await double.disconnect_gateway(code=4000)
        assert await cog.post_due() == 0
        await double.wait_for_resume(count=2, timeout=10)
        assert_one_briefing_for_the_day(double, state)
        assert not unexpected_failures(double)
