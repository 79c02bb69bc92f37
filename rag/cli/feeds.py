"""`newsbot [--library NAME] feeds …`: add, list, remove, poll, import, export.

Only `poll` opens the whole store (the embedding model); the others read and write the feeds table alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

feeds_app = typer.Typer(no_args_is_help=True, help="RSS/Atom/JSON feeds polled into the library.")


def _root():
    import rag.cli.common as root  # the global --library, the consoles and fail live there

    return root


def _feeds():
    """The feed operations without the embedding model (polling goes through Services instead)."""
    from rag.feeds.service import FeedService

    return FeedService(_root().load_settings())


def _when(ts: str | None) -> str:
    return ts.replace("T", " ").replace("Z", " UTC") if ts else "never"


@feeds_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="A feed URL, or a site's home page that advertises one.")],
    every: Annotated[str | None, typer.Option(help="How often to poll: 30m, 2h, 1d (default "
                                                   "$NEWSBOT_FEED_EVERY_S, 30m).")] = None,
    source: Annotated[str | None, typer.Option(help="The outlet name (default: the feed's title).")] = None,
    full_text: Annotated[str, typer.Option("--full-text", help="Fetch each entry's page: auto (teasers only), "
                                                               "always or never.")] = "auto",
) -> None:
    """Check a feed and register it in the library, due at once; the next `feeds poll` brings its entries in."""
    from rag.errors import NewsbotError
    from rag.feeds.service import FeedInputError
    from rag.feeds.urls import shown_url

    root = _root()
    try:
        feed, added = _feeds().add(url, None, every, source, full_text)
    except NewsbotError as exc:
        raise root.fail(f"{shown_url(url)}: {exc}", 2 if isinstance(exc, FeedInputError) else 1) from None
    what = "added" if added else "already there:"
    root.err.print(f"{what} {feed.url} ({feed.title or 'untitled'}), every {feed.every_s // 60} min, "
                   f"library {feed.library}", highlight=False, markup=False)


@feeds_app.command("list")
def list_feeds(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """The library's feeds: last success, last error, entries seen and when each is next due."""
    root = _root()
    feeds = _feeds().list()
    if as_json:
        print(json.dumps([f.shown() for f in feeds], ensure_ascii=False))
        return
    for f in feeds:
        shown = f.shown()
        state = "PAUSED" if f.paused else f"next {_when(shown['next_due'])}"
        root.out.print(f"{f.url}  {f.title or '-'}  every {f.every_s // 60}m  {f.entries} entries  "
                       f"ok {_when(shown['last_ok'])}  {state}" + (f"  error: {f.last_error}" if f.last_error
                                                                    else ""), highlight=False, markup=False)


@feeds_app.command("remove")
def remove(url: Annotated[str, typer.Argument(help="The feed's URL, as `feeds list` shows it.")]) -> None:
    """Stop polling a feed (the articles it brought stay in the library)."""
    from rag.feeds.urls import shown_url

    root = _root()
    service = _feeds()
    if not service.remove(url):
        raise root.fail(f"library {service.settings.library!r} has no feed {shown_url(url)!r} (see `newsbot feeds "
                         "list`)")
    root.err.print(f"removed feed {shown_url(url)}", highlight=False, markup=False)


@feeds_app.command("poll")
def poll(
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every feed, due or not (paused ones too "
                                                          "are resumed first).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """One pass over the library's due feeds; exit 1 if any feed failed (each is named with its reason)."""
    from rag.errors import NewsbotError

    root = _root()
    try:
        services = root.open_services()
        if all_feeds:
            for feed in services.list_feeds():
                if feed.paused:
                    services.resume_feed(feed.url, feed.library)
        result = services.poll_feeds(all_feeds=all_feeds)
    except NewsbotError as exc:
        raise root.fail(str(exc)) from None
    show_result(result, as_json)
    if not result.ok:
        raise typer.Exit(1)


def show_result(result, as_json: bool) -> None:
    """A pass's summary: one JSON object on stdout, or its warnings, failures and counts on stderr."""
    root = _root()
    summary = {k: v for k, v in result.to_dict().items() if as_json or k != "warnings"}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        return
    for warning in result.warnings:
        root.err.print(f"warning: {warning}", highlight=False, markup=False)
    for failure in result.failed:
        root.err.print(f"failed {failure['url']}: {failure['reason']}", highlight=False, markup=False)
    root.err.print(f"feeds {result.feeds}: new {result.new}, updated {result.updated}, unchanged "
                   f"{result.unchanged}, not modified {result.not_modified}, failed {len(result.failed)}"
                   + (f", paused {len(result.paused)}" if result.paused else ""), highlight=False, markup=False)


@feeds_app.command("import")
def import_opml(path: Annotated[Path, typer.Argument(help="An OPML file (as feed readers export).",
                                                     exists=True, dir_okay=False)]) -> None:
    """Register every feed of an OPML file (each is checked at its first poll)."""
    from rag.errors import NewsbotError

    root = _root()
    try:
        added, already, over = _feeds().import_opml(path.read_bytes())
    except NewsbotError as exc:
        raise root.fail(f"{path}: {exc}") from None
    root.err.print(f"added {added} feeds, {already} already there"
                   + (f", {over} not added: the library is at its limit of {root.load_settings().feed_max_per_library} "
                      "feeds (NEWSBOT_FEED_MAX_PER_LIBRARY)" if over else ""), highlight=False, markup=False)


@feeds_app.command("export")
def export_opml() -> None:
    """Print the library's feeds as OPML."""
    print(_feeds().export_opml(), end="")
