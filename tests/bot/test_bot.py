"""The Discord bot end to end: the real discord.py client against the local Discord double on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys

import discord
import pytest
from typer.testing import CliRunner

from bot.app import create_bot, main
from rag.cli.app import app as cli_app
from rag.schema import Answer, Citation
from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble
from tests.support.servers import DRONES, PARTY_ARTICLE, Spy, seeds_and_party, until

pytestmark = pytest.mark.slow  # a bot on the Discord double

PARTY = "Who is invited to the Turku harbour festival?"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return seeds_and_party(tmp_path_factory)


@contextlib.asynccontextmanager
async def running(services, **overrides):
    """A double plus a NewsBot logged in to it and ready."""
    settings = make_settings(services.settings.data_dir, **overrides)
    async with DiscordDouble() as double:
        bot = create_bot(settings, services, guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            yield double, bot


def message_requests(double: DiscordDouble) -> list:
    """Every request whose body is a message the bot posts or edits."""
    out = []
    for r in double.requests:
        body = r.json if isinstance(r.json, dict) else {}
        if r.path.endswith("/callback"):
            body = body.get("data") or {} if body.get("type") == 4 else {}
        if "content" in body or "embeds" in body:
            out.append((r, body))
    return out


def failed_requests(double: DiscordDouble) -> list:
    return [r for r in double.requests if r.status is None or r.status >= 400]


async def ask_slash(double, question: str, user=None, thread: bool = True, **options):
    """/ask as `user`; returns the interaction and its first reply, once an answer's thread is open."""
    record = await double.invoke_slash("ask", {"question": question, **options}, user=user)
    reply = await record.wait_for_reply(timeout=60)
    if thread and not reply["flags"] & MESSAGE_FLAG_EPHEMERAL:
        await until(lambda: int(reply["id"]) in double.channels, 10)
    return record, reply


# ---- /ask --------------------------------------------------------------------------------------------


async def test_ask_defers_then_follows_up_with_the_cited_embed_and_opens_a_thread(store):
    async with running(Spy(store, delay_s=3.5)) as (double, _):  # slower than Discord's 3 s deadline
        record, reply = await ask_slash(double, DRONES)
        assert record.response_type == 5 and record.callback_attempts == [200], "deferred in time"
        assert "145 drones" in reply["content"] and "[1]" in reply["content"]
        assert reply["content"].startswith("[Offline extractive answer")
        [embed] = reply["embeds"]
        assert embed["title"] == "Sources" and "**[1]**" in embed["description"] and "> " in embed["description"]
        assert "Offline extractive" in embed["footer"]["text"]
        thread = double.channels[int(reply["id"])]
        assert thread["type"] == 11 and thread["name"] == DRONES
        assert not failed_requests(double)


async def test_a_slow_answer_times_out_with_a_friendly_message(store):
    async with running(Spy(store, delay_s=3), ask_timeout_s=0.5) as (double, _):
        _, reply = await ask_slash(double, DRONES, thread=False)
        assert "took longer than 0.5 s" in reply["content"]


async def test_a_long_answer_is_split_across_messages_without_a_400(store):
    quote = "Drones were seen over the harbour again. " * 60
    cites = [Citation(n, f"a{n}", "A title " * 40, "Outlet", "2024-11-12", f"https://example.com/{n}", quote)
             for n in range(1, 31)]
    long_answer = Answer(answer="Drones were seen over the harbour again [1]. " * 200, abstained=False,
                         model="gpt-test", citations=cites)
    async with running(Spy(store, ask=lambda q: long_answer)) as (double, _):
        record, _ = await ask_slash(double, "What was seen over the harbour?")
        await double.wait_for_request("POST /webhooks/{a}/{t}", count=6, timeout=30)
        await asyncio.sleep(0.3)
        sent = [record.original_message(), *record.followups()]
        assert len(sent) >= 6
        assert "".join(m["content"] for m in sent).count("[1]") == 200
        listed = "".join(e["description"] for m in sent for e in m["embeds"])
        assert all(f"**[{n}]**" in listed for n in range(1, 31))
        assert not failed_requests(double), failed_requests(double)


# ---- mentions, DMs, follow-ups ----------------------------------------------------------------------


async def test_a_mention_gets_a_reply_with_sources(store):
    async with running(store) as (double, _):
        asked = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} {DRONES}")
        reply = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
        assert reply["message_reference"]["message_id"] == asked["id"]
        assert "145 drones" in reply["content"] and reply["embeds"]
        assert reply["mentions"] == [], "the reply does not ping the asker"


