"""Persistent buttons: their custom ids carry what they need, so they keep working after a restart
(`DynamicItem`s, registered once with `bot.add_dynamic_items` in a cog's setup)."""

from __future__ import annotations

import logging
import re

import discord

from bot.app import NO_PINGS, send_ephemeral

logger = logging.getLogger(__name__)
POST_ID = "newsbot:post"


async def served(interaction: discord.Interaction) -> bool:
    """Like a slash command, a button in a server off NEWSBOT_ALLOWED_GUILDS gets no answer at all."""
    if interaction.client.serves(interaction.guild_id):
        return True
    logger.warning("ignoring a button in server %s: not in NEWSBOT_ALLOWED_GUILDS", interaction.guild_id)
    return False


class PostToChannel(discord.ui.DynamicItem[discord.ui.Button], template=r"newsbot:post"):
    """On a private reply: post it, as it stands, to the channel for everyone (its text was neutralised when it
    was rendered), and take the button off the private copy."""

    def __init__(self) -> None:
        super().__init__(discord.ui.Button(label="Post to channel", style=discord.ButtonStyle.primary,
                                           custom_id=POST_ID))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match, /):
        return cls()

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await served(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        if message is None or not (message.content or message.embeds):
            await send_ephemeral(interaction, "That reply is gone; run the check again to post it.")
            return
        await interaction.response.edit_message(view=None)  # within the 3 s: the private copy loses its button
        try:
            await interaction.followup.send(content=message.content or None, embeds=message.embeds,
                                            allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            logger.warning("could not post a check to channel %s", interaction.channel_id, exc_info=True)
            await send_ephemeral(interaction, "Sorry, I could not post it here; check my permissions in this channel.")


def post_view() -> discord.ui.View:
    """The view of a private reply that can be posted."""
    view = discord.ui.View(timeout=None)
    view.add_item(PostToChannel())
    return view


# ---- an answer's buttons: the custom id carries the answer's id, the store keeps what they need ------------------

ANSWER_ID = r"(?P<answer_id>[0-9a-f]{16})"
FORM_ID = re.compile(r"newsbot:fuq:" + ANSWER_ID)


class ServedButton(discord.ui.DynamicItem[discord.ui.Button], template=r"newsbot:served"):
    """An answer's button (only its subclasses' templates are registered); the allow-list is checked first, and
    the work is done by the `AnswerButtons` cog (bot/cogs/buttons.py)."""

    def __init__(self, answer_id: str, label: str, prefix: str, emoji: str) -> None:
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=discord.ButtonStyle.secondary,
                                           custom_id=f"{prefix}{answer_id}"))
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match, /):
        return cls(match["answer_id"])

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await served(interaction)

    def handler(self, interaction: discord.Interaction):
        cog = interaction.client.get_cog("AnswerButtons")
        if cog is None:
            raise RuntimeError("the AnswerButtons cog is not loaded")
        return cog


class SourcesButton(ServedButton, template=r"newsbot:src:" + ANSWER_ID):
    """Sources: the answer's cited passages in full, to the clicker only."""

    def __init__(self, answer_id: str) -> None:
        super().__init__(answer_id, "Sources", "newsbot:src:", "📄")

    async def callback(self, interaction: discord.Interaction) -> None:
        await self.handler(interaction).show_sources(interaction, self.answer_id)


class FollowUpButton(ServedButton, template=r"newsbot:fu:" + ANSWER_ID):
    """Follow-up: a form for a follow-up question, answered in the answer's thread."""

    def __init__(self, answer_id: str) -> None:
        super().__init__(answer_id, "Follow-up", "newsbot:fu:", "💬")

    async def callback(self, interaction: discord.Interaction) -> None:
        await self.handler(interaction).open_follow_up(interaction, self.answer_id)


class FollowUpForm(discord.ui.Modal, title="Follow-up question"):
    """The follow-up form. Its submit is handled by the AnswerButtons cog's `on_interaction`, found by the answer id
    in its custom id, not by this object: a form opened before a restart is still answered after it."""

    def __init__(self, answer_id: str, max_chars: int) -> None:
        super().__init__(timeout=900, custom_id=f"newsbot:fuq:{answer_id}")  # FORM_ID
        self.answer_id = answer_id
        self.question = discord.ui.TextInput(label="Your follow-up question", style=discord.TextStyle.paragraph,
                                             max_length=min(max_chars, 4000), min_length=1,
                                             placeholder="e.g. What did the other side say?")
        self.add_item(self.question)



def answer_view(answer_id: str) -> discord.ui.View:
    """The buttons under an answer."""
    view = discord.ui.View(timeout=None)
    view.add_item(SourcesButton(answer_id))
    view.add_item(FollowUpButton(answer_id))
    return view


def submitted_text(data: dict) -> str:
    """The text typed into a submitted form (its text inputs, in action rows or labels, joined)."""
    values, stack = [], list(data.get("components") or [])
    while stack:
        item = stack.pop(0)
        if isinstance(item.get("value"), str):
            values.append(item["value"])
        stack[:0] = [*(item.get("components") or []), *([item["component"]] if item.get("component") else [])]
    return "\n".join(values).strip()
