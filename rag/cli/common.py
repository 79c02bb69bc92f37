"""What every `newsbot` command shares: the consoles, the global `--library`, the three ways to open the store
(lightest first: `open_catalog`, `open_store`, `open_services`), errors as one line, progress bars, dates given
as options, and whether the command may end quickly. Light: only typer and rich are imported here; each helper
imports what it opens."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from rag.errors import NewsbotError

if TYPE_CHECKING:
    from rich.progress import Progress

    from rag.config import Settings
    from rag.services import Services
    from rag.store.catalog import Catalog

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    """What the global options chose for this run."""

    library: str | None = None  # --library, if given (else NEWSBOT_LIBRARY, else "default": Settings.library)
    quick_exit: bool = False  # set by `end_quickly`: `main` may skip the interpreter's teardown


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
    return Catalog.open(settings), settings.library


def open_store() -> Services:
    """The services over the registry and Chroma alone: no chat model, and the embedder unloaded (nothing here
    embeds or asks)."""
    from rag.services import build_services

    return build_services(load_settings(), chat_model=False)


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


def end_quickly() -> None:
    """Mark the command as one that only reads the store, so that `main` may skip the interpreter's teardown.

    After `ask` had printed its answer, tearing down the modules it loaded (Chroma, onnxruntime, LangChain) took
    another 0.55 s of its 2.4 s (benchmarks/cli_startup.py). Nothing a reader leaves is lost by skipping it: every
    SQLite write commits before it returns. Writers (ingest, remove, feeds, backup) keep the normal exit.
    """
    state.quick_exit = True


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def fail_with(exc: NewsbotError) -> typer.Exit:
    """A NewsbotError as one line: exit 2 for a setting to fix (ConfigError), 1 for anything else."""
    from rag.errors import ConfigError

    return fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)


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


def resolve_range(day: str | None = None, since: str | None = None, until: str | None = None,
                  today: date | None = None) -> tuple[date, date]:
    """The dates `brief` covers, from `--date` or `--since 24h|7d|DATE` and `--until DATE`.

    `24h` means yesterday and today (articles carry dates, not times); `7d` the last seven days and today.
    With nothing given it is `24h`. Raises ValueError with a message that names the flag.
    """
    from rag.briefing.dates import days_back, last_days

    today = today or date.today()
    if day and (since or until):
        raise ValueError("use --date alone, or --since/--until")
    if day:
        start = end = _flag_day(day, "date", today)
        return start, end
    end = _flag_day(until, "until", today) if until else today
    if days_back(since or "24h") is not None:
        start, end = last_days(end, since or "24h")
    else:
        start = _flag_day(since, "since", today)
    if start > end:
        raise ValueError(f"--since {start} is after --until {end}")
    return start, end


def _flag_day(value: str, option: str, today: date) -> date:
    from rag.briefing.dates import parse_day

    try:
        return parse_day(value, today)
    except ValueError as exc:
        raise ValueError(f"--{option} {exc}") from None
