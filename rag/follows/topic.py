"""A follow's topic, as a reader types it: plain words, `"exact phrases"` that must occur, `-words` that must not."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.errors import NewsbotError

DEFAULT_MAX_TOPIC_CHARS = 200  # the default of the `follow_max_topic_chars` setting
_PHRASE = re.compile(r"[\"“”]([^\"“”]*)[\"“”]")
_EXCLUDED = re.compile(r"(?:^|(?<=\s))-([A-Za-z0-9][\w'’-]*)")
_MENTION = re.compile(r"<[@#][!&]?\d+>|(?<![\w@])@\w+")  # @everyone, @here, <@123>: Discord's, not the topic's words


class FollowError(NewsbotError):
    """A follow cannot be made or used as asked (empty topic, too long, a limit reached); the message says why."""


@dataclass(frozen=True)
class Topic:
    """A parsed topic. `words` are the plain words (phrases and exclusions taken out), as typed."""

    text: str
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    @property
    def positive(self) -> str:
        """What the topic is about: its words and phrases, without the exclusions (what gets embedded)."""
        return " ".join([*self.phrases, *self.words]).strip()


def parse_topic(text: str, max_chars: int = DEFAULT_MAX_TOPIC_CHARS) -> Topic:
    """`text` -> Topic; FollowError when it is empty, longer than `max_chars`, or only exclusions."""
    text = " ".join((text or "").split())
    if not text:
        raise FollowError("The topic is empty: give a few words, e.g. `Prime Day deals`.")
    if len(text) > max_chars:
        raise FollowError(f"The topic is {len(text)} characters; the limit is {max_chars} "
                          "(setting NEWSBOT_FOLLOW_MAX_TOPIC_CHARS). Shorten it.")
    phrases = tuple(p.strip() for p in _PHRASE.findall(text) if p.strip())
    rest = _PHRASE.sub(" ", text)
    excluded = tuple(w.lower() for w in _EXCLUDED.findall(rest))
    rest = _MENTION.sub(" ", _EXCLUDED.sub(" ", rest))
    words = tuple(w for w in re.findall(r"[\w'’&.-]+", rest) if re.search(r"\w", w))
    if not phrases and not words:
        raise FollowError("The topic has only exclusions (`-word`) or mentions: say what to follow too, e.g. `Tesla -Musk`.")
    return Topic(text=text, phrases=phrases, excluded=excluded, words=words)
