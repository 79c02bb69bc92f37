"""/ingest and /forget: admin only (hidden by default_member_permissions and checked again here), and only ever
on the server's own library; each run is in the audit log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import NO_PINGS, NewsBot
from bot.audit import audit
from bot.render import clip, escape, split_text
from bot.scope import Scope
from rag import SUPPORTED

if TYPE_CHECKING:
    from rag import IngestResult

logger = logging.getLogger(__name__)
ADMIN = discord.Permissions(manage_guild=True)


def result_lines(shown: str, result: IngestResult, titles: dict[str, str], reasons: list[str],
                 notes: list[str] = ()) -> tuple[str, str]:
    """The user's line for one file's ingest, and the audit log's (the ids and titles it added or updated); `notes`:
    what was stored differently from the file (text cut at a cap, pages left out)."""
    parts = [f"{label} {len(ids)}" for label, ids in (("added", result.added), ("updated", result.updated),
                                                        ("unchanged", result.unchanged)) if ids]
    changed = result.added + result.updated
    logged = "; ".join([", ".join(parts) or "nothing to add", *(f"{i} {titles.get(i, '')!r}" for i in changed),
                        *([f"skipped {len(reasons)}"] if reasons else [])])
    if reasons and not parts:
        return f"❌ {shown}: {escape(clip('; '.join(reasons), 300))}", f"skipped: {clip('; '.join(reasons), 300)}"
    named = ", ".join(escape(clip(titles.get(i, i), 80)) for i in changed)
    line = f"✅ {shown}: {', '.join(parts) or 'nothing to add'}" + (f" — {named}" if named else "")
    if reasons:
        line += f" (skipped {len(reasons)}: {escape(clip('; '.join(reasons), 200))})"
    if notes:
        line += f" ⚠️ {escape(clip('; '.join(notes), 300))}"
    return clip(line, 1000), logged


def forget_text(shown: str, removed: bool, shared: list[str]) -> str:
    """What /forget tells the admin: removed, or held by a shared library (read-only from Discord), or unknown."""
    if not shared:
        return f"Removed article `{shown}`." if removed else f"No article has the id `{shown}`; see `/sources`."
    libraries = ", ".join(f"`{name}`" for name in shared)
    kind = "shared library" if len(shared) == 1 else "shared libraries"
    if removed:
        return (f"Removed article `{shown}` from this server's library. It is still shown here from the {kind} "
                f"{libraries}: read-only from Discord, managed by the bot's operator.")
    return (f"Article `{shown}` is in the {kind} {libraries}, read-only from Discord: nothing was removed. "
            "The bot's operator can remove it.")


class AdminCog(commands.Cog):
    """Adding and removing articles."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="ingest")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(file="An article: .txt, .md, .html, .json or .jsonl", file2="Another article file",
                           file3="Another article file", source="The outlet, overriding what the files say")
    async def ingest(self, interaction: discord.Interaction, file: discord.Attachment,
                     file2: discord.Attachment | None = None, file3: discord.Attachment | None = None,
                     source: str | None = None) -> None:
        """Add attached article files to this server's library (admins only)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = self.bot.scope(interaction.guild_id).writes
        lines = []
        for attachment in (a for a in (file, file2, file3) if a is not None):
            line, outcome = await self.ingest_one(interaction, attachment, source, library)
            audit(interaction, "/ingest", f"file {attachment.filename!r} into {library}: {outcome}")
            lines.append(line)
        for piece in split_text("\n".join(lines)):
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PINGS)

    async def ingest_one(self, interaction: discord.Interaction, attachment: discord.Attachment,
                         source: str | None, library: str | None) -> tuple[str, str]:
        """One result line for one attached file, and what happened, for the audit log."""
        name = escape(clip(attachment.filename, 80))
        limit = self.bot.settings.max_file_bytes
        if Path(attachment.filename).suffix.lower() not in SUPPORTED:
            return f"❌ {name}: not an article file (use .txt, .md, .html, .json or .jsonl)", "refused: file type"
        if attachment.size > limit:
            return (f"❌ {name}: {attachment.size:,} bytes is over the {limit:,}-byte limit",
                    f"refused: {attachment.size} bytes")
        try:
            data = await attachment.read()
        except discord.HTTPException:
            logger.warning("could not download attachment %s", attachment.filename, exc_info=True)
            return f"❌ {name}: could not download the file from Discord; try again", "download failed"
        return await self.bot.run_rag(self.store_file, attachment.filename, data, source, library,
                                      guild=interaction.guild_id, long=True)

    def store_file(self, filename: str, data: bytes, source: str | None, library: str | None) -> tuple[str, str]:
        """Read and ingest one file's bytes into `library` (blocking; runs in a thread)."""
        services = self.bot.services
        shown = escape(clip(filename, 80))
        upload = services.read_upload(filename, data, (source or "").strip() or None)
        result = services.ingest(upload.items, library=library)
        # the messages name the upload's temporary copy: the user sees the file's own name, or nothing
        reasons = [f.reason.replace(upload.path, shown) for f in result.failed]
        notes = [w.replace(upload.path, "").lstrip(": ") for w in result.warnings]
        return result_lines(shown, result, upload.titles, reasons, notes)

    @app_commands.command(name="forget")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(article="The article's id (start typing its title)")
    async def forget(self, interaction: discord.Interaction, article: str) -> None:
        """Remove one article from this server's library (admins only)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        scope = self.bot.scope(interaction.guild_id)
        article_id = article.strip()
        removed, shared = await self.bot.run_rag(self.forget_in, article_id, scope, guild=interaction.guild_id)
        outcome = "removed" if removed else (f"refused: held by shared {', '.join(shared)}, read-only" if shared
                                             else "not there")
        audit(interaction, "/forget", f"article {clip(article_id, 100)!r} from {scope.writes}: {outcome}")
        await interaction.followup.send(forget_text(escape(clip(article_id, 80)), removed, shared), ephemeral=True,
                                        allowed_mentions=NO_PINGS)

    def forget_in(self, article_id: str, scope: Scope) -> tuple[bool, list[str]]:
        """Take the article out of the server's own library; and the shared libraries, read-only from Discord,
        that hold it (blocking; runs in a thread)."""
        services = self.bot.services
        removed = services.remove(article_id, library=scope.writes)
        return removed, services.holders(article_id, [name for name in scope.reads if name != scope.writes])

    @forget.autocomplete("article")
    async def article_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if not interaction.permissions.manage_guild:
            return []
        # the server's own articles: the only ones /forget can take out (shared libraries are read-only here)
        own = self.bot.scope(interaction.guild_id).writes
        if own is None:
            return []
        articles = await self.bot.run_rag(self.bot.services.list_articles, current or None, 25, libraries=(own,),
                                          guild=interaction.guild_id)
        return [app_commands.Choice(name=clip(f"{a.title} ({a.source or '?'}, {a.published or 'undated'})", 100),
                                    value=a.article_id) for a in articles if len(a.article_id) <= 100]


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(AdminCog(bot))
