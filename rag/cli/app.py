"""`newsbot [--library NAME] …`: ingest, ask, demo, brief, sources, remove, stats, libraries, backup, restore,
feeds, eval.

Every command answers at once: this module imports only typer, rich and light parts of `rag`, and each command
imports what it needs (LangChain, Chroma, onnxruntime, discord, trafilatura) inside itself. Three ways to open
the store, lightest first: `open_catalog()` (the SQLite registry: stats, sources, libraries), `open_store()` (the registry
and Chroma, no model: remove), `open_services()` (everything: ingest, ask, brief). A sub-app (like `eval` below) lives
in a module that follows the same rule and is added with one `app.add_typer(...)` line; tests/test_cli.py checks
what the listing commands import.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from rag.errors import LibraryError, NewsbotError, QuestionError
from rag.cli.common import (day_option, err, fail, load_settings, open_catalog, open_services, open_store, out,
                             progress_bar, start_loading_model, state)
from rag.libraries import check_library

if TYPE_CHECKING:

    from rag.answering.chain import Query
    from rag.briefing.build import Briefing
    from rag.schema import Answer
    from rag.services import Services

logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="newsbot: cited answers and daily briefings from news articles.")
SAMPLES = Path(__file__).parents[1] / "samples" / "articles"  # the two seed articles (origin: rag/samples/README.md)
SAMPLE_QUESTION = "What did Trump warn Putin about?"


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
    library: Annotated[str | None, typer.Option(
        "--library", "-l", metavar="NAME",
        help="The library read and written (default: $NEWSBOT_LIBRARY, else 'default').")] = None,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        state.library = check_library(library) if library is not None else None
        if library is None and (configured := os.environ.get("NEWSBOT_LIBRARY")):
            check_library(configured)
    except LibraryError as exc:
        raise fail(str(exc) + (" (--library)" if library is not None else " (NEWSBOT_LIBRARY)"), 2) from None


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files or folders of articles, or article URLs.")],
    source: Annotated[str | None, typer.Option(help="The outlet, overriding what the files say.")] = None,
) -> None:
    """Add articles (seed txt, txt/md, html, json, jsonl, pdf, or an http(s) article page) to the store; unchanged
    ones are skipped."""
    from rag.articles.loaders import Article, load_paths

    try:
        services = open_services()
        urls = [str(p) for p in paths if str(p).lower().startswith(("http://", "https://"))]
        items = list(load_paths([p for p in paths if str(p) not in urls], source=source,
                                max_bytes=services.settings.max_file_bytes,
                                max_chars=services.settings.max_article_chars,
                                pdf_max_pages=services.settings.pdf_max_pages))
        items += [services.feeds.load_url(url, source) for url in urls]
        total = sum(isinstance(i, Article) for i in items)
        with progress_bar("ingesting", disable=total < 20) as progress:
            task = progress.add_task("ingest", total=total)
            result = services.ingest(items, on_progress=lambda n: progress.advance(task, n))
    except NewsbotError as exc:
        raise fail(str(exc)) from None
    for warning in result.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
    for failure in result.failed:
        err.print(f"skipped {failure.origin}: {failure.reason}", highlight=False, markup=False)
    stats = services.stats()
    err.print(f"added {len(result.added)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}, "
              f"failed {len(result.failed)}; library {stats['library']}: {stats['articles']} articles, "
              f"{stats['chunks']} chunks", highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
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
    _end_quickly()
    start_loading_model()
    from rag.answering.chain import Query

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
        raise fail(str(exc)) from None
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


@app.command()
def demo() -> None:
    """Ingest the bundled sample articles (unchanged ones are skipped) and answer a sample question: `make run`."""
    global _QUICK_EXIT
    err.print(f"$ newsbot ingest {SAMPLES}", highlight=False, markup=False)
    ingest([SAMPLES])
    err.print(f'$ newsbot ask "{SAMPLE_QUESTION}"', highlight=False, markup=False)
    try:
        ask(SAMPLE_QUESTION)
    finally:
        _QUICK_EXIT = False  # this process wrote (the ingest above): the normal exit lets Chroma close its files


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


@app.command()
def brief(
    day: Annotated[str | None, typer.Option("--date", help="One day: YYYY-MM-DD, today or yesterday.")] = None,
    since: Annotated[str | None, typer.Option(help="24h, 7d or a date (default 24h: yesterday and today).")] = None,
    until: Annotated[str | None, typer.Option(help="The last day (default today).")] = None,
    source: Annotated[str | None, typer.Option(help="Only articles from this outlet.")] = None,
    max_stories: Annotated[int, typer.Option("--max-stories", min=1, max=100, help="Most stories shown.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the briefing as one JSON object.")] = False,
) -> None:
    """The day's stories, grouped across outlets, each with a cited summary; most covered first."""
    _end_quickly()
    from rag.briefing.build import resolve_range

    try:
        start, end = resolve_range(day, since, until)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    try:
        briefing = open_services().briefing(start, end, source=source, max_stories=max_stories)
    except NewsbotError as exc:
        logger.exception("brief failed")
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(briefing.to_dict(), ensure_ascii=False))
    else:
        print_briefing(briefing)


