"""`newsbot sources`, `remove`, `stats`, `libraries`, `backup` and `restore`: the library's upkeep.

The listing commands read the registry alone (`open_catalog`: no Chroma, no model; tests/test_cli.py checks it);
`remove` opens the store without the model; `backup` and `restore` work on the data folder's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import err, fail, load_settings, open_catalog, open_store, out
from rag.libraries import check_library


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


def remove(article_id: Annotated[str, typer.Argument(help="The id `newsbot sources` shows.")]) -> None:
    """Take one article out of the library; its chunks are deleted when no other library holds it."""
    services = open_store()
    library = services.settings.library
    if not services.remove(article_id):
        raise fail(f"no article with id {article_id!r} in library {library!r} (see `newsbot sources`)")
    err.print(f"removed {article_id} from library {library}", highlight=False, markup=False)


def stats(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False) -> None:
    """The library's article and chunk counts, the embedding model and the data folder."""
    catalog, library = open_catalog()
    numbers = catalog.stats(check_library(library))
    if as_json:
        print(json.dumps(numbers))
    else:
        for key, value in numbers.items():
            out.print(f"{key}: {value}", highlight=False, markup=False)


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


def backup_store(target: Annotated[Path, typer.Argument(help="A new (or empty) folder for the snapshot.")]) -> None:
    """Copy the whole store (every library) to a new folder, consistently, while the bot runs and ingests."""
    from rag.store.backup import backup

    settings = load_settings()
    _embedded_only(settings, "backup")
    manifest = backup(settings.data_dir, target, settings.chroma_host,
                      on_wait=lambda: err.print("waiting for the ingest or remove under way to finish…",
                                                highlight=False, markup=False))
    err.print(f"backed up {manifest['store']['articles']} articles, {manifest['store']['chunks']} chunks "
              f"from {settings.data_dir} to {target}", highlight=False, markup=False)


def restore_store(source: Annotated[Path, typer.Argument(help="A folder `newsbot backup` wrote.")]) -> None:
    """Replace the store with a backup (stop the bot first); the replaced files are kept aside."""
    from rag.store.backup import restore

    settings = load_settings()
    _embedded_only(settings, "restore")
    manifest, aside = restore(source, settings.data_dir, settings.embedding_model_id, settings.chroma_host)
    if aside is not None:
        err.print(f"the previous store was moved to {aside}", highlight=False, markup=False)
    err.print(f"restored {manifest['store']['articles']} articles, {manifest['store']['chunks']} chunks "
              f"(backup of {manifest['created']}, {len(manifest['files'])} files checked against their sha256) "
              f"into {settings.data_dir}", highlight=False, markup=False)


def _embedded_only(settings, command: str) -> None:
    """`backup` and `restore` copy a data folder's files; a store in PostgreSQL is backed up with its own tools."""
    if settings.database_url:
        raise fail(f"newsbot {command} works on an embedded store; this one is in PostgreSQL (NEWSBOT_DATABASE_URL): "
                   "use pg_dump / pg_restore and the Chroma server's folder (docs/deploy.md, Backups)", 2)
