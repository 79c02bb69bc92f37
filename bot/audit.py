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
    services = getattr(interaction.client, "services", None)
    if services is None:
        return
    try:  # the row every bot process shares (rag/store/audit.py); the log line above is written either way
        services.record_audit(action, interaction.guild_id, user.id, detail)
    except Exception:  # noqa: BLE001 - an audit row that can't be written never fails the member's command
        logger.warning("the audit row for %s in server %s could not be stored", action, interaction.guild_id,
                       exc_info=True)
