"""The project's sentence splitter (rag.text.split_sentences) against pysbd 0.3.4 on a corpus: speed and where the
two disagree. pysbd is not a dependency: `pip install pysbd==0.3.4` to run this.

    PYTHONPATH=. python benchmarks/sentences.py --corpus ../shared/eval/multihop-rag/corpus.json [--limit N] [--show N]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from rag.text import split_sentences


def ends(text: str, spans) -> set[int]:
    """Sentence-end offsets, trailing whitespace ignored, the text's own end left out."""
    out = {len(text[:e].rstrip()) for _, e in spans}
    out.discard(len(text.rstrip()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--limit", type=int, default=0, help="articles (0 = all)")
    parser.add_argument("--show", type=int, default=12, help="disagreements to print, sampled")
    args = parser.parse_args()
    import pysbd

    bodies = [a["body"] for a in json.load(open(args.corpus, encoding="utf-8"))]
    bodies = bodies[:args.limit] if args.limit else bodies
    chars = sum(map(len, bodies))
    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)

    start = time.perf_counter()
    ours = [split_sentences(b) for b in bodies]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    # pysbd gets each line on its own, as ours does: line breaks end sentences in both
    theirs = [[(m.start() + s.start, m.start() + s.end) for m in __import__("re").finditer(r"[^\n]+", b)
               for s in segmenter.segment(m.group())] for b in bodies]
    theirs_s = time.perf_counter() - start

    only_ours, only_theirs, both = [], [], 0
    for b, o, t in zip(bodies, ours, theirs):
        eo, et = ends(b, o), ends(b, t)
        both += len(eo & et)
        only_ours += [(b, i) for i in eo - et]
        only_theirs += [(b, i) for i in et - eo]
    print(f"articles {len(bodies)}, characters {chars:,}")
    print(f"ours:  {ours_s:.3f} s ({ours_s / chars * 1e6:.3f} µs/char), {sum(map(len, ours)):,} sentences")
    print(f"pysbd: {theirs_s:.3f} s ({theirs_s / chars * 1e6:.3f} µs/char), {sum(map(len, theirs)):,} sentences")
    print(f"boundaries both {both:,}; only ours {len(only_ours):,}; only pysbd {len(only_theirs):,}")
    rng = random.Random(0)
    for label, items in (("only ours", only_ours), ("only pysbd", only_theirs)):
        print(f"\n-- {label} (sample) --")
        for body, i in rng.sample(items, min(args.show, len(items))):
            print(repr(body[max(0, i - 60):i]) + " | " + repr(body[i:i + 40]))


if __name__ == "__main__":
    main()