async def test_a_dm_gets_an_answer(store):
    async with running(store) as (double, _):
        asked = await double.send_dm(double.member, DRONES)
        reply = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
        assert reply["channel_id"] == asked["channel_id"] and "guild_id" not in reply
        assert "145 drones" in reply["content"]


async def test_a_follow_up_in_the_thread_and_a_reply_to_the_answer_use_the_conversation(store):
    spy = Spy(store)
    async with running(spy) as (double, _):
        _, first = await ask_slash(double, DRONES)
        thread_id = int(first["id"])
        follow = await double.send_message(thread_id, double.member, f"{double.bot_user.mention} and Kyiv?")
        second = await double.wait_for_message(author_id=double.bot_user.id, after=follow["id"], timeout=60)
        assert int(second["channel_id"]) == thread_id
        [(history, question, standalone)] = spy.condensed
        assert history[0][0] == DRONES and question == "and Kyiv?"
        assert "drones" in standalone and "Russia" in standalone
        assert "Searched for:" in second["content"] and "Kyiv" in second["content"]
        # a (pinging) reply to the answer message in the channel is answered in the thread too
        reply = await double.send_message(double.general_id, double.member, "and Moscow?",
                                          message_reference=first["id"])
        third = await double.wait_for_message(author_id=double.bot_user.id, after=reply["id"], timeout=60)
        assert int(third["channel_id"]) == thread_id
        assert len(spy.condensed) == 2 and len(spy.condensed[1][0]) == 2, "both earlier turns are the context"


async def test_thread_chatter_without_a_mention_is_left_alone(store):
    async with running(store) as (double, _):
        _, first = await ask_slash(double, DRONES)
        chatter = await double.send_message(int(first["id"]), double.member, "thanks, interesting")
        await asyncio.sleep(0.5)
        assert not [m for m in double.bot_messages() if int(m["id"]) > int(chatter["id"])]


# ---- safety ----------------------------------------------------------------------------------------------


async def test_every_message_payload_carries_no_pings_on_the_wire(store):
    async with running(store) as (double, _):
        _, answer = await ask_slash(double, PARTY)
        asked = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} {PARTY}")
        mentioned = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
        dm = await double.send_dm(double.member, PARTY)
        in_dm = await double.wait_for_message(author_id=double.bot_user.id, after=dm["id"], timeout=60)
        await double.invoke_slash("ask", {"question": PARTY})  # a refusal (rate limit) is a message too
        await double.invoke_slash("ask", {"question": PARTY})
        await double.wait_for_message(lambda m: "asking quickly" in m["content"], timeout=30)
        for message in (answer, mentioned, in_dm):
            # shown as text, broken by a zero-width space so no client renders them as mentions
            assert "@\u200beveryone" in message["content"] and "<@&123>" in message["content"]
            assert message["mention_everyone"] is False and message["mention_roles"] == [], message
        payloads = message_requests(double)
        assert len(payloads) >= 4
        for request, body in payloads:
            assert body.get("allowed_mentions", {}).get("parse") == [], request


async def test_admin_commands_are_hidden_and_refused_to_non_admins(store):
    async with running(store) as (double, _):
        commands = double.global_commands
        manage_guild = str(discord.Permissions(manage_guild=True).value)
        assert str(commands["ingest"]["default_member_permissions"]) == manage_guild
        assert commands["forget"]["default_member_permissions"] == commands["ingest"]["default_member_permissions"]
        assert commands["ask"].get("default_member_permissions") is None
        before = store.index.stats()["articles"]
        victim = store.index.list_articles()[0].article_id
        record = await double.invoke_slash("forget", {"article": victim}, user=double.member)
        refusal = await record.wait_for_reply()
        assert "for server admins" in refusal["content"] and refusal["flags"] & MESSAGE_FLAG_EPHEMERAL
        assert store.index.stats()["articles"] == before


