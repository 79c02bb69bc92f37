"""Story grouping against the labelled days: the shipped knobs and a grid around them (what docs/briefings.md
reports under "what was tried"). Loads the labelled articles once, then regroups them per setting.

    NEWSBOT_DATA_DIR=... PYTHONPATH=. python benchmarks/grouping.py --labels tests/data/story_labels.json \
        --corpus ../shared/eval/multihop-rag/corpus.json [--grid]
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace
from pathlib import Path

from rag.config import Settings
from rag.eval.retrieval import open_eval_store
from rag.briefing.stories import DEFAULT_GROUPING
from rag.eval.stories import evaluate, load_labelled, load_labels, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--grid", action="store_true", help="also try a grid of knobs around the shipped ones")
    args = parser.parse_args()
    settings = Settings()
    days = load_labelled(open_eval_store(settings, args.corpus, settings.chunk_tokens), load_labels(args.labels))
    start = time.perf_counter()
    result = evaluate(days)
    print(f"shipped {DEFAULT_GROUPING} ({time.perf_counter() - start:.2f} s to group and score)")
    print("\n".join(table(result)))
    if not args.grid:
        return
    print("\nthreshold entity day_penalty | B3 P  B3 R  B3 F1 | window B3 P  B3 F1 | worst day B3 F1")
    for threshold, entity, penalty in itertools.product((0.52, 0.56, 0.60, 0.64, 0.68, 0.72),
                                                        (0.0, 0.25, 0.5), (0.0, 0.1)):
        knobs = replace(DEFAULT_GROUPING, threshold=threshold, entity_weight=entity, day_penalty=penalty)
        r = evaluate(days, knobs)
        worst = min(row["bcubed_f1"] for row in r.by_day.values())
        o, w = r.overall, r.window
        print(f"{threshold:9.2f} {entity:6.2f} {penalty:11.2f} | {o['bcubed_precision']:.3f} {o['bcubed_recall']:.3f}"
              f" {o['bcubed_f1']:.3f} | {w['bcubed_precision']:11.3f} {w['bcubed_f1']:.3f} | {worst:.3f}")


if __name__ == "__main__":
    main()
