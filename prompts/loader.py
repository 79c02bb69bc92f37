"""Load a prompt template from this folder by name (`answer` → answer.md)."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from langchain_core.prompts import ChatPromptTemplate

_SECTION = re.compile(r"^# (system|human)\s*$", re.MULTILINE)


@lru_cache(maxsize=16)
def load_prompt(name: str) -> ChatPromptTemplate:
    """A chat prompt from `prompts/<name>.md`, whose `# system` and `# human` headings split the messages."""
    text = (resources.files("prompts") / f"{name}.md").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    messages = [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    if not messages:
        raise ValueError(f"prompts/{name}.md has no '# system' or '# human' section")
    return ChatPromptTemplate.from_messages(messages)
