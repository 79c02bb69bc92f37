"""The one place a chat model is chosen: the offline extractive stub, or ChatOpenAI (any OpenAI-compatible server)."""

from __future__ import annotations

import logging
import re
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from rag.errors import ConfigError, ModelError
from rag.text import coverage, idf_table, split_sentences, terms

logger = logging.getLogger(__name__)

NOT_SURE = "I don't know: the articles I have don't cover this."
OFFLINE_LABEL = "[Offline extractive answer: sentences quoted from the articles; no language model was used.]"
STUB_MODEL_NAME = "offline-extractive"
_DOC = re.compile(r"<doc id='(\d+)'(?: title='([^']*)')?[^>]*>\n?(.*?)\n?</doc>", re.DOTALL)
_QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)


class ExtractiveStubModel(BaseChatModel):
    """A deterministic, offline chat model that answers by quoting the best sentences of the numbered passages.

    It reads the `<doc id='n'>` passages and the `<question>` from the last human message, so it runs the same
    chain and prompt as a real model, and its output carries `[n]` citations the chain checks like any other.
    """

    min_coverage: float = 0.5  # of the question's weighted terms, by the sentence plus its article's title
    min_sentence_coverage: float = 0.25  # by the sentence alone, so a good title can't carry an off-topic line
    max_sentences: int = 3

    @property
    def _llm_type(self) -> str:
        return STUB_MODEL_NAME

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content) if messages else ""
        text = self.answer(prompt)
        message = AIMessage(content=text, response_metadata={"model_name": STUB_MODEL_NAME, "offline": True})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def answer(self, prompt: str) -> str:
        """The extractive answer for a prompt in the answer.md format."""
        question = _QUESTION.search(prompt)
        docs = [(int(n), title, body) for n, title, body in _DOC.findall(prompt)]
        if question is None or not docs:
            return NOT_SURE
        picked = self.pick_sentences(question.group(1), docs)
        if not picked:
            return NOT_SURE
        return "\n".join([OFFLINE_LABEL, *(f"{sentence} [{n}]" for n, sentence in picked)])

    def pick_sentences(self, question: str, docs: list[tuple[int, str, str]]) -> list[tuple[int, str]]:
        """The sentences that best cover the question, preferring passages not yet quoted."""
        q_terms = terms(question)
        candidates = []
        for n, title, body in docs:
            title_terms = set(terms(title))
            for start, end in split_sentences(body):
                sentence = body[start:end].strip()
                candidates.append((n, sentence, set(terms(sentence)), title_terms))
        idf = idf_table(c[2] for c in candidates)
        scored = [
            (coverage(q_terms, t | tt, idf), coverage(q_terms, t, idf), -i, n, s, t)
            for i, (n, s, t, tt) in enumerate(candidates)
        ]
        scored = [row for row in scored if row[0] >= self.min_coverage and row[1] >= self.min_sentence_coverage]
        scored.sort(reverse=True)
        picked: list[tuple[int, str]] = []
        used: list[set[str]] = []
        for pass_ in (0, 1):  # first one sentence per passage, then fill up
            for _, _, _, n, sentence, t in scored:
                if len(picked) >= self.max_sentences:
                    break
                if pass_ == 0 and any(p[0] == n for p in picked):
                    continue
                if any(len(t & u) / max(1, len(t | u)) > 0.6 for u in used):
                    continue  # a near-duplicate of a sentence already quoted
                picked.append((n, sentence))
                used.append(t)
        return picked


def _require_content(message: AIMessage) -> AIMessage:
    if not str(message.content).strip():
        raise ModelError("the model returned an empty reply")
    return message


def make_chat_model(settings) -> Runnable:
    """ChatOpenAI when configured (falling back to the stub if it fails), else the stub."""
    stub = ExtractiveStubModel()
    if not settings.use_openai_llm:
        return stub
    if settings.openai_api_key is None and not settings.openai_base_url:
        raise ConfigError("NEWSBOT_LLM=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)")
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model=settings.openai_model, api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url, timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries, temperature=settings.temperature,
    )
    return _warn_on_failure(model | RunnableLambda(_require_content)).with_fallbacks([stub])


def _warn_on_failure(primary: Runnable) -> Runnable:
    """Log why the model failed (after its retries) before the offline fallback answers."""
    def invoke(value: Any, config: RunnableConfig) -> Any:
        try:
            return primary.invoke(value, config)
        except Exception as exc:
            logger.warning("the chat model failed (%s); answering with the offline extractive model",
                           describe_error(exc))
            raise
    return RunnableLambda(invoke, name="chat_model")


def describe_error(exc: BaseException) -> str:
    """The error's class and HTTP status, never its text: a server's error message can echo the API key."""
    status = getattr(exc, "status_code", None)
    return type(exc).__name__ + (f", HTTP {status}" if status else "")


def model_name(message: BaseMessage) -> str:
    """Which model produced a reply (the stub, or the server's model name)."""
    meta = getattr(message, "response_metadata", {}) or {}
    return str(meta.get("model_name") or meta.get("model") or "unknown")
