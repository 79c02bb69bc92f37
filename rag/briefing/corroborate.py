"""Claim by claim, which outlets of a story report what its summary says.

Each summary sentence (a claim, with the `[n]` it cites) is checked against every article of the story, not only
the ones it cites, with the citation checker itself (`rag.answering.citations.check_citations`): an article supports a claim
when the claim, citing that article alone (`claim [1]`, the article as passage 1), keeps its citation. So
"reported by 3 outlets" next to a claim means three outlets' articles each passed the check a citation must pass,
and a stricter citation check makes corroboration stricter with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.answering.citations import check_citations, split_claims
from rag.answering.models import OFFLINE_LABEL
from rag.schema import Citation, Passage


@dataclass(frozen=True)
class Claim:
    """One summary sentence, the story citations it carries, and every outlet whose articles support it (None
    for an article whose outlet is unknown: it counts as an outlet of its own)."""

    text: str
    citations: list[int]
    outlets: list[str | None] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": self.citations, "outlets": self.outlets}


@dataclass(frozen=True)
class StoryArticle:
    """What the check needs of one article of the story."""

    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    body: str


def outlet_key(source: str | None, article_id: str) -> str:
    """Outlets are counted case-blind; an article whose outlet is unknown counts as one of its own."""
    return source.lower() if source else f"\0{article_id}"


def corroborate(answer: str, citations: list[Citation], articles: list[StoryArticle], model: str) -> list[Claim]:
    """The checked summary's claims, each with the outlets (in `articles` order) whose articles support it."""
    cited_article = {c.n: c.article_id for c in citations}
    claims = []
    for text, numbers in split_claims(answer.replace(OFFLINE_LABEL, "").strip()):
        supporters = {cited_article[n] for n in numbers if n in cited_article}
        supporters |= {a.article_id for a in articles if a.article_id not in supporters and supports(text, a, model)}
        names: dict[str, str | None] = {}
        for a in articles:
            if a.article_id in supporters:
                names.setdefault(outlet_key(a.source, a.article_id), a.source)
        claims.append(Claim(text, list(dict.fromkeys(numbers)), list(names.values())))
    return claims


def supports(claim: str, article: StoryArticle, model: str) -> bool:
    """Whether the citation checker keeps `claim [1]` with this article as passage 1."""
    passage = Passage(n=1, chunk_id=f"{article.article_id}:body", article_id=article.article_id,
                      title=article.title, source=article.source, published=article.published, url=article.url,
                      text=article.body)
    return not check_citations(f"{claim} [1]", [passage], model).abstained
