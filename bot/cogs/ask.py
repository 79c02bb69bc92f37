"""/ask, /sources, and questions by mention, DM or follow-up reply (thin handlers over `rag.services`)."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import NO_PINGS, AnswerTimeout, NewsBot, apology, send_with_retry
from bot.render import MessagePayload, answer_messages, clip, escape, list_messages
from bot.views import FollowUpButton, SourcesButton, answer_view
from rag import Answer, Query, query_day, QuestionError

logger = logging.getLogger(__name__)
THREAD_NAME_LIMIT = 100
SOURCES_SHOWN = 100
USAGE = "Ask me a question after the mention, e.g. `@newsbot What happened in Helsinki?`, or use `/ask`."


@dataclass
class Conversation:
    """The turns of one answer thread: (standalone question, answer text), oldest first."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    thread_id: int | None = None


class Conversations:
    """Conversations by answer-message id and thread id (in memory, the most recent `size` ids)."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._by_id: OrderedDict[int, Conversation] = OrderedDict()

    def get(self, key: int | None) -> Conversation | None:
        return self._by_id.get(key) if key is not None else None

    def link(self, conversation: Conversation, *ids: int | None) -> None:
        for key in ids:
            if key is not None:
                self._by_id[key] = conversation
                self._by_id.move_to_end(key)
        while len(self._by_id) > self.size:
            self._by_id.popitem(last=False)


def strip_mentions(content: str, user_id: int) -> str:
    """The question without the bot's own `<@id>` / `<@!id>` mentions."""
    return re.sub(rf"<@!?{user_id}>", " ", content).strip()


def parse_day(value: str | None, option: str) -> int | None:
    """A YYYY-MM-DD option as the store's YYYYMMDD int; ValueError with a message for the user."""
    if not value:
        return None
    try:
        return query_day(value)
    except ValueError:
        raise ValueError(f"`{option}` must be a date like 2025-09-30, not {clip(value, 40)!r}.") from None


