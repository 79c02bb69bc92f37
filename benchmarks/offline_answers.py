"""Offline answers on MultiHop-RAG: how often the stub's quotes are the gold evidence, and how often it abstains.

    PYTHONPATH=. python benchmarks/offline_answers.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries_dev.json [--limit N] [--sweep 0.4 0.5 0.6]

Runs the real answer chain (retrieval per part, the offline stub model, the citation check) over every dev query,
with the same cached eval store as `newsbot eval multihop-rag` (under NEWSBOT_DATA_DIR). A quote and a gold fact
match when one contains the first 60 characters of the other, spaces and newlines removed. Figures:
- gold quoted: share of answerable questions whose answer quotes at least one gold fact;
- facts quoted: share of all gold facts quoted;
- null abstained: share of null queries (no evidence in the corpus) answered "I don't know";
- named outlets: share of quotes, in answers to questions that name outlets, from an outlet the question names;
- answers/s: the first pass, retrieval included (later points of the sweep reuse its retrieval).
The sweep varies the stub's `min_coverage` (the share of a part's weighted words a sentence plus its title must
hold); the shipped point is the stub's default. This is how docs/benchmarks.md's figures were measured, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag.answering.chain import build_answer_chain
from rag.answering.query import Query
from rag.config import Settings
from rag.eval.retrieval import open_eval_store
from rag.answering.models import ExtractiveStubModel
from rag.answering.offline.rules import ExtractiveRules
from rag.retrieval.retriever import NewsRetriever, outlet_matcher

PREFIX = 60


class MemoRetriever(BaseRetriever):
    """The wrapped retriever's results, remembered per query text (so a sweep retrieves once)."""

    inner: Any
    index: Any
    memo: dict = {}

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun | None = None) -> list[Document]:
        if query not in self.memo:
            self.memo[query] = self.inner.invoke(query)
        return list(self.memo[query])


def _squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def matches(quote: str, fact: str) -> bool:
    """One contains the first 60 characters of the other, spaces removed."""
    q, f = _squash(quote), _squash(fact)
    return bool(q and f) and (f[:PREFIX] in q or q[:PREFIX] in f)


def score(rows: list[dict], answers: list, matcher) -> dict[str, float]:
    answerable = [(r, a) for r, a in zip(rows, answers) if r["question_type"] != "null_query"]
    nulls = [a for r, a in zip(rows, answers) if r["question_type"] == "null_query"]
    gold_hit = facts = facts_hit = named_quotes = named_right = 0
    for row, answer in answerable:
        quotes = [c.quote for c in answer.citations]
        hits = [any(matches(q, e["fact"]) for q in quotes) for e in row["evidence_list"]]
        gold_hit += any(hits)
        facts += len(hits)
        facts_hit += sum(hits)
        named = {s for _, _, sources, _ in matcher.find(row["query"]) for s in sources}
        if named:
            named_quotes += len(answer.citations)
            named_right += sum(c.source in named for c in answer.citations)
    return {
        "gold_quoted": gold_hit / max(1, len(answerable)),
        "facts_quoted": facts_hit / max(1, facts),
        "answered": sum(not a.abstained for _, a in answerable) / max(1, len(answerable)),
        "null_abstained": sum(a.abstained for a in nulls) / max(1, len(nulls)),
        "named_outlets": named_right / max(1, named_quotes),
        "n_answerable": len(answerable), "n_null": len(nulls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--limit", type=int, help="only the first N queries")
    parser.add_argument("--sweep", type=float, nargs="*", default=[0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7],
                        help="min_coverage values to try besides the shipped default")
    parser.add_argument("--min-sentence", type=float, help="min_sentence_coverage for every point "
                        "(default: the stub's)")
    parser.add_argument("--per-part", type=int, help="max_per_part for every point (default: the stub's)")
    parser.add_argument("--min-anchor", type=float, help="min_anchor for every point (default: the stub's)")
    parser.add_argument("--json", action="store_true", help="one JSON object per point")
    parser.add_argument("--dump", type=Path, help="write the shipped point's answers here (JSONL), to read them")
    args = parser.parse_args()
    settings = Settings()
    rows = json.loads(args.queries.read_text(encoding="utf-8"))[: args.limit]
    index = open_eval_store(settings, args.corpus)
    search = NewsRetriever(index=index, k=settings.top_k)
    search.warm(wait=True)
    retriever = MemoRetriever(inner=search, index=index, memo={})
    matcher = outlet_matcher(index)
    shipped = ExtractiveRules().min_coverage
    points = [shipped] + sorted(set(args.sweep) - {shipped})
    print(f"{len(rows)} queries, top_k {settings.top_k} per part; min_coverage {shipped} is shipped", flush=True)
    print(f"{'min_cov':>7} {'gold quoted':>11} {'facts quoted':>12} {'answered':>8} {'null abst.':>10} "
          f"{'named outlets':>13} {'answers/s':>9}")
    for point in points:
        extra = {"min_sentence_coverage": args.min_sentence} if args.min_sentence is not None else {}
        extra |= {"max_per_part": args.per_part} if args.per_part is not None else {}
        extra |= {"min_anchor": args.min_anchor} if args.min_anchor is not None else {}
        chain = build_answer_chain(retriever, ExtractiveStubModel(rules=ExtractiveRules(min_coverage=point, **extra)))
        started = time.perf_counter()
        answers = []
        for i, r in enumerate(rows, start=1):
            answers.append(chain.invoke(Query(r["query"])))
            if i % 50 == 0:
                print(f"  {i}/{len(rows)} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        rate = len(rows) / (time.perf_counter() - started)
        figures = score(rows, answers, matcher) | {"min_coverage": point, "answers_per_s": rate,
                                                   "shipped": point == shipped}
        if args.dump and point == shipped:
            with args.dump.open("w", encoding="utf-8") as out:
                for row, answer in zip(rows, answers):
                    out.write(json.dumps({"row": row, **answer.to_dict()}, ensure_ascii=False) + "\n")
        if args.json:
            print(json.dumps(figures), flush=True)
            continue
        print(f"{point:7.2f} {figures['gold_quoted']:11.3f} {figures['facts_quoted']:12.3f} "
              f"{figures['answered']:8.3f} {figures['null_abstained']:10.3f} {figures['named_outlets']:13.3f} "
              f"{rate:9.1f}" + ("  (shipped; retrieval included)" if point == shipped else ""), flush=True)


if __name__ == "__main__":
    main()
