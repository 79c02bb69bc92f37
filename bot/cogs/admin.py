"""/ingest and /forget: admin only (hidden by default_member_permissions and checked again here)."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import NO_PINGS, NewsBot
from bot.render import clip, escape, split_text
from rag.articles import SUPPORTED, Article, load_paths

logger = logging.getLogger(__name__)
ADMIN = discord.Permissions(manage_guild=True)


def safe_name(filename: str) -> str:
    """A filename that is safe to write in a temporary folder (the suffix, which picks the loader, is kept)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name).lstrip(".")
    return name[-100:] or "upload.txt"


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
        """Add attached article files to the store (admins only)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        lines = [await self.ingest_one(a, source) for a in (file, file2, file3) if a is not None]
        for piece in split_text("\n".join(lines)):
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PINGS)

    async def ingest_one(self, attachment: discord.Attachment, source: str | None) -> str:
        """One result line for one attached file."""
        name = escape(clip(attachment.filename, 80))
        limit = self.bot.settings.max_file_bytes
        if Path(attachment.filename).suffix.lower() not in SUPPORTED:
            return f"❌ {name}: not an article file (use .txt, .md, .html, .json or .jsonl)"
        if attachment.size > limit:
            return f"❌ {name}: {attachment.size:,} bytes is over the {limit:,}-byte limit"
        try:
            data = await attachment.read()
        except discord.HTTPException:
            logger.warning("could not download attachment %s", attachment.filename, exc_info=True)
            return f"❌ {name}: could not download the file from Discord; try again"
        return await self.bot.run_rag(self.store_file, attachment.filename, data, source)

    def store_file(self, filename: str, data: bytes, source: str | None) -> str:
        """Load and ingest one file's bytes (blocking; runs in a thread)."""
        services = self.bot.services
        shown = escape(clip(filename, 80))
        with tempfile.TemporaryDirectory(prefix="newsbot-upload-") as folder:
            path = Path(folder) / safe_name(filename)
            path.write_bytes(data)
            items = list(load_paths([path], source=(source or "").strip() or None,
                                    max_bytes=services.settings.max_file_bytes))
            result = services.index.ingest(items)
            titles = {i.article_id: i.title for i in items if isinstance(i, Article)}
            reasons = [f.reason.replace(str(path), shown) for f in result.failed]
        parts = [f"{label} {len(ids)}" for label, ids in (("added", result.added), ("updated", result.updated),
                                                            ("unchanged", result.unchanged)) if ids]
        named = ", ".join(escape(clip(titles.get(i, i), 80)) for i in result.added + result.updated)
        if reasons and not parts:
            return f"❌ {shown}: {escape(clip('; '.join(reasons), 300))}"
        line = f"✅ {shown}: {', '.join(parts) or 'nothing to add'}" + (f" — {named}" if named else "")
        if reasons:
            line += f" (skipped {len(reasons)}: {escape(clip('; '.join(reasons), 200))})"
        return clip(line, 1000)

    @app_commands.command(name="forget")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(article="The article's id (start typing its title)")
    async def forget(self, interaction: discord.Interaction, article: str) -> None:
        """Remove one article and its passages from the store (admins only)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.bot.run_rag(self.bot.services.index.remove, article.strip())
        text = (f"Removed article `{escape(clip(article, 80))}`." if removed else
                f"No article has the id `{escape(clip(article, 80))}`; see `/sources`.")
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @forget.autocomplete("article")
    async def article_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if not interaction.permissions.manage_guild:
            return []
        articles = await self.bot.run_rag(self.bot.services.index.list_articles, current or None, 25)
        return [app_commands.Choice(name=clip(f"{a.title} ({a.source or '?'}, {a.published or 'undated'})", 100),
                                    value=a.article_id) for a in articles if len(a.article_id) <= 100]


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(AdminCog(bot))
