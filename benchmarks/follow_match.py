"""Follow matching (#28): the knob grid on the labels, and the latency of matching one article against 50 follows.

    PYTHONPATH=. python benchmarks/follow_match.py [--corpus ../shared/eval/multihop-rag/corpus.json]
        [--labels tests/data/follow_labels.json] [--split]

Prints, for each (meaning_weight, body_credit), the threshold with the best F1 (micro) and the precision/recall
curve around it; with --split, tunes on the even-numbered topics and reports the odd ones too. Then p50/p95 ms of
Matcher.score for one new 8-chunk article (vectors given) against 50 follows, topic vectors cached as in service.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.eval.follows import corpus_articles, evaluate, load_labels, score_parts
from rag.follows.match import ArticleText, MatchKnobs
from rag.follows.topic import parse_topic


def grid(scored):
    best = None
    for meaning_weight in (0.4, 0.5, 0.6, 0.7, 0.8):
        for body_credit in (0.3, 0.5, 0.7):
            for threshold in np.arange(0.30, 0.80, 0.01):
                knobs = MatchKnobs(round(float(threshold), 2), meaning_weight, round(1 - meaning_weight, 2),
                                   body_credit)
                o = evaluate(scored, knobs).overall
                f1 = 2 * o.precision * o.recall / (o.precision + o.recall) if o.precision + o.recall else 0
                if best is None or f1 > best[0]:
                    best = (f1, knobs)
    return best


def curve(scored, knobs, label):
    for delta in (-0.04, -0.02, 0.0, 0.02, 0.04):
        k = MatchKnobs(round(knobs.threshold + delta, 2), knobs.meaning_weight, knobs.words_weight, knobs.body_credit)
        o = evaluate(scored, k).overall
        print(f"  {label} threshold {k.threshold:.2f}: precision {o.precision:.3f} recall {o.recall:.3f}")


def latency(matcher, articles, follows=50, runs=200):
    topics = [parse_topic(f"topic number {i} about news") for i in range(follows)]
    sample = next(a for a in articles.values() if a.vectors is not None and len(a.vectors) >= 1)
    vectors = np.resize(sample.vectors, (8, sample.vectors.shape[1]))
    article = ArticleText("bench", sample.title, sample.text, vectors)
    for t in topics:
        matcher.score(t, article)  # fill the topic cache, as a running service has
    times = []
    for _ in range(runs):
        article = ArticleText("bench", sample.title, sample.text, vectors)  # a new article: its title embedded anew
        start = time.perf_counter()
        for t in topics:
            matcher.score(t, article)
        times.append((time.perf_counter() - start) * 1000)
    print(f"one 8-chunk article vs {follows} follows: p50 {np.percentile(times, 50):.1f} ms, "
          f"p95 {np.percentile(times, 95):.1f} ms ({runs} runs)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=Path("../shared/eval/multihop-rag/corpus.json"))
    parser.add_argument("--labels", type=Path, default=Path("tests/data/follow_labels.json"))
    parser.add_argument("--split", action="store_true")
    args = parser.parse_args()
    topics = load_labels(args.labels)
    wanted = {a for t in topics for k in ("relevant", "not_relevant") for a in t.get(k, [])}
    matcher, articles = corpus_articles(Settings(), args.corpus, wanted)
    scored = score_parts(matcher, topics, articles)
    f1, knobs = grid(scored)
    print(f"all topics: best micro F1 {f1:.3f} at {knobs}")
    curve(scored, knobs, "all")
    if args.split:
        tune, test = scored[0::2], scored[1::2]
        f1, knobs = grid(tune)
        print(f"tuned on {len(tune)} even topics: F1 {f1:.3f} at {knobs}")
        curve(tune, knobs, "tune")
        curve(test, knobs, "held-out")
    latency(matcher, articles)


if __name__ == "__main__":
    main()
