"""Builds the pipeline's parts from settings: called only at the edges (the CLI and the bot's startup)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property

from langchain_core.runnables import Runnable

from rag.answer import Query, build_answer_chain, validate_question
from rag.articles import Article, LoadFailure
from rag.briefing import DEFAULT_MAX_STORIES, Briefing, build_briefing
from rag.config import Settings
from rag.embeddings import make_embeddings
from rag.followup import condense
from rag.index import IngestResult, NewsIndex, StoredArticle, open_vectors
from rag.models import make_chat_model
from rag.retrieve import NewsRetriever
from rag.schema import Answer


@dataclass
class Services:
    """Everything a front end needs, built once and passed down."""

    settings: Settings
    index: NewsIndex
    llm: Runnable

    @cached_property
    def retriever(self) -> NewsRetriever:
        return NewsRetriever(index=self.index, k=self.settings.top_k)

    @cached_property
    def answer_chain(self) -> Runnable[Query, Answer]:
        return build_answer_chain(self.retriever, self.llm)

    def warm(self) -> None:
        """Start keeping search structures in memory (a long-running process: the bot); returns at once."""
        self.retriever.warm()

    def ask(self, query: Query) -> Answer:
        """Validate the question, then run the chain over `query.libraries` (blocking; the bot runs it in a thread)."""
        question = validate_question(query.question, self.settings.max_question_chars)
        return self.answer_chain.invoke(replace(query, question=question))

    def briefing(self, since: date, until: date | None = None, source: str | None = None,
                 max_stories: int | None = DEFAULT_MAX_STORIES, libraries: tuple[str, ...] = ()) -> Briefing:
        """The stories of [since, until] in `libraries` grouped across outlets, with checked summaries (blocking)."""
        # libraries: store work (#12) scopes this
        return build_briefing(self.index, self.llm, since, until or since, source, max_stories)

    def ingest(self, items: Iterable[Article | LoadFailure], library: str | None = None) -> IngestResult:
        """Store loaded articles in `library` (None: the store's default); failures are reported back (blocking)."""
        # libraries: store work (#12) scopes this
        return self.index.ingest(items, batch_chunks=self.settings.ingest_batch_chunks)

    def remove(self, article_id: str, library: str | None = None) -> bool:
        """Take an article out of `library`; False if it is not there (blocking)."""
        # libraries: store work (#12) scopes this
        return self.index.remove(article_id)

    def list_articles(self, query: str | None = None, limit: int | None = None,
                      libraries: tuple[str, ...] = ()) -> list[StoredArticle]:
        """The articles of `libraries`, newest first; `query` narrows by title or outlet (blocking)."""
        # libraries: store work (#12) scopes this
        return self.index.list_articles(query, limit)

    def condense(self, history: list[tuple[str, str]], question: str) -> str:
        """A follow-up rewritten as a standalone question from earlier (question, answer) turns (blocking)."""
        question = validate_question(question, self.settings.max_question_chars)
        return condense(self.llm, history, question)[: self.settings.max_question_chars]


def build_services(settings: Settings | None = None) -> Services:
    """Open the store and choose the model, as configured."""
    settings = settings or Settings()
    embeddings = make_embeddings(settings)
    index = NewsIndex(open_vectors(settings, embeddings), embeddings, settings.data_dir,
                      settings.chunk_tokens, settings.chunk_overlap)
    return Services(settings=settings, index=index, llm=make_chat_model(settings))
