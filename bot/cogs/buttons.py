"""An answer's buttons: Sources (its cited passages in full, privately) and Follow-up (a form whose question is
answered in the answer's thread, like a reply). The buttons are `DynamicItem`s (bot/views.py) that find the answer
by the id in their custom id, so they work after a restart; an answer past NEWSBOT_ANSWER_BUTTONS_DAYS says so."""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from bot.app import AnswerTimeout, NewsBot, apology, send_ephemeral
from bot.cogs.ask import THREAD_NAME_LIMIT, AskCog, Conversation
from bot.render import MessagePayload, clip, escape, passages_message
from bot.views import FORM_ID, FollowUpForm, served, submitted_text
from rag import QuestionError

logger = logging.getLogger(__name__)
GONE = ("This answer's buttons have expired (answers are kept {days:g} days, and only in the server that got "
        "them). Ask again with `/ask`.")
NO_PASSAGES = "The articles this answer cited are no longer in the library. Ask again with `/ask`."
THREAD_EXISTS = 160004  # Discord: "A thread has already been created for this message"


class AnswerButtons(commands.Cog):
    """What the Sources and Follow-up buttons do."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @property
    def gone(self) -> str:
        return GONE.format(days=self.bot.settings.answer_buttons_days)

    def record_for(self, answer_id: str, guild_id: int | None):
        """The answer's record if it is still kept and belongs to this server (blocking)."""
        record = self.bot.services.answer_record(answer_id)
        return record if record is not None and record.guild_id == guild_id else None

    def sources_of(self, answer_id: str, guild_id: int | None) -> str | MessagePayload:
        """The Sources message, or why there is none (blocking; runs in a thread)."""
        record = self.record_for(answer_id, guild_id)
        if record is None:
            return self.gone
        passages = self.bot.services.answer_passages(record)
        if not passages:
            return NO_PASSAGES
        return passages_message(passages, gone=len(record.chunk_ids) - len(passages))

    async def show_sources(self, interaction: discord.Interaction, answer_id: str) -> None:
        wait = self.bot.cooldowns.retry_after(interaction.guild_id, interaction.user.id)
        if wait is not None:
            await send_ephemeral(interaction, f"You're going quickly: please wait {max(1, round(wait))} s.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store may take longer than 3 s
        try:
            shown = await self.bot.run_rag(self.sources_of, answer_id, interaction.guild_id,
                                           guild=interaction.guild_id)
        except AnswerTimeout as exc:
            shown = str(exc)
        except Exception as exc:  # noqa: BLE001 - the clicker gets an apology with an id, the log the traceback
            shown = apology(exc, "the Sources button")
        if isinstance(shown, str):
            await send_ephemeral(interaction, shown)
        else:
            await interaction.followup.send(ephemeral=True, **shown.kwargs())

    async def open_follow_up(self, interaction: discord.Interaction, answer_id: str) -> None:
        """Open the form at once (a modal can't follow a defer); the answer is checked when it is submitted."""
        await interaction.response.send_modal(FollowUpForm(answer_id, self.bot.settings.max_question_chars))

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A submitted follow-up form, whether this process opened it or one before a restart did."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        match = FORM_ID.fullmatch(str((interaction.data or {}).get("custom_id", "")))
        if match is None or not await served(interaction):
            return
        try:
            await self.answer_follow_up(interaction, match["answer_id"], submitted_text(interaction.data or {}))
        except Exception as exc:  # noqa: BLE001 - a listener must never die; the asker gets an error id
            await send_ephemeral(interaction, apology(exc, "a follow-up form"))

    async def answer_follow_up(self, interaction: discord.Interaction, answer_id: str, question: str) -> None:
        refusal = self.bot.refusal(interaction.guild_id, interaction.user.id, question)
        if refusal:
            await send_ephemeral(interaction, refusal)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self.follow_up(interaction, answer_id, question.strip())
        except (QuestionError, AnswerTimeout) as exc:
            text = str(exc)
        except Exception as exc:  # noqa: BLE001 - the asker gets an apology with an id, the log the traceback
            text = apology(exc, "a follow-up form")
        await send_ephemeral(interaction, text)

    async def follow_up(self, interaction: discord.Interaction, answer_id: str, question: str) -> str:
        """Answer the follow-up in the answer's thread (or as a reply to the answer); what to tell the asker."""
        guild_id, message = interaction.guild_id, interaction.message
        record = await self.bot.run_rag(self.record_for, answer_id, guild_id, guild=guild_id)
        if record is None or message is None:
            return self.gone
        ask: AskCog = self.bot.get_cog("AskCog")
        conversation = (ask.conversations.get(message.id)
                        or Conversation(turns=[(record.question, record.answer)]))
        standalone, answer, payloads = await ask.follow_up_answer(guild_id, question, conversation)
        asked = f"-# Follow-up from {escape(interaction.user.display_name)}: {escape(clip(question, 300))}"
        payloads[0].content = clip(f"{asked}\n{payloads[0].content}", 2000)
        target = await self.thread_for(conversation, message, record.question)
        sent = await ask.post(message, target, payloads)
        await ask.remember(conversation, target or message.channel, sent, standalone, question, answer)
        ask.conversations.link(conversation, message.id)
        return f"Answered in <#{target.id}>." if target is not None else "Answered below the answer."

    async def thread_for(self, conversation: Conversation, message: discord.Message, question: str):
        """The answer's thread: the conversation's, the one the answer sits in, or one opened on the answer (a
        thread opened from a message has the message's id). None where there can be no thread: reply instead."""
        if conversation.thread_id is not None:
            found = await self.channel(conversation.thread_id)
            if found is not None:
                return found
        if isinstance(message.channel, discord.Thread):
            return message.channel
        if message.guild is None:
            return None
        try:
            return await message.create_thread(name=clip(re.sub(r"\s+", " ", question), THREAD_NAME_LIMIT)
                                               or "Follow-ups")
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return await self.channel(message.id)
            logger.warning("could not open a thread on answer %s; replying to it", message.id, exc_info=True)
            return None

    async def channel(self, channel_id: int):
        try:
            return self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        except discord.HTTPException:
            return None


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(AnswerButtons(bot))
