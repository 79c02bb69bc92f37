"""Retrieval ablation on MultiHop-RAG: the default hybrid recipe with one knob changed at a time.

    PYTHONPATH=. python benchmarks/ablation.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries_dev.json

Uses the same cached eval store as `newsbot eval multihop-rag` (under NEWSBOT_DATA_DIR) and prints one line per
variant: Hits@10, Hits@4, MRR@10, MAP@10 and the lowest per-type Hits@10. The knobs were fitted on the dev set;
this script is how the choices in docs/benchmarks.md were checked, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from rag.config import Settings
from rag.eval.retrieval import run_eval
from rag.retrieval.retriever import DEFAULT_RECIPE

VARIANTS: dict[str, dict] = {
    "default": {},
    "no sentence sharpening": {"w_sentence": 0.0},
    "sentence weight 0.7": {"w_sentence": 0.7},
    "sentence weight 2.0": {"w_sentence": 2.0},
    "title words count in sentences": {"title_discount": 1.0},
    "rounds in list order": {"rounds_by_score": False},
    "keyword-only sub-queries": {"segment_dense": False},
    "pool 1000": {"pool": 1000},
    "no date boost": {"date_boost": 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--chunk-tokens", type=int, default=256)
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = parser.parse_args()
    settings = Settings()
    print(f"{'variant':34} {'H@10':>6} {'H@4':>6} {'MRR':>6} {'MAP':>6} {'min type H@10':>14} {'s':>5}")
    for name, change in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        result = run_eval(settings, args.corpus, args.queries, args.chunk_tokens, "hybrid",
                          recipe=dataclasses.replace(DEFAULT_RECIPE, **change))
        m = result.overall
        worst = min(t["Hits@10"] for t in result.by_type.values())
        print(f"{name:34} {m['Hits@10']:6.4f} {m['Hits@4']:6.4f} {m['MRR@10']:6.4f} {m['MAP@10']:6.4f} "
              f"{worst:14.4f} {time.perf_counter() - started:5.0f}", flush=True)


if __name__ == "__main__":
    main()