async def test_admin_ingests_attachments_with_a_result_per_file_and_forgets(services):
    article = PARTY_ARTICLE.replace("Turku", "Oulu").encode()
    async with running(services) as (double, _):
        good = double.add_attachment("oulu.txt", article, "text/plain")
        bad = double.add_attachment("photo.png", b"\x89PNG", "image/png")
        record = await double.invoke_slash("ingest", {"file": good, "file2": bad}, user=double.admin)
        result = await record.wait_for_reply(timeout=60)
        assert "oulu.txt: added 1" in result["content"] and "photo.png: not an article file" in result["content"]
        [stored] = services.index.list_articles()
        record = await double.invoke_slash("sources", {}, user=double.member)
        listing = await record.wait_for_reply(timeout=30)
        assert stored.article_id in listing["embeds"][0]["description"]
        record = await double.invoke_slash("forget", {"article": stored.article_id}, user=double.admin)
        assert "Removed article" in (await record.wait_for_reply(timeout=30))["content"]
        assert services.index.list_articles() == []


async def test_an_upload_cut_at_the_article_size_cap_says_so_in_its_result_line(services, monkeypatch):
    monkeypatch.setattr(services.settings, "max_article_chars", 200)  # the setting allows 1000+; the text is short
    article = PARTY_ARTICLE.replace("Turku", "Kotka").encode()
    async with running(services) as (double, _):
        upload = double.add_attachment("kotka.txt", article, "text/plain")
        record = await double.invoke_slash("ingest", {"file": upload}, user=double.admin)
        result = (await record.wait_for_reply(timeout=60))["content"]
        assert "kotka.txt: added 1" in result and "NEWSBOT\\_MAX\\_ARTICLE\\_CHARS" in result, result
        assert "newsbot-upload-" not in result  # the temporary path is never shown
    for row in services.libraries():  # the module's store is shared: leave it as it was
        for stored in services.index.list_articles("Kotka", libraries=(row["library"],)):
            services.index.remove(stored.article_id, row["library"])


async def test_rate_limit_and_long_questions_are_refused_politely(store):
    async with running(store, ask_cooldown_rate=1, ask_cooldown_s=60) as (double, _):
        record = await double.invoke_slash("ask", {"question": "x" * 1001})
        too_long = await record.wait_for_reply()
        assert record.response_type == 4 and "at most 1000 characters" in too_long["content"]
        await ask_slash(double, DRONES)
        record, second = await ask_slash(double, DRONES)
        assert record.response_type == 4 and "please wait" in second["content"]
        assert second["flags"] & MESSAGE_FLAG_EPHEMERAL
        asked = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} {DRONES}")
        reply = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=30)
        assert "please wait" in reply["content"]
        _, other_user = await ask_slash(double, DRONES, user=double.admin)
        assert "145 drones" in other_user["content"], "the limit is per user"


async def test_an_error_shows_an_id_logs_the_traceback_and_the_bot_keeps_running(store, caplog):
    calls = []

    def flaky(query):
        calls.append(query)
        if len(calls) == 1:
            raise RuntimeError("boom in the pipeline")
        return store.ask(query)

    async with running(Spy(store, ask=flaky)) as (double, _):
        _, apology = await ask_slash(double, DRONES, thread=False)
        assert "something went wrong" in apology["content"] and "boom" not in apology["content"]
        error_id = apology["content"].split("error id `")[1][:8]
        logged = [r for r in caplog.records if error_id in r.getMessage()]
        assert logged and "boom in the pipeline" in str(logged[0].exc_info[1])
        _, answer = await ask_slash(double, DRONES, user=double.admin)
        assert "145 drones" in answer["content"]


# ---- startup ------------------------------------------------------------------------------------------


def test_missing_token_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(make_settings(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DISCORD_TOKEN is not set" in err[0]
    result = CliRunner().invoke(cli_app, ["bot"])
    assert result.exit_code == 2
    proc = subprocess.run([sys.executable, "-m", "bot"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


async def test_rejected_token_is_one_line_exit_2_and_never_logged(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "MTIz.not-the-right-token.abcdef"
    settings = replace_token(make_settings(tmp_path), secret)
    async with DiscordDouble() as double:
        with double.patch_discord():
            code = await asyncio.to_thread(main, settings)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: Discord rejected DISCORD_TOKEN; reset the token in the developer portal and update it"]
    assert secret not in caplog.text and all(secret not in str(r.args) for r in caplog.records)


def replace_token(settings, token: str):
    from pydantic import SecretStr

    return settings.model_copy(update={"discord_token": SecretStr(token)})


def test_create_bot_builds_without_starting(tmp_path):
    bot = create_bot(make_settings(tmp_path))
    assert bot.services is None and not bot.is_ready()
    assert bot.allowed_mentions.to_dict() == {"parse": []}
    assert not bot.intents.message_content
