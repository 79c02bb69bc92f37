"""Wall time of a briefing with the offline stub: `--since 7d` over the corpus's busiest week, and every article of
the corpus as one window. Timed in-process around `build_briefing` (process start and opening the store are not
counted), with the time of each stage.

    NEWSBOT_DATA_DIR=... PYTHONPATH=. python benchmarks/briefing.py --corpus ../shared/eval/multihop-rag/corpus.json
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import rag.briefing.build as briefing_module
from rag.briefing.build import build_briefing
from rag.config import Settings
from rag.eval.retrieval import open_eval_store
from rag.answering.models import ExtractiveStubModel


def busiest_week(days: Counter) -> tuple[date, date]:
    """The `--since 7d` window (until − 7 days … until) holding the most articles."""
    def held(until: date) -> int:
        return sum(n for d, n in days.items() if until - timedelta(days=7) <= d <= until)
    until = max(sorted(days), key=held)
    return until - timedelta(days=7), until


def timed_stages():
    """Wrap the briefing's stages to add up their time (the functions are looked up by name at call time)."""
    spent: Counter = Counter()
    for name in ("_load_docs", "lead_vectors", "group_stories", "summarise"):
        original = getattr(briefing_module, name)

        def wrapper(*args, _original=original, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] += time.perf_counter() - start
        setattr(briefing_module, name, wrapper)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    index = open_eval_store(settings, args.corpus, settings.chunk_tokens)
    articles = index.list_articles(None)
    days = Counter(date.fromisoformat(a.published) for a in articles if a.published)
    windows = {"busiest week (--since 7d)": busiest_week(days), "every article": (min(days), max(days))}
    spent = timed_stages()
    llm = ExtractiveStubModel()
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}; "
          f"{len(articles)} articles in the store")
    for label, (since, until) in windows.items():
        for run in range(1, args.repeat + 1):
            spent.clear()
            start = time.perf_counter()
            result = build_briefing(index, llm, since, until)
            wall = time.perf_counter() - start
            stages = ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
            print(f"{label} {since}..{until}: {result.articles} articles, {len(result.stories)} stories shown "
                  f"(+{result.omitted} left out), run {run}: {wall:.2f} s ({stages})")


if __name__ == "__main__":
    main()
