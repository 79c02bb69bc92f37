"""Apps → "Check with newsbot": a message's claims checked against the server's articles, privately first."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import NO_PINGS, NewsBot
from bot.render import CONTENT_LIMIT, QUOTE_CHARS, MessagePayload, clip, escape, split_text
from bot.views import PostToChannel, post_view

logger = logging.getLogger(__name__)
CLAIM_CHARS = 300
LABELS = {"supported": "✅ Supported", "contradicted": "❌ Contradicted", "not_found": "❔ Not in the articles"}
EMPTY = "That message has no text I can check (I read only its words, not images or embeds)."


def citation_line(c) -> str:
    """A quote with its outlet and date, neutralised (it comes from an article)."""
    meta = " · ".join(escape(x) for x in (c.source, c.published) if x)
    title = escape(clip(c.title or "Untitled", 120))
    return f"> {escape(clip(c.quote, QUOTE_CHARS))}\n-# {title}" + (f" — {meta}" if meta else "")


def check_text(result) -> str:
    """The verdicts claim by claim, each with its quotes; the labels are the checks' own."""
    if not result.claims:
        return "I found no claim to check in that message."
    blocks = []
    for i, claim in enumerate(result.claims, 1):
        label = LABELS.get(claim.verdict, escape(claim.verdict))
        lines = [f"**{i}. {label}:** {escape(clip(claim.text, CLAIM_CHARS))}"]
        lines += [citation_line(c) for c in claim.citations[:2]]
        if claim.verdict != "supported" and claim.reason:  # why, so a reader can judge the check
            lines.append(f"-# Why: {escape(clip(claim.reason, CLAIM_CHARS))}")
        blocks.append("\n".join(lines))
    if getattr(result, "note", None):
        blocks.append(f"-# {escape(result.note)}")
    return "\n\n".join(blocks)


def check_messages(result) -> list[MessagePayload]:
    """The check as messages within Discord's limits."""
    return [MessagePayload(content=piece) for piece in split_text(check_text(result), CONTENT_LIMIT)]


class CheckCog(commands.Cog):
    """The "Check with newsbot" message command."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Check with newsbot", callback=self.check_message)
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def check_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Check the message's claims against the articles this server reads; the reply is private."""
        text = (message.content or "").strip()
        refusal = EMPTY if not text else self.bot.refusal(interaction.guild_id, interaction.user.id,
                                                           clip(text, self.bot.settings.max_question_chars))
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        libraries = self.bot.scope(interaction.guild_id).reads
        payloads = await self.bot.run_rag(self.check_and_render, text, libraries, guild=interaction.guild_id)
        for payload in payloads:  # each part can be posted on its own
            await interaction.followup.send(ephemeral=True, view=post_view(), **payload.kwargs())

    def check_and_render(self, text: str, libraries: tuple[str, ...]) -> list[MessagePayload]:
        """The check and its messages (blocking; runs in a thread)."""
        return check_messages(self.bot.services.check(text, libraries=libraries))


async def setup(bot: NewsBot) -> None:
    bot.add_dynamic_items(PostToChannel)
    await bot.add_cog(CheckCog(bot))
