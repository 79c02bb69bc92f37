"""The answer chain on the `openai` path against tests/doubles/openai_double.py, and a reply builder that cites the
passage holding a text."""

from __future__ import annotations

import re

from rag.answering.chain import build_answer_chain
from rag.answering.models import make_chat_model
from rag.retrieval.retriever import NewsRetriever
from tests.conftest import make_settings

SECRET = "sk-test-never-print-me-123"


def doc_with(text: str):
    """A reply builder that finds the number of the passage containing `text` in the prompt."""
    def number(body: dict) -> int:
        prompt = body["messages"][-1]["content"]
        for n, passage in re.findall(r"<doc id='(\d+)'[^>]*>(.*?)</doc>", prompt, re.DOTALL):
            if text in passage:
                return int(n)
        raise AssertionError(f"no passage contains {text!r}")
    return number


def openai_chain(seeded, base_url: str, **overrides):
    settings = make_settings(seeded.settings.data_dir, llm="openai", openai_api_key=SECRET,
                             openai_base_url=base_url, openai_model="double-model", **overrides)
    return build_answer_chain(NewsRetriever(index=seeded.index, k=4), make_chat_model(settings))
