"""Persistent buttons: their custom ids carry what they need, so they keep working after a restart
(`DynamicItem`s, registered once with `bot.add_dynamic_items` in a cog's setup)."""

from __future__ import annotations

import logging

import discord

from bot.app import NO_PINGS, send_ephemeral

logger = logging.getLogger(__name__)
POST_ID = "newsbot:post"


class PostToChannel(discord.ui.DynamicItem[discord.ui.Button], template=r"newsbot:post"):
    """On a private reply: post it, as it stands, to the channel for everyone (its text was neutralised when it
    was rendered), and take the button off the private copy."""

    def __init__(self) -> None:
        super().__init__(discord.ui.Button(label="Post to channel", style=discord.ButtonStyle.primary,
                                           custom_id=POST_ID))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match, /):
        return cls()

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
