"""What keeps passages and replies in their place: passages escaped into the prompt (text inside an article can't
close its `<doc>` tag), and reply sentences that repeat the system prompt (an obeyed injection) stripped."""

from __future__ import annotations

import logging
import re

from rag.schema import Passage
from rag.text import lower_words, split_sentences

LEAK_WORDS = 6  # a reply sentence sharing this many consecutive words with the system prompt repeats it

logger = logging.getLogger(__name__)


def format_passages(passages: list[Passage]) -> str:
    """Numbered passages for the prompt; tag-like text inside a passage is defused so it can't close the tag."""
    blocks = []
    for p in passages:
        text = re.sub(r"</?\s*(doc|passages|question)\b", lambda m: m.group().replace("<", "‹"), p.text,
                      flags=re.IGNORECASE)
        attrs = f"title={_attr(p.title)} source={_attr(p.source or 'unknown')} date={_attr(p.published or 'unknown')}"
        blocks.append(f"<doc id='{p.n}' {attrs}>\n{text}\n</doc>")
    return "\n".join(blocks)


def _attr(value: str) -> str:
    return "'" + value.replace("'", "’").replace(">", "›").replace("<", "‹") + "'"


def system_text(prompt) -> str:
    """The prompt's system message(s), with the variables blank (the not-sure reply may be repeated)."""
    blanks = dict.fromkeys(prompt.input_variables, "")
    return "\n".join(str(m.content) for m in prompt.format_messages(**blanks) if m.type == "system")


def strip_prompt_leaks(reply: str, system: str, n: int = LEAK_WORDS) -> str:
    """Drop each reply sentence that repeats `n` consecutive words of the system prompt (an obeyed injection)."""
    spans, whole = _word_ngrams(system, n), f" {' '.join(lower_words(system))} "
    sentences = split_sentences(reply)
    leaks = {i for i, (s, e) in enumerate(sentences) if _word_ngrams(reply[s:e], n) & spans
             or (len(lower_words(reply[s:e])) >= 4
                 and f" {' '.join(lower_words(reply[s:e]))} " in whole)}  # a short rule, whole
    if not leaks:
        return reply
    logger.warning("dropped %d reply sentence(s) that repeated the system prompt", len(leaks))
    ends = [s for s, _ in sentences[1:]] + [len(reply)]  # each sentence with the space after it
    kept = "".join(reply[s:end] for i, ((s, _), end) in enumerate(zip(sentences, ends)) if i not in leaks)
    return (reply[:sentences[0][0]] + kept).strip()


def _word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = lower_words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
