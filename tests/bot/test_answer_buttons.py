"""An answer's Sources and Follow-up buttons on the Discord double: private full passages, a follow-up form answered
in the answer's thread, expiry, and buttons that still work for a new bot process on the same store."""

from __future__ import annotations

import contextlib

import pytest

from bot.app import create_bot
from tests.conftest import make_settings
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble
from tests.doubles.discord_double.components import component_ids
from tests.support.servers import DRONES, Spy, seeds_and_party, until

pytestmark = pytest.mark.slow  # a bot on the Discord double


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return seeds_and_party(tmp_path_factory)


@contextlib.asynccontextmanager
async def bot_on(double, services, **overrides):
    """A NewsBot (a fresh client, as after a restart) logged in to `double` and ready."""
    bot = create_bot(make_settings(services.settings.data_dir, **overrides), services, guild_ready_timeout=0.05)
    async with double.running_bot(bot):
        yield bot


async def ask(double, question: str = DRONES) -> dict:
    """/ask in the general channel; the answer's first message once its thread is open."""
    record = await double.invoke_slash("ask", {"question": question})
    reply = await record.wait_for_reply(timeout=60)
    await until(lambda: int(reply["id"]) in double.channels, 10)
    return double.get_message(int(reply["id"]))


def button(message: dict, prefix: str) -> str:
    [custom_id] = [c for c in component_ids(message) if c.startswith(prefix)]
    return custom_id


async def follow_up(double, answer: dict, question: str, user=None):
    """Follow-up → the form → submitted with `question`; (the click, the submit)."""
    click = await double.click(answer, button(answer, "newsbot:fu:"), user=user)
    await click.wait_for_response(timeout=10)
    fields = [c["custom_id"] for row in click.modal["components"] for c in row["components"]]
    submit = await double.submit_modal(click, {fields[0]: question}, user=user)
    return click, submit


async def test_an_answer_carries_sources_and_follow_up_buttons_keyed_by_its_id(store):
    async with DiscordDouble() as double, bot_on(double, store):
        answer = await ask(double)
        ids = component_ids(answer)
        assert [i.rsplit(":", 1)[0] for i in ids] == ["newsbot:src", "newsbot:fu"]
        assert ids[0].rsplit(":", 1)[1] == ids[1].rsplit(":", 1)[1], "both buttons name the same answer"
        assert store.answer_record(ids[0].rsplit(":", 1)[1]).question == DRONES


async def test_sources_shows_the_full_cited_passages_to_the_clicker_only(store):
    async with DiscordDouble() as double, bot_on(double, store):
        answer = await ask(double)
        click = await double.click(answer, button(answer, "newsbot:src:"))
        shown = await click.wait_for_reply(timeout=30)
        assert click.response_type == 5, "deferred within Discord's 3 s"
        assert shown["flags"] & MESSAGE_FLAG_EPHEMERAL and not shown["mentions"]
        assert "passage" in shown["content"] and "in full" in shown["content"]
        text = " ".join(e["description"] for e in shown["embeds"])
        assert "145" in text and len(text) > len(answer["embeds"][0]["description"]) // 2
        assert all(len(e["description"]) <= 4096 for e in shown["embeds"])
        assert sum(len(e.get("title", "")) + len(e["description"]) + len(e.get("footer", {}).get("text", ""))
                   for e in shown["embeds"]) <= 6000


async def test_follow_up_opens_a_form_and_answers_in_the_answers_thread_with_its_question_as_context(store):
    spy = Spy(store)
    async with DiscordDouble() as double, bot_on(double, spy, max_question_chars=300):
        answer = await ask(double)
        click, submit = await follow_up(double, answer, "and what about Kyiv?")
        assert click.response_type == 9, "a modal opens at once"
        [[text_input]] = [row["components"] for row in click.modal["components"]]
        assert text_input["max_length"] == 300
        note = await submit.wait_for_reply(timeout=60)
        assert submit.response_type == 5 and note["flags"] & MESSAGE_FLAG_EPHEMERAL
        thread_id = int(answer["id"])  # the thread opened on the answer
        assert f"<#{thread_id}>" in note["content"]
        posted = await double.wait_for_message(channel_id=thread_id, author_id=double.bot_user.id, timeout=30)
        assert "Follow-up from" in posted["content"] and "what about Kyiv" in posted["content"]
        assert not posted["mentions"] and posted["embeds"]
        [(history, question, _)] = spy.condensed
        assert history[0][0] == DRONES and question == "and what about Kyiv?"
        assert [i.rsplit(":", 1)[0] for i in component_ids(posted)] == ["newsbot:src", "newsbot:fu"]


