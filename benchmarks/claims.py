"""The citation check on true and perturbed claims made from the dev corpus (rag/eval/claims.py): per kind, the
share of true claims kept and of false claims rejected, against issue #15's targets (≥ 97% kept, ≥ 95% rejected).
`newsbot eval claims` prints the same table; this script adds timing, the load average, misses and label making.

    PYTHONPATH=. python benchmarks/claims.py --corpus ../shared/eval/multihop-rag/corpus.json [--limit N] [--json]
    PYTHONPATH=. python benchmarks/claims.py --corpus … --write-labels   # remake tests/data/claim_labels.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from rag.eval.claims import (TARGETS, build_claims, dump_labels, load_corpus, load_labels, make_labels, score, table,
                            verdict)

LABELS = Path(__file__).resolve().parent.parent / "tests" / "data" / "claim_labels.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--write-labels", action="store_true", help="make the labels from the corpus and save them")
    parser.add_argument("--limit", type=int, default=0, help="labels to score (0 = all)")
    parser.add_argument("--show", type=int, default=0, help="print this many misses of each kind (text: local only)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    if args.write_labels:
        labels = make_labels(corpus)
        args.labels.write_text(dump_labels(labels), encoding="utf-8")
        print(f"wrote {len(labels)} labels to {args.labels}")
        return
    labels = load_labels(args.labels)
    labels = labels[:args.limit] if args.limit else labels
    claims = build_claims(corpus, labels)
    start = time.perf_counter()
    rows = score(claims)
    seconds = time.perf_counter() - start
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"rows": rows, "seconds": seconds, "load_1min": load, "targets": TARGETS}, indent=1))
    else:
        sentences = len({(c.url, c.sentence) for c in claims})
        print(f"{len(claims)} claims from {sentences} sentences; {seconds:.1f} s "
              f"({1000 * seconds / len(claims):.2f} ms a claim), load average {load:.2f}")
        print("\n".join(table(rows)))
    if args.show:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("rag.answering.citations").setLevel(logging.DEBUG)
        shown: dict[str, int] = {}
        for claim in claims:
            if verdict(claim) == claim.true or shown.get(claim.kind, 0) >= args.show:
                continue
            shown[claim.kind] = shown.get(claim.kind, 0) + 1
            print(f"\n[{claim.kind}] {claim.text}\n  changed: {claim.changed!r}")
            verdict(claim)


if __name__ == "__main__":
    main()
