"""The briefing cog's test helpers: a fake clock for its schedules, a bot on the Discord double, its startup."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest

import rag.briefing.schedule
from bot.app import create_bot
from tests.conftest import make_settings
from tests.doubles.discord_double import DiscordDouble
from tests.support.servers import until


@pytest.fixture
def clock(monkeypatch):
    """The cog's clock, set by the test."""
    now = {"t": datetime(2024, 11, 13, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(rag.briefing.schedule, "utcnow", lambda: now["t"])
    return now


@contextlib.asynccontextmanager
async def running(services, double=None):
    settings = make_settings(services.settings.data_dir)
    async with contextlib.AsyncExitStack() as stack:
        double = double or await stack.enter_async_context(DiscordDouble())
        bot = create_bot(settings, services, guild_ready_timeout=0.05)
        await stack.enter_async_context(double.running_bot(bot))
        yield double, bot


async def started(bot) -> None:
    """Wait for the briefing loop's startup work (settling schedules, the catch-up), then stop its minute ticks:
    the test fires the schedule itself with its fake clock."""
    cog = bot.get_cog("BriefingCog")
    await until(lambda: cog.daily.next_iteration is not None, 30)
    cog.daily.cancel()


def failed(double) -> list:
    return [r for r in double.requests if r.status is None or r.status >= 400]
