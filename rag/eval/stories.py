"""`newsbot eval stories`: how well briefings group articles into stories, against hand-made labels.

A labels file is JSON: `{"articles": [{"published": "YYYY-MM-DD", "title", "source", "story"}, …]}`. Articles
are found in the store by day and title (case and spacing ignored). Each labelled day is grouped as its own
briefing would group it (every article the store holds that day) and scored on its labelled articles; then all
labelled days are grouped together as one window, which tests that stories are not merged across days.

Scores: B-cubed precision/recall/F1 (per article: the share of its predicted story that shares its label, and
the share of its labelled story that was put with it; averaged over articles) and pairwise precision/recall/F1
(over pairs of articles put together / labelled together). With no pair on one side, that side scores 1.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from rag.eval.labels import label_list
from rag.errors import EvalError
from rag.briefing.stories import DEFAULT_GROUPING, Grouping, StoryItem, group

TARGETS = {"bcubed_f1": 0.90, "bcubed_precision": 0.95}


@dataclass(frozen=True)
class Label:
    published: date
    title: str
    story: str


def load_labels(path: Path) -> list[Label]:
    """The labelled articles; raise EvalError naming the file and the first bad entry."""
    rows = label_list(path, "articles")
    labels = []
    for i, row in enumerate(rows, start=1):
        try:
            labels.append(Label(date.fromisoformat(row["published"]), str(row["title"]), str(row["story"])))
        except (TypeError, KeyError, ValueError):
            raise EvalError(f"labels file {path}: entry {i} needs published (YYYY-MM-DD), title and story") from None
    return labels


def _key(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip().casefold()


# ---- the scores ---------------------------------------------------------------------------------


def bcubed(predicted: list[list[str]], gold: dict[str, str]) -> dict[str, float]:
    """B-cubed precision, recall and F1 of predicted groups (of item ids) against gold labels (id → story)."""
    groups = [[i for i in g if i in gold] for g in predicted]
    sizes: dict[str, int] = defaultdict(int)
    for story in gold.values():
        sizes[story] += 1
    precision = recall = 0.0
    for members in groups:
        stories = [gold[i] for i in members]
        for story in stories:
            right = stories.count(story)
            precision += right / len(members)
            recall += right / sizes[story]
    n = sum(len(g) for g in groups)
    return _prf("bcubed", precision / n if n else 1.0, recall / n if n else 1.0)


def pairwise(predicted: list[list[str]], gold: dict[str, str]) -> dict[str, float]:
    """Precision and recall over pairs of items: put together vs labelled together."""
    together = right = 0
    for members in ([i for i in g if i in gold] for g in predicted):
        together += len(members) * (len(members) - 1) // 2
        counts: dict[str, int] = defaultdict(int)
        for i in members:
            counts[gold[i]] += 1
        right += sum(c * (c - 1) // 2 for c in counts.values())
    sizes: dict[str, int] = defaultdict(int)
    for story in gold.values():
        sizes[story] += 1
    labelled = sum(c * (c - 1) // 2 for c in sizes.values())
    return _prf("pairwise", right / together if together else 1.0, right / labelled if labelled else 1.0)


def _prf(name: str, p: float, r: float) -> dict[str, float]:
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {f"{name}_precision": round(p, 4), f"{name}_recall": round(r, 4), f"{name}_f1": round(f1, 4)}


def scores(predicted: list[list[str]], gold: dict[str, str]) -> dict[str, float]:
    return {**bcubed(predicted, gold), **pairwise(predicted, gold)}


# ---- the labelled store -------------------------------------------------------------------------


@dataclass
class LabelledSet:
    """Articles to group (with their vectors) and the labels of those that have one."""

    ids: list[str]
    items: list[StoryItem]
    vectors: np.ndarray
    gold: dict[str, str]

    def subset(self, keep: list[int]) -> LabelledSet:
        ids = [self.ids[i] for i in keep]
        return LabelledSet(ids, [self.items[i] for i in keep], self.vectors[keep],
                           {i: self.gold[i] for i in ids if i in self.gold})

    def grouped(self, knobs: Grouping) -> list[list[str]]:
        return [[self.ids[i] for i in g] for g in group(self.vectors, self.items, knobs)]


def load_labelled(index, labels: list[Label]) -> dict[date, LabelledSet]:
    """Each labelled day's articles from the store, with lead vectors; raise EvalError if labels are missing."""
    from rag.briefing.build import _load_docs, lead_vectors
    from rag.text import iso_to_date
    from rag.text import date_to_int

    wanted: dict[date, dict[str, str]] = defaultdict(dict)
    for label in labels:
        wanted[label.published][_key(label.title)] = label.story
    days, missing = {}, []
    for day, stories in sorted(wanted.items()):
        docs = _load_docs(index, index.articles_between(date_to_int(day), date_to_int(day)))
        found = {_key(d.meta.title): d.meta.article_id for d in docs}
        missing += [f"{day} {title!r}" for title in stories if title not in found]
        items = [StoryItem(d.meta.title, d.lead, iso_to_date(d.meta.published)) for d in docs]
        days[day] = LabelledSet([d.meta.article_id for d in docs], items, lead_vectors(index, docs),
                                {found[t]: s for t, s in stories.items() if t in found})
    if missing:
        raise EvalError(f"{len(missing)} of {len(labels)} labelled articles are not in the store "
                        f"(first: {missing[0]}); ingest the corpus the labels were made on, or pass --corpus")
    return days


