"""The day's articles → stories (grouped across outlets) → cited summaries → a `Briefing`.

Grouping is rag/briefing/stories.py's: lead vectors, shared rare names and days apart, average-linkage clustering.

Summaries are map-reduce: *map* picks each article's key sentences locally (verbatim, so quotes stay checkable
and a busy day's prompt stays small); *reduce* asks the chat model for 2–4 cited sentences from those extracts,
and `rag.answering.citations.check_citations` checks them exactly as it checks answers.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from langchain_core.runnables import Runnable

from prompts.loader import load_prompt
from rag.answering.citations import check_citations
from rag.answering.prompt_safety import format_passages
from rag.briefing.corroborate import Claim, StoryArticle, corroborate, outlet_key
from rag.store.index import NewsIndex, StoredArticle
from rag.answering.models import NOT_SURE, OFFLINE_LABEL, STUB_MODEL_NAME, model_name
from rag.schema import Citation, Passage
from rag.text import date_to_int, iso_to_date
from rag.briefing.stories import DEFAULT_GROUPING, LEAD_CHARS, LEAD_CHUNKS, Grouping, StoryItem, group as group_stories
from rag.text import coverage, idf_table, split_sentences, terms

logger = logging.getLogger(__name__)

DEFAULT_MAX_STORIES = 10
MAP_SENTENCES = 3  # key sentences each article contributes to the reduce prompt
MAP_CHARS = 700  # and at most this many characters of them
REDUCE_ARTICLES = 8  # articles per story whose extracts reach the model (the rest are still listed as sources)


@dataclass(frozen=True)
class SourceRef:
    """An article of a story, as listed under it."""

    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None

    def to_dict(self) -> dict:
        return {"article_id": self.article_id, "title": self.title, "source": self.source,
                "published": self.published, "url": self.url}


@dataclass
class Story:
    """One story: a headline, a checked summary with [n] markers, and every article that covered it."""

    headline: str
    summary: str
    sources: list[SourceRef]
    citations: list[Citation] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)  # the summary's sentences, each with who reports it

    @property
    def outlets(self) -> int:
        """Distinct outlets; an article whose outlet is unknown counts as one of its own."""
        return len({outlet_key(s.source, s.article_id) for s in self.sources})

    @property
    def latest(self) -> str:
        return max((s.published or "" for s in self.sources), default="")

    @property
    def first(self) -> str:
        return min((s.published for s in self.sources if s.published), default="")

    def to_dict(self) -> dict:
        return {"headline": self.headline, "summary": self.summary,
                "dates": {"since": self.first or None, "until": self.latest or None},
                "sources": [s.to_dict() for s in self.sources],
                "citations": [c.to_dict() for c in self.citations],
                "claims": [c.to_dict() for c in self.claims]}


@dataclass
class Briefing:
    """The stories of a day (or a range of days), most covered first."""

    since: date
    until: date
    stories: list[Story] = field(default_factory=list)
    articles: int = 0  # articles in the range, including those of stories cut by max_stories
    omitted: int = 0  # stories left out by max_stories
    offline: bool = False
    model: str = "none"

    @property
    def label(self) -> str:
        return self.since.isoformat() if self.since == self.until else f"{self.since} to {self.until}"

    def to_dict(self) -> dict:
        day: str | dict = (self.since.isoformat() if self.since == self.until
                           else {"since": self.since.isoformat(), "until": self.until.isoformat()})
        return {"date": day, "stories": [s.to_dict() for s in self.stories]}


@dataclass
class _Doc:
    """An article with what grouping and summarising need."""

    meta: StoredArticle
    body: str
    lead: str


# ---- loading ------------------------------------------------------------------------------------


def _load_docs(index: NewsIndex, articles: list[StoredArticle]) -> list[_Doc]:
    docs = []
    for meta in articles:
        chunks = index.version_chunks(meta.version_id)
        if not chunks:
            continue
        body = _reassemble(chunks)
        docs.append(_Doc(meta, body, body[:LEAD_CHARS]))
    return docs


def _reassemble(chunks) -> str:
    """The body from its overlapping chunks; gaps (stripped whitespace) become line breaks, so no sentence
    built from it spans two chunks and every sentence stays verbatim article text."""
    body = ""
    for c in chunks:
        if c.start > len(body):
            body += "\n" * (c.start - len(body))
        body = body[:c.start] + c.text if c.start < len(body) else body + c.text
    return body


def lead_vectors(index: NewsIndex, docs: list[_Doc]) -> np.ndarray:
    """Unit vectors for each article's lead: its first chunks' stored vectors averaged (re-embedded if absent)."""
    leads = index.lead_chunk_ids([d.meta.version_id for d in docs], LEAD_CHUNKS)
    stored = index.chunk_vectors([i for ids in leads.values() for i in ids])
    rows = []
    missing = []
    for row, d in enumerate(docs):
        vecs = [stored[i] for i in leads.get(d.meta.version_id, []) if i in stored]
        if vecs:
            rows.append(np.mean(vecs, axis=0))
        else:
            rows.append(None)
            missing.append(row)
    if missing:
        fresh = index.embeddings.embed_documents([docs[r].meta.title + "\n" + docs[r].lead for r in missing])
        for r, v in zip(missing, fresh):
            rows[r] = np.asarray(v, dtype=np.float32)
    matrix = np.vstack(rows) if rows else np.zeros((0, 1), dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def shares_a_story(index: NewsIndex, articles: Sequence[StoredArticle], these: set[str], those: set[str],
                   grouping: Grouping = DEFAULT_GROUPING) -> bool:
    """Whether the briefing's own grouping, run over the articles of `these` and `those` (ids among `articles`),
    puts one of `these` in the same story as one of `those` (a forum post's story continued on a later day)."""
    docs = _load_docs(index, [a for a in articles if a.article_id in these | those])
    if len(docs) < 2:
        return False
    items = [StoryItem(d.meta.title, d.lead, iso_to_date(d.meta.published)) for d in docs]
    for members in group_stories(lead_vectors(index, docs), items, grouping):
        ids = {docs[i].meta.article_id for i in members}
        if ids & these and ids & those:
            return True
    return False


# ---- summarising --------------------------------------------------------------------------------


def pick_headline(docs: list[_Doc]) -> str:
    """The written title that best matches what the story's articles say (a title made at ingest from an
    article's first sentence, in place of a byline, wins only if no other article has a written one)."""
    if len(docs) == 1:
        return docs[0].meta.title
    leads = [set(terms(d.meta.title + " " + d.lead)) for d in docs]
    idf = idf_table(leads)

    def score(i: int) -> tuple[bool, float, str]:
        title = terms(docs[i].meta.title)
        others = [coverage(title, leads[j], idf) for j in range(len(docs)) if j != i]
        written = not docs[i].lead.lstrip().startswith(docs[i].meta.title.rstrip("…"))  # not made from the lede
        return written, sum(others) / len(others) if len(title) >= 3 else 0.0, docs[i].meta.published or ""

    return docs[max(range(len(docs)), key=score)].meta.title


def key_sentences(doc: _Doc, topic: list[str], idf: dict[str, float]) -> str:
    """Map step: the article's sentences that best cover the story's topic terms, in article order."""
    spans = split_sentences(doc.body)
    scored = []
    for order, (s, e) in enumerate(spans):
        sentence = doc.body[s:e].strip()
        if len(sentence) < 40 or len(sentence) > MAP_CHARS:
            continue
        # A small bonus for early sentences: leads carry the news.
        scored.append((coverage(topic, set(terms(sentence)), idf) + 0.1 / (1 + order), order, sentence))
    picked, size = [], 0
    for _, order, sentence in sorted(scored, reverse=True)[:MAP_SENTENCES]:
        if size + len(sentence) > MAP_CHARS and picked:
            break
        picked.append((order, sentence))
        size += len(sentence)
    return "\n".join(sentence for _, sentence in sorted(picked))


@dataclass
class Summary:
    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    model: str = "none"
    claims: list[Claim] = field(default_factory=list)


def summarise(docs: list[_Doc], headline: str, llm: Runnable) -> Summary:
    """Reduce step: the model writes 2–4 cited sentences from the extracts; citations are checked, and each
    sentence is checked against every article of the story for the outlets that report it."""
    topic = terms(headline) + [t for t, _ in Counter(t for d in docs for t in set(terms(d.lead))).most_common(12)]
    idf = idf_table(set(terms(d.body)) for d in docs)
    passages = []
    for n, doc in enumerate(docs[:REDUCE_ARTICLES], start=1):
        text = key_sentences(doc, topic, idf)
        if text:
            m = doc.meta
            passages.append(Passage(n=len(passages) + 1, chunk_id=f"{m.article_id}:lead", article_id=m.article_id,
                                    title=m.title, source=m.source, published=m.published, url=m.url, text=text))
    if not passages:
        return Summary()
    reply = (load_prompt("briefing") | llm).invoke(
        {"headline": headline, "passages": format_passages(passages), "not_sure": NOT_SURE})
    content, model = str(reply.content), model_name(reply)
    checked = check_citations(content, passages, model)
    if checked.abstained or (model == STUB_MODEL_NAME and len(checked.citations) < 2 and _claims(checked.answer) < 2):
        # The extractive stub found too little that matches the headline's words: quote the map step's lead
        # sentences instead (still through the checker). A real model's reply is kept unless it abstained.
        model = STUB_MODEL_NAME
        checked = check_citations(_extractive_reply(passages, content), passages, model)
    if checked.abstained:
        return Summary(model=checked.model)
    text = " ".join(line.strip() for line in checked.answer.replace(OFFLINE_LABEL, "").splitlines() if line.strip())
    articles = [StoryArticle(d.meta.article_id, d.meta.title, d.meta.source, d.meta.published, d.meta.url, d.body)
                for d in docs]
    return Summary(text, checked.citations, checked.model,
                   corroborate(checked.answer, checked.citations, articles, checked.model))


def _claims(answer: str) -> int:
    return len(re.findall(r"(?:\[\d+\])+", answer))


def _extractive_reply(passages: list[Passage], earlier: str, limit: int = 3) -> str:
    """The model's own cited lines, then the passages' first sentences in turn, up to `limit` lines."""
    lines = [line for line in earlier.replace(OFFLINE_LABEL, "").splitlines() if re.search(r"\[\d+\]", line)]
    queues = [[(p.n, p.text[s:e].strip()) for s, e in split_sentences(p.text)] for p in passages]
    while len(lines) < limit and any(queues):
        for queue in queues:
            while queue and len(lines) < limit:
                n, sentence = queue.pop(0)
                if not any(sentence in line for line in lines):
                    lines.append(f"{sentence} [{n}]")
                    break
    return "\n".join(lines[:limit])


# ---- the whole briefing -------------------------------------------------------------------------


def build_briefing(index: NewsIndex, llm: Runnable, since: date, until: date, source: str | None = None,
                   max_stories: int | None = DEFAULT_MAX_STORIES,
                   on_story: Callable[[int, int], None] | None = None,
                   grouping: Grouping = DEFAULT_GROUPING,
                   libraries: Sequence[str] | None = None) -> Briefing:
    """Group the range's articles (those the libraries hold; None: all) into stories, order them (most outlets,
    then newest) and summarise each."""
    articles = index.articles_between(date_to_int(since), date_to_int(until), source, libraries)
    docs = _load_docs(index, articles)
    briefing = Briefing(since=since, until=until, articles=len(docs))
    if not docs:
        return briefing
    items = [StoryItem(d.meta.title, d.lead, iso_to_date(d.meta.published)) for d in docs]
    groups = [[docs[i] for i in g] for g in group_stories(lead_vectors(index, docs), items, grouping)]
    stories = [_story_stub(g) for g in groups]
    order = sorted(range(len(stories)), key=lambda i: (stories[i].outlets, len(stories[i].sources),
                                                      stories[i].latest), reverse=True)
    keep = order[:max_stories] if max_stories else order
    briefing.omitted = len(order) - len(keep)
    models = set()
    for done, i in enumerate(keep, start=1):
        story, group = stories[i], sorted(groups[i], key=lambda d: d.meta.published or "", reverse=True)
        summary = summarise(group, story.headline, llm)
        story.summary, story.citations, story.claims = summary.text, summary.citations, summary.claims
        if not story.summary:
            story.summary = "No summary could be checked against the articles; see the sources."
        models.add(summary.model)
        briefing.stories.append(story)
        if on_story:
            on_story(done, len(keep))
    models.discard("none")
    briefing.model = ", ".join(sorted(models)) or "none"
    briefing.offline = models == {STUB_MODEL_NAME}
    return briefing


def _story_stub(group: list[_Doc]) -> Story:
    ordered = sorted(group, key=lambda d: (d.meta.published or "", d.meta.title), reverse=True)
    sources = [SourceRef(d.meta.article_id, d.meta.title, d.meta.source, d.meta.published, d.meta.url)
               for d in ordered]
    return Story(headline=pick_headline(ordered), summary="", sources=sources)
