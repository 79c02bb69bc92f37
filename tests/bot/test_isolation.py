"""Servers kept apart end to end (issue #12): a real store, two servers A and B and a DM, through the Discord
double. What one server's admin ingests never reaches another server or a DM, in any payload the bot sends; an
admin can only take articles out of their own server's library, never out of another's or a shared one.
"""

from __future__ import annotations

import json

import pytest

from rag.articles.loaders import load_paths
from tests.conftest import SEEDS, make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL
from tests.support.servers import DRONES, two_servers

pytestmark = pytest.mark.slow  # bots on the Discord double

URL = "https://lakeland.example/2024/11/12/kallavesi-ferry"
FERRY = "How many reindeer did the ferry carry across the lake?"
# In A's article only, and in no question asked here: none of these may reach server B or a DM.
A_MARKERS = ("4,817", "Kallavesi", "Lakeland Courier", "kallavesi-ferry")


def ferry_article(reindeer: str, outlet: str = "Lakeland Courier", url: str | None = URL) -> bytes:
    """A JSON article whose one fact is the number of reindeer the ferry carried."""
    return json.dumps({
        "title": "Kallavesi ferry sets a herding record", "source": outlet, "url": url,
        "published_at": "2024-11-12",
        "body": f"The Kallavesi ferry carried {reindeer} reindeer across the lake on Tuesday, a herding record. "
                "Herders said the crossing saved them two days on the road to the winter pastures. "
                "The ferry company plans a second crossing next week if the ice holds off.",
    }).encode()


@pytest.fixture(scope="module")
def library_store(tmp_path_factory):
    """Services over a real store whose shared library `default` holds the two seeds (as the operator's CLI
    would ingest them). Each test's servers are new, so their own libraries start empty."""
    from rag.services import build_services

    services = build_services(make_settings(tmp_path_factory.mktemp("libraries")))
    assert services.ingest(load_paths([SEEDS])).ok
    return services


def sent_payloads(double) -> list[tuple[int | None, str]]:
    """Every body the bot sent to the double (messages, edits, interaction responses and follow-ups,
    autocomplete choices, threads), as text, with the server it went to (None: a DM)."""
    out = []
    for request in double.requests:
        if request.json is None and not request.files:
            continue
        parts = request.path.strip("/").split("/")
        if parts[0] == "channels":
            place = double.guild_of(int(parts[1]))
        elif parts[0] == "interactions":
            place = double.interactions[int(parts[1])].payload.get("guild_id")
        elif parts[0] == "webhooks":
            place = double._interactions_by_token[parts[2]].payload.get("guild_id")
        else:
            continue  # command registration, DM channel opening: nothing from a library
        text = json.dumps(request.json, ensure_ascii=False) + "".join(
            f.data.decode("utf-8", "replace") for f in request.files)
        out.append((int(place) if place is not None else None, text))
    return out


def leaks(double, places: set[int | None], markers=A_MARKERS) -> list[str]:
    """The payloads sent to `places` that show any of `markers`."""
    return [text for place, text in sent_payloads(double) if place in places and any(m in text for m in markers)]


async def ask(double, question: str, user, guild_id: int) -> dict:
    reply = await (await double.invoke_slash("ask", {"question": question}, user=user,
                                             guild_id=guild_id)).wait_for_reply(60)
    assert not reply["flags"] & MESSAGE_FLAG_EPHEMERAL, reply["content"]  # an answer, not a refusal
    return reply


async def slash_reply(double, name: str, options: dict, user, guild_id: int) -> dict:
    return await (await double.invoke_slash(name, options, user=user, guild_id=guild_id)).wait_for_reply(60)


def listed(reply: dict) -> str:
    return reply["content"] + "".join(e.get("description", "") for e in reply["embeds"])


async def test_what_a_ingests_never_reaches_b_or_a_dm_in_any_payload(library_store):
    async with two_servers(library_store, ask_cooldown_s=0) as (double, b, _):
        a = double.guild_id
        upload = double.add_attachment("ferry.json", ferry_article("4,817"), "application/json")
        added = await slash_reply(double, "ingest", {"file": upload}, double.admin, a)
        assert "ferry.json: added 1" in added["content"]
        assert "4,817 reindeer" in (await ask(double, FERRY, double.member, a))["content"]  # A answers from it
        seen_before_b = len(sent_payloads(double))

        b_answer = await ask(double, FERRY, b.admin, b.id)
        b_drones = await ask(double, DRONES, b.admin, b.id)
        sources = await slash_reply(double, "sources", {}, b.admin, b.id)
        searched = await slash_reply(double, "sources", {"query": "ferry"}, b.admin, b.id)
        choices = await double.invoke_slash("forget", {"article": "Kallavesi"}, user=b.admin, guild_id=b.id,
                                            autocomplete="article")
        await choices.wait_for_response(30)
        asked = await double.send_message(b.general_id, b.admin, f"{double.bot_user.mention} {FERRY}")
        mentioned = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
        dm = await double.send_dm(double.member, FERRY)  # A's own member, in a DM
        in_dm = await double.wait_for_message(author_id=double.bot_user.id, after=dm["id"], timeout=60)

        assert leaks(double, {b.id, None}) == []
        assert len(sent_payloads(double)) - seen_before_b >= 8 and leaks(double, {a})  # the check can see
        assert "145 drones" in b_drones["content"]  # B still reads the shared library
        assert "Trump" in listed(sources) and searched["content"] == "No articles match."
        assert choices.choices == []
        for reply in (b_answer, mentioned, in_dm):
            assert "4,817" not in reply["content"] and reply["content"]