class AskCog(commands.Cog):
    """Questions and follow-ups."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.conversations = Conversations()

    # ---- slash commands -------------------------------------------------------------------------

    @app_commands.command(name="ask")
    @app_commands.describe(question="Your question about the news", since="Only articles on or after (YYYY-MM-DD)",
                           until="Only articles on or before (YYYY-MM-DD)", source="Only articles from this outlet")
    async def ask(self, interaction: discord.Interaction, question: str, since: str | None = None,
                  until: str | None = None, source: str | None = None) -> None:
        """Ask a question about the ingested news; the answer cites its sources."""
        refusal = self.bot.refusal(interaction.guild_id, interaction.user.id, question)
        try:
            query = Query(question.strip(), since=parse_day(since, "since"), until=parse_day(until, "until"),
                          source=(source or "").strip() or None, libraries=self.bot.scope(interaction.guild_id).reads)
        except ValueError as exc:
            refusal = refusal or str(exc)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer(thinking=True)
        answer, payloads = await self.bot.run_rag(self.answer_and_render, query, interaction.guild_id,
                                                  guild=interaction.guild_id)
        with_buttons(payloads)
        sent = [await interaction.followup.send(wait=True, **m.kwargs()) for m in payloads]
        await self.remember(Conversation(), interaction.channel, sent, query.question, query.question, answer)

    @app_commands.command(name="sources")
    @app_commands.describe(query="Only titles or outlets containing this")
    async def sources(self, interaction: discord.Interaction, query: str | None = None) -> None:
        """List the ingested articles, newest first."""
        await interaction.response.defer(thinking=True)
        messages = await self.bot.run_rag(self.sources_messages, query, self.bot.scope(interaction.guild_id).reads,
                                          guild=interaction.guild_id)
        for message in messages:
            await interaction.followup.send(**message.kwargs())

    # Rendering runs in the rag thread with the work it renders: escaping and splitting a long answer or a
    # 100-line list takes milliseconds of CPU, which on the event loop would delay every other server's events.

    def answer_and_render(self, query: Query, guild_id: int | None) -> tuple[Answer, list[MessagePayload]]:
        """The answer and its messages (blocking; runs in a thread). What its buttons need is kept by a new answer
        id, put on the first message for `with_buttons` (a View is built on the event loop, not here)."""
        answer = self.bot.services.ask(query)
        payloads = answer_messages(answer)
        if not answer.abstained:
            try:
                payloads[0].answer_id = self.bot.services.remember_answer(query.question, answer, query.libraries,
                                                                          guild_id)
            except Exception:  # the answer still goes out, without buttons
                logger.exception("could not keep answer buttons' data; the answer is sent without them")
        return answer, payloads

    def sources_messages(self, query: str | None, libraries: tuple[str, ...]) -> list[MessagePayload]:
        """The libraries' articles, newest first, as /sources messages (blocking; runs in a thread)."""
        articles = self.bot.services.list_articles(query, SOURCES_SHOWN + 1, libraries=libraries)
        lines = [f"`{a.article_id}` {a.published or 'undated'} · {escape(a.source or 'unknown outlet')} — "
                 f"{escape(clip(a.title, 150))}" for a in articles[:SOURCES_SHOWN]]
        if len(articles) > SOURCES_SHOWN:
            lines.append(f"… showing the newest {SOURCES_SHOWN}; narrow the list with `query`.")
        empty = "No articles match." if query else "No articles are ingested yet."
        return list_messages("Ingested articles", lines, empty)

    # ---- mentions, DMs and follow-ups -----------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        guild_id = message.guild.id if message.guild else None
        if message.author.bot or self.bot.user is None or not self.bot.serves(guild_id):
            return
        conversation = self.conversation_of(message)
        mentioned = self.bot.user in message.mentions
        if conversation is None and not mentioned and message.guild is not None:
            return
        question = strip_mentions(message.content, self.bot.user.id)
        if not question:
            if mentioned or message.guild is None:  # without MESSAGE_CONTENT other text arrives empty: stay quiet
                await message.reply(USAGE, allowed_mentions=NO_PINGS, mention_author=False)
            return
        try:
            await self.answer_message(message, question, conversation)
        except Exception as exc:  # the listener must never die; the user gets an error id
            await _reply_quietly(message, apology(exc, "a message question"))

    def conversation_of(self, message: discord.Message) -> Conversation | None:
        """The conversation a message follows up: a reply to an answer, or a message in an answer's thread."""
        ref = message.reference
        found = self.conversations.get(ref.message_id if ref else None) or self.conversations.get(message.channel.id)
        if found is None and ref is not None and isinstance(ref.resolved, discord.Message) \
                and ref.resolved.author == self.bot.user:  # an answer from before a restart: its text is the context
            found = Conversation(turns=[("", ref.resolved.content)])
        return found

    async def answer_message(self, message: discord.Message, question: str, conversation: Conversation | None) -> None:
        guild_id = message.guild.id if message.guild else None
        refusal = self.bot.refusal(guild_id, message.author.id, question)
        if refusal:
            await _reply_quietly(message, refusal)
            return
        try:
            async with typing_if_possible(message.channel):
                standalone, answer, payloads = await self.follow_up_answer(guild_id, question, conversation)
        except (QuestionError, AnswerTimeout) as exc:
            await _reply_quietly(message, str(exc))
            return
        target = await self.thread_of(conversation, message)
        sent = await self.post(message, target, payloads)
        await self.remember(conversation or Conversation(), target or message.channel, sent, standalone,
                            question, answer)

    async def follow_up_answer(self, guild_id: int | None, question: str, conversation: Conversation | None
                               ) -> tuple[str, Answer, list[MessagePayload]]:
        """A question answered in its conversation (condensed to stand alone first): the standalone question, the
        answer and its messages, buttons included. Mentions, replies and the Follow-up form all come here."""
        standalone = question
        if conversation is not None:
            standalone = await self.bot.run_rag(self.bot.services.condense, conversation.turns, question,
                                                guild=guild_id)
        query = Query(standalone, libraries=self.bot.scope(guild_id).reads)
        answer, payloads = await self.bot.run_rag(self.answer_and_render, query, guild_id, guild=guild_id)
        if standalone != question:
            payloads[0].content = clip(f"-# Searched for: {escape(clip(standalone, 300))}\n{payloads[0].content}",
                                       2000)
        return standalone, answer, with_buttons(payloads)

    async def thread_of(self, conversation: Conversation | None, message: discord.Message):
        """The conversation's thread when the follow-up was posted outside it (a reply to the answer message)."""
        if conversation is None or conversation.thread_id in (None, message.channel.id):
            return None
        try:
            return self.bot.get_channel(conversation.thread_id) or await self.bot.fetch_channel(conversation.thread_id)
        except discord.HTTPException:
            return None  # the thread is gone: answer where the user asked

    async def post(self, message: discord.Message, target, payloads: list[MessagePayload]) -> list[discord.Message]:
        """Send the answer: as a reply to the question, or into the conversation's thread."""
        sent = []
        for i, payload in enumerate(payloads):
            if target is None and i == 0:
                send = functools.partial(message.reply, mention_author=False, **payload.kwargs())
            else:
                send = functools.partial((target or message.channel).send, **payload.kwargs())
            sent.append(await send_with_retry(send, f"an answer to message {message.id}"))
        return sent

    async def remember(self, conversation: Conversation, channel, sent: list[discord.Message], standalone: str,
                       question: str, answer: Answer) -> None:
        """Record the turn; the first answer in a text channel opens a thread for follow-ups."""
        conversation.turns.append((standalone, answer.answer))
        if conversation.thread_id is None:
            if isinstance(channel, discord.Thread):
                conversation.thread_id = channel.id
            elif isinstance(channel, discord.TextChannel) and sent:
                conversation.thread_id = await self.open_thread(channel, sent[0], question)
        self.conversations.link(conversation, *(m.id for m in sent), conversation.thread_id)

    async def open_thread(self, channel: discord.TextChannel, first: discord.Message, question: str) -> int | None:
        name = clip(re.sub(r"\s+", " ", question), THREAD_NAME_LIMIT) or "Follow-ups"
        try:
            thread = await channel.create_thread(name=name, message=first)
        except discord.HTTPException:
            logger.warning("could not open a follow-up thread in channel %s", channel.id, exc_info=True)
            return None
        return thread.id


def with_buttons(payloads: list[MessagePayload]) -> list[MessagePayload]:
    """The answer's Sources and Follow-up buttons on its first message (the one its thread opens from)."""
    if payloads and payloads[0].answer_id:
        payloads[0].view = answer_view(payloads[0].answer_id)
    return payloads


@contextlib.asynccontextmanager
async def typing_if_possible(channel):
    """Show "typing…" while an answer is worked on; a failure to show it (e.g. a 503) never costs the answer."""
    typing = channel.typing()
    try:
        await typing.__aenter__()
    except discord.HTTPException:
        logger.warning("could not show typing in channel %s", channel.id, exc_info=True)
        typing = None
    try:
        yield
    finally:
        if typing is not None:
            await typing.__aexit__(None, None, None)


async def _reply_quietly(message: discord.Message, text: str) -> None:
    try:
        await message.reply(text, allowed_mentions=NO_PINGS, mention_author=False)
    except discord.HTTPException:
        logger.warning("could not reply to message %s", message.id, exc_info=True)


async def setup(bot: NewsBot) -> None:
    bot.add_dynamic_items(SourcesButton, FollowUpButton)
    await bot.add_cog(AskCog(bot))
