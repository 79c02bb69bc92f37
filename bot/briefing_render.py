"""Briefings → Discord messages: a heading, then one embed message per story, each within Discord's limits."""

from __future__ import annotations

import discord

from bot.render import (
    DESCRIPTION_LIMIT,
    EMBED_COLOUR,
    EMBED_TOTAL_LIMIT,
    TITLE_LIMIT,
    MessagePayload,
    clip,
    escape,
    source_block,
)
from rag import Briefing, claim_line, plural, Story, story_dates

SUMMARY_CHARS = 1500  # the summary's share of a story's embed; the sources get the rest
SOURCES_NAMED = 5  # outlets named in the "reported by" line


def heading(briefing: Briefing, late: bool = False) -> str:
    """The first message: which day, how many stories, and whether it is late or offline."""
    when = f"**Briefing for {briefing.label}**"
    if late:
        when = f"**Late briefing for {briefing.label}** (posted late: the bot was offline at its time)"
    if not briefing.stories:
        return f"{when}\nNo articles for {briefing.label}."
    parts = [f"{when}: {plural(len(briefing.stories), 'story')} from {plural(briefing.articles, 'article')}, "
             "most covered first."]
    if briefing.omitted:
        parts.append(f"{plural(briefing.omitted, 'smaller story is', 'smaller stories are')} left out.")
    if briefing.offline:
        parts.append("Offline extractive summaries: sentences quoted from the articles, no language model.")
    return clip(" ".join(parts), 2000)


def reported_by(story: Story) -> str:
    """`Reported by 2 outlets: A, B` (an article whose outlet is unknown counts as its own outlet)."""
    names = list(dict.fromkeys(s.source for s in story.sources if s.source))
    shown = ", ".join(names[:SOURCES_NAMED]) + (", …" if len(names) > SOURCES_NAMED else "")
    days = story_dates(story)
    return f"Reported by {plural(story.outlets, 'outlet')}" + (f": {shown}" if shown else "") + (
        f" ({days})" if days else "")


def summary_text(story: Story) -> str:
    """One line per claim, with "reported by N outlets" where N ≥ 2; the plain summary if it has no claims."""
    if not story.claims:
        return escape(clip(story.summary, SUMMARY_CHARS))
    lines, size = [], 0
    for claim in story.claims:
        line = escape(clip(claim_line(claim), SUMMARY_CHARS))
        if size + len(line) + 1 > SUMMARY_CHARS and lines:
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def story_embed(n: int, story: Story, footer: str) -> discord.Embed:
    """One story: numbered headline, summary with [n], who reported it, and the cited sources with quotes."""
    title = clip(f"{n}. {story.headline}", TITLE_LIMIT)
    footer = clip(footer, 200)
    budget = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - len(title) - len(footer) - 10)
    head = f"{summary_text(story)}\n\n*{escape(clip(reported_by(story), 300))}*"
    blocks = [head]
    cited = {c.article_id for c in story.citations}
    extra = [f"• {escape(clip(s.title, 150))} ({escape(s.source or 'unknown outlet')})"
             for s in story.sources if s.article_id not in cited]
    candidates = [clip(source_block(c), 800) for c in story.citations] + extra
    for i, block in enumerate(candidates):
        more = f"…and {len(candidates) - i} more sources"
        if len("\n\n".join([*blocks, block])) + len(more) + 2 > budget:
            blocks.append(more)
            break
        blocks.append(block)
    embed = discord.Embed(title=title, description=clip("\n\n".join(blocks), budget), colour=EMBED_COLOUR)
    embed.set_footer(text=footer)
    return embed


def briefing_messages(briefing: Briefing, late: bool = False) -> list[MessagePayload]:
    """The heading message, then one message per story."""
    footer = "Offline extractive summary" if briefing.offline else f"Model: {briefing.model}"
    return [MessagePayload(content=heading(briefing, late))] + [
        MessagePayload(embeds=[story_embed(i, story, footer)]) for i, story in enumerate(briefing.stories, start=1)
    ]


POST_TITLE_LIMIT = 100  # Discord's limit on a thread's (a forum post's) name
TAG_BY_OUTLETS = ("1 outlet", "2+ outlets")  # forum tags picked by a story's outlet count, where the forum has them


def forum_title(story: Story) -> str:
    """A story's forum post title: its headline, within Discord's 100 characters (markdown is inert in titles)."""
    return clip(story.headline, POST_TITLE_LIMIT) or "Untitled story"


def forum_tag_names(story: Story) -> set[str]:
    """The tag names a story's post gets, lower-cased: "2+ outlets" when two or more outlets report it, else
    "1 outlet" (each applied only if the forum has a tag of that name)."""
    return {TAG_BY_OUTLETS[1] if story.outlets >= 2 else TAG_BY_OUTLETS[0]}


def forum_messages(briefing: Briefing, late: bool = False) -> list[tuple[Story, MessagePayload]]:
    """Each story's message in a forum: the same embed as in a text channel, and a line saying which briefing it
    belongs to (it opens the story's post, or replies in it when the story was posted before)."""
    footer = "Offline extractive summary" if briefing.offline else f"Model: {briefing.model}"
    note = f"{'Late briefing' if late else 'Briefing'} for {briefing.label}"
    return [(story, MessagePayload(content=note, embeds=[story_embed(i, story, footer)]))
            for i, story in enumerate(briefing.stories, start=1)]
