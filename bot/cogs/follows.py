"""/follow, /unfollow, /following, and the alert loop that posts what follows matched: one alert per story (a later
outlet's article edits the first alert), at most NEWSBOT_ALERTS_PER_HOUR per channel (the rest fold into a digest),
DM follows only to their owner and only while they share the follow's server with the bot.

Exactly once is the store's: `pending_alerts` claims each hit before it is sent (no other loop or process gets it),
and the message id is recorded after; a hit claimed by a bot that died mid-send is not sent again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.app import NO_PINGS, NewsBot
from bot.audit import audit
from bot.cogs.feeds import linked
from bot.render import CONTENT_LIMIT, clip, escape
from rag import NewsbotError

logger = logging.getLogger(__name__)
HOUR_S = 3600
BATCH = 20  # alerts claimed per loop turn
ALSO = "Also reported by: "


def alert_text(topic: str, article, outlets: tuple[str, ...] = ()) -> str:
    """An alert: headline, outlet and date, the quoted key sentence, the link, the topic; `outlets`: the other
    outlets that reported the story since, as many as fit Discord's 2,000 characters."""
    lines = [f"🔔 **{escape(clip(article.title or 'Untitled', 200))}**"]
    meta = " · ".join(x for x in (article.source, article.published) if x)
    if meta:
        lines.append(escape(clip(meta, 150)))
    if article.quote:
        lines.append("> " + escape(clip(article.quote, 400)))
    if article.url:
        lines.append(linked(article.url))
    lines.append(f"Following: {escape(clip(topic, 200))}")
    text = "\n".join(lines)
    return text + also_line(outlets, CONTENT_LIMIT - len(text) - 1) if outlets else text


def also_line(outlets: tuple[str, ...], room: int) -> str:
    """`\nAlso reported by: A, B and 3 more`: as many names as fit `room` characters ("" when none does)."""
    names = [escape(clip(name, 60)) for name in outlets]
    for shown in range(len(names), 0, -1):
        more = len(names) - shown
        line = ALSO + ", ".join(names[:shown]) + (f" and {more} more" if more else "")
        if len(line) + 1 <= room:
            return "\n" + line
    return ""


def outlet(article) -> str:
    return article.source or "another outlet"