def print_briefing(briefing: Briefing) -> None:
    """A heading, then each story: headline, outlets, one line per claim and its numbered sources."""
    from rag.briefing.text import briefing_lines

    for line in briefing_lines(briefing):
        out.print(line, highlight=False, markup=False)


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    query: Annotated[str | None, typer.Option(help="Only titles or outlets containing this.")] = None,
) -> None:
    """List the library's articles, newest first."""
    catalog, library = open_catalog()
    articles = catalog.list_articles(query, libraries=(check_library(library),))
    if as_json:
        print(json.dumps([{"article_id": a.article_id, "title": a.title, "source": a.source,
                           "published": a.published, "url": a.url, "chunks": a.chunks} for a in articles],
                         ensure_ascii=False))
        return
    for a in articles:
        out.print(f"{a.article_id}  {a.published or 'undated':10}  {a.source or '-':20.20}  {a.title}",
                  highlight=False, markup=False)


@app.command()
def remove(article_id: Annotated[str, typer.Argument(help="The id `newsbot sources` shows.")]) -> None:
    """Take one article out of the library; its chunks are deleted when no other library holds it."""
    index, library = open_store()
    if not index.remove(article_id, library):
        raise fail(f"no article with id {article_id!r} in library {library!r} (see `newsbot sources`)")
    err.print(f"removed {article_id} from library {library}", highlight=False, markup=False)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False) -> None:
    """The library's article and chunk counts, the embedding model and the data folder."""
    catalog, library = open_catalog()
    numbers = catalog.stats(check_library(library))
    if as_json:
        print(json.dumps(numbers))
    else:
        for key, value in numbers.items():
            out.print(f"{key}: {value}", highlight=False, markup=False)


