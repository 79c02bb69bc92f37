"""`newsbot migrate`: an embedded store (SQLite and Chroma on disk) moved into PostgreSQL and a Chroma server.

Nothing is embedded again: the registry's rows and the vectors are copied as they are (`rag.store.copy`), then
every room's own tables (feeds, follows, schedules and posted days, answers' buttons, forum posts, the audit). The target must
be empty; the counts are checked after; the embedded store is only read (opened as any run of this version opens
it, which may take an older briefing_schedule.json into its database first).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import err, fail_with, load_settings, out
from rag.errors import ConfigError, NewsbotError


def migrate(
    database_url: Annotated[str, typer.Option("--database-url", help="The target: postgresql://user@host/db.")],
    chroma_host: Annotated[str | None, typer.Option(help="The target Chroma server (else NEWSBOT_CHROMA_HOST).")] = None,
    chroma_port: Annotated[int | None, typer.Option(help="Its port (else NEWSBOT_CHROMA_PORT, else 8000).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the copied counts as JSON.")] = False,
) -> None:
    """Move this data folder's store into PostgreSQL and a Chroma server, without embedding again."""
    source = load_settings()
    try:
        counts = _migrate(source, database_url, chroma_host or source.chroma_host,
                          chroma_port or source.chroma_port)
    except NewsbotError as exc:
        raise fail_with(exc) from exc
    if as_json:
        print(json.dumps(counts))
        return
    for key, value in counts.items():
        out.print(f"{key}: {value}", highlight=False, markup=False)
    err.print(f"migrated {source.data_dir} into the database and Chroma server; counts checked. Set "
              "NEWSBOT_DATABASE_URL and NEWSBOT_CHROMA_HOST/PORT on every process (docs/deploy.md); the data folder "
              "is left as it was.", highlight=False, markup=False)


def _migrate(source, database_url: str, chroma_host: str | None, chroma_port: int | None) -> dict:
    from rag.services import build_services
    from rag.store.copy import copy_store, copy_tables
    from rag.store.sql import check_database_url

    if source.database_url:
        raise ConfigError("newsbot migrate moves an embedded store: unset NEWSBOT_DATABASE_URL (the source is the "
                          "data folder in NEWSBOT_DATA_DIR)")
    if source.chroma_host:
        raise ConfigError("newsbot migrate moves an embedded store, whose vectors are on disk: unset "
                          "NEWSBOT_CHROMA_HOST and name the target with --chroma-host")
    if not chroma_host:
        raise ConfigError("name the target Chroma server with --chroma-host (vectors must be shared too)")
    check_database_url(database_url)
    with tempfile.TemporaryDirectory(prefix="newsbot-migrate-") as scratch:
        target = source.model_copy(update={"database_url": database_url, "chroma_host": chroma_host,
                                           "chroma_port": chroma_port, "data_dir": Path(scratch)})
        src, dst = build_services(source, chat_model=False), build_services(target, chat_model=False)
        rooms = _rooms(src), _rooms(dst)
        tables = [t for _, names in rooms[0] for t in names]
        _refuse_rows(rooms[1], tables)  # before any vector is written
        counts = copy_store(src.index, dst.index)
        copied = {}
        for (conn, names), (target_conn, _) in zip(*rooms):
            copied.update(copy_tables(conn, target_conn, names))
        return {**counts, **copied}


def _rooms(services) -> list:
    """Each room's connection and tables, opened (so its tables exist) through the services."""
    from rag.briefing import posts, schedule
    from rag.feeds import registry
    from rag.follows import store
    from rag.store import answers, audit

    return [(services.feeds.store.conn, registry.TABLES), (services.follows.store.conn, store.TABLES),
            (services.schedules.connection(), schedule.TABLES), (services.answer_records.conn, answers.TABLES),
            (services.story_posts.conn, posts.TABLES), (services.audit_log.conn, audit.TABLES)]


def _refuse_rows(rooms: list, tables: list[str]) -> None:
    from rag.errors import StoreError

    for conn, names in rooms:
        for table in names:
            if conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
                raise StoreError(f"the target database already has rows in {table}; migrate into an empty one")
