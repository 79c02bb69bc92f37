"""Builds the pipeline's parts from settings: called only at the edges (the CLI and the bot's startup)."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path

from langchain_core.runnables import Runnable

from rag.answering.chain import build_answer_chain
from rag.answering.query import Query, validate_question
from rag.articles.article import Article, LoadFailure
from rag.articles.loaders import load_paths
from rag.briefing.build import DEFAULT_MAX_STORIES, Briefing, build_briefing
from rag.briefing.schedule import Schedules
from rag.config import Settings
from rag.errors import LibraryError
from rag.answering.followup import condense
from rag.store.index import IngestResult, NewsIndex, StoredArticle, open_index
from rag.answering.models import make_chat_model
from rag.retrieval.retriever import NewsRetriever
from rag.schema import Answer, Passage
from rag.text import int_to_date
from rag.libraries import check_library

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """An uploaded file's articles (and the parts skipped), read from a temporary copy that is gone now."""

    items: list[Article | LoadFailure]
    path: str  # the temporary copy: the origin that skip reasons and ingest warnings name, for the caller to rename

    @property
    def titles(self) -> dict[str, str]:
        """Each article's id and title."""
        return {i.article_id: i.title for i in self.items if isinstance(i, Article)}


def safe_name(filename: str) -> str:
    """A filename that is safe to write in a temporary folder (the suffix, which picks the loader, is kept)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name).lstrip(".")
    return name[-100:] or "upload.txt"


@dataclass
class Services:
    """Everything a front end needs, built once and passed down."""

    settings: Settings
    index: NewsIndex
    llm: Runnable | None  # None: built for the store alone (`newsbot remove`), nothing is asked
    # the bot sets it: a write with no library named then raises instead of landing in NEWSBOT_LIBRARY, which
    # every server reads (a DM or a cog's bug must not write into the shared library)
    library_required: bool = False
    _feed_child: object = field(default=None, repr=False)

    @cached_property
    def retriever(self) -> NewsRetriever:
        return NewsRetriever(index=self.index, k=self.settings.top_k)

    @cached_property
    def answer_chain(self) -> Runnable[Query, Answer]:
        return build_answer_chain(self.retriever, self.llm)

    def warm(self) -> None:
        """Start keeping search structures in memory and loading the embedding model (a long-running process: the
        bot); returns at once."""
        if hasattr(self.index.embeddings, "load"):  # the offline model loads on first use unless loaded here
            self.index.embeddings.load(wait=False)  # first: it imports onnxruntime before other threads start
        self.retriever.warm()

    # Every read covers the libraries named, or when none are, the configured one (NEWSBOT_LIBRARY); every
    # write goes to the library named, or the configured one (the CLI; the bot must name one: `library_required`).
    # Names are checked (LibraryError).

    def _read(self, libraries: Sequence[str]) -> tuple[str, ...]:
        return tuple(check_library(name) for name in (tuple(libraries) or (self.settings.library,)))

    def _write(self, library: str | None) -> str:
        if library is None and self.library_required:
            raise LibraryError("no library named for this write, so nothing was written: the bot writes only into "
                               "a server's own library (and never from a DM)")
        return check_library(self.settings.library if library is None else library)

    def ask(self, query: Query) -> Answer:
        """Validate the question, then run the chain over the query's libraries (blocking; the bot runs it in a
        thread)."""
        question = validate_question(query.question, self.settings.max_question_chars)
        return self.answer_chain.invoke(replace(query, question=question, libraries=self._read(query.libraries)))

    def check(self, text: str, libraries: Sequence[str] = ()):
        """Each claim of `text` (a chat message) supported, contradicted or not in the libraries' articles, with
        quotes: a CheckResult (rule-based, no model; blocking). QuestionError when the text is empty or too long."""
        from rag.answering.check import check_text, embedder
        from rag.schema import Passage

        bound = self.retriever.model_copy(update={"libraries": self._read(libraries)})

        def retrieve(claim: str) -> list[Passage]:
            return [Passage.from_document(i, d) for i, d in enumerate(bound.invoke(claim), start=1)]

        return check_text(text, retrieve, self.settings.max_question_chars,
                          embed=embedder(getattr(self.index, "embeddings", None)))

    # ---- the audit of writes (rag/store/audit.py) ------------------------------------------------------------------

    @cached_property
    def audit_log(self):
        from rag.store.audit import AuditLog

        return AuditLog(self.settings.database_url, self.settings.data_dir)

    def record_audit(self, action: str, guild_id: int | None, user_id: int, detail: str) -> None:
        """Keep one audit row (who changed what a server reads or gets), shared by every process."""
        self.audit_log.record(action, guild_id, user_id, detail)

    # ---- an answer's buttons (rag/store/answers.py): what Sources and Follow-up need, by the answer's id ------------

    @cached_property
    def answer_records(self):
        from rag.store.answers import AnswerRecords

        return AnswerRecords(self.settings.database_url, self.settings.data_dir, self.settings.answer_buttons_days)

    def remember_answer(self, question: str, answer: Answer, libraries: Sequence[str] = (),
                        guild_id: int | None = None) -> str:
        """Keep what the answer's buttons need (question, text, libraries, cited chunks); the answer's id."""
        chunk_ids = list(dict.fromkeys(c.chunk_id for c in answer.citations if c.chunk_id))
        return self.answer_records.save(guild_id, question, answer.answer, self._read(libraries), chunk_ids)

    def answer_record(self, answer_id: str):
        """An AnswerRecord, or None when the answer is unknown or older than NEWSBOT_ANSWER_BUTTONS_DAYS."""
        return self.answer_records.get(answer_id)

    def answer_passages(self, record) -> list[Passage]:
        """The full passages an answer cited that its libraries still hold, in citation order (blocking)."""
        chunks = self.index.get_chunks(list(record.chunk_ids))
        held: dict[str, bool] = {}
        out = []
        for chunk_id in record.chunk_ids:
            chunk = chunks.get(chunk_id)
            if chunk is None:
                continue
            if chunk.article_id not in held:
                held[chunk.article_id] = bool(self.index.holders(chunk.article_id, record.libraries))
            if held[chunk.article_id]:
                day = int_to_date(chunk.published)
                out.append(Passage(len(out) + 1, chunk.chunk_id, chunk.article_id, chunk.title, chunk.source,
                                   day.isoformat() if day else None, chunk.url, chunk.text))
        return out

    def briefing(self, since: date, until: date | None = None, source: str | None = None,
                 max_stories: int | None = DEFAULT_MAX_STORIES, libraries: Sequence[str] = ()) -> Briefing:
        """The stories of [since, until] grouped across outlets, with checked summaries (blocking)."""
        return build_briefing(self.index, self.llm, since, until or since, source, max_stories,
                              libraries=self._read(libraries))

    def load(self, paths: Sequence[str | Path], source: str | None = None) -> list[Article | LoadFailure]:
        """Read files, folders and http(s) article pages into articles, within the configured limits (blocking)."""
        urls = [str(p) for p in paths if str(p).lower().startswith(("http://", "https://"))]
        items = list(load_paths([p for p in paths if str(p) not in urls], source=source,
                                max_bytes=self.settings.max_file_bytes, max_chars=self.settings.max_article_chars,
                                pdf_max_pages=self.settings.pdf_max_pages))
        return items + [self.feeds.load_url(url, source) for url in urls]

    def read_upload(self, filename: str, data: bytes, source: str | None = None) -> Upload:
        """Read an uploaded file's bytes as `load` reads a file (blocking); ingest its items with `ingest`."""
        with tempfile.TemporaryDirectory(prefix="newsbot-upload-") as folder:
            path = Path(folder) / safe_name(filename)
            path.write_bytes(data)
            return Upload(self.load([path], source), str(path))

    def ingest(self, items: Iterable[Article | LoadFailure], library: str | None = None, *,
               on_progress: Callable[[int], None] | None = None) -> IngestResult:
        """Add articles to the library; unchanged ones are skipped, changed ones replaced (blocking)."""
        library = self._write(library)
        result = self.index.ingest(items, batch_chunks=self.settings.ingest_batch_chunks, on_progress=on_progress,
                                   library=library)
        self._match_follows(library, [*result.added, *result.updated])
        return result

    def remove(self, article_id: str, library: str | None = None) -> bool:
        """Take the article out of the library (its chunks go when no library holds it); False if not there."""
        return self.index.remove(article_id, self._write(library))

    def holders(self, article_id: str, libraries: Sequence[str]) -> list[str]:
        """Those of `libraries` that hold the article (e.g. why it can't be removed from the one written to)."""
        return self.index.holders(article_id, tuple(check_library(name) for name in libraries))

    def list_articles(self, query: str | None = None, limit: int | None = None,
                      libraries: Sequence[str] = ()) -> list[StoredArticle]:
        """The libraries' articles, newest first, optionally those whose title or source contains `query`."""
        return self.index.list_articles(query, limit, self._read(libraries))

    def stats(self, library: str | None = None) -> dict:
        """One library's article and chunk counts, the embedding model and the data folder."""
        return self.index.stats(self._write(library))

    def libraries(self) -> list[dict]:
        """`[{"library", "articles", "chunks"}]` for every library that holds an article."""
        return self.index.libraries()

    # ---- feeds and links (rag/feeds/) ------------------------------------------------------------------------

    @cached_property
    def feeds(self):
        """The feed operations, ingesting through `self.ingest` (so every write goes through the same path)."""
        from rag.feeds.service import FeedService

        return FeedService(self.settings, ingest=lambda items, library: self.ingest(items, library))

    def add_feed(self, url: str, library: str | None = None, every: str | None = None, source: str | None = None,
                 full_text: str = "auto"):
        """Check and register a feed (a home page is searched for one), due at once: (Feed, new?) (blocking)."""
        return self.feeds.add(url, self._write(library), every, source, full_text)

    def remove_feed(self, url: str, library: str | None = None) -> bool:
        """Forget a feed of the library (its articles stay); False if not there."""
        return self.feeds.remove(url, self._write(library))

    def list_feeds(self, library: str | None = None) -> list:
        """The library's feeds with their state (`Feed.shown()` is what `feeds list --json` prints)."""
        return self.feeds.list(self._write(library))

    def poll_feeds(self, library: str | None = None, all_feeds: bool = False, every_library: bool = False,
                   in_child: bool = False):
        """One pass over due feeds (of one library, or of every library: the bot); a PollResult (blocking).
        `in_child`: every library's, in a child process of its own (rag/feeds/child.py)."""
        if in_child:
            if self._feed_child is None:
                from rag.feeds.poll import PollResult

                if not all_feeds and not self.feeds.any_due():
                    return PollResult()  # no child (and no second model) for a bot that polls nothing yet
                from rag.feeds.child import ChildPoller

                self._feed_child = ChildPoller(self.settings, build_services)
            return self._feed_child.poll(all_feeds)
        return self.feeds.poll(None if every_library else self._write(library), all_feeds, every_library)

    def close_feeds(self, wait: bool = False) -> None:
        """Stop the polling child process, if one was started."""
        if self._feed_child is not None:
            self._feed_child.close(wait)
            self._feed_child = None

    def resume_feed(self, url: str, library: str | None = None) -> bool:
        """Make a paused feed of the library due again, its failures forgotten; False if not there."""
        return self.feeds.store.resume(self._write(library), url)

    def ingest_url(self, url: str, library: str | None = None, source: str | None = None) -> IngestResult:
        """Fetch one article page and ingest it, as for a file (blocking)."""
        return self.feeds.ingest_url(url, self._write(library), source)

    # ---- follows (rag/follows/) -------------------------------------------------------------------------------

    @cached_property
    def follows(self):
        """The follow operations; hits are recorded by `ingest` (feeds, links, files, uploads, the polling child)."""
        from rag.follows.service import FollowService

        return FollowService(self.settings, index=self.index)

    def _match_follows(self, library: str, article_ids: list[str]) -> None:
        """Record the follows' hits among newly stored articles; a failure here never fails the ingest."""
        if not article_ids:
            return
        try:
            self.follows.on_ingested(library, article_ids)
        except Exception:  # the articles are stored; their alerts are lost, and the log says why
            logger.exception("matching %d new articles of %s against its follows failed", len(article_ids), library)

    def add_follow(self, topic: str, owner_id: int = 0, channel_id: int | None = None, guild_id: int | None = None,
                   library: str | None = None):
        """Follow a topic in the library (alerts to `channel_id`, or by DM to the owner); FollowError when a limit
        is reached (the message names the setting)."""
        return self.follows.add(self._write(library), topic, owner_id, channel_id, guild_id)

    def remove_follow(self, follow_id: int, library: str | None = None, owner_id: int | None = None,
                      admin: bool = False) -> bool:
        """Forget a follow (the owner's own; an admin's: any channel follow too); False if not there or not theirs."""
        return self.follows.remove(self._write(library), follow_id, owner_id, admin)

    def list_follows(self, library: str | None = None, owner_id: int | None = None, channels: bool = False) -> list:
        """The library's follows (one member's, plus the channel follows when `channels`)."""
        return self.follows.list(self._write(library), owner_id, channels)

    def check_follows(self, since: date, until: date, library: str | None = None) -> list[dict]:
        """The dry run: `[{"id", "topic", "articles": [...]}]` over stored articles dated in [since, until]."""
        from rag.text import date_to_int

        return self.follows.check(self._write(library), date_to_int(since), date_to_int(until))

    def pending_alerts(self, limit: int = 20, shards: tuple[int, tuple[int, ...]] | None = None) -> list:
        """Claim up to `limit` alerts of every library (no other caller gets them); each a PendingAlert. With
        `shards` (count, ids): only those of servers on these bot shards, which this bot process serves."""
        return self.follows.pending(limit, shards)

    def alert_sent(self, alert, channel_id: int, message_id: int, outlets: Sequence[str]) -> None:
        """The alert was posted as (or edited into) `message_id` in `channel_id`."""
        self.follows.sent(alert, channel_id, message_id, outlets)

    def alert_state(self, alert, state: str | None = None):
        """With `state` ('folded', 'dropped'): record what became of a claimed alert. Without: the story's alert
        already sent to this follow in the last 48 h (a StoryAlert), or None."""
        if state is not None:
            return self.follows.store.mark(alert.follow.id, alert.article.article_id, state)
        return self.follows.story_alert(alert.follow.id, alert.story_id)

    def forget_members(self, owner_ids: Iterable[int], guild_id: int | None = None) -> int:
        """Drop the DM follows of members who no longer share a server with the bot (of one server's library, when
        `guild_id` is given); how many were dropped."""
        return self.follows.store.drop_follows_of(list(owner_ids), guild_id)

    def condense(self, history: list[tuple[str, str]], question: str) -> str:
        """A follow-up rewritten as a standalone question from earlier (question, answer) turns (blocking)."""
        question = validate_question(question, self.settings.max_question_chars)
        return condense(self.llm, history, question)[: self.settings.max_question_chars]

    # ---- the daily briefing's schedules (rag/briefing/schedule.py) -------------------------------------------

    @cached_property
    def schedules(self) -> Schedules:
        """Every server's daily-briefing schedule (in the registry database) and the clock that says what's due."""
        return Schedules(self.settings.data_dir, self.settings.database_url)

    @cached_property
    def story_posts(self):
        """Where each briefing story was posted in a forum channel, so a later article on it replies there."""
        from rag.briefing.posts import StoryPosts

        return StoryPosts(self.settings.data_dir, self.index, self.settings.database_url)


def build_services(settings: Settings | None = None, chat_model: bool = True) -> Services:
    """Open the store and choose the model, as configured (`chat_model=False`: the store alone, for upkeep)."""
    settings = settings or Settings()
    return Services(settings=settings, index=open_index(settings),
                    llm=make_chat_model(settings) if chat_model else None)
