"""Live news: feeds (RSS, RDF, Atom, JSON Feed) and article links, fetched safely and polled on a schedule.

- `fetch.py`: the one HTTP client for URLs someone typed; `network.py`: its address guard and one deadline per
  fetch on the socket; `encoding.py`: one gzip/deflate layer decoded under the size cap.
- `parse.py`: feed bytes -> entries (feedparser), autodiscovery, OPML; entity declarations refused.
- `urls.py`: canonical article URLs (tracking parameters and fragments dropped).
- `registry.py`: the feeds of each library and the entries already seen (SQLite, beside the store's tables).
- `poll.py`: one pass over due feeds: conditional GET, dedupe, full text, ingest, backoff.
- `service.py`: the operations (add with autodiscovery, remove, list, OPML, poll, ingest a URL) for one store.
- `child.py`: polling in a child process of its own (NEWSBOT_FEED_POLL_PROCESS).

Nothing here imports httpx, feedparser or trafilatura at module level, so `newsbot feeds list` stays light.
docs/feeds.md has the design and its reasons.
"""
