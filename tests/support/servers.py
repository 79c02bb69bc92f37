"""The bot on the Discord double: the question and article the bot tests share, two servers, and waiting on them."""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.app import create_bot
from tests.conftest import make_settings
from tests.doubles.discord_double import DiscordDouble

DRONES = "How many drones did Russia deploy according to CNN?"

PARTY_ARTICLE = """Title: Turku harbour festival opens on Saturday
Source: Turku Daily
Date: 2024-11-12

The Turku harbour festival opens on Saturday with boats, music and food stalls. @everyone is invited to the Turku \
harbour festival, say the <@&123> organisers of the festival. Entry to the harbour festival is free.
"""


@contextlib.asynccontextmanager
async def two_servers(services, *, joined_b: bool = True, **overrides):
    """The double's test guild is server A; server B has its own admin and #general; the bot is in both."""
    async with DiscordDouble() as double:
        b = double.add_guild("B", joined=joined_b)
        bot = create_bot(make_settings(services.settings.data_dir, **overrides), services, guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            yield double, b, bot


async def until(check, timeout: float = 30.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


class Spy:
    """Services with the same answers, recording condense calls; `ask` can be slowed down or replaced."""

    def __init__(self, inner, delay_s: float = 0.0, ask=None) -> None:
        self.inner, self.delay_s, self.replacement = inner, delay_s, ask
        self.condensed: list[tuple[list, str, str]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, query):
        time.sleep(self.delay_s)
        return self.replacement(query) if self.replacement else self.inner.ask(query)

    def condense(self, history, question):
        out = self.inner.condense(history, question)
        self.condensed.append((list(history), question, out))
        return out


def seeds_and_party(tmp_path_factory):
    """Services over the two seeds plus an article whose text holds @everyone, a role mention and a link."""
    from rag.articles.loaders import load_paths
    from rag.services import build_services
    from tests.conftest import SEEDS

    folder = tmp_path_factory.mktemp("articles")
    (folder / "party.txt").write_text(PARTY_ARTICLE, encoding="utf-8")
    services = build_services(make_settings(tmp_path_factory.mktemp("store")))
    assert services.index.ingest(load_paths([SEEDS, folder])).ok
    return services
