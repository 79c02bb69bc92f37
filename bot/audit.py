"""The audit log: who changed what a server reads or gets (/ingest, /forget, the schedule), where, on what.

One INFO line per action on the `bot.audit` logger, so an operator can route it apart. It names users, servers,
files, articles and channels by id (and name, quoted with repr so a crafted name can't forge a line); it never
holds message content or secrets.
"""

from __future__ import annotations

import logging

import discord

logger = logging.getLogger(__name__)


def audit(interaction: discord.Interaction, action: str, detail: str) -> None:
    """Log `action` (e.g. "ingest") by the interaction's user in its server, with `detail` (ids, titles)."""
    user, guild = interaction.user, interaction.guild
    logger.info("%s by user %s (%r) in server %s (%r): %s", action, user.id, str(user), interaction.guild_id,
                guild.name if guild else None, detail)
