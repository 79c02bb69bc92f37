"""Issue #25, slots that come back: one server's `/feeds add` of a tarpit URL can't keep another server's `/ask`
from its answer (the Discord double, a hostile site on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.conftest import SEEDS, make_settings
from tests.doubles.feeds_site import NewsSite
from tests.support.feeds import continue_forever
from tests.support.servers import DRONES, two_servers

pytestmark = pytest.mark.slow  # a bot on the Discord double


@pytest.fixture
def fetching(tmp_path):
    from rag.articles.loaders import load_paths
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "store", allow_private_urls=True, fetch_read_timeout_s=60,
                                            fetch_total_timeout_s=60))
    assert len(services.ingest(load_paths([SEEDS])).added) == 2  # `default`: every server reads it
    return services


async def test_tarpit_feeds_added_by_one_server_leave_another_servers_question_answered(fetching):
    with NewsSite() as site:
        site.routes["/tarpit.xml"] = continue_forever(site)
        async with two_servers(fetching, ask_concurrency=4, ask_cooldown_s=0, admin_timeout_s=3,
                               ask_timeout_s=20) as (double, b, bot):
            a = double.guild_id
            adds = [await double.invoke_slash("feeds add", {"url": site.url("/tarpit.xml")}, user=double.admin,
                                              guild_id=a) for _ in range(4)]
            asked = await double.invoke_slash("ask", {"question": DRONES}, user=b.admin, guild_id=b.id)
            answer = await asked.wait_for_reply(20)
            assert "145 drones" in answer["content"]  # while A's adds still hang on the tarpit
            for record in adds:  # each add ends at its own deadline with the reason, slot or no slot
                assert "took longer than 3 s" in (await record.wait_for_reply(30))["content"]
            assert sum(bot.rag_slots.running.values()) == 0 and bot.rag_slots.overdue[a] == 2  # threads still hung
            again = await double.invoke_slash("ask", {"question": DRONES}, user=double.admin, guild_id=a)
            assert "145 drones" in (await again.wait_for_reply(20))["content"]  # A's slots came back too
            assert fetching.list_feeds(library=f"guild-{a}") == []
