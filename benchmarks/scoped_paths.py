"""What each way of scoping a dense search costs on a library-split store (the measurements behind
rag/store/vectors.py's thresholds; docs/benchmarks.md, "Libraries").

    PYTHONPATH=. python benchmarks/scoped_paths.py --data-dir STORE --queries ../shared/eval/multihop-rag/queries_dev.json

STORE is a store already split into libraries (benchmarks/run.py builds one in a throwaway folder; `--keep-large
DIR` there keeps it). For the smallest library, `dev` and the largest, and for a scope of every library but the
smallest, it times per query (k = 200, the hybrid's pool; the question and no clause, so one vector):
- `chroma_unfiltered`: one unfiltered Chroma query of the whole store (the cost a scope must be compared with);
- `chroma_ids`: Chroma's own filter, `query(ids=<the scope's chunk ids>)`;
- `exact`: numpy over the scope's vectors held in memory (what rag/store/vectors.py does for small scopes);
- `over_fetch`: an unfiltered query for k / share x 1.5 candidates, kept if in the scope (large scopes);
plus the one-off cost of reading a scope's vectors from Chroma.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.embeddings.embedders import make_embeddings  # noqa: E402
from rag.store.index import NewsIndex, open_chroma  # noqa: E402
from rag.store import vectors as vectors_room  # noqa: E402

K = 200


def timed(fn, runs: list) -> float:
    """Median ms of fn(vector) over the query vectors."""
    times = []
    for vector in runs:
        start = time.perf_counter()
        fn(vector)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--queries", type=Path, required=True)
    p.add_argument("--n", type=int, default=50, help="query vectors timed per figure")
    args = p.parse_args(argv)
    settings = Settings(_env_file=None, data_dir=args.data_dir, llm="stub")
    embeddings = make_embeddings(settings)
    index = NewsIndex(open_chroma(settings), embeddings, args.data_dir)
    questions = [q["query"] for q in json.loads(args.queries.read_text(encoding="utf-8"))[:args.n]]
    query_vectors = [embeddings.embed_query(q) for q in questions]
    libraries = sorted(index.libraries(), key=lambda row: row["chunks"])
    others = [row for row in libraries if row["library"] != "dev"]
    scopes = {"smallest": (others[0]["library"],), "dev": ("dev",), "largest": (others[-1]["library"],),
              "all_but_smallest": tuple(row["library"] for row in libraries if row["library"] != others[0]["library"])}
    total = index.chunk_count()
    col = index.vectors.collection
    out = {"total_chunks": total, "chroma_unfiltered": timed(lambda v: col.query(
        query_embeddings=[v], n_results=K, include=["distances"]), query_vectors)}
    for label, libs in scopes.items():
        key, scope = index.scope(libs)
        share = len(scope) / total
        ids = list(scope.chunk_ids)
        start = time.perf_counter()
        index.vectors._scopes.matrix(key, scope)  # the one-off read of the scope's vectors
        load_s = round(time.perf_counter() - start, 2)
        row = {"libraries": len(libs), "chunks": len(scope), "share": round(share, 4), "load_vectors_s": load_s}
        row["exact"] = timed(lambda v: index.vectors._exact([v], K, key, scope, None), query_vectors)
        n = min(math.ceil(K / share * vectors_room.OVERFETCH) + 20, total)
        row["over_fetch_n"] = n
        row["over_fetch"] = timed(lambda v: index.vectors._over_fetch([v], K, min(K, len(scope)), key, scope,
                                                                      total, None), query_vectors)
        row["chroma_ids"] = timed(lambda v: col.query(query_embeddings=[v], n_results=min(K, len(ids)), ids=ids,
                                                      include=["distances"]), query_vectors[:10])
        out[label] = row
        print(label, row, file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
