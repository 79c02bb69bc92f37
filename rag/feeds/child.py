"""Polling in a child process of its own (NEWSBOT_FEED_POLL_PROCESS=true): the bot's event loop then shares no GIL
with fetching, feedparser and trafilatura. The child opens the same store (writes are process-safe: the store's
locks and generation, rag/store/db.py) and keeps its services between passes; it costs a second embedding model
in memory (docs/benchmarks.md has both modes measured)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

_services = None  # in the child: built on the first pass, kept for the next ones


def _poll(settings, all_feeds: bool):
    global _services
    if _services is None:
        from rag.services import build_services

        _services = build_services(settings)
    return _services.poll_feeds(all_feeds=all_feeds, every_library=True)


class ChildPoller:
    """One long-lived child process; `poll()` blocks until its pass is over (call it from a worker thread)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def poll(self, all_feeds: bool = False):
        return self.pool.submit(_poll, self.settings, all_feeds).result()

    def close(self, wait: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)
