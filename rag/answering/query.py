"""What a front end asks: a `Query` (question, filters, libraries), its date filters, and the question's check."""

from __future__ import annotations

from dataclasses import dataclass

from rag.articles.article import parse_date
from rag.errors import QuestionError
from rag.text import date_to_int


@dataclass(frozen=True)
class Query:
    """A question with its optional filters (dates as YYYYMMDD ints, see `query_day`) and the libraries it may
    read (empty: the store's default scope)."""

    question: str
    since: int | None = None
    until: int | None = None
    source: str | None = None
    k: int | None = None
    libraries: tuple[str, ...] = ()


def query_day(value: str) -> int:
    """A date filter as `Query` wants it (ISO `2025-09-30` and the other forms articles use); ValueError if none."""
    return date_to_int(parse_date(value))


def validate_question(question: str, max_chars: int) -> str:
    """Strip and check a question; raise QuestionError with the reason shown to the user."""
    question = (question or "").strip()
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > max_chars:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {max_chars}")
    return question