async def test_a_new_bot_on_the_same_store_answers_clicks_on_an_old_answers_buttons(store):
    async with DiscordDouble() as double:
        async with bot_on(double, store):
            answer = await ask(double)
        async with bot_on(double, Spy(store)) as restarted:  # a new client: nothing of the old one in memory
            click = await double.click(answer, button(answer, "newsbot:src:"))
            shown = await click.wait_for_reply(timeout=30)
            assert shown["flags"] & MESSAGE_FLAG_EPHEMERAL and "145" in shown["embeds"][0]["description"]
            _, submit = await follow_up(double, answer, "and Kyiv?")
            note = await submit.wait_for_reply(timeout=60)
            thread_id = int(answer["id"])  # the thread opened before the restart is found again
            assert f"<#{thread_id}>" in note["content"]
            posted = await double.wait_for_message(channel_id=thread_id, author_id=double.bot_user.id,
                                                   predicate=lambda m: "Follow-up from" in m["content"], timeout=30)
            assert "Kyiv" in posted["content"] and restarted.services.condensed[0][0][0][0] == DRONES


async def test_an_expired_answers_buttons_say_to_ask_again(store):
    async with DiscordDouble() as double, bot_on(double, store):
        answer = await ask(double)
        answer_id = button(answer, "newsbot:src:").rsplit(":", 1)[1]
        store.answer_records.conn.execute("UPDATE answer_records SET created_at = 0 WHERE answer_id = ?",
                                          (answer_id,))
        click = await double.click(answer, button(answer, "newsbot:src:"))
        shown = await click.wait_for_reply(timeout=30)
        assert shown["flags"] & MESSAGE_FLAG_EPHEMERAL and "expired" in shown["content"]
        assert "/ask" in shown["content"] and not shown["embeds"]
        _, submit = await follow_up(double, answer, "and Kyiv?")
        note = await submit.wait_for_reply(timeout=30)
        assert note["flags"] & MESSAGE_FLAG_EPHEMERAL and "expired" in note["content"]
        assert double.bot_messages(int(answer["id"])) == [], "nothing is posted in the thread"


async def test_sources_of_an_answer_whose_passages_are_gone_says_so(store):
    async with DiscordDouble() as double, bot_on(double, store):
        answer = await ask(double)
        answer_id = button(answer, "newsbot:src:").rsplit(":", 1)[1]
        store.answer_records.conn.execute("UPDATE answer_records SET chunk_ids = ? WHERE answer_id = ?",
                                          ('["gone-1", "gone-2"]', answer_id))
        click = await double.click(answer, button(answer, "newsbot:src:"))
        shown = await click.wait_for_reply(timeout=30)
        assert shown["flags"] & MESSAGE_FLAG_EPHEMERAL
        assert "no longer in the library" in shown["content"] and "/ask" in shown["content"]


async def test_buttons_in_a_server_off_the_allow_list_get_no_answer(store):
    async with DiscordDouble() as double:
        async with bot_on(double, store):
            answer = await ask(double)
        async with bot_on(double, store, allowed_guilds=frozenset({1})):
            click = await double.click(answer, button(answer, "newsbot:src:"))
            with pytest.raises(TimeoutError):
                await click.wait_for_response(timeout=1.5)
            assert click.callback_attempts == []


async def test_a_follow_up_in_a_dm_replies_to_the_answer_there_is_no_thread_to_open(store):
    async with DiscordDouble() as double, bot_on(double, store):
        asked = await double.send_dm(double.member, DRONES)
        answer = await double.wait_for_message(author_id=double.bot_user.id, after=asked["id"], timeout=60)
        _, submit = await follow_up(double, answer, "and Kyiv?")
        note = await submit.wait_for_reply(timeout=60)
        assert "below the answer" in note["content"]
        posted = await double.wait_for_message(author_id=double.bot_user.id, after=note["id"],
                                               predicate=lambda m: "Follow-up from" in m["content"], timeout=30)
        assert posted["channel_id"] == answer["channel_id"]
        assert posted["message_reference"]["message_id"] == answer["id"] and not posted["mentions"]


async def test_post_to_channel_gets_no_answer_off_the_allow_list_either(store):
    async with DiscordDouble() as double:
        async with bot_on(double, store):
            said = await double.send_message(double.general_id, double.admin, "Russia deployed 145 drones.")
            record = await double.invoke_message_command("Check with newsbot", said)
            private = await record.wait_for_reply(timeout=30)
        async with bot_on(double, store, allowed_guilds=frozenset({1})):
            click = await double.click(private, "newsbot:post", user=double.admin)
            with pytest.raises(TimeoutError):
                await click.wait_for_response(timeout=1.5)


async def test_a_follow_up_form_opened_before_a_restart_is_answered_after_it(store):
    async with DiscordDouble() as double:
        async with bot_on(double, store):
            answer = await ask(double)
            click = await double.click(answer, button(answer, "newsbot:fu:"))
            await click.wait_for_response(timeout=10)
        async with bot_on(double, store):
            [field] = [c["custom_id"] for row in click.modal["components"] for c in row["components"]]
            submit = await double.submit_modal(click, {field: "and Kyiv?"})
            note = await submit.wait_for_reply(timeout=60)
            assert submit.response_type == 5 and f"<#{answer['id']}>" in note["content"]
            posted = await double.wait_for_message(channel_id=int(answer["id"]), author_id=double.bot_user.id,
                                                   predicate=lambda m: "Follow-up from" in m["content"], timeout=30)
            assert "Kyiv" in posted["content"]
