"""Articles → stories: which articles report the same event, whichever outlet wrote them.

Two articles score the cosine similarity of their leads (the stored vectors of their first chunks, averaged),
plus a bonus for capitalised names they share (weighted by how rare each name is in the window), less a penalty
per day between them beyond a day's slack (an event is reported over a day or two; the same kind of event a week
later is another story). Average-linkage clustering (scipy) then merges groups while their mean score stays above
a threshold, so every article is in exactly one story. The knobs were chosen on labelled days of the dev corpus
(tests/data/story_labels.json, `newsbot eval stories`; what was tried is in docs/briefings.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.text import CALENDAR_WORDS, STOPWORDS, TITLES

LEAD_CHUNKS = 2  # chunks of an article whose vectors stand for its lead
LEAD_CHARS = 1500  # characters of the lead searched for named entities
_NAME = re.compile(r"[A-Z][\w’'&.-]*(?:\s+(?:of|de|la|del|von|van|the|and|for)?\s*[A-Z][\w’'&.-]*)*")
_NOT_NAMES = STOPWORDS | CALENDAR_WORDS | TITLES  # capitalised words that are not names


@dataclass(frozen=True)
class Grouping:
    """The grouping knobs (chosen on the labelled days; see docs/briefings.md)."""

    threshold: float = 0.60  # mean score above which two groups are one story
    entity_weight: float = 0.25  # weight of the idf-weighted share of names two leads have in common
    day_slack: int = 1  # days apart with no penalty
    day_penalty: float = 0.1  # subtracted per further day apart


DEFAULT_GROUPING = Grouping()


@dataclass(frozen=True)
class StoryItem:
    """What grouping needs of one article."""

    title: str
    lead: str
    day: date | None


def named_entities(text: str) -> set[str]:
    """Capitalised names (multi-word, or single words that don't just start a sentence), lower-cased."""
    names = set()
    for match in _NAME.finditer(text):
        name = match.group().strip(" .’'-&")
        words = name.split()
        sentence_start = match.start() == 0 or re.search(r"[.!?\"“:\n]\s*$", text[max(0, match.start() - 3):
                                                                                   match.start()])
        if len(words) == 1 and (sentence_start or len(name) < 3):
            continue
        while words and words[0].lower() in _NOT_NAMES:
            words = words[1:]
        if words and not (len(words) == 1 and words[0].lower() in _NOT_NAMES):
            names.add(" ".join(words).lower())
            if len(words) > 1 and words[-1].lower() not in STOPWORDS:
                names.add(words[-1].lower())  # "Vladimir Putin" also matches a later "Putin"
    return names


def shared_names(entity_sets: list[set[str]]) -> np.ndarray:
    """Pairwise idf-weighted share of names in common: weight(a ∩ b) / min(weight(a), weight(b))."""
    vocab = {e: k for k, e in enumerate(sorted(set().union(*entity_sets)))} if entity_sets else {}
    n = len(entity_sets)
    if not vocab:
        return np.zeros((n, n), dtype=np.float32)
    from scipy.sparse import csr_matrix

    rows = [i for i, names in enumerate(entity_sets) for _ in names]
    cols = [vocab[e] for names in entity_sets for e in names]
    has = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, len(vocab)))
    df = np.asarray(has.sum(axis=0)).ravel()
    weight = np.log1p(n / df).astype(np.float32)
    common = (has.multiply(weight).tocsr() @ has.T).toarray()
    totals = np.asarray(has @ weight).ravel()
    smaller = np.minimum.outer(totals, totals)
    return np.divide(common, smaller, out=np.zeros_like(common), where=smaller > 0)


def day_gaps(days: list[date | None]) -> np.ndarray:
    """Days between each pair of articles (0 where either is undated)."""
    ordinal = np.array([d.toordinal() if d else 0 for d in days], dtype=np.int64)
    gaps = np.abs(ordinal[:, None] - ordinal[None, :])
    dated = ordinal > 0
    return np.where(dated[:, None] & dated[None, :], gaps, 0)


def similarity(vectors: np.ndarray, items: list[StoryItem], knobs: Grouping = DEFAULT_GROUPING) -> np.ndarray:
    """The pairwise score clustering works on: lead cosine + names in common − days apart."""
    entities = [named_entities(item.title + ".\n" + item.lead[:LEAD_CHARS]) for item in items]
    scores = vectors @ vectors.T + knobs.entity_weight * shared_names(entities)
    late = np.maximum(day_gaps([item.day for item in items]) - knobs.day_slack, 0)
    return scores - knobs.day_penalty * late


def cluster(scores: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-linkage clustering: groups merge while the mean score between them is ≥ threshold.

    scipy's `linkage` works on distances; with distance = top − score, a mean score ≥ threshold is a mean
    distance ≤ top − threshold, and average linkage never merges at a lower height than before (no inversions),
    so cutting the tree there is the same as merging greedily until no pair reaches the threshold."""
    n = len(scores)
    if n < 2:
        return [[i] for i in range(n)]
    scores = (scores + scores.T) / 2
    top = float(scores.max())
    distances = top - scores
    np.fill_diagonal(distances, 0.0)
    # scipy is imported where it is used: only briefings need it, and `newsbot ask` should not pay for it
    # (docs/benchmarks.md, "CLI start-up")
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    tree = linkage(squareform(distances, checks=False), method="average")
    labels = fcluster(tree, t=top - threshold, criterion="distance")
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return sorted(groups.values())


def group(vectors: np.ndarray, items: list[StoryItem], knobs: Grouping = DEFAULT_GROUPING) -> list[list[int]]:
    """Indices of `items` grouped into stories; every item in exactly one."""
    return cluster(similarity(vectors, items, knobs), knobs.threshold)
