"""/briefing, /briefing-schedule and the daily post (thin handlers; `Services.schedules` decides what is due)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import uuid
from dataclasses import replace
from datetime import UTC, date as ddate, datetime, timedelta
from datetime import time as dtime

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.app import NO_PINGS, AnswerTimeout, NewsBot, apology, send_with_retry
from bot.audit import audit
from bot.briefing_render import briefing_messages, forum_messages, forum_tag_names, forum_title
from bot.render import MessagePayload
from rag import Briefing, ConfigError, Schedule, Story, last_days, parse_day

logger = logging.getLogger(__name__)
# The loop wakes at every minute (UTC) and `Services.schedules.due` decides which servers' posts are due. One loop with
# one time per schedule can't be used: discord.py sorts a loop's times as if they shared one zone.
EVERY_MINUTE = [dtime(hour, minute, tzinfo=UTC) for hour in range(24) for minute in range(60)]


class BriefingCog(commands.Cog):
    """Briefings on demand, and each server's scheduled post (late posts at startup if the bot was down)."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.store = bot.services.schedules
        self._posting = asyncio.Lock()
        self._held: dict[int, datetime] = {}  # server -> no new try before this (its post failed)
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this bot, in post claims

    async def cog_load(self) -> None:
        self.daily.start()

    async def cog_unload(self) -> None:
        self.daily.cancel()

    @tasks.loop(time=EVERY_MINUTE)
    async def daily(self) -> None:
        await self.post_due()

    @daily.before_loop
    async def before_daily(self) -> None:
        await self.bot.wait_until_ready()
        await self.settle_schedules()
        await self.post_due()  # startup catch-up: briefings missed while the bot was down, marked late

    async def settle_schedules(self) -> None:
        """At startup, give each schedule its server: an old state file's one schedule goes to the server of its
        channel, and so does the one in settings (NEWSBOT_BRIEFING_CHANNEL_ID), unless that server has its own.
        A channel in a server of another process's shards is left to that process."""
        async with self._posting:
            unplaced = [s for s in self.store.load_all() if s.guild_id is None]
            for schedule in unplaced + self.configured():
                guild_id = await self.guild_of(schedule.channel_id)
                if guild_id is None:
                    if self.bot.on_my_shards(None):  # said once, by the process of shard 0
                        logger.warning("the briefing schedule for channel %s is not posted: that channel is in no "
                                       "server the bot is in", schedule.channel_id)
                elif self.store.place(replace(self.store.start(schedule, self.store.now()), guild_id=guild_id)):
                    logger.info("the briefing schedule for channel %s is server %s's", schedule.channel_id, guild_id)

    def configured(self) -> list[Schedule]:
        """The schedule in settings, if any (a wrong time or zone is logged and leaves it off)."""
        try:
            schedule = self.store.configured(self.bot.settings)
        except ConfigError as exc:
            logger.error("the briefing schedule in settings is off: %s", exc)
            return []
        return [schedule] if schedule else []

    async def guild_of(self, channel_id: int) -> int | None:
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        except discord.HTTPException:
            return None
        guild = getattr(channel, "guild", None)
        return guild.id if guild is not None else None

    async def post_due(self) -> int:
        """Post every server's briefings that are due now, each once; returns how many were posted."""
        async with self._posting:
            schedules = [s for s in self.store.load_all() if s.guild_id is not None and self.bot.serves(s.guild_id)
                         and self.bot.on_my_shards(s.guild_id)]
            return sum(await asyncio.gather(*(self.post_schedule(s) for s in schedules)))

    async def post_schedule(self, schedule: Schedule) -> int:
        """Post one server's due briefings, oldest first; returns how many were posted.

        Each post is claimed in the database first, so one process posts it (another bot process, or this one
        before a restart, may have). Each send is tried once more after a Discord 5xx. A briefing whose first
        message cannot be sent gives its claim back and is retried at the next post time (or startup), not at every
        tick; one cut off after its first message counts as posted, so it is never doubled."""
        posted, now, guild = 0, self.store.now(), schedule.guild_id
        if now < self._held.get(guild, now):
            return 0
        for item in self.store.due(schedule, now):
            if not self.store.claim(guild, item.post_day, self.claimant, now):
                if not self.store.posted(guild, item.post_day):
                    break  # another process is posting it (if it died, its claim lapses and a later tick posts)
                self.store.record_post(guild, item.post_day)
                continue
            sent, messages, first_id = 0, [], None
            try:
                channel = self.bot.get_channel(schedule.channel_id) or await self.bot.fetch_channel(
                    schedule.channel_id)
                briefing = await self.bot.run_rag(self.bot.services.briefing, item.covers,
                                                  libraries=self.bot.scope(guild).reads, guild=guild)
                messages = self.sends(channel, briefing, item.late, guild)
                for message in messages:
                    sent_message = await send_with_retry(message,
                                                         f"the daily briefing for {item.post_day} in server {guild}")
                    first_id = first_id or getattr(sent_message, "id", None)
                    sent += 1
            except Exception:  # noqa: BLE001 - one server's failure, whatever it is, never stops the others
                if not sent:
                    logger.exception("daily briefing for %s in server %s not posted; will retry at the next post "
                                     "time", item.post_day, guild)
                    self.store.release(guild, item.post_day, self.claimant)
                    self._held[guild] = self.store.next_post(schedule, now)
                    break
                logger.exception("daily briefing for %s in server %s cut off: %d of %d messages posted; the rest "
                                 "are dropped rather than posting the briefing twice", item.post_day, guild, sent,
                                 len(messages))
            self.store.finish(guild, item.post_day, self.claimant, first_id, self.store.now())
            posted += 1
            if sent < len(messages):
                break
        return posted

    def sends(self, channel, briefing: Briefing, late: bool, guild_id: int) -> list:
        """The briefing's sends, in order: in a text channel a heading then one message per story; in a forum one
        post per story (or a reply in the story's post)."""
        if isinstance(channel, discord.ForumChannel):
            return [functools.partial(self.post_story, channel, guild_id, story, message)
                    for story, message in forum_messages(briefing, late)]
        return [functools.partial(channel.send, **message.kwargs()) for message in briefing_messages(briefing, late)]

    async def post_story(self, forum: discord.ForumChannel, guild_id: int, story: Story,
                         message: MessagePayload) -> discord.Message:
        """Reply in the story's post if it has one in this forum, else open one titled by its headline and tagged
        by its outlet count (tags the forum has)."""
        posts = self.bot.services.story_posts
        thread_id = await asyncio.to_thread(posts.find, forum.id, story, None, self.bot.scope(guild_id).reads)
        thread = await self.live_post(thread_id) if thread_id else None
        if thread is not None:
            sent = await thread.send(**message.kwargs())
        else:
            wanted = forum_tag_names(story)
            tags = [tag for tag in forum.available_tags if tag.name.casefold() in wanted][:5]
            created = await forum.create_thread(name=forum_title(story), applied_tags=tags, **message.kwargs())
            thread, sent = created.thread, created.message
        await asyncio.to_thread(posts.record, thread.id, guild_id, forum.id, story)
        return sent

    async def live_post(self, thread_id: int) -> discord.Thread | None:
        """The story's post, or None if it was deleted (then forgotten: the story gets a new post)."""
        try:
            return self.bot.get_channel(thread_id) or await self.bot.fetch_channel(thread_id)
        except (discord.NotFound, discord.Forbidden):
            await asyncio.to_thread(self.bot.services.story_posts.forget, thread_id)
            return None

    @app_commands.command(name="briefing")
    @app_commands.describe(date="A day: YYYY-MM-DD, today or yesterday (default: yesterday and today)")
    async def briefing(self, interaction: discord.Interaction, date: str | None = None) -> None:
        """The day's stories, grouped across outlets, each with a cited summary."""
        today = self.store.now().astimezone(self._zone(interaction.guild_id)).date()
        try:
            since, until = (parse_day(date, today),) * 2 if date else last_days(today)
        except ValueError as exc:
            await interaction.response.send_message(f"date {exc}", ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer(thinking=True)
        try:
            result: Briefing = await self.bot.run_rag(self.bot.services.briefing, since, until,
                                                      libraries=self.bot.scope(interaction.guild_id).reads,
                                                      guild=interaction.guild_id)
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
                                channel: discord.TextChannel | discord.ForumChannel | None = None) -> None:
        """Post a briefing of the previous day every day at this time in this server (admins only)."""
        channel = channel or interaction.channel
        old = self.store.load(interaction.guild_id)
        wanted = Schedule(channel.id, time.strip(), timezone.strip(), old.last_posted if old else None,
                          interaction.guild_id)
        try:
            wanted.local_time  # noqa: B018 - validates the time and the zone
        except ConfigError as exc:
            await interaction.response.send_message(f"Not scheduled: {exc}.", ephemeral=True,
                                                    allowed_mentions=NO_PINGS)
            return
        schedule = self.store.start(wanted, self.store.now())  # a new schedule's first post is the next time to come
        self.store.save(schedule)
        audit(interaction, "/briefing-schedule", f"channel {channel.id} ({channel.name!r}) at {schedule.time} "
              f"{schedule.timezone}")
        upcoming = self.store.post_moment(schedule, ddate.fromisoformat(schedule.last_posted) + timedelta(days=1))
        await interaction.response.send_message(
            f"The daily briefing will be posted in {channel.mention} at {schedule.time} {schedule.timezone} "
            f"(next: <t:{int(upcoming.timestamp())}:F>), covering the day before.", ephemeral=True,
            allowed_mentions=NO_PINGS)

    def _zone(self, guild_id: int | None):
        try:
            return self.store.zone(guild_id, self.bot.settings.briefing_timezone)
        except ConfigError:
            return UTC


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(BriefingCog(bot))