def window(days: dict[date, LabelledSet]) -> LabelledSet:
    """All labelled days' labelled articles as one window."""
    parts = [s.subset([i for i, a in enumerate(s.ids) if a in s.gold]) for s in days.values()]
    return LabelledSet([i for p in parts for i in p.ids], [x for p in parts for x in p.items],
                       np.vstack([p.vectors for p in parts]), {k: v for p in parts for k, v in p.gold.items()})


@dataclass
class StoryEvalResult:
    overall: dict[str, float]  # every labelled article, each day grouped on its own
    by_day: dict[str, dict[str, float]]
    window: dict[str, float]  # all labelled days grouped as one window
    articles: int
    stories: int
    knobs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.overall, "articles": self.articles, "stories": self.stories, "by_day": self.by_day,
                "window": self.window, "targets": TARGETS, "grouping": self.knobs}


def evaluate(days: dict[date, LabelledSet], knobs: Grouping = DEFAULT_GROUPING) -> StoryEvalResult:
    """Group each day and the whole window with `knobs`, and score them."""
    predicted: list[list[str]] = []
    by_day = {}
    for day, labelled in days.items():
        groups = labelled.grouped(knobs)
        predicted += groups
        by_day[day.isoformat()] = {**scores(groups, labelled.gold), "articles": len(labelled.gold),
                                   "stories": len(set(labelled.gold.values()))}
    gold = {k: v for s in days.values() for k, v in s.gold.items()}
    whole = window(days)
    return StoryEvalResult(scores(predicted, gold), by_day, scores(whole.grouped(knobs), whole.gold), len(gold),
                           len(set(gold.values())), knobs.__dict__)


def run_story_eval(settings, labels_path: Path, corpus: Path | None = None,
                   knobs: Grouping = DEFAULT_GROUPING) -> StoryEvalResult:
    """Load the labels (checked first), open the store (the corpus's eval store if given) and score grouping."""
    labels = load_labels(labels_path)
    if corpus is not None:
        from rag.eval.retrieval import open_eval_store

        index = open_eval_store(settings, corpus, settings.chunk_tokens)
    else:
        from rag.services import build_services

        index = build_services(settings).index
    return evaluate(load_labelled(index, labels), knobs)


def table(result: StoryEvalResult) -> list[str]:
    """The figures as text lines: one row per day, the days together, and the window."""
    cols = ("bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_precision", "pairwise_recall",
            "pairwise_f1")
    lines = ["".ljust(12) + "".join(c.replace("bcubed_", "B3 ").replace("pairwise_", "pair ").rjust(15)
                                    for c in cols) + "articles".rjust(10) + "stories".rjust(9)]
    for name, row in result.by_day.items():
        lines.append(name.ljust(12) + "".join(f"{row[c]:15.3f}" for c in cols)
                     + f"{row['articles']:10d}{row['stories']:9d}")
    lines.append("all days".ljust(12) + "".join(f"{result.overall[c]:15.3f}" for c in cols)
                 + f"{result.articles:10d}{result.stories:9d}")
    lines.append("one window".ljust(12) + "".join(f"{result.window[c]:15.3f}" for c in cols))
    met = all(result.overall[k] >= v for k, v in TARGETS.items())
    lines.append("targets (all days): " + ", ".join(f"{k} ≥ {v}" for k, v in TARGETS.items())
                 + (": met" if met else ": NOT met"))
    return lines
