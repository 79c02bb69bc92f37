"""The one place a chat model is chosen: the offline extractive stub, or ChatOpenAI (any OpenAI-compatible server)."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from rag.errors import ConfigError, ModelError, describe_error
from rag.answering.offline.answer import answer_lines
from rag.answering.offline.reader import read_prompt
from rag.answering.offline.rules import ExtractiveRules

logger = logging.getLogger(__name__)

NOT_SURE = "I don't know: the articles I have don't cover this."
OFFLINE_LABEL = "[Offline extractive answer: sentences quoted from the articles; no language model was used.]"
STUB_MODEL_NAME = "offline-extractive"


class ExtractiveStubModel(BaseChatModel):
    """A deterministic, offline chat model that answers by quoting the best sentences of the numbered passages,
    part by part for a question of several parts (`rag.answering.offline.answer`).

    It reads the `<doc id='n'>` passages and the `<question>` from the last human message, so it runs the same
    chain and prompt as a real model, and its output carries `[n]` citations the chain checks like any other.
    """

    rules: ExtractiveRules = ExtractiveRules()  # how strict it is (one object: a new rule is one field there)

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
        """The extractive answer for a prompt in the answer.md format: part by part when the question has parts."""
        question, docs = read_prompt(prompt)
        if not question or not docs:
            return NOT_SURE
        lines = answer_lines(question, docs, self.rules)
        return "\n".join([OFFLINE_LABEL, *lines]) if lines else NOT_SURE


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




def model_name(message: BaseMessage) -> str:
    """Which model produced a reply (the stub, or the server's model name)."""
    meta = getattr(message, "response_metadata", {}) or {}
    return str(meta.get("model_name") or meta.get("model") or "unknown")
