"""`newsbot worker [--once]`: polls the due feeds of every library, apart from the bot.

What the bot's poll loop does, without Discord: any number of workers (and bots) on one store, or on machines that
share NEWSBOT_DATABASE_URL, split the due feeds between them, each feed claimed with a lease (NEWSBOT_FEED_LEASE_S,
rag/feeds/registry.py). Between passes it sleeps until the next feed is due, at most MAX_SLEEP_S, so a feed added
elsewhere is polled within that. SIGTERM or Ctrl-C ends it after the pass under way (a second Ctrl-C at once).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated

import typer

MAX_SLEEP_S = 30.0  # a feed added (or resumed) by another process waits at most this for a worker to notice it


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (exit 1 if any feed failed, like "
                                                      "`feeds poll`).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pass's summary as one JSON object.")] = False,
) -> None:
    """Poll the due feeds of every library until stopped (SIGTERM, Ctrl-C); run several at once to share them."""
    import rag.cli.common as root
    from rag.cli.feeds import show_result
    from rag.errors import ConfigError, NewsbotError

    try:
        services = root.open_services()
        services.feeds.any_due()  # the registry opened now: a wrong NEWSBOT_DATABASE_URL is one line and exit 2
    except ConfigError as exc:
        raise root.fail(str(exc), 2) from None
    except NewsbotError as exc:
        raise root.fail(str(exc)) from None
    stop = threading.Event()
    if not once:
        _stop_on_signals(stop)
    while True:
        try:
            result = services.poll_feeds(every_library=True)
        except NewsbotError as exc:
            if once:
                raise root.fail(str(exc)) from None
            root.err.print(f"error: {exc}; trying again in {MAX_SLEEP_S:g} s", highlight=False, markup=False)
            result = None
        if result is not None and (once or result.feeds):
            show_result(result, as_json)
        if once:
            raise typer.Exit(0 if result.ok else 1)
        if stop.wait(_sleep_s(services)):
            return


def _sleep_s(services) -> float:
    """Seconds until the next feed is due and free to claim, between 0.2 and MAX_SLEEP_S."""
    due = services.feeds.store.next_claimable()
    return MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, max(0.2, due - time.time()))


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and the first Ctrl-C end the worker after the pass under way; a second Ctrl-C stops it at once."""
    def request_stop(signum, _frame) -> None:
        stop.set()
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
