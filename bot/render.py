"""Answers → Discord messages that always fit Discord's limits (pure functions, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import discord

from rag import Answer, Citation, OFFLINE_LABEL, Passage

CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FIELDS_LIMIT = 25
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
FOOTER_LIMIT = 2048
SOURCE_TITLE_CHARS = 200  # a source's title in the list
QUOTE_CHARS = 400  # a quoted sentence in the list
EMBED_COLOUR = discord.Colour.blurple()
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^()\s<>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s<>`]*[^\s<>`.,;:!?)\]'\"]", re.IGNORECASE)
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass
class MessagePayload:
    """One message to send: never empty, always within Discord's limits."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None  # buttons (an answer's Sources and Follow-up)
    answer_id: str | None = None  # the answer whose buttons the view carries (bot/views.py)

    def kwargs(self) -> dict:
        """Keyword arguments for `send`, with pings turned off."""
        out: dict = {"allowed_mentions": discord.AllowedMentions.none()}
        if self.content:
            out["content"] = self.content
        if self.embeds:
            out["embeds"] = self.embeds
        if self.view is not None:
            out["view"] = self.view
        return out


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary if possible, with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def split_text(text: str, limit: int = CONTENT_LIMIT) -> list[str]:
    """Split `text` into non-empty pieces of at most `limit` chars, preferring paragraph, line, sentence, word."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            pieces.append(rest)
            break
        cut = _cut_point(rest, limit)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    window = text[: limit + 1]
    for sep in _BREAKS:
        at = window.rfind(sep)  # a sentence break keeps its mark: at + 1 <= limit still holds
        if at > limit // 3:  # a break too early would leave tiny pieces; fall through to a finer one
            return at + len(sep.rstrip()) if sep.strip() else at
    return limit


def escape(text: str) -> str:
    """`neutral` on one line (titles and quotes come from articles)."""
    return neutral(text).replace("\n", " ")


def neutral(text: str) -> str:
    """Text that can't link, ping or fake our layout: masked links become their label and target as text, URLs
    are shown in code (Discord links neither), markdown (headers, quotes, bold) is escaped and mentions are
    broken with a zero-width space. The only links we send are the cited articles' own, in the sources list."""
    text = _MASKED_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    pieces, cursor = [], 0
    for match in _URL.finditer(text):
        pieces.append(discord.utils.escape_markdown(text[cursor:match.start()], as_needed=False))
        pieces.append("`" + match.group().replace("`", "") + "`")
        cursor = match.end()
    pieces.append(discord.utils.escape_markdown(text[cursor:], as_needed=False))
    return discord.utils.escape_mentions("".join(pieces))


def source_block(c: Citation) -> str:
    """One numbered source: linked title, outlet and date, and the quoted sentence."""
    title = escape(clip(c.title or "Untitled", SOURCE_TITLE_CHARS).replace("[", "(").replace("]", ")"))
    head = f"**[{c.n}]** [{title}](<{c.url}>)" if _is_web(c.url) else f"**[{c.n}]** {title}"
    meta = " · ".join(x for x in (c.source, c.published) if x)
    lines = [head] + ([escape(clip(meta, 200))] if meta else [])
    if c.quote:
        lines.append("> " + escape(clip(c.quote, QUOTE_CHARS)))
    return "\n".join(lines)


def _is_web(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://[^\s<>()]+$", url or "") is not None


def sources_embeds(answer: Answer) -> list[discord.Embed]:
    """The sources by number, packed into as many embeds as their descriptions need."""
    footer = "Offline extractive answer (no language model)" if answer.offline else f"Model: {clip(answer.model, 100)}"
    groups: list[list[str]] = [[]]
    for c in answer.citations:
        block = clip(source_block(c), DESCRIPTION_LIMIT)
        if groups[-1] and len("\n\n".join([*groups[-1], block])) > DESCRIPTION_LIMIT:
            groups.append([])
        groups[-1].append(block)
    embeds = []
    for i, group in enumerate(g for g in groups if g):
        title = "Sources" if i == 0 else "Sources (continued)"
        embed = discord.Embed(title=title, description="\n\n".join(group), colour=EMBED_COLOUR)
        embed.set_footer(text=footer)
        embeds.append(embed)
    return embeds


def answer_text(answer: Answer) -> str:
    """The answer with its [n] markers, `neutral`; an offline answer always says it is extractive."""
    text = neutral(answer.answer.strip())
    if answer.offline and OFFLINE_LABEL not in text:
        text = f"{OFFLINE_LABEL}\n{text}"
    return text or "I have no answer to show."


def answer_messages(answer: Answer) -> list[MessagePayload]:
    """The answer split across messages, the first sources embed on the last text message, the rest after it."""
    messages = [MessagePayload(content=piece) for piece in split_text(answer_text(answer), CONTENT_LIMIT)]
    embeds = sources_embeds(answer) if not answer.abstained else []
    if embeds:
        messages[-1].embeds.append(embeds[0])
        messages += [MessagePayload(embeds=[e]) for e in embeds[1:]]
    return messages


def neutral_within(text: str, limit: int) -> str:
    """`neutral(text)` within `limit` characters: the raw text is cut before neutralising, so a cut never leaves
    half a code span (an unquoted link) or a dangling escape."""
    raw = text.strip()
    while True:
        shown = neutral(raw)
        if len(shown) <= limit:
            return shown
        raw = clip(raw, max(1, min(len(raw), limit) * 9 // 10))


def passages_message(passages: list[Passage], gone: int = 0) -> MessagePayload:
    """An answer's cited passages in full, one embed each, in one message within Discord's limits (4,096 per
    description, 6,000 across embeds, 10 embeds); what did not fit is cut, and the content says so."""
    embeds: list[discord.Embed] = []
    total, cut = 0, False
    for p in passages:
        title = clip(f"[{p.n}] {p.title or 'Untitled'}", TITLE_LIMIT)
        footer = clip(" · ".join(x for x in (p.source, p.published) if x), 200)
        room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - total - len(title) - len(footer))
        if len(embeds) == 10 or room < 300:
            cut = True
            break
        description = neutral_within(p.text, room)
        cut = cut or len(description) < len(neutral(p.text.strip()))
        embed = discord.Embed(title=title, description=description, colour=EMBED_COLOUR,
                              url=p.url if _is_web(p.url) else None)
        if footer:
            embed.set_footer(text=footer)
        embeds.append(embed)
        total += len(embed)
    notes = [f"**The {len(passages)} passage{'s' if len(passages) != 1 else ''} this answer cited, in full**"
             if passages else "None of the passages this answer cited are in the library any more."]
    if cut:
        notes.append("-# Cut to fit Discord's limits: ask a narrower question with `/ask` to see the rest.")
    if gone and passages:
        notes.append(f"-# {gone} more cited passage{'s are' if gone != 1 else ' is'} no longer in the library.")
    return MessagePayload(content="\n".join(notes), embeds=embeds)


def list_messages(title: str, lines: list[str], empty: str) -> list[MessagePayload]:
    """A titled list (e.g. /sources) as embeds of at most DESCRIPTION_LIMIT characters each."""
    if not lines:
        return [MessagePayload(content=empty)]
    pages = split_text("\n".join(clip(line, 500) for line in lines), DESCRIPTION_LIMIT)
    return [MessagePayload(embeds=[discord.Embed(title=clip(title if i == 0 else f"{title} (continued)", TITLE_LIMIT),
                                                 description=page, colour=EMBED_COLOUR)])
            for i, page in enumerate(pages)]


def embed_size(embed: discord.Embed) -> int:
    """Characters Discord counts toward the 6,000 per-message embed total."""
    return len(embed)
