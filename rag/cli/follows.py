"""`newsbot [--library NAME] follows …`: add, list, remove, check (a dry run that sends nothing).

Only `check` opens the whole store (it matches with the embedding model); the others touch the follows tables alone.
A follow made here with no --channel alerts nobody (the CLI has no DMs): `follows check` shows what it matches.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

follows_app = typer.Typer(no_args_is_help=True, help="Topics followed in the library, alerted by the bot.")
CLI_OWNER = 0  # follows made from the CLI belong to no Discord member


def _root():
    import rag.cli.common as root  # the global --library, the consoles and fail live there

    return root


def _follows():
    """The follow operations without the embedding model (only `check` matches)."""
    from rag.follows.service import FollowService

    return FollowService(_root().load_settings())


def _library() -> str:
    from rag.libraries import check_library

    return check_library(_root().load_settings().library)


@follows_app.command("add")
def add(
    topic: Annotated[str, typer.Argument(help='A few words; "exact phrase" must occur, -word must not.')],
    channel: Annotated[int | None, typer.Option(help="The Discord channel id the bot posts its alerts to.")] = None,
) -> None:
    """Follow a topic in the library: the bot alerts each new article on it (once per story) in --channel."""
    from rag.errors import NewsbotError

    from rag.follows.topic import parse_topic

    root = _root()
    try:
        parse_topic(topic, root.load_settings().follow_max_topic_chars)
    except NewsbotError as exc:  # the topic itself is wrong: a usage error
        raise root.fail(str(exc), 2) from None
    try:
        follow = _follows().add(_library(), topic, CLI_OWNER, channel, None)
    except NewsbotError as exc:
        raise root.fail(str(exc)) from None
    where = f"channel {channel}" if channel else "no channel (see `newsbot follows check`)"
    root.err.print(f"following #{follow.id} {follow.topic!r} in library {follow.library}, alerts to {where}",
                   highlight=False, markup=False)


@follows_app.command("list")
def list_follows(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """The library's follows: id, topic, and where their alerts go."""
    follows = _follows().list(_library())
    if as_json:
        print(json.dumps([f.shown() for f in follows], ensure_ascii=False))
        return
    for f in follows:
        where = f"channel {f.channel_id}" if f.channel_id else f"DM to {f.owner_id}" if f.owner_id else "nowhere"
        _root().out.print(f"#{f.id}  {f.topic}  → {where}", highlight=False, markup=False)


@follows_app.command("remove")
def remove(follow_id: Annotated[int, typer.Argument(help="The id `follows list` shows.")]) -> None:
    """Stop following a topic (its alerts already sent stay where they are)."""
    root = _root()
    if not _follows().remove(_library(), follow_id):
        raise root.fail(f"library {_library()!r} has no follow #{follow_id} (see `newsbot follows list`)")
    root.err.print(f"removed follow #{follow_id}", highlight=False, markup=False)


@follows_app.command("check")
def check(
    since: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")],
    until: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """A dry run: the stored articles from --since to --until that each follow matches. Sends and records nothing."""
    from rag.errors import NewsbotError

    root = _root()
    first, last = root.day_option(since, "--since"), root.day_option(until, "--until")
    if first > last:
        raise root.fail("--since is after --until", 2)
    try:
        services = root.open_services()
        found = services.follows.check(_library(), first, last)
    except NewsbotError as exc:
        raise root.fail(str(exc)) from None
    if as_json:
        print(json.dumps([{"topic": f["topic"], "articles": f["articles"]} for f in found], ensure_ascii=False))
        return
    for f in found:
        root.out.print(f"{f['topic']}: {len(f['articles'])} articles", highlight=False, markup=False)
        for a in f["articles"]:
            root.out.print(f"  {a['published'] or '-'}  {a['source'] or '-'}  {a['title']}", highlight=False,
                           markup=False)
