"""Newsbot's own result types: foreign types (Chroma rows, LangChain messages) become these early."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from langchain_core.documents import Document

from rag.text import int_to_date


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, numbered `n` in the prompt."""

    n: int
    chunk_id: str
    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    text: str
    score: float = 0.0

    @classmethod
    def from_document(cls, n: int, doc: Document) -> Passage:
        m = doc.metadata
        day = int_to_date(m.get("published"))
        return cls(
            n=n, chunk_id=m["chunk_id"], article_id=m["article_id"], title=m.get("title", ""),
            source=m.get("source"), published=day.isoformat() if day else None, url=m.get("url"),
            text=doc.page_content, score=float(m.get("score", 0.0)),
        )


@dataclass(frozen=True)
class Citation:
    """One checked source of an answer: `quote` is verbatim article text that supports the claim."""

    n: int
    article_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    quote: str
    # the passage the quote was checked against: what an answer's Sources button shows in full (not in to_dict:
    # the JSON of answers and briefings stays as documented)
    chunk_id: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("chunk_id")
        return out


@dataclass
class Answer:
    """What the user sees: text with [n] markers that all resolve to `citations`."""

    answer: str
    abstained: bool
    model: str
    citations: list[Citation] = field(default_factory=list)
    offline: bool = False

    def to_dict(self) -> dict:
        return {"answer": self.answer, "abstained": self.abstained, "model": self.model,
                "citations": [c.to_dict() for c in self.citations]}
