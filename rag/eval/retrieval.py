"""`newsbot eval multihop-rag`: retrieval quality on MultiHop-RAG (Tang & Yang, COLM 2024) with its own scorer.

The scorer follows upstream `retrieval_evaluate.py`: spaces and newlines are removed, a retrieved chunk is a hit
when any gold fact is a substring of it; Hits@4, Hits@10, MRR@10 and MAP@10 (at each hit rank r add the number of
gold facts first found in that chunk / r, divided by min(#facts, 10)). null_query rows have no evidence: skipped.
The corpus is ingested into a store of its own, data_dir/eval-<hash>, reused by later runs with the same corpus file,
chunk settings and embedding model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.config import Settings
from rag.errors import EvalError

logger = logging.getLogger(__name__)

METRICS = ("Hits@4", "Hits@10", "MRR@10", "MAP@10")


def _squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def score_query(retrieved: list[str], facts: list[str]) -> dict[str, float]:
    """Upstream's per-query metrics for the top-10 retrieved chunk texts and the gold facts."""
    gold = [_squash(f) for f in facts]
    found: list[str] = []
    hit4 = hit10 = False
    first: int | None = None
    ap = 0.0
    for rank, chunk in enumerate((_squash(c) for c in retrieved[:10]), start=1):
        if not any(g in chunk for g in gold):
            continue
        hit10 = True
        hit4 = hit4 or rank <= 4
        first = first or rank
        new = 0
        for g in gold:
            if g in chunk and g not in found:
                new += 1
                found.append(g)
        ap += new / rank
    return {"Hits@4": float(hit4), "Hits@10": float(hit10), "MRR@10": 1.0 / first if first else 0.0,
            "MAP@10": ap / min(len(gold), 10) if gold else 0.0}


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries (0 for none)."""
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) if rows else 0.0 for m in METRICS}


def load_queries(path: Path, limit: int | None = None) -> list[dict]:
    """The scored queries (null_query skipped), the first `limit` of them if given.

    Raises EvalError naming the file and the first entry that is not a MultiHop-RAG query."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"queries file {path}: not readable JSON ({exc})") from None
    if not isinstance(rows, list):
        raise EvalError(f"queries file {path}: expected a JSON list of queries, got {type(rows).__name__}")
    for i, q in enumerate(rows, start=1):
        evidence = q.get("evidence_list") if isinstance(q, dict) else None
        if not (isinstance(q, dict) and isinstance(q.get("query"), str) and isinstance(q.get("question_type"), str)
                and isinstance(evidence, list) and all(isinstance(e, dict) and "fact" in e for e in evidence)):
            raise EvalError(f"queries file {path}: entry {i} is not a MultiHop-RAG query "
                            "(needs query, question_type and evidence_list with a fact in each)")
    rows = [q for q in rows if q["question_type"] != "null_query"]
    return rows[:limit] if limit else rows


def store_dir(settings: Settings, corpus: Path, chunk_tokens: int, chunk_overlap: int, model_id: str) -> Path:
    """data_dir/eval-<hash of the corpus bytes, chunk settings and embedding model>."""
    digest = hashlib.sha256(Path(corpus).read_bytes())
    digest.update(f"|{chunk_tokens}|{chunk_overlap}|{model_id}".encode())
    return Path(settings.data_dir) / f"eval-{digest.hexdigest()[:16]}"


@dataclass
class EvalResult:
    overall: dict[str, float]
    by_type: dict[str, dict[str, float]]
    n: int
    chunk_tokens: int
    retriever: str

    def to_dict(self) -> dict:
        return {**self.overall, "n": self.n, "chunk_tokens": self.chunk_tokens, "retriever": self.retriever,
                "by_type": self.by_type}


def open_eval_store(settings: Settings, corpus: Path, chunk_tokens: int = 256,
                    on_ingest: Callable[[int, int], None] | None = None):
    """The corpus's own store (data_dir/eval-<hash>), ingesting what it does not hold yet."""
    from rag.articles.article import LoadFailure
    from rag.articles.loaders import load_paths
    from rag.embeddings.embedders import embedding_model_id, make_embeddings
    from rag.store.index import NewsIndex, open_chroma

    items = list(load_paths([Path(corpus)], max_bytes=max(settings.max_file_bytes, Path(corpus).stat().st_size)))
    failures = [i for i in items if isinstance(i, LoadFailure)]
    if len(failures) == len(items):
        raise EvalError(f"corpus {corpus}: no article could be read"
                        + (f" ({failures[0].reason})" if failures else " (it holds none)"))
    embeddings = make_embeddings(settings)
    where = store_dir(settings, corpus, chunk_tokens, settings.chunk_overlap, embedding_model_id(embeddings))
    eval_settings = settings.model_copy(update={"data_dir": where, "chunk_tokens": chunk_tokens})
    index = NewsIndex(open_chroma(eval_settings), embeddings, where, chunk_tokens,
                      settings.chunk_overlap)
    done = 0

    def ingested(n: int) -> None:
        nonlocal done
        done += n
        if on_ingest:
            on_ingest(done, len(items))

    index.ingest(items, batch_chunks=settings.ingest_batch_chunks, on_progress=ingested)
    return index


def run_eval(settings: Settings, corpus: Path, queries: Path, chunk_tokens: int = 256, retriever: str = "hybrid",
             limit: int | None = None, recipe=None, on_ingest: Callable[[int, int], None] | None = None,
             on_query: Callable[[int, int], None] | None = None) -> EvalResult:
    """Ingest the corpus into its eval store (once), retrieve the top 10 for each query and score them."""
    from rag.retrieval.retriever import NewsRetriever

    rows = load_queries(queries, limit)  # both inputs are checked before any store is made or filled
    index = open_eval_store(settings, corpus, chunk_tokens, on_ingest)
    search = NewsRetriever(index=index, mode=retriever, k=10, recipe=recipe)
    search.warm(wait=True)  # the same rankings as FTS5's, faster over hundreds of queries
    scored: list[tuple[str, dict[str, float]]] = []
    for i, q in enumerate(rows, start=1):
        docs = search.search(q["query"], k=10)
        scored.append((q["question_type"], score_query([d.page_content for d in docs],
                                                       [e["fact"] for e in q["evidence_list"]])))
        if on_query:
            on_query(i, len(rows))
    types = sorted({t for t, _ in scored})
    return EvalResult(mean_metrics([s for _, s in scored]),
                      {t: {**mean_metrics([s for u, s in scored if u == t]), "n": sum(u == t for u, _ in scored)}
                       for t in types}, len(scored), chunk_tokens, retriever)
