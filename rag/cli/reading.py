"""`newsbot ask`, `brief` and `demo`: the commands that read the library for a person, and how they print.

Each ends quickly (`end_quickly`: it only reads); `demo` ingests first, so it keeps the normal exit.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli.common import (day_option, end_quickly, err, fail, fail_with, open_services, out, resolve_range,
                            start_loading_model, state)
from rag.cli.ingest import ingest
from rag.errors import NewsbotError, QuestionError

if TYPE_CHECKING:
    from rag.answering.query import Query
    from rag.briefing.build import Briefing
    from rag.schema import Answer
    from rag.services import Services

logger = logging.getLogger(__name__)
SAMPLES = Path(__file__).parents[1] / "samples" / "articles"  # the two seed articles (origin: rag/samples/README.md)
SAMPLE_QUESTION = "What did Trump warn Putin about?"


def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes; with --json, '-' reads one question "
                                                  "per line from stdin.")],
    k: Annotated[int | None, typer.Option("--k", min=1, max=50, help="How many passages to retrieve.")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published on or after this date.")] = None,
    until: Annotated[str | None, typer.Option(help="Only articles published on or before this date.")] = None,
    source: Annotated[str | None, typer.Option(help="Only articles from this outlet.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as one JSON object.")] = False,
) -> None:
    """Answer a question from the ingested articles, citing the passages it used."""
    end_quickly()
    start_loading_model()
    from rag.answering.query import Query

    query = Query(question=question, since=day_option(since, "--since"), until=day_option(until, "--until"),
                  source=source, k=k)
    if question == "-":
        if not as_json:
            raise fail("'-' (questions from stdin) needs --json: newsbot ask --json -", 2)
        if not ask_lines(open_services(), query, sys.stdin):
            raise typer.Exit(1)
        return
    try:
        answer = open_services().ask(query)
    except QuestionError as exc:
        raise fail(str(exc), 2) from None
    except NewsbotError as exc:
        raise fail_with(exc) from None
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print_answer(answer)


def ask_lines(services: Services, query: Query, lines) -> bool:
    """`ask --json -`: one JSON object per non-blank input line, `{"question", …answer}` or `{"question",
    "error"}`; the model and store are loaded once. False if any line got an error object."""
    from dataclasses import replace

    ok = True
    for line in lines:
        text = line.strip()
        if not text:
            continue  # a blank line asks nothing
        try:
            row = {"question": text, **services.ask(replace(query, question=text)).to_dict()}
        except NewsbotError as exc:
            if not isinstance(exc, QuestionError):  # a bad question is the user's; anything else is logged
                logger.exception("question failed")
            row, ok = {"question": text, "error": str(exc)}, False
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return ok


def demo() -> None:
    """Ingest the bundled sample articles (unchanged ones are skipped) and answer a sample question: `make run`."""
    err.print(f"$ newsbot ingest {SAMPLES}", highlight=False, markup=False)
    ingest([SAMPLES])
    err.print(f'$ newsbot ask "{SAMPLE_QUESTION}"', highlight=False, markup=False)
    try:
        ask(SAMPLE_QUESTION)
    finally:
        state.quick_exit = False  # this process wrote (the ingest above): the normal exit lets Chroma close its files


def print_answer(answer: Answer) -> None:
    """The answer, then its numbered sources with their quotes."""
    out.print(answer.answer, highlight=False, markup=False)
    if answer.citations:
        out.print()
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, c.published) if x)
        out.print(f"[{c.n}] {c.title}" + (f" ({meta})" if meta else ""), highlight=False, markup=False)
        if c.url:
            out.print(f"    {c.url}", highlight=False, markup=False)
        out.print(f"    “{c.quote}”", highlight=False, markup=False)


def brief(
    day: Annotated[str | None, typer.Option("--date", help="One day: YYYY-MM-DD, today or yesterday.")] = None,
    since: Annotated[str | None, typer.Option(help="24h, 7d or a date (default 24h: yesterday and today).")] = None,
    until: Annotated[str | None, typer.Option(help="The last day (default today).")] = None,
    source: Annotated[str | None, typer.Option(help="Only articles from this outlet.")] = None,
    max_stories: Annotated[int, typer.Option("--max-stories", min=1, max=100, help="Most stories shown.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the briefing as one JSON object.")] = False,
) -> None:
    """The day's stories, grouped across outlets, each with a cited summary; most covered first."""
    end_quickly()
    try:
        start, end = resolve_range(day, since, until)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    try:
        briefing = open_services().briefing(start, end, source=source, max_stories=max_stories)
    except NewsbotError as exc:
        logger.exception("brief failed")
        raise fail_with(exc) from None
    if as_json:
        print(json.dumps(briefing.to_dict(), ensure_ascii=False))
    else:
        print_briefing(briefing)


def print_briefing(briefing: Briefing) -> None:
    """A heading, then each story: headline, outlets, one line per claim and its numbered sources."""
    from rag.briefing.text import briefing_lines

    for line in briefing_lines(briefing):
        out.print(line, highlight=False, markup=False)