class FollowsCog(commands.Cog):
    """Members follow topics (alerts by DM); admins may send a topic's alerts to a channel."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        # one turn: send what is pending, then wait until this process records a hit (the ingest wakes it) or
        # alert_poll_s passes (hits recorded by another process: the polling child, a CLI ingest)
        self.sender = tasks.loop(seconds=0)(self._turn)
        self.sender.before_loop(self.bot.wait_until_ready)
        self._wake = asyncio.Event()
        self._listener = None
        self.recent: dict[int, deque[float]] = {}  # channel id -> times of its alerts in the last hour
        self.digests: dict[int, tuple[discord.Message, str, float]] = {}  # channel id -> (digest, text, started)
        self.sent_count = 0

    async def cog_load(self) -> None:
        loop = asyncio.get_running_loop()
        self._listener = lambda _hits: loop.call_soon_threadsafe(self._wake.set)
        self._listeners().append(self._listener)
        self.sender.start()

    async def cog_unload(self) -> None:
        self.sender.cancel()
        if self._listener in self._listeners():
            self._listeners().remove(self._listener)

    def _listeners(self) -> list:
        """The follow service's hit listeners (a services double without follows: a list nobody calls)."""
        listeners = getattr(getattr(self.bot.services, "follows", None), "listeners", None)
        return listeners if isinstance(listeners, list) else []

    async def _turn(self) -> None:
        self._wake.clear()  # before sending: a hit recorded meanwhile wakes the next turn at once
        await self.send_pending()
        try:
            await asyncio.wait_for(self._wake.wait(), self.bot.settings.alert_poll_s)
        except asyncio.TimeoutError:
            pass

    # ---- commands -------------------------------------------------------------------------------------------

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.followup.send(clip(text, CONTENT_LIMIT), ephemeral=True, allowed_mentions=NO_PINGS)

    def _library(self, interaction: discord.Interaction) -> str:
        return self.bot.scope(interaction.guild_id).writes

    @app_commands.command(name="follow")
    @app_commands.guild_only()
    @app_commands.describe(topic='A few words, e.g. Prime Day deals; "exact phrase" must occur, -word must not',
                           channel="Post the alerts in this channel (Manage Server); without it they come by DM")
    async def follow(self, interaction: discord.Interaction, topic: str,
                     channel: discord.TextChannel | None = None) -> None:
        """Get an alert when a new article on a topic arrives in this server's library: once per story."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if channel is not None and not interaction.permissions.manage_guild:
            audit(interaction, "/follow", "refused: a channel follow without Manage Server")
            return await self._reply(interaction, "Only members with the Manage Server permission can send a "
                                                  "topic's alerts to a channel. Leave `channel` out to get the "
                                                  "alerts yourself, by DM.")
        try:
            follow = await self.bot.run_rag(
                self.bot.services.add_follow, topic, owner_id=interaction.user.id,
                channel_id=channel.id if channel else None, guild_id=interaction.guild_id,
                library=self._library(interaction), guild=interaction.guild_id)
        except NewsbotError as exc:
            audit(interaction, "/follow", f"refused: {clip(str(exc), 200)}")
            return await self._reply(interaction, f"❌ {escape(clip(str(exc), 400))}")
        audit(interaction, "/follow", f"#{follow.id} {clip(topic, 100)!r} to "
                                      f"{f'channel {channel.id}' if channel else 'DM'}")
        where = f"in <#{channel.id}>" if channel else "to you by DM"
        await self._reply(interaction, f"✅ Following **{escape(clip(follow.topic, 200))}** (#{follow.id}): new "
                                       f"articles on it are alerted {where}, once per story.")

    @app_commands.command(name="unfollow")
    @app_commands.guild_only()
    @app_commands.describe(follow="The follow to stop (start typing its topic)")
    async def unfollow(self, interaction: discord.Interaction, follow: int) -> None:
        """Stop following a topic (admins may also stop this server's channel follows)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.bot.run_rag(self.bot.services.remove_follow, follow, library=self._library(interaction),
                                         owner_id=interaction.user.id, admin=interaction.permissions.manage_guild,
                                         guild=interaction.guild_id)
        audit(interaction, "/unfollow", f"#{follow}: {'removed' if removed else 'not theirs or absent'}")
        await self._reply(interaction, f"Stopped follow #{follow}." if removed else
                          f"You have no follow #{follow} here; see `/following`.")

    @unfollow.autocomplete("follow")
    async def follow_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        follows = await self._visible(interaction)
        current = current.lower()
        return [app_commands.Choice(name=clip(f"#{f.id} {f.topic}", 100), value=f.id) for f in follows
                if current in f.topic.lower() or current in str(f.id)][:25]

    async def _visible(self, interaction: discord.Interaction) -> list:
        """The caller's follows, and the server's channel follows for admins."""
        return await self.bot.run_rag(self.bot.services.list_follows, library=self._library(interaction),
                                      owner_id=interaction.user.id, channels=interaction.permissions.manage_guild,
                                      guild=interaction.guild_id)

    @app_commands.command(name="following")
    @app_commands.guild_only()
    async def following(self, interaction: discord.Interaction) -> None:
        """The topics you follow here (and, for admins, this server's channel follows)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        follows = await self._visible(interaction)
        if not follows:
            return await self._reply(interaction, "You follow no topics here yet; try `/follow topic: Prime Day "
                                                  "deals`.")
        lines = [f"#{f.id} **{escape(clip(f.topic, 200))}** → "
                 + (f"<#{f.channel_id}>" if f.channel_id else "your DMs" if f.owner_id == interaction.user.id
                    else "a member's DMs") for f in follows]
        await self._reply(interaction, "\n".join(lines))

    # ---- members who leave ----------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """(With the members intent.) Their DM follows of that server stop; the send-time check covers the rest."""
        await asyncio.to_thread(self.bot.services.forget_members, [payload.user.id], payload.guild_id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot left a server: no member shares it with the bot any more, so its DM follows stop."""
        library = self.bot.scope(guild.id).writes
        follows = await asyncio.to_thread(self.bot.services.list_follows, library=library)
        owners = {f.owner_id for f in follows if f.channel_id is None}
        await asyncio.to_thread(self.bot.services.forget_members, owners, guild.id)

    # ---- the alert loop -------------------------------------------------------------------------------------

    async def send_pending(self) -> int:
        """Claim the alerts waiting (every library's) and send each; the loop survives any one failing."""
        services = self.bot.services
        try:
            alerts = await asyncio.to_thread(services.pending_alerts, BATCH, self.bot.my_shards())
        except Exception:
            logger.exception("could not read the pending alerts")
            return 0
        for alert in alerts:
            try:
                await self.deliver(alert)
            except Exception:  # claimed: it is not retried (at most once), and the log says why
                logger.exception("alert of follow %s for article %s failed", alert.follow.id, alert.article.article_id)
        return len(alerts)

    async def _state(self, alert, state: str) -> None:
        await asyncio.to_thread(self.bot.services.alert_state, alert, state)

    async def destination(self, follow) -> discord.abc.Messageable | None:
        """The follow's channel, or its owner's DMs while they share the follow's server with the bot; None (and
        the DM follow forgotten) when the owner left."""
        if follow.guild_id is not None and not self.bot.serves(follow.guild_id):
            return None
        if follow.channel_id is not None:
            return self.bot.get_channel(follow.channel_id) or await self.bot.fetch_channel(follow.channel_id)
        if not follow.owner_id:
            return None  # a CLI follow with no channel: nobody to alert
        guild = self.bot.get_guild(follow.guild_id) if follow.guild_id else None
        if guild is None or not await self._is_member(guild, follow.owner_id):
            await asyncio.to_thread(self.bot.services.forget_members, [follow.owner_id], follow.guild_id)
            return None
        user = self.bot.get_user(follow.owner_id) or await self.bot.fetch_user(follow.owner_id)
        return user.dm_channel or await user.create_dm()

    @staticmethod
    async def _is_member(guild: discord.Guild, user_id: int) -> bool:
        """Asked of Discord (one request): the bot has no members intent, so its member cache can't tell."""
        try:
            await guild.fetch_member(user_id)
        except discord.NotFound:
            return False
        return True

    async def deliver(self, alert) -> None:
        target = await self.destination(alert.follow)
        if target is None:
            return await self._state(alert, "dropped")
        story = alert.alert
        if alert.is_update and story is None:
            story = await asyncio.to_thread(self.bot.services.alert_state, alert)
        if story is not None:
            return await self.update(alert, story, target)
        if self._over_cap(target.id):
            await self.fold(target, alert)
            return await self._state(alert, "folded")
        message = await target.send(alert_text(alert.follow.topic, alert.article), allowed_mentions=NO_PINGS)
        self.sent_count += 1
        await asyncio.to_thread(self.bot.services.alert_sent, alert, target.id, message.id, [outlet(alert.article)])

    async def update(self, alert, story, target) -> None:
        """A later article of an alerted story: the first alert names its outlet too (edited; a reply to it when
        the edit fails)."""
        outlets = story.outlets
        if outlet(alert.article) not in outlets:
            outlets = (*outlets, outlet(alert.article))
            first = alert.first or alert.article
            text = alert_text(alert.follow.topic, first, outlets[1:])
            channel = self.bot.get_partial_messageable(story.channel_id)
            try:
                await channel.get_partial_message(story.message_id).edit(content=text, allowed_mentions=NO_PINGS)
            except discord.HTTPException:
                logger.warning("could not edit alert %s; replying to it instead", story.message_id)
                reference = discord.MessageReference(message_id=story.message_id, channel_id=story.channel_id,
                                                     fail_if_not_exists=False)
                await target.send(clip(f"Also reported by {escape(outlet(alert.article))}:\n"
                                       + alert_text(alert.follow.topic, alert.article), CONTENT_LIMIT),
                                  reference=reference, allowed_mentions=NO_PINGS)
        await asyncio.to_thread(self.bot.services.alert_sent, alert, story.channel_id, story.message_id, outlets)

    def _over_cap(self, channel_id: int) -> bool:
        """Whether the channel already had NEWSBOT_ALERTS_PER_HOUR alerts in the last hour (else counts this one)."""
        now = time.monotonic()
        times = self.recent.setdefault(channel_id, deque())
        while times and now - times[0] > HOUR_S:
            times.popleft()
        if len(times) >= self.bot.settings.alerts_per_hour:
            return True
        times.append(now)
        return False

    async def fold(self, target, alert) -> None:
        """One digest message per channel per hour, edited as alerts fold into it (a new one when it is full)."""
        a = alert.article
        line = (f"• **{escape(clip(a.title or 'Untitled', 150))}** — {escape(clip(outlet(a), 60))}"
                + (f" {linked(a.url)}" if a.url else "") + f" ({escape(clip(alert.follow.topic, 60))})")
        held = self.digests.get(target.id)
        now = time.monotonic()
        if held and now - held[2] < HOUR_S and len(held[1]) + len(line) + 1 <= CONTENT_LIMIT:
            text = held[1] + "\n" + line
            try:
                await held[0].edit(content=text, allowed_mentions=NO_PINGS)
                self.digests[target.id] = (held[0], text, held[2])
                return
            except discord.HTTPException:
                logger.warning("could not edit the alert digest in %s; starting a new one", target.id)
        text = (f"🗞️ More alerts this hour (past the {self.bot.settings.alerts_per_hour} per hour of "
                f"NEWSBOT_ALERTS_PER_HOUR):\n{line}")
        message = await target.send(text, allowed_mentions=NO_PINGS)
        self.digests[target.id] = (message, text, now)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(FollowsCog(bot))
