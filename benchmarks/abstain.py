"""Abstention on MultiHop-RAG dev null queries (issue #15): with the offline stub, and with a scripted model that
invents an answer citing passage [1]; and the answer rate on answerable dev queries, of the stub and of a scripted
model that quotes passage 1's longest sentence (a true claim). Each with the citation
check of this checkout, and with the check as it was at d5d1eb3 (`--old-check FILE`, that commit's rag/answering/chain.py).

    git show d5d1eb3:rag/answering/chain.py > /tmp/old_answer.py
    PYTHONPATH=. python benchmarks/abstain.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries_dev.json --data-dir DIR [--answerable N] [--old-check FILE]

The corpus is ingested into DIR's eval store (as `newsbot eval multihop-rag` does) unless it is there already.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

import rag.answering.chain
import rag.answering.citations
from rag.answering.chain import build_answer_chain
from rag.answering.query import Query
from rag.config import Settings
from rag.eval.retrieval import open_eval_store
from rag.answering.models import ExtractiveStubModel
from rag.retrieval.retriever import NewsRetriever
from rag.text import split_sentences

_QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)
_LEAD = re.compile(r"^(?:considering|based on|according to|given)[^,]*,\s*", re.IGNORECASE)
_WH = re.compile(r"\b(?:which|what|who|whom|whose)\b(?:\s+(?:single|one|company|person|entity|individual|"
                 r"organization|event|character|model))?", re.IGNORECASE)


class InventingModel(BaseChatModel):
    """Answers every question by asserting it: "which X did Y?" → "the answer X did Y [1]" (an invention)."""

    @property
    def _llm_type(self) -> str:
        return "inventor"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        found = _QUESTION.search(str(messages[-1].content))
        question = found.group(1).strip().rstrip("?") if found else "it happened"
        claim = _WH.sub("Acme Corp", _LEAD.sub("", question), count=1)
        claim = claim[:1].upper() + claim[1:]
        message = AIMessage(content=f"{claim} [1].", response_metadata={"model_name": "inventor"})
        return ChatResult(generations=[ChatGeneration(message=message)])


class QuotingModel(BaseChatModel):
    """Answers with the longest sentence of passage 1, cited: a true claim, so the check should keep it."""

    @property
    def _llm_type(self) -> str:
        return "quoter"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        found = re.search(r"<doc id='1'[^>]*>\n(.*?)\n</doc>", str(messages[-1].content), re.DOTALL)
        spans = split_sentences(found.group(1)) if found else []
        best = max((found.group(1)[s:e].strip() for s, e in spans), key=len, default="")
        message = AIMessage(content=f"{best.rstrip('.')} [1]." if best else "", response_metadata={"model_name": "q"})
        return ChatResult(generations=[ChatGeneration(message=message)])


def rate(chain, questions: list[str], abstaining: bool) -> float:
    answers = [chain.invoke(Query(q)) for q in questions]
    return sum(a.abstained == abstaining for a in answers) / len(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--queries", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--answerable", type=int, default=200, help="answerable queries to ask (the first N)")
    parser.add_argument("--old-check", type=Path, help="a former rag/answering/chain.py whose check_citations to compare")
    args = parser.parse_args()
    rows = json.loads(args.queries.read_text(encoding="utf-8"))
    null = [r["query"] for r in rows if r["question_type"] == "null_query"]
    answerable = [r["query"] for r in rows if r["question_type"] != "null_query"][:args.answerable]
    index = open_eval_store(Settings(_env_file=None, data_dir=args.data_dir), args.corpus)
    retriever = NewsRetriever(index=index)
    checks = {"this checkout": rag.answering.citations.check_citations}
    if args.old_check:
        spec = importlib.util.spec_from_file_location("old_answer", args.old_check)
        old = importlib.util.module_from_spec(spec)
        sys.modules["old_answer"] = old
        spec.loader.exec_module(old)
        checks["d5d1eb3"] = old.check_citations
    start = time.perf_counter()
    print(f"{len(null)} null queries, {len(answerable)} answerable; load average {os.getloadavg()[0]:.2f}")
    for name, check in checks.items():
        rag.answering.chain.check_citations = check  # the name the chain calls it by
        stub = build_answer_chain(retriever, ExtractiveStubModel())
        inventor = build_answer_chain(retriever, InventingModel())
        quoter = build_answer_chain(retriever, QuotingModel())
        print(f"check of {name}: null abstained, stub {rate(stub, null, True):.1%}; "
              f"inventing model {rate(inventor, null, True):.1%}; "
              f"answerable answered, stub {rate(stub, answerable, False):.1%}, "
              f"quoting model {rate(quoter, answerable, False):.1%}")
    print(f"{time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
