"""/feeds add, /feeds remove, /feeds list (Manage Server; the server's own library), and the background poll of
every library's due feeds, off the event loop so it never waits on a fetch, a parse or an embedding: in a child
process by default (NEWSBOT_FEED_POLL_PROCESS), else in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import time

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.app import NO_PINGS, NewsBot
from bot.audit import audit
from bot.render import clip, escape, split_text
from rag import NewsbotError, shown_url

logger = logging.getLogger(__name__)
FETCHING = {"add_feed"}  # operations that fetch from the open web: long admin work (FairSlots)


def linked(url: str) -> str:
    """A URL in `<…>` (Discord shows it without a preview): percent-encoded and without credentials by
    `shown_url`, so no feed or admin input can close the brackets or make a masked link."""
    return f"<{clip(shown_url(url), 300)}>"


def feed_line(shown: dict) -> str:
    """One feed of `/feeds list`: its URL, title, interval and state."""
    every = shown["every_s"] // 60
    state = "⏸ paused" if shown["paused"] else f"next <t:{int(shown['next_due_ts'])}:R>"
    ok = f"<t:{int(shown['last_ok_ts'])}:R>" if shown["last_ok_ts"] else "never"
    line = (f"• {linked(shown['url'])} — {escape(clip(shown['title'] or 'untitled', 80))}; every {every} min; "
            f"{shown['entries']} entries; last ok {ok}; {state}")
    if shown["last_error"]:
        line += f"\n  ⚠️ {escape(clip(shown['last_error'], 200))}"
    return line


class FeedsCog(commands.Cog):
    """Feeds a server polls into its own library."""

    feeds = app_commands.Group(name="feeds", description="News feeds polled into this server's library (admins)",
                               guild_only=True, default_permissions=discord.Permissions(manage_guild=True))

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.poller = tasks.loop(seconds=bot.settings.feed_poll_s)(self.poll_due)
        self.poller.before_loop(self.bot.wait_until_ready)
        self.last_poll = None

    async def cog_load(self) -> None:
        if self.bot.settings.feeds_in_bot:  # else `newsbot worker`s poll; /feeds commands still work here
            self.poller.start()

    async def cog_unload(self) -> None:
        self.poller.cancel()
        if hasattr(self.bot.services, "close_feeds"):
            self.bot.services.close_feeds()

    async def poll_due(self):
        """One pass over every library's due feeds, awaited in a thread (fetching, parsing and embedding block; with
        the child process the thread only waits for it)."""
        try:
            self.last_poll = await asyncio.to_thread(self.bot.services.poll_feeds, every_library=True,
                                                     in_child=self.bot.settings.feed_poll_process)
        except Exception:  # the loop must survive a bad pass; the next one retries
            logger.exception("feed poll failed")
            return None
        result = self.last_poll
        if result.feeds:
            logger.info("polled %d feeds: %d new, %d updated, %d failed", result.feeds, result.new, result.updated,
                        len(result.failed))
        return result

    async def _own(self, interaction: discord.Interaction, method: str, *args, **kwargs):
        """Defer privately, then run `services.<method>` on the server's own library in a worker thread:
        (library, result). Adding fetches: NEWSBOT_ADMIN_TIMEOUT_S, within the server's share of the slots."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = self.bot.scope(interaction.guild_id).writes
        call = getattr(self.bot.services, method)
        return library, await self.bot.run_rag(call, *args, library=library, guild=interaction.guild_id,
                                               long=method in FETCHING, **kwargs)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        for piece in split_text(text):
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PINGS)

    @feeds.command(name="add")
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(url="The feed's URL, or a site's home page that advertises one",
                           every="How often to poll: 30m, 2h, 1d (default 30m)")
    async def add(self, interaction: discord.Interaction, url: str, every: str | None = None) -> None:
        """Poll a news feed into this server's library (admins only)."""
        library = self.bot.scope(interaction.guild_id).writes
        try:
            _, (feed, added) = await self._own(interaction, "add_feed", url.strip(), every=every)
        except NewsbotError as exc:
            audit(interaction, "/feeds add", f"{clip(shown_url(url), 200)!r} into {library}: refused: "
                                             f"{clip(str(exc), 200)}")
            return await self._reply(interaction, f"❌ {linked(url)}: {escape(clip(str(exc), 400))}")
        audit(interaction, "/feeds add", f"{shown_url(feed.url)!r} into {library}: "
                                         f"{'added' if added else 'already there'}")
        what = "Added" if added else "Already polling"
        await self._reply(interaction, f"✅ {what} **{escape(clip(feed.title or 'untitled', 100))}** "
                                       f"({linked(feed.url)}), every {feed.every_s // 60} min. Its articles "
                                       "arrive with the next poll.")

    @feeds.command(name="remove")
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(url="The feed's URL (start typing its title)")
    async def remove(self, interaction: discord.Interaction, url: str) -> None:
        """Stop polling a feed; the articles it brought stay (admins only)."""
        library, removed = await self._own(interaction, "remove_feed", url.strip())
        shown = linked(url)
        audit(interaction, "/feeds remove", f"{clip(shown_url(url), 200)!r} from {library}: "
                                            f"{'removed' if removed else 'absent'}")
        await self._reply(interaction, f"Stopped polling {shown}." if removed else
                          f"This server has no feed {shown}; see `/feeds list`.")

    @remove.autocomplete("url")
    async def feed_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if not interaction.permissions.manage_guild:
            return []
        feeds = await self.bot.run_rag(self.bot.services.list_feeds, library=self.bot.scope(interaction.guild_id)
                                       .writes, guild=interaction.guild_id)
        current = current.lower()
        return [app_commands.Choice(name=clip(f"{f.title or f.url}", 100), value=f.url) for f in feeds
                if len(f.url) <= 100 and (current in f.url.lower() or current in (f.title or "").lower())][:25]

    @feeds.command(name="list")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def list_(self, interaction: discord.Interaction) -> None:
        """This server's feeds: last success, last error and when each is polled next (admins only)."""
        _, feeds = await self._own(interaction, "list_feeds")
        if not feeds:
            return await self._reply(interaction, "This server polls no feeds yet; add one with `/feeds add`.")
        lines = [feed_line({**f.shown(), "next_due_ts": max(f.next_due, time.time()), "last_ok_ts": f.last_ok})
                 for f in feeds]
        await self._reply(interaction, "\n".join(lines))


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(FeedsCog(bot))
