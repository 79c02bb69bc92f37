"""Apps → "Check with newsbot" on the Discord double: a private verdict per claim, and a button that posts it."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from bot.app import create_bot
from rag.schema import Citation
from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble
from tests.doubles.discord_double.components import component_ids

pytestmark = pytest.mark.slow  # a bot on the Discord double

CLAIM = "Finland reported 145 drones over Helsinki. Nobody was hurt. Aliens landed in Turku."
QUOTE = "Finnish authorities reported 145 drones over Helsinki on Monday [see](https://evil.example) @everyone."


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from rag.services import build_services

    return build_services(make_settings(tmp_path_factory.mktemp("store")))


class FakeChecks:
    """Real Services whose `check` answers one claim per sentence, rule-based, and records what it was asked."""

    def __init__(self, inner) -> None:
        self.inner, self.asked = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def check(self, text, libraries):
        self.asked.append((text, libraries))
        cite = Citation(1, "a1", "Drones over Helsinki", "Yle", "2025-09-29", "https://yle.fi/a1", QUOTE)
        verdicts = [("supported", [cite], ""), ("contradicted", [cite], "the articles give a different number"),
                    ("not_found", [], "no passage says this in words the check can match")]
        claims = [SimpleNamespace(text=s.strip() + ".", verdict=v, citations=c, reason=r)
                  for s, (v, c, r) in zip(text.split(".")[:3], verdicts)]
        return SimpleNamespace(claims=claims, note=None)


@contextlib.asynccontextmanager
async def running(store, **overrides):
    services = FakeChecks(store)
    async with DiscordDouble() as double:
        bot = create_bot(services.settings, services, guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            yield double, services


async def test_checking_a_message_answers_privately_with_a_verdict_per_claim_and_quotes(store):
    async with running(store) as (double, services):
        said = await double.send_message(double.general_id, double.admin, CLAIM)
        record = await double.invoke_message_command("Check with newsbot", said)
        reply = await record.wait_for_reply(timeout=20)
        assert record.response_type == 5 and reply["flags"] & MESSAGE_FLAG_EPHEMERAL
        text = reply["content"]
        assert "Supported:** Finland reported 145 drones" in text and "Contradicted:** Nobody was hurt" in text
        assert "Not in the articles:** Aliens landed in Turku" in text
        # why each claim that is not supported got its verdict, so the reader can judge it
        assert "Why: the articles give a different number" in text and "Why: no passage says this in words" in text
        assert "145 drones over Helsinki" in text and "Yle" in text and "2025-09-29" in text
        assert "](https://evil" not in text and "@\u200beveryone" in text and not reply["mentions"]
        assert [text for text, _ in services.asked] == [CLAIM]
        assert component_ids(reply) == ["newsbot:post"]


async def test_post_to_channel_posts_the_check_publicly_without_pings_and_drops_the_button(store):
    async with running(store) as (double, _):
        said = await double.send_message(double.general_id, double.admin, CLAIM)
        record = await double.invoke_message_command("Check with newsbot", said)
        private = await record.wait_for_reply(timeout=20)
        click = await double.click(private, "newsbot:post")
        await double._wait_until(lambda: click.followups() or None, 10, "the public post")
        [public] = click.followups()
        assert click.response_type == 7 and not public["flags"] & MESSAGE_FLAG_EPHEMERAL
        assert public["content"] == private["content"] and not public["mentions"]
        assert public["channel_id"] == str(double.general_id)
        assert component_ids(double.get_message(int(private["id"]))) == []


async def test_a_message_without_text_is_refused_privately_and_at_once(store):
    async with running(store) as (double, services):
        said = await double.send_message(double.general_id, double.admin, "   ")
        record = await double.invoke_message_command("Check with newsbot", said)
        reply = await record.wait_for_reply(timeout=10)
        assert record.response_type == 4 and reply["flags"] & MESSAGE_FLAG_EPHEMERAL
        assert "no text I can check" in reply["content"] and services.asked == []
