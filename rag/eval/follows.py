"""`newsbot eval follows`: precision and recall of follow matching against hand-made labels.

The labels file (tests/data/follow_labels.json) lists topics, each with the article ids a reader wants alerted
(`relevant`) and near misses they do not (`not_relevant`); only those articles are scored. Articles come from the
corpus's eval store (built as by `eval multihop-rag`, reused later), so chunk vectors are read, not re-embedded.
Overall figures are micro-averaged over every (topic, article) pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.eval.labels import label_list
from rag.errors import EvalError, NewsbotError
from rag.follows.match import DEFAULT_KNOBS, ArticleText, Matcher, MatchKnobs, is_match
from rag.follows.topic import parse_topic


@dataclass
class TopicScore:
    topic: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict:
        return {"topic": self.topic, "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


@dataclass
class FollowEval:
    topics: list[TopicScore]
    knobs: MatchKnobs
    overall: TopicScore = field(init=False)

    def __post_init__(self) -> None:
        self.overall = TopicScore("all", *(sum(getattr(t, k) for t in self.topics) for k in ("tp", "fp", "fn", "tn")))

    def to_dict(self) -> dict:
        return {"overall": self.overall.to_dict(), "topics": [t.to_dict() for t in self.topics],
                "knobs": vars(self.knobs)}


def load_labels(path: Path) -> list[dict]:
    """The labelled topics; EvalError naming the file and the first entry that is not one."""
    topics = label_list(path, "topics")
    for i, t in enumerate(topics, start=1):
        if not (isinstance(t, dict) and isinstance(t.get("topic"), str)
                and all(isinstance(t.get(k, []), list) for k in ("relevant", "not_relevant"))):
            raise EvalError(f"labels file {path}: topic {i} needs a topic string and relevant/not_relevant lists")
    return topics


def corpus_articles(settings: Settings, corpus: Path, wanted: set[str]) -> tuple[Matcher, dict[str, ArticleText]]:
    """A Matcher on the corpus store's embeddings, and the wanted articles with their stored chunk vectors."""
    from rag.articles.article import Article
    from rag.articles.loaders import load_paths
    from rag.eval.retrieval import open_eval_store

    index = open_eval_store(settings, corpus)
    bodies = {a.article_id: a for a in load_paths([corpus], max_bytes=max(settings.max_file_bytes,
                                                                            Path(corpus).stat().st_size))
              if isinstance(a, Article) and a.article_id in wanted}
    stored = {s.article_id: s for s in index.list_articles()}
    articles = {}
    for article_id, a in bodies.items():
        chunk_ids = [c.chunk_id for c in index.version_chunks(stored[article_id].version_id)]
        vectors = index.chunk_vectors(chunk_ids)
        rows = np.vstack([vectors[c] for c in chunk_ids if c in vectors]) if vectors else None
        articles[article_id] = ArticleText(article_id, a.title, a.body, rows)
    return Matcher(index.embeddings, index=index), articles


def score_parts(matcher: Matcher, topics: list[dict], articles: dict[str, ArticleText]) -> list[tuple[str, list]]:
    """For each topic, [(is relevant, Matcher.parts)] over its labelled articles found in the corpus."""
    scored = []
    for t in topics:
        topic = parse_topic(t["topic"], max_chars=10_000)
        rows = [(relevant, matcher.parts(topic, articles[a]))
                for relevant, ids in ((True, t.get("relevant", [])), (False, t.get("not_relevant", [])))
                for a in ids if a in articles]
        scored.append((t["topic"], rows))
    return scored


def evaluate(scored: list[tuple[str, list]], knobs: MatchKnobs = DEFAULT_KNOBS) -> FollowEval:
    """Per-topic and micro-averaged precision/recall of `knobs` on pre-computed parts."""
    results = []
    for name, rows in scored:
        s = TopicScore(name)
        for relevant, parts in rows:
            hit = is_match(parts, knobs)
            s.tp += hit and relevant
            s.fp += hit and not relevant
            s.fn += relevant and not hit
            s.tn += not relevant and not hit
        results.append(s)
    return FollowEval(results, knobs)


def run_follow_eval(settings: Settings, labels: Path, corpus: Path) -> FollowEval:
    topics = load_labels(labels)
    wanted = {a for t in topics for k in ("relevant", "not_relevant") for a in t.get(k, [])}
    try:
        matcher, articles = corpus_articles(settings, corpus, wanted)
    except NewsbotError:
        raise
    if not articles:
        raise EvalError(f"labels file {labels}: none of its article ids is in corpus {corpus}")
    return evaluate(score_parts(matcher, topics, articles), matcher.knobs)


def table(result: FollowEval) -> list[str]:
    width = max(len(t.topic) for t in [*result.topics, result.overall]) + 2
    lines = ["topic".ljust(width) + "precision  recall   tp  fp  fn"]
    for t in [*result.topics, result.overall]:
        lines.append(t.topic.ljust(width) + f"{t.precision:9.3f} {t.recall:7.3f} {t.tp:4d}{t.fp:4d}{t.fn:4d}")
    return lines
