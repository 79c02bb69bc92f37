"""/briefing, /briefing-schedule and the daily post (thin handlers; `rag.schedule` decides what is due)."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, date as ddate, datetime, timedelta
from datetime import time as dtime

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.app import NO_PINGS, AnswerTimeout, NewsBot, apology, send_with_retry
from bot.briefing_render import briefing_messages
from rag.briefing import Briefing, resolve_range
from rag.errors import ConfigError, NewsbotError
from rag import schedule as clock
from rag.schedule import Schedule, ScheduleStore, due, from_settings, mark_posted, parse_timezone, post_moment, start

logger = logging.getLogger(__name__)


class BriefingCog(commands.Cog):
    """Briefings on demand, and one scheduled post a day (late posts at startup if the bot was down)."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.store = ScheduleStore(bot.settings.data_dir)
        self._posting = asyncio.Lock()

    async def cog_load(self) -> None:
        try:
            schedule = from_settings(self.bot.settings, self.store.load())
        except ConfigError as exc:
            logger.error("daily briefing is off: %s", exc)
            return
        if schedule is not None:
            self.use(schedule)

    async def cog_unload(self) -> None:
        self.daily.cancel()

    def use(self, schedule: Schedule) -> Schedule:
        """Save the schedule (a new one starts with its next post time) and (re)start the loop at its time."""
        schedule = start(schedule, clock.utcnow())
        self.store.save(schedule)
        self.daily.change_interval(time=schedule.local_time)
        if not self.daily.is_running():
            self.daily.start()
        return schedule

    @tasks.loop(time=dtime(8, 0, tzinfo=UTC))
    async def daily(self) -> None:
        await self.post_due()

    @daily.before_loop
    async def before_daily(self) -> None:
        await self.bot.wait_until_ready()
        await self.post_due()  # startup catch-up: a briefing missed while the bot was down, marked late

    async def post_due(self) -> int:
        """Post every briefing that is due now, each once; returns how many were posted.

        Each send is tried once more after a Discord 5xx. A briefing whose first message cannot be sent is retried
        at the next post time; one cut off after its first message counts as posted, so it is never doubled."""
        posted = 0
        async with self._posting:
            schedule = self.store.load()
            if schedule is None:
                return 0
            for item in due(schedule, clock.utcnow()):
                sent, messages = 0, []
                try:
                    channel = self.bot.get_channel(schedule.channel_id) or await self.bot.fetch_channel(
                        schedule.channel_id)
                    briefing = await self.bot.run_rag(self.bot.services.briefing, item.covers)
                    messages = briefing_messages(briefing, late=item.late)
                    for message in messages:
                        await send_with_retry(functools.partial(channel.send, **message.kwargs()),
                                              f"the daily briefing for {item.post_day}")
                        sent += 1
                except (discord.HTTPException, NewsbotError):
                    if not sent:
                        logger.exception("daily briefing for %s not posted; will retry at the next post time",
                                         item.post_day)
                        break
                    logger.exception("daily briefing for %s cut off: %d of %d messages posted; the rest are "
                                     "dropped rather than posting the briefing twice", item.post_day, sent,
                                     len(messages))
                schedule = mark_posted(schedule, item.post_day)
                self.store.save(schedule)
                posted += 1
                if sent < len(messages):
                    break
        return posted

    @app_commands.command(name="briefing")
    @app_commands.describe(date="A day: YYYY-MM-DD, today or yesterday (default: yesterday and today)")
    async def briefing(self, interaction: discord.Interaction, date: str | None = None) -> None:
        """The day's stories, grouped across outlets, each with a cited summary."""
        today = clock.utcnow().astimezone(self._zone()).date()
        try:
            since, until = resolve_range(day=date, today=today)
        except ValueError as exc:
            await interaction.response.send_message(str(exc).replace("--date", "date"), ephemeral=True,
                                                    allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer(thinking=True)
        try:
            result: Briefing = await self.bot.run_rag(self.bot.services.briefing, since, until)
        except AnswerTimeout as exc:
            await interaction.followup.send(str(exc), allowed_mentions=NO_PINGS)
            return
        except Exception as exc:  # noqa: BLE001 - the user gets an apology with an id, the log the traceback
            await interaction.followup.send(apology(exc, "/briefing"), allowed_mentions=NO_PINGS)
            return
        for message in briefing_messages(result):
            await interaction.followup.send(**message.kwargs())

    @app_commands.command(name="briefing-schedule")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(channel="Where the daily briefing is posted (default: this channel)", time="Local time, HH:MM (24-hour)",
                           timezone="IANA time zone, e.g. UTC or Europe/Paris")
    async def briefing_schedule(self, interaction: discord.Interaction, time: str, timezone: str = "UTC",
                                channel: discord.TextChannel | None = None) -> None:
        """Post a briefing of the previous day every day at this time (admins only)."""
        channel = channel or interaction.channel
        old = self.store.load()
        wanted = Schedule(channel.id, time.strip(), timezone.strip(), old.last_posted if old else None)
        try:
            wanted.local_time  # noqa: B018 - validates the time and the zone
        except ConfigError as exc:
            await interaction.response.send_message(f"Not scheduled: {exc}.", ephemeral=True,
                                                    allowed_mentions=NO_PINGS)
            return
        schedule = self.use(wanted)
        upcoming = post_moment(schedule, ddate.fromisoformat(schedule.last_posted) + timedelta(days=1))
        await interaction.response.send_message(
            f"The daily briefing will be posted in {channel.mention} at {schedule.time} {schedule.timezone} "
            f"(next: <t:{int(upcoming.timestamp())}:F>), covering the day before.", ephemeral=True,
            allowed_mentions=NO_PINGS)

    def _zone(self):
        schedule = self.store.load()
        try:
            return parse_timezone(schedule.timezone if schedule else self.bot.settings.briefing_timezone)
        except ConfigError:
            return UTC


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(BriefingCog(bot))
