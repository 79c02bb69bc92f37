"""Tests proving :mod:`tests.doubles.discord_double` works with the real discord.py client.

Every test runs a real ``commands.Bot`` (default intents, i.e. *without* the
privileged Message Content intent) against the double over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import json
import zlib
from typing import Any, AsyncIterator, Dict, List

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from tests.doubles.discord_double import (
    MESSAGE_FLAG_EPHEMERAL,
    ApiError,
    DiscordDouble,
    InvalidFormBody,
    Limits,
    validate_message_payload,
)

pytestmark = pytest.mark.slow  # a bot on the Discord double


class SyncingBot(commands.Bot):
    """A bot that syncs its global slash commands on startup, like a real deployment."""

    async def setup_hook(self) -> None:
        await self.tree.sync()


def make_bot() -> SyncingBot:
    """A minimal bot: default intents (no message_content), mention prefix, fast READY."""
    return SyncingBot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.05,
        help_command=None,
    )


@pytest_asyncio.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    """A running double, closed after the test."""
    async with DiscordDouble() as d:
        yield d


def add_echo_on_mention(bot: commands.Bot, seen: List[str]) -> None:
    """Reply ``pong: <content>`` when mentioned; record every content the bot sees."""

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        seen.append(message.content)
        if bot.user in message.mentions:
            await message.reply(f"pong: {message.content}")


# --------------------------------------------------------------------------- gateway basics


@pytest.mark.asyncio
async def test_bot_connects_and_replies_to_mention(double: DiscordDouble) -> None:
    bot = make_bot()
    seen: List[str] = []
    add_echo_on_mention(bot, seen)
    async with double.running_bot(bot):
        assert bot.user is not None and bot.user.id == double.bot_user.id
        guild = bot.get_guild(double.guild_id)
        assert guild is not None and guild.get_channel(double.general_id) is not None
        assert guild.get_role(double.admin_role_id) is not None

        # no mention + no message_content intent: discord.py sees an empty content
        await double.send_message(double.general_id, double.member, "just chatting")
        sent = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} ping")
        reply = await double.wait_for_message(author_id=double.bot_user.id, after=sent["id"])

    assert reply["content"] == f"pong: {double.bot_user.mention} ping"
    assert reply["message_reference"]["message_id"] == sent["id"]
    assert reply["type"] == 19
    assert seen == ["", f"{double.bot_user.mention} ping"]
    # the wire: identify without zlib requirements, REST with the bot token
    identify = next(p for p in double.gateway_received if p["op"] == 2)
    assert identify["d"]["token"] == "[REDACTED]"
    assert not identify["d"]["intents"] & discord.Intents.message_content.flag
    post = double.requests_to("POST /channels/{channel_id}/messages")[-1]
    assert post.headers["Authorization"] == "Bot [REDACTED]"
    assert post.json["content"].startswith("pong:")
    assert post.status == 200
    assert double.unknown_requests == []


@pytest.mark.asyncio
async def test_dm_and_threads(double: DiscordDouble) -> None:
    bot = make_bot()
    seen: List[str] = []

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        seen.append(message.content)
        if message.guild is None:
            await message.channel.send(f"dm: {message.content}")
        elif isinstance(message.channel, discord.Thread):
            await message.channel.send("in thread")
        elif bot.user in message.mentions:
            thread = await message.create_thread(name="Discussion")
            await thread.send("thread started")

    async with double.running_bot(bot):
        dm = await double.send_dm(double.member, "hello in private")
        dm_reply = await double.wait_for_message(author_id=double.bot_user.id, after=dm["id"])

        root = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} discuss")
        started = await double.wait_for_message(lambda m: m["content"] == "thread started", timeout=5)
        thread_id = int(started["channel_id"])
        assert thread_id == int(root["id"])  # threads started from a message share its id
        assert double.channels[thread_id]["parent_id"] == str(double.general_id)

        in_thread = await double.send_message(thread_id, double.member, f"{double.bot_user.mention} more")
        thread_reply = await double.wait_for_message(author_id=double.bot_user.id, after=in_thread["id"])

    assert dm_reply["content"] == "dm: hello in private"  # DMs carry content without the intent
    assert "guild_id" not in dm_reply
    assert int(dm_reply["channel_id"]) == double.dm_channel_for(double.member)
    assert thread_reply["content"] == "in thread" and int(thread_reply["channel_id"]) == thread_id
    assert len(double.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads")) == 1


# --------------------------------------------------------------------------- interactions


def add_ask_command(bot: commands.Bot) -> None:
    """``/ask question`` defers, then sends a follow-up with an embed."""

    @bot.tree.command(name="ask", description="Ask the news bot a question")
    @app_commands.describe(question="What do you want to know?")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title="Answer", description=f"You asked: {question}")
        embed.add_field(name="Source", value="[1] Example Times")
        await interaction.followup.send(embed=embed)


@pytest.mark.asyncio
async def test_slash_command_defer_then_followup_embed(double: DiscordDouble) -> None:
    bot = make_bot()
    add_ask_command(bot)
    async with double.running_bot(bot):
        assert set(double.global_commands) == {"ask"}
        ix = await double.invoke_slash("ask", {"question": "what happened?"})
        reply = await ix.wait_for_reply()

    assert ix.response_type == 5
    callback = double.requests_to("POST /interactions/{id}/{token}/callback")[0]
    assert callback.json["type"] == 5 and callback.status == 200
    assert reply["embeds"][0]["title"] == "Answer"
    assert reply["embeds"][0]["description"] == "You asked: what happened?"
    assert reply["embeds"][0]["fields"] == [{"name": "Source", "value": "[1] Example Times", "inline": True}]
    # the first follow-up fills the deferred "thinking" message, like Discord does
    assert int(reply["id"]) == ix.original_message_id
    assert reply["interaction_metadata"]["user"]["id"] == str(double.member.id)
    followup = double.requests_to("POST /webhooks/{app}/{token}")[0]
    assert "Authorization" not in followup.headers  # webhooks are token-authenticated
    assert followup.query.get("wait") in ("1", "true", "True")


@pytest.mark.asyncio
async def test_admin_and_non_admin_permissions(double: DiscordDouble) -> None:
    bot = make_bot()

    @bot.tree.command(name="reindex", description="Rebuild the index (admins only)")
    @app_commands.checks.has_permissions(administrator=True)
    async def reindex(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("reindexing")

    @reindex.error
    async def reindex_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await interaction.response.send_message("admins only", ephemeral=True)

    async with double.running_bot(bot):
        as_admin = await double.invoke_slash("reindex", user=double.admin)
        as_member = await double.invoke_slash("reindex", user=double.member)
        downgraded_admin = await double.invoke_slash("reindex", user=double.admin, permissions=0)
        replies = [await ix.wait_for_reply() for ix in (as_admin, as_member, downgraded_admin)]

    assert [r["content"] for r in replies] == ["reindexing", "admins only", "admins only"]
    assert not replies[0]["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert replies[1]["flags"] & MESSAGE_FLAG_EPHEMERAL
    # ephemeral answers are not part of the visible channel history
    assert [m["content"] for m in double.messages_in(double.general_id)] == ["reindexing"]


@pytest.mark.asyncio
async def test_attachments_both_ways(double: DiscordDouble) -> None:
    bot = make_bot()

    @bot.tree.command(name="ingest", description="Ingest an article file")
    async def ingest(interaction: discord.Interaction, file: discord.Attachment) -> None:
        await interaction.response.defer()
        data = await file.read()  # downloaded from the double's fake CDN
        out = discord.File(io.BytesIO(data.upper()), filename="echo.txt")
        await interaction.followup.send(f"got {file.filename} ({len(data)} bytes)", file=out)

    async with double.running_bot(bot):
        upload = double.add_attachment("article.txt", b"breaking news", "text/plain")
        ix = await double.invoke_slash("ingest", {"file": upload})
        reply = await ix.wait_for_reply()

    assert ix.payload["data"]["options"] == [{"name": "file", "type": 11, "value": str(upload.id)}]
    assert reply["content"] == "got article.txt (13 bytes)"
    (attachment,) = reply["attachments"]
    assert attachment["filename"] == "echo.txt"
    assert double.attachments[int(attachment["id"])].data == b"BREAKING NEWS"
    followup = double.requests_to("POST /webhooks/{app}/{token}")[0]
    assert followup.json["content"] == "got article.txt (13 bytes)"  # payload_json of the multipart body
    assert followup.files[0].filename == "echo.txt" and followup.files[0].data == b"BREAKING NEWS"


@pytest.mark.asyncio
async def test_ack_after_three_seconds_is_unknown_interaction(double: DiscordDouble) -> None:
    bot = make_bot()
    failures: "asyncio.Future[discord.HTTPException]" = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(Limits.INTERACTION_ACK_S + 0.15)
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            failures.set_result(exc)

    async with double.running_bot(bot):
        ix = await double.invoke_slash("slow")
        error = await asyncio.wait_for(failures, timeout=6)

    assert isinstance(error, discord.NotFound)
    assert error.status == 404 and error.code == 10062
    assert not ix.acknowledged and ix.callback_attempts == [400]
    assert double.messages_in(double.general_id) == []


@pytest.mark.asyncio
async def test_double_ack_and_followup_rules(double: DiscordDouble) -> None:
    bot = make_bot()
    errors: "asyncio.Future[discord.HTTPException]" = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="twice", description="Acknowledges twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")
        try:  # bypass discord.py's own guard to hit the API twice
            await bot.http.request(
                discord.http.Route("POST", "/interactions/{i}/{t}/callback", i=interaction.id, t=interaction.token),
                json={"type": 4, "data": {"content": "second"}},
            )
        except discord.HTTPException as exc:
            errors.set_result(exc)

    async with double.running_bot(bot):
        await double.invoke_slash("twice")
        error = await asyncio.wait_for(errors, timeout=5)
    assert error.status == 400 and error.code == 40060


@pytest.mark.asyncio
async def test_guild_synced_command_edits_and_followup_window() -> None:
    """Guild command sync, typing, edit/delete of the original, and the follow-up window."""
    async with DiscordDouble(followup_window=0.3) as double:
        guild = discord.Object(double.guild_id)
        late: "asyncio.Future[discord.HTTPException]" = asyncio.get_running_loop().create_future()

        class GuildBot(commands.Bot):
            async def setup_hook(self) -> None:
                await self.tree.sync(guild=guild)

        bot = GuildBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)

        @bot.tree.command(name="status", description="Report status", guild=guild)
        async def status(interaction: discord.Interaction) -> None:
            assert isinstance(interaction.channel, discord.TextChannel)
            async with interaction.channel.typing():
                await interaction.response.send_message("working")
            await interaction.edit_original_response(content="done")
            await asyncio.sleep(0.4)  # past the (shortened) follow-up window
            try:
                await interaction.followup.send("too late")
            except discord.HTTPException as exc:
                late.set_result(exc)

        async with double.running_bot(bot):
            assert double.global_commands == {} and set(double.guild_commands[double.guild_id]) == {"status"}
            ix = await double.invoke_slash("status")
            error = await asyncio.wait_for(late, timeout=5)
            original = ix.original_message()
            assert original is not None and original["content"] == "done" and original["edited_timestamp"]

            channel = bot.get_channel(double.general_id)
            assert isinstance(channel, discord.TextChannel)
            note = await channel.send("temporary")
            await note.edit(content="edited")
            assert double.get_message(note.id)["content"] == "edited"  # type: ignore[index]
            await note.delete()
            assert double.get_message(note.id) is None

        assert ix.payload["data"]["guild_id"] == str(double.guild_id)
        assert error.status == 401 and error.code == 50027
        assert double.requests_to("POST /channels/{channel_id}/typing")
        assert double.requests_to("PATCH /webhooks/{app}/{token}/messages/@original")[0].status == 200


# --------------------------------------------------------------------------- limits


@pytest.mark.asyncio
async def test_limits_are_enforced_on_the_wire(double: DiscordDouble) -> None:
    bot = make_bot()
    async with double.running_bot(bot):
        channel = bot.get_channel(double.general_id)
        assert isinstance(channel, discord.TextChannel)

        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * (Limits.CONTENT + 1))
        assert too_long.value.status == 400 and too_long.value.code == 50035
        assert "In content: Must be 2000 or fewer in length." in too_long.value.text

        ok = await channel.send("x" * Limits.CONTENT)
        assert len(ok.content) == Limits.CONTENT

        cases: Dict[str, Any] = {
            "embeds.0.description": discord.Embed(description="d" * (Limits.EMBED_DESCRIPTION + 1)),
            "embeds.0.title": discord.Embed(title="t" * (Limits.EMBED_TITLE + 1)),
            "embeds.0.fields.0.value": discord.Embed().add_field(name="n", value="v" * (Limits.FIELD_VALUE + 1)),
            "embeds.0.fields.0.name": discord.Embed().add_field(name="n" * (Limits.FIELD_NAME + 1), value="v"),
        }
        for where, embed in cases.items():
            with pytest.raises(discord.HTTPException) as exc:
                await channel.send(embed=embed)
            assert exc.value.code == 50035 and f"In {where}:" in exc.value.text, where

        many_fields = discord.Embed()
        for i in range(Limits.EMBED_FIELDS + 1):
            many_fields.add_field(name=f"f{i}", value="v")
        with pytest.raises(discord.HTTPException, match="In embeds.0.fields: Must be 25 or fewer"):
            await channel.send(embed=many_fields)

        # 2 x 3500 chars: each embed is fine, the message total is not
        big = [discord.Embed(description="d" * 3500), discord.Embed(description="e" * 3500)]
        with pytest.raises(discord.HTTPException, match="Embed size exceeds maximum size of 6000"):
            await channel.send(embeds=big)

        with pytest.raises(discord.HTTPException) as empty:
            await channel.send()
        assert empty.value.status == 400 and empty.value.code == 50006

        with pytest.raises(discord.HTTPException) as blank:
            await channel.send("   ")
        assert blank.value.code == 50006

    rejected = [r for r in double.requests_to("POST /channels/{channel_id}/messages") if r.status == 400]
    assert len(rejected) == 9
    assert len(double.messages_in(double.general_id)) == 1


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"embeds": [{"description": "x"}] * 11}, "embeds"),
        ({"content": "ok", "embeds": [{"fields": [{"name": "", "value": "v"}]}]}, "embeds"),
        ({"content": "ok", "embeds": [{"footer": {"text": "f" * 2049}}]}, "embeds"),
    ],
)
def test_validator_rejects_what_discord_py_would_not_catch(payload: Dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidFormBody) as exc:
        validate_message_payload(payload)
    assert expected in exc.value.errors


def test_validator_empty_message() -> None:
    with pytest.raises(ApiError) as exc:
        validate_message_payload({"content": "", "embeds": []})
    assert exc.value.code == 50006
    validate_message_payload({"content": ""}, file_count=1)  # a file alone is not empty


# --------------------------------------------------------------------------- fault injection


@pytest.mark.asyncio
@pytest.mark.parametrize("is_global", [False, True])
async def test_429_is_retried_by_discord_py(double: DiscordDouble, is_global: bool) -> None:
    bot = make_bot()
    async with double.running_bot(bot):
        channel = bot.get_channel(double.general_id)
        assert isinstance(channel, discord.TextChannel)
        double.inject_rate_limit("POST /channels/{channel_id}/messages", count=1, retry_after=0.25, is_global=is_global)
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = await channel.send("after the rate limit")
        elapsed = loop.time() - started

    attempts = double.requests_to(f"POST /channels/{double.general_id}/messages")
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[0].response == {
        "message": "You are being rate limited.",
        "retry_after": 0.25,
        "global": is_global,
        **({"code": 0} if is_global else {}),
    }
    assert elapsed >= 0.25
    assert sent.content == "after the rate limit"
    assert len(double.messages_in(double.general_id)) == 1


@pytest.mark.asyncio
async def test_500_is_retried_and_unknown_routes_are_recorded(double: DiscordDouble) -> None:
    bot = make_bot()
    async with double.running_bot(bot):
        channel = bot.get_channel(double.general_id)
        assert isinstance(channel, discord.TextChannel)
        double.inject_server_error(count=1)
        sent = await channel.send("eventually")  # discord.py sleeps 1 s, then retries
        assert sent.content == "eventually"

        with pytest.raises(discord.NotFound):
            await bot.http.request(discord.http.Route("GET", "/no/such/route"))

    statuses = [r.status for r in double.requests_to("POST /channels/{channel_id}/messages")]
    assert statuses == [500, 200]
    assert [r.path for r in double.unknown_requests] == ["/no/such/route"]


@pytest.mark.asyncio
async def test_a_fault_can_skip_the_first_matching_requests(double: DiscordDouble) -> None:
    bot = make_bot()
    async with double.running_bot(bot):
        channel = bot.get_channel(double.general_id)
        assert isinstance(channel, discord.TextChannel)
        double.inject_rate_limit("POST /channels/{channel_id}/messages", count=1, retry_after=0.05, after=1)
        assert double.pending_faults == 1
        await channel.send("first")
        await channel.send("second")
        assert double.pending_faults == 0

    statuses = [r.status for r in double.requests_to("POST /channels/{channel_id}/messages")]
    assert statuses == [200, 429, 200]
    assert [m["content"] for m in double.messages_in(double.general_id)] == ["first", "second"]


# --------------------------------------------------------------------------- resume


@pytest.mark.asyncio
async def test_forced_disconnect_resumes_and_bot_keeps_answering(double: DiscordDouble) -> None:
    bot = make_bot()
    seen: List[str] = []
    add_echo_on_mention(bot, seen)
    resumed = asyncio.Event()

    @bot.event
    async def on_resumed() -> None:
        resumed.set()

    async with double.running_bot(bot):
        (session,) = double.sessions.values()
        await double.disconnect_gateway(code=4000)
        # sent while the bot is offline: must be replayed on RESUME
        sent = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} still there?")
        await double.wait_for_resume(timeout=10)
        await asyncio.wait_for(resumed.wait(), timeout=5)
        reply = await double.wait_for_message(author_id=double.bot_user.id, after=sent["id"])

        after = await double.send_message(double.general_id, double.member, f"{double.bot_user.mention} again")
        reply2 = await double.wait_for_message(author_id=double.bot_user.id, after=after["id"])

    assert reply["content"] == f"pong: {double.bot_user.mention} still there?"
    assert reply2["content"] == f"pong: {double.bot_user.mention} again"
    resume = [p for p in double.gateway_received if p["op"] == 6]
    assert len(resume) == 1 and resume[0]["d"]["session_id"] == session.session_id
    assert len([p for p in double.gateway_received if p["op"] == 2]) == 1  # no re-IDENTIFY
    assert [c["path"] for c in double.gateway_connections] == ["/gateway", "/gateway-resume"]


# --------------------------------------------------------------------------- raw protocol checks


@pytest.mark.asyncio
async def test_gateway_zlib_stream_and_rest_auth(double: DiscordDouble) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(double.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:
            frame = await ws.receive()
            assert frame.type is aiohttp.WSMsgType.BINARY and frame.data.endswith(b"\x00\x00\xff\xff")
            hello = json.loads(zlib.decompressobj().decompress(frame.data))
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == double.heartbeat_interval_ms

        async with http.ws_connect(double.gateway_url + "?v=10&encoding=json") as ws:
            hello = await ws.receive_json()
            assert hello["op"] == 10
            await ws.send_json({"op": 1, "d": None})
            assert (await ws.receive_json())["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1, "properties": {}}})
            closed = await ws.receive()
            assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4004

        async with http.get(double.api_base + "/users/@me") as resp:
            assert resp.status == 401 and resp.headers["Content-Type"] == "application/json"
        async with http.get(double.api_base + "/users/@me", headers={"Authorization": f"Bot {double.token}"}) as resp:
            assert resp.status == 200 and (await resp.json())["id"] == str(double.bot_user.id)