async def test_b_admin_cannot_forget_a_article_by_id_and_a_still_answers_from_it(library_store):
    async with two_servers(library_store, ask_cooldown_s=0) as (double, b, _):
        a = double.guild_id
        upload = double.add_attachment("ferry.json", ferry_article("4,817"), "application/json")
        await slash_reply(double, "ingest", {"file": upload}, double.admin, a)
        [article] = library_store.list_articles(libraries=(f"guild-{a}",))

        refused = await slash_reply(double, "forget", {"article": article.article_id}, b.admin, b.id)
        assert f"No article has the id `{article.article_id}`" in refused["content"]
        assert refused["flags"] & MESSAGE_FLAG_EPHEMERAL
        as_member = await slash_reply(double, "forget", {"article": article.article_id}, b.admin, a)
        assert "for server admins" in as_member["content"]  # B's admin is a plain member in A

        assert library_store.list_articles(libraries=(f"guild-{a}",)) == [article]
        assert "4,817 reindeer" in (await ask(double, FERRY, double.member, a))["content"]


async def test_the_same_url_in_a_and_b_with_different_text_is_each_servers_own_version(library_store):
    async with two_servers(library_store, ask_cooldown_s=0) as (double, b, _):
        a = double.guild_id
        for guild_id, admin, reindeer in ((a, double.admin, "4,817"), (b.id, b.admin, "312")):
            upload = double.add_attachment("ferry.json", ferry_article(reindeer), "application/json")
            assert "added 1" in (await slash_reply(double, "ingest", {"file": upload}, admin, guild_id))["content"]
        [in_a] = library_store.list_articles(libraries=(f"guild-{a}",))
        [in_b] = library_store.list_articles(libraries=(f"guild-{b.id}",))
        assert in_a.article_id == in_b.article_id and in_a.version_id != in_b.version_id

        a_answer = (await ask(double, FERRY, double.member, a))["content"]
        b_answer = (await ask(double, FERRY, b.admin, b.id))["content"]
        assert "4,817 reindeer" in a_answer and "312" not in a_answer
        assert "312 reindeer" in b_answer and "4,817" not in b_answer
        assert leaks(double, {b.id, None}, ("4,817",)) == [] and leaks(double, {a, None}, ("312 reindeer",)) == []
        a_sources = listed(await slash_reply(double, "sources", {"query": "ferry"}, double.member, a))
        assert a_sources.count(in_a.article_id) == 1  # one version listed per server


async def test_forget_of_a_shared_library_article_is_refused_as_read_only_and_the_article_stays(library_store):
    shared = {a.article_id for a in library_store.list_articles(libraries=("default",))}
    async with two_servers(library_store, ask_cooldown_s=0) as (double, b, _):
        a = double.guild_id
        drones = next(x for x in library_store.list_articles(libraries=("default",)) if "Trump" in x.title)
        refused = await slash_reply(double, "forget", {"article": drones.article_id}, double.admin, a)
        assert "shared library `default`, read-only from Discord: nothing was removed" in refused["content"]
        assert refused["flags"] & MESSAGE_FLAG_EPHEMERAL
        assert {x.article_id for x in library_store.list_articles(libraries=("default",))} == shared
        assert "145 drones" in (await ask(double, DRONES, b.admin, b.id))["content"]  # every server still reads it

        # A ingests the same article into its own library too: /forget takes A's copy out, the shared one stays
        seed = next(p for p in sorted(SEEDS.iterdir()) if "145 drones" in p.read_text(encoding="utf-8"))
        upload = double.add_attachment(seed.name, seed.read_bytes(), "text/plain")
        assert "✅" in (await slash_reply(double, "ingest", {"file": upload}, double.admin, a))["content"]
        assert library_store.holders(drones.article_id, (f"guild-{a}", "default")) == [f"guild-{a}", "default"]
        removed = await slash_reply(double, "forget", {"article": drones.article_id}, double.admin, a)
        assert "Removed article" in removed["content"] and "still shown here from the shared library `default`" \
            in removed["content"]
        assert library_store.holders(drones.article_id, (f"guild-{a}", "default")) == ["default"]
        assert "145 drones" in (await ask(double, DRONES, double.member, a))["content"]
