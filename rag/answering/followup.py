"""Follow-ups: a question asked in a conversation becomes one standalone question for retrieval."""

from __future__ import annotations

import logging
import re

from langchain_core.runnables import Runnable

from prompts.loader import load_prompt
from rag.answering.models import NOT_SURE, OFFLINE_LABEL, STUB_MODEL_NAME, ExtractiveStubModel, model_name
from rag.text import MARKER_RE, STOPWORDS, WORD_RE, strip_possessive

logger = logging.getLogger(__name__)

MAX_TURNS = 3  # only the latest turns matter for what a follow-up refers to
MAX_ANSWER_CHARS = 600  # of each earlier answer shown to the model


def condense(llm: Runnable, history: list[tuple[str, str]], question: str) -> str:
    """The follow-up `question` rewritten as a standalone question, given earlier (question, answer) turns.

    The offline stub cannot rewrite, so the previous question's key terms are added to the follow-up instead,
    which still gives retrieval the conversation's subject.
    """
    question = question.strip()
    if not history:
        return question
    if isinstance(llm, ExtractiveStubModel):
        return with_key_terms(history[-1][0], question)
    prompt = load_prompt("condense")
    try:
        reply = (prompt | llm).invoke({"history": format_history(history), "question": question})
    except Exception:  # a failed rewrite must not lose the question; the answer chain reports model errors
        logger.warning("condensing the follow-up failed; using key terms instead", exc_info=True)
        return with_key_terms(history[-1][0], question)
    rewritten = _clean(str(reply.content))
    if model_name(reply) == STUB_MODEL_NAME or not rewritten or rewritten == NOT_SURE:
        return with_key_terms(history[-1][0], question)
    return rewritten


def format_history(history: list[tuple[str, str]]) -> str:
    """The latest turns as `User:` / `Assistant:` lines, answers without markers or the offline label."""
    lines = []
    for asked, answered in history[-MAX_TURNS:]:
        answered = MARKER_RE.sub("", answered.replace(OFFLINE_LABEL, "")).strip()
        if len(answered) > MAX_ANSWER_CHARS:
            answered = answered[:MAX_ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
        lines += [f"User: {asked.strip()}", f"Assistant: {answered}"]
    return "\n".join(lines)


def key_terms(text: str) -> list[str]:
    """Content words of `text` as written (not stemmed, so keyword search still matches), first occurrence kept."""
    seen: dict[str, str] = {}
    for word in WORD_RE.findall(text):
        low = strip_possessive(word.lower().replace("’", "'"))
        if low in STOPWORDS or len(low) < 2 or low in seen:
            continue
        seen[low] = strip_possessive(word)
    return list(seen.values())


def with_key_terms(previous: str, question: str) -> str:
    """The follow-up plus the previous question's key terms it does not already contain."""
    have = {w.lower() for w in key_terms(question)}
    extra = [w for w in key_terms(previous) if w.lower() not in have]
    return f"{question} ({' '.join(extra)})" if extra else question


def _clean(text: str) -> str:
    """First non-empty line of a rewrite, without quotes or a `Question:` prefix."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE)
    return line.strip().strip('"“”').strip()
