"""Library-scoped retrieval on the grown (>= 90k-chunk) store: the split into libraries, latency, dev-set quality.

Called by benchmarks/run.py after it grows its throwaway copy of the store (docs/benchmarks.md, "Libraries"):
- the corpus's own articles go to library `dev`; the copies of them are dealt to 49 more libraries with
  Zipf weights (1/rank), so sizes run from about 0.5% to about 20% of the chunks;
- latency: NewsRetriever (hybrid, k = 10) scoped to the smallest library, to the largest, to `dev`, and to every
  library but the smallest (a scope holding most of the store); every result is checked to lie in its scope and
  a scope with at least k chunks must return k;
- quality: the dev set's Hits/MRR/MAP scored on `dev` scoped retrieval, as `newsbot eval` scores its own store.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from pathlib import Path

LIBRARIES = 50
SEED = 0


def split_libraries(index, n: int = LIBRARIES, seed: int = SEED) -> list[dict]:
    """Deal the store's articles to libraries (see the module docstring); returns `index.libraries()`."""
    rng = random.Random(seed)
    names = [f"lib{r:02d}" for r in range(1, n)]
    weights = [1 / r for r in range(1, n)]
    rows = index.db.execute("SELECT article_id, version_id FROM library_articles ORDER BY article_id").fetchall()
    with index.db:
        index.db.execute("DELETE FROM library_articles")
        index.db.executemany(
            "INSERT INTO library_articles VALUES (?, ?, ?, 0)",
            [("dev" if "~" not in aid else rng.choices(names, weights)[0], aid, vid) for aid, vid in rows])
    return index.libraries()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def time_scope(index, questions: list[str], libraries: tuple[str, ...], k: int = 10) -> dict:
    """p50/p95 of the default retriever scoped to `libraries`, after warming; checks every result's scope."""
    from rag.retrieval.retriever import NewsRetriever

    retriever = NewsRetriever(index=index, k=k, libraries=libraries)
    retriever.warm(wait=True)
    _, scope = index.scope(libraries)
    members = set(scope.chunk_ids)
    start = time.perf_counter()
    for q in questions[:5]:  # loads the scope's vectors (exact search) and warms caches
        retriever.invoke(q)
    first_s = time.perf_counter() - start
    times, outside, short = [], 0, 0
    for q in questions:
        start = time.perf_counter()
        docs = retriever.invoke(q)
        times.append((time.perf_counter() - start) * 1000)
        outside += sum(d.metadata["chunk_id"] not in members for d in docs)
        short += len(docs) < min(k, len(members))
    return {"chunks": len(members), "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(pct(times, 95), 2), "_outside_scope": outside, "_short_results": short,
            "_first_5_s": round(first_s, 2)}


def bench_scoped(index, questions: list[str], log) -> dict:
    """Split the grown store and time scoped questions; see the module docstring."""
    start = time.perf_counter()
    libraries = split_libraries(index)
    by_size = sorted((row for row in libraries if row["library"] != "dev"), key=lambda row: row["chunks"])
    smallest, largest = by_size[0]["library"], by_size[-1]["library"]
    log(f"  split into {len(libraries)} libraries in {time.perf_counter() - start:.1f} s: smallest {smallest} "
        f"({by_size[0]['chunks']} chunks), largest {largest} ({by_size[-1]['chunks']} chunks)")
    all_but_smallest = tuple(row["library"] for row in libraries if row["library"] != smallest)
    out = {"libraries": len(libraries), "total_chunks": index.chunk_count()}
    for label, scope in (("smallest", (smallest,)), ("largest", (largest,)), ("dev", ("dev",)),
                         ("all_but_smallest", all_but_smallest)):
        log(f"  timing questions scoped to {label}")
        out[label] = {"library": scope[0] if len(scope) == 1 else f"{len(scope)} libraries",
                      **time_scope(index, questions, scope)}
    return out


def scoped_quality(index, queries: Path, libraries: tuple[str, ...] = ("dev",)) -> dict:
    """The dev set scored on retrieval scoped to `libraries` (rag/eval/retrieval.py's scorer)."""
    from rag.eval.retrieval import load_queries, mean_metrics, score_query
    from rag.retrieval.retriever import NewsRetriever

    search = NewsRetriever(index=index, k=10, libraries=libraries)
    search.warm(wait=True)
    _, scope = index.scope(libraries)
    members = set(scope.chunk_ids)
    rows, outside = [], 0
    start = time.perf_counter()
    for q in load_queries(queries):
        docs = search.search(q["query"], k=10)
        outside += sum(d.metadata["chunk_id"] not in members for d in docs)
        rows.append(score_query([d.page_content for d in docs], [e["fact"] for e in q["evidence_list"]]))
    return {**mean_metrics(rows), "n": len(rows), "_outside_scope": outside,
            "_seconds": round(time.perf_counter() - start, 1)}
