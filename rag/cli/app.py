"""`newsbot [--library NAME] …`: the app, its global options, the entry point; the commands live by job in
`ingest.py` (ingest), `reading.py` (ask, brief, demo), `admin.py` (sources, remove, stats, libraries, backup,
restore), `feeds.py` (the `feeds` sub-app) and `eval.py` (the `eval` sub-app); `bot` starts the Discord bot.

Every command answers at once: these modules import only typer, rich and light parts of `rag`, and each command
imports what it needs (LangChain, Chroma, onnxruntime, discord, trafilatura) inside itself. Three ways to open
the store, lightest first (rag/cli/common.py): `open_catalog()` (the SQLite registry: stats, sources, libraries),
`open_store()` (the registry and Chroma, no model: remove), `open_services()` (everything: ingest, ask, brief). A
sub-app lives in a module that follows the same rule and is added with one `app.add_typer(...)` line;
tests/test_cli.py checks what the listing commands import.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from rag.cli.admin import backup_store, libraries, remove, restore_store, sources, stats
from rag.cli.check import check
from rag.cli.common import err, fail, state
from rag.cli.eval import eval_app
from rag.cli.feeds import feeds_app
from rag.cli.follows import follows_app
from rag.cli.ingest import ingest
from rag.cli.reading import ask, brief, demo
from rag.errors import LibraryError, NewsbotError
from rag.libraries import check_library

logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="newsbot: cited answers and daily briefings from news articles.")


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


# Each command lives in the module named for its job; they are registered here in the order `--help` lists them.
app.command()(ingest)
app.command()(ask)
app.command()(check)
app.command()(demo)
app.command()(brief)
app.command()(sources)
app.command()(remove)
app.command()(stats)
app.command()(libraries)
app.command("backup")(backup_store)
app.command("restore")(restore_store)
app.add_typer(feeds_app, name="feeds")
app.add_typer(follows_app, name="follows")
app.add_typer(eval_app, name="eval")


@app.command()
def bot() -> None:
    """Run the Discord bot (needs DISCORD_TOKEN; see README "Discord bot")."""
    from bot.app import main as run_bot  # discord is imported only for this command

    code = run_bot()
    if code:
        raise typer.Exit(code)


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
    `_quick_exit` (see `rag.cli.common.end_quickly`); tests that call `app` in-process never reach it."""
    try:
        app()
    except SystemExit as exc:
        if state.quick_exit:
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