@app.command()
def libraries(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """Every library that holds an article, with its article and chunk counts."""
    catalog, _ = open_catalog()
    found = catalog.libraries()
    if as_json:
        print(json.dumps(found))
        return
    for row in found:
        out.print(f"{row['library']}  {row['articles']} articles  {row['chunks']} chunks", highlight=False,
                  markup=False)


@app.command("backup")
def backup_store(target: Annotated[Path, typer.Argument(help="A new (or empty) folder for the snapshot.")]) -> None:
    """Copy the whole store (every library) to a new folder, consistently, while the bot runs and ingests."""
    from rag.store.backup import backup

    settings = load_settings()
    manifest = backup(settings.data_dir, target, settings.chroma_host,
                      on_wait=lambda: err.print("waiting for the ingest or remove under way to finish…",
                                                highlight=False, markup=False))
    err.print(f"backed up {manifest['store']['articles']} articles, {manifest['store']['chunks']} chunks "
              f"from {settings.data_dir} to {target}", highlight=False, markup=False)


@app.command("restore")
def restore_store(source: Annotated[Path, typer.Argument(help="A folder `newsbot backup` wrote.")]) -> None:
    """Replace the store with a backup (stop the bot first); the replaced files are kept aside."""
    from rag.store.backup import restore

    settings = load_settings()
    manifest, aside = restore(source, settings.data_dir, settings.embedding_model_id, settings.chroma_host)
    if aside is not None:
        err.print(f"the previous store was moved to {aside}", highlight=False, markup=False)
    err.print(f"restored {manifest['store']['articles']} articles, {manifest['store']['chunks']} chunks "
              f"(backup of {manifest['created']}, {len(manifest['files'])} files checked against their sha256) "
              f"into {settings.data_dir}", highlight=False, markup=False)


from rag.cli.feeds import feeds_app  # noqa: E402  (its heavy imports are inside its commands)

app.add_typer(feeds_app, name="feeds")
from rag.cli.follows import follows_app  # noqa: E402

app.add_typer(follows_app, name="follows")

eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval quality on a benchmark.")
app.add_typer(eval_app, name="eval")


@eval_app.command("multihop-rag")
def eval_multihop(
    corpus: Annotated[Path, typer.Option(help="MultiHop-RAG corpus.json.", exists=True, dir_okay=False)],
    queries: Annotated[Path, typer.Option(help="Queries json (e.g. queries_dev.json).", exists=True,
                                          dir_okay=False)],
    chunk_tokens: Annotated[int, typer.Option("--chunk-tokens", min=32, max=512, help="Chunk size.")] = 256,
    retriever: Annotated[str, typer.Option(help="hybrid, dense, bm25 or rrf.")] = "hybrid",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N scored queries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
) -> None:
    """Hits@4/10, MRR@10 and MAP@10 of the retriever on MultiHop-RAG (upstream's scorer; null_query skipped)."""
    from rag.eval.retrieval import METRICS, run_eval

    if retriever not in ("hybrid", "dense", "bm25", "rrf"):
        raise fail(f"--retriever {retriever!r}: use hybrid, dense, bm25 or rrf", 2)
    try:
        with progress_bar("{task.description}") as progress:
            tasks: dict[str, int] = {}

            def step(name: str):
                def update(done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = progress.add_task(name, total=total)
                    progress.update(tasks[name], completed=done, total=total)
                return update

            result = run_eval(load_settings(), corpus, queries, chunk_tokens, retriever, limit,
                              on_ingest=step("ingesting"), on_query=step("retrieving"))
    except NewsbotError as exc:
        logger.exception("eval failed")
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    out.print(f"{retriever}, {chunk_tokens}-token chunks, {result.n} queries", highlight=False)
    out.print("type".ljust(22) + "".join(m.rjust(9) for m in METRICS) + "n".rjust(6), highlight=False)
    for name, row in [("all", {**result.overall, "n": result.n}), *result.by_type.items()]:
        out.print(name.ljust(22) + "".join(f"{row[m]:9.3f}" for m in METRICS) + f"{row['n']:6d}", highlight=False)


@eval_app.command("stories")
def eval_stories(
    labels: Annotated[Path, typer.Option(help="Story labels (tests/data/story_labels.json).", exists=True,
                                         dir_okay=False)],
    corpus: Annotated[Path | None, typer.Option(help="Use this corpus's eval store (built as by eval "
                                                     "multihop-rag) instead of the main store.", exists=True,
                                                dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """B-cubed and pairwise precision/recall/F1 of the briefings' story grouping against hand-made labels."""
    from rag.config import Settings
    from rag.eval.stories import run_story_eval, table

    try:
        result = run_story_eval(Settings(), labels, corpus)
    except NewsbotError as exc:
        logger.exception("eval stories failed")
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    for line in table(result):
        out.print(line, highlight=False, markup=False)


@eval_app.command("claims")
def eval_claims(
    corpus: Annotated[Path, typer.Option(help="The corpus the labels were made from (MultiHop-RAG corpus.json).",
                                         exists=True, dir_okay=False)],
    labels: Annotated[Path, typer.Option(help="Claim labels (tests/data/claim_labels.json).", exists=True,
                                         dir_okay=False)],
    limit: Annotated[int, typer.Option(min=0, help="Score only the first N labels (0 = all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """The citation check on true and perturbed corpus claims: share kept / rejected per kind."""
    from rag.eval.claims import TARGETS, run_claim_eval, table

    try:
        rows = run_claim_eval(corpus, labels, limit)
    except NewsbotError as exc:
        logger.exception("eval claims failed")
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps({"rows": rows, "targets": TARGETS}))
        return
    for line in table(rows):
        out.print(line, highlight=False, markup=False)


@eval_app.command("follows")
def eval_follows(
    labels: Annotated[Path, typer.Option(help="Follow labels (tests/data/follow_labels.json).", exists=True,
                                         dir_okay=False)],
    corpus: Annotated[Path, typer.Option(help="The corpus the labels were made from (MultiHop-RAG corpus.json).",
                                         exists=True, dir_okay=False)] = Path("../shared/eval/multihop-rag/corpus.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Precision and recall of follow matching per labelled topic and overall (micro)."""
    from rag.eval.follows import run_follow_eval, table

    try:
        result = run_follow_eval(load_settings(), labels, corpus)
    except NewsbotError as exc:
        logger.exception("eval follows failed")
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    for line in table(result):
        out.print(line, highlight=False, markup=False)


@app.command()
def bot() -> None:
    """Run the Discord bot (needs DISCORD_TOKEN; see README "Discord bot")."""
    from bot.app import main as run_bot  # discord is imported only for this command

    code = run_bot()
    if code:
        raise typer.Exit(code)


_QUICK_EXIT = False


def _end_quickly() -> None:
    """Mark the command as one that only reads the store, so that `main` may skip the interpreter's teardown.

    After `ask` had printed its answer, tearing down the modules it loaded (Chroma, onnxruntime, LangChain) took
    another 0.55 s of its 2.4 s (benchmarks/cli_startup.py). Nothing a reader leaves is lost by skipping it: every
    SQLite write commits before it returns. Writers (ingest, remove, feeds, backup) keep the normal exit.
    """
    global _QUICK_EXIT
    _QUICK_EXIT = True


def _quick_exit(code: object) -> None:
    """os._exit after flushing what Python's own exit would flush: log handlers, stdout, stderr."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message")
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): Python's own exit says 120
            status = status or 120
    os._exit(status)


def main() -> None:
    """Console-script entry point; NewsbotErrors become one line on stderr. `ask` and `brief` end with
    `_quick_exit` (see `_end_quickly`); tests that call `app` in-process never reach it."""
    try:
        app()
    except SystemExit as exc:
        if _QUICK_EXIT:
            _quick_exit(exc.code)
        raise
    except NewsbotError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
    except ValidationError as exc:  # a bad NEWSBOT_* setting
        from rag.config import settings_problems

        err.print(f"error: {settings_problems(exc)}", highlight=False, markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
