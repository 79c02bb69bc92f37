"""`newsbot ingest`: files, folders and article pages into the library (Services reads them, with the configured
limits, and writes them)."""

from __future__ import annotations

from typing import Annotated

import typer

from rag.cli.common import err, fail, open_services, progress_bar
from rag.errors import NewsbotError


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files or folders of articles, or article URLs.")],
    source: Annotated[str | None, typer.Option(help="The outlet, overriding what the files say.")] = None,
) -> None:
    """Add articles (seed txt, txt/md, html, json, jsonl, pdf, or an http(s) article page) to the store; unchanged
    ones are skipped."""
    from rag.articles.article import Article

    try:
        services = open_services()
        items = services.load(paths, source)
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
