"""Polling in a child process of its own (NEWSBOT_FEED_POLL_PROCESS=true): the bot's event loop then shares no GIL
with fetching, feedparser and trafilatura. The child opens the same store (writes are process-safe: the store's
locks and generation, rag/store/db.py) and keeps its services between passes; it costs a second embedding model
in memory (docs/benchmarks.md has both modes measured).

A child that dies (killed, out of memory) is replaced and the pass tried once more in the new one; a pass that
outlives PASS_BOUND_S is taken as hung: its child is killed and replaced, and the bot's loop goes on."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as PassTimeout
from concurrent.futures.process import BrokenProcessPool

from rag.errors import NewsbotError

logger = logging.getLogger(__name__)
PASS_BOUND_S = 600  # feeds are claimed one by one as a pass goes, each for NEWSBOT_FEED_LEASE_S, so a long pass is
# not by itself a hung one; a feed a hung child holds is free for other pollers when its lease ends
_services = None  # in the child: built on the first pass, kept for the next ones


def _poll(build: Callable, settings, all_feeds: bool):
    global _services
    if _services is None:
        _services = build(settings)
    return _services.poll_feeds(all_feeds=all_feeds, every_library=True)


class PollHung(NewsbotError):
    """A pass in the child process ran past its bound; the child was replaced."""


class ChildPoller:
    """One long-lived child process; `poll()` blocks until its pass is over (call it from a worker thread)."""

    def __init__(self, settings, build: Callable, hang_s: float | None = None) -> None:
        self.settings = settings
        self.build = build  # builds the child's services: handed in, so feeds never imports the facade above it
        self.hang_s = PASS_BOUND_S if hang_s is None else hang_s
        self.pool = self._start()

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def pids(self) -> list[int]:
        """The child's process id (none before its first pass)."""
        return [p.pid for p in (self.pool._processes or {}).values()]

    def poll(self, all_feeds: bool = False):
        try:
            return self._pass(all_feeds)
        except BrokenProcessPool:
            logger.warning("the feed polling child process died; started a new one and polling again")
            self._replace()
        return self._pass(all_feeds)

    def _pass(self, all_feeds: bool):
        future = self.pool.submit(_poll, self.build, self.settings, all_feeds)
        try:
            return future.result(timeout=self.hang_s)
        except PassTimeout:
            logger.warning("a feed poll pass in the child process ran past %g s: killed it, a new one is started",
                           self.hang_s)
            self._replace(kill=True)
            raise PollHung(f"a feed poll pass ran past {self.hang_s:g} s; its child process was replaced and its "
                           "feeds are polled again after their lease") from None

    def _replace(self, kill: bool = False) -> None:
        old, self.pool = self.pool, self._start()
        if kill:
            # Python 3.11's executor can't stop a running task: end its process (3.14 has terminate_workers())
            for process in (old._processes or {}).values():
                process.kill()
        old.shutdown(wait=False, cancel_futures=True)

    def close(self, wait: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)
