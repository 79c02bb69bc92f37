"""The retrieval chain: question → passages → prompt → model → checked citations → `Answer`."""

from __future__ import annotations

from datetime import date
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from prompts.loader import load_prompt
from rag.answering.citations import check_citations
from rag.answering.models import NOT_SURE, STUB_MODEL_NAME, model_name
from rag.answering.offline.regroup import check_part_reply, is_part_reply
from rag.answering.parts import retrieve_by_parts
from rag.answering.prompt_safety import format_passages, strip_prompt_leaks, system_text
from rag.answering.query import Query
from rag.schema import Answer, Passage


def build_answer_chain(retriever: BaseRetriever, llm: Runnable, prompt_name: str = "answer",
                       today: date | None = None) -> Runnable[Query, Answer]:
    """`create_chain(llm, retriever)`-style: Query → retrieved passages → prompt → llm → checked Answer."""
    prompt = load_prompt(prompt_name)
    system = system_text(prompt)

    def retrieve(query: Query) -> list[Passage]:
        updates: dict[str, Any] = {k: v for k, v in (("since", query.since), ("until", query.until),
                                                      ("source", query.source), ("k", query.k),
                                                      ("libraries", tuple(query.libraries))) if v}
        bound = retriever.model_copy(update=updates) if updates else retriever
        docs = retrieve_by_parts(bound, query.question)  # the question's passages, then each part's own
        return [Passage.from_document(i, d) for i, d in enumerate(docs, start=1)]

    def generate(state: dict) -> BaseMessage | None:
        if not state["passages"]:
            return None  # nothing retrieved: abstain without asking the model
        return (prompt | llm).invoke({
            "question": state["query"].question, "passages": format_passages(state["passages"]),
            "not_sure": NOT_SURE, "today": (today or date.today()).isoformat(),
        })

    def finish(state: dict) -> Answer:
        reply = state["reply"]
        if reply is None:
            return Answer(answer=NOT_SURE, abstained=True, model="none")
        text = strip_prompt_leaks(str(reply.content), system)
        if model_name(reply) == STUB_MODEL_NAME and is_part_reply(text):  # the offline answer, part by part:
            # checked the same way, then regrouped
            return check_part_reply(text, state["passages"], model_name(reply), check_citations)
        return check_citations(text, state["passages"], model_name(reply))

    return (
        RunnableLambda(lambda q: {"query": q if isinstance(q, Query) else Query(str(q))})
        | RunnablePassthrough.assign(passages=RunnableLambda(lambda s: retrieve(s["query"])))
        | RunnablePassthrough.assign(reply=RunnableLambda(generate))
        | RunnableLambda(finish)
    ).with_config(run_name="newsbot_answer")
