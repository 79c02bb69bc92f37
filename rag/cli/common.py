"""What every `newsbot` command shares: the consoles, the global `--library`, the three ways to open the store
(lightest first: `open_catalog`, `open_store`, `open_services`), errors as one line, progress bars, and dates given
as options. Light: only typer and rich are imported here; each helper imports what it opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from rag.errors import NewsbotError
from rag.libraries import check_library

if TYPE_CHECKING:
    from rich.progress import Progress

    from rag.config import Settings
    from rag.services import Services
    from rag.store.catalog import Catalog
    from rag.store.index import NewsIndex

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    """What the global options chose for this run."""

    library: str | None = None  # --library, if given (else NEWSBOT_LIBRARY, else "default": Settings.library)


state = State()


def load_settings() -> Settings:
    from rag.config import Settings

    settings = Settings()
    return settings.model_copy(update={"library": state.library}) if state.library else settings


def open_catalog() -> tuple[Catalog, str]:
    """The store's registry alone, no Chroma and no embedding model, and the library to read (not yet checked:
    `libraries` reads them all)."""
    from rag.store.catalog import Catalog

    settings = load_settings()
    return Catalog(settings.data_dir, settings.embedding_model_id), settings.library


def open_store() -> tuple[NewsIndex, str]:
    """The registry and Chroma, with the embedder unloaded (nothing here embeds), and the library to write."""
    from rag.store.index import open_index

    settings = load_settings()
    library = check_library(settings.library)
    return open_index(settings), library


def open_services() -> Services:
    from rag.services import build_services

    return build_services(load_settings())


def start_loading_model() -> None:
    """Start creating the offline embedding model in a thread, so that it overlaps the imports still to come
    (onnxruntime builds the session without holding the GIL); the services built later use the same session."""
    if load_settings().embedding_provider != "local":
        return
    from rag.embeddings.minilm import default_threads, start_loading

    try:
        start_loading(default_threads())
    except NewsbotError:  # a missing model: building the services says so, where its errors are handled
        pass


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def progress_bar(label: str, disable: bool = False) -> Progress:
    """A transient progress bar on stderr: label, bar, done/total, time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                    transient=True, disable=disable)


def day_option(value: str | None, option: str) -> int | None:
    from rag.articles.article import parse_date
    from rag.text import date_to_int

    if value is None:
        return None
    try:
        return date_to_int(parse_date(value))
    except ValueError:
        raise fail(f"{option} {value!r} is not a date (use YYYY-MM-DD)", 2) from None
