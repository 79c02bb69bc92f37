"""The one HTTP client for URLs that a person typed or a feed named (the bot fetches what a server admin typed).

Bounds: the total timeout is one deadline for the whole `get` (lookup, connect, every read and write, all
redirects), enforced on the socket itself (rag/feeds/network.py), so interim `100 Continue` responses, dripped
header lines or a slow body can't outlast it. The body cap counts raw bytes and decoded bytes, and at most one gzip
or deflate encoding is decoded (rag/feeds/encoding.py); stacked or other encodings are refused. At most
`MAX_REDIRECTS` redirects. What may be fetched, and from which addresses: rag/feeds/network.py.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

import httpcore
import httpx

from rag.feeds.encoding import BodyDecoder
from rag.feeds.network import FetchError, GuardedBackend, check_url, fetch_deadline, time_left

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_RETRY_AFTER_S = 24 * 3600  # a server may ask for a pause, never for "never" (400 digits parsed as inf once)
# The only encodings asked for and decoded. httpx would also ask for zstd (installed here) and decode each read
# whole before any cap is checked: 8 KB of zstd reached 553 MB, 1,827 bytes of `gzip, gzip` 2.1 GB.
ACCEPT_ENCODING = "gzip, deflate"
USER_AGENT = "newsbot/0.1 (feed reader; +https://github.com/newsbot)"
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.I)


@dataclass
class Response:
    """A fetched body (or a 304), with what the poller keeps for the next conditional request."""

    url: str  # after redirects
    status: int
    content: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None  # Cache-Control max-age, seconds
    moved_to: str | None = None  # set when every redirect on the way was permanent (301/308)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304



def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now (a number of seconds or an HTTP date), at most MAX_RETRY_AFTER_S; None when
    absent or unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value) if len(value) <= 12 else MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S)
    try:
        seconds = parsedate_to_datetime(value).timestamp() - (now or time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None


class Fetcher:
    """GETs with the safety rules above; one per thread pool is fine (httpx.Client is thread-safe)."""

    def __init__(self, *, allow_private: bool = False, connect_timeout_s: float = 5.0, read_timeout_s: float = 10.0,
                 total_timeout_s: float = 30.0, max_bytes: int = 5 * 1024 * 1024, max_connections: int = 16) -> None:
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_bytes = max_bytes
        transport = httpx.HTTPTransport(retries=0)
        # httpx builds its pool without a way to pass a network backend; swap in one with the address guard.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=transport._pool._ssl_context, max_connections=max_connections,
            max_keepalive_connections=max_connections, network_backend=GuardedBackend(allow_private))
        self.client = httpx.Client(
            transport=transport, follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING})

    @classmethod
    def from_settings(cls, settings) -> Fetcher:
        return cls(allow_private=settings.allow_private_urls, connect_timeout_s=settings.fetch_connect_timeout_s,
                   read_timeout_s=settings.fetch_read_timeout_s, total_timeout_s=settings.fetch_total_timeout_s,
                   max_bytes=settings.fetch_max_bytes)

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None, accept: str = "*/*",
            deadline: float | None = None) -> Response:
        """The body at `url` after at most MAX_REDIRECTS redirects, or a 304; FetchError for anything else. All of
        it ends within NEWSBOT_FETCH_TOTAL_TIMEOUT_S, or by `deadline` (time.monotonic()) if that comes first."""
        own = time.monotonic() + self.total_timeout_s
        previous = getattr(fetch_deadline, "at", None)
        fetch_deadline.at = own if deadline is None else min(own, deadline)
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            return self._follow(check_url(url), headers)
        finally:
            fetch_deadline.at = previous

    def _follow(self, url: str, headers: dict[str, str]) -> Response:
        current, permanent = url, True
        for _ in range(MAX_REDIRECTS + 1):
            response = self._one(current, headers)
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {response.status} redirect without a Location", status=response.status)
                permanent = permanent and response.status in (301, 308)
                current = check_url(urljoin(current, location))
                continue
            if permanent and current != url:
                response.moved_to = current
            return response
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _one(self, url: str, headers: dict[str, str]) -> Response:
        # the pool wait has no stream to bound it, so it gets what is left of the deadline directly
        try:
            timeout = httpx.Timeout(connect=self.connect_timeout_s, read=self.read_timeout_s,
                                    write=self.read_timeout_s, pool=time_left(None, httpx.PoolTimeout))
            with self.client.stream("GET", url, headers=headers, timeout=timeout) as r:
                found = self._head(url, r)
                if 300 <= r.status_code < 400:
                    return found
                found.content = self._body(r)
                return found
        except httpx.TimeoutException as exc:
            raise self._timed_out(exc) from None
        except httpx.TooManyRedirects:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
        except (httpx.HTTPError, httpcore.ProtocolError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None

    def _head(self, url: str, r: httpx.Response) -> Response:
        """The response's status and headers; FetchError for an HTTP error or a body declared over the cap."""
        found = Response(url=url, status=r.status_code, content_type=r.headers.get("content-type", ""),
                         etag=r.headers.get("etag"), last_modified=r.headers.get("last-modified"),
                         headers={k.lower(): v for k, v in r.headers.items()})
        match = _MAX_AGE.search(r.headers.get("cache-control", ""))
        found.max_age = float(match.group(1)) if match else None
        if r.status_code >= 400:
            raise FetchError(f"HTTP {r.status_code}" + (f" {r.reason_phrase}" if r.reason_phrase else ""),
                             status=r.status_code, retry_after=retry_after_s(r.headers.get("retry-after")))
        declared = r.headers.get("content-length", "")
        size = (int(declared) if len(declared) <= 15 else math.inf) if declared.isdigit() else 0
        if size > self.max_bytes:
            raise FetchError(f"response is {size:,} bytes, over the {self.max_bytes:,}-byte limit "
                             "(NEWSBOT_FETCH_MAX_BYTES)")
        return found

    def _body(self, r: httpx.Response) -> bytes:
        """The body, raw bytes read and decoded here under the cap (raw and decoded) and the deadline."""
        decoder = BodyDecoder(r.headers.get("content-encoding", ""), self.max_bytes)
        body, raw = bytearray(), 0
        for piece in r.iter_raw():
            raw += len(piece)
            if raw > self.max_bytes:  # also bounds what a decoder could be fed that yields nothing
                raise FetchError(f"response is over the {self.max_bytes:,}-byte limit (NEWSBOT_FETCH_MAX_BYTES)")
            body += decoder.feed(piece)
            time_left(None, httpx.ReadTimeout)
        return bytes(body)

    def _timed_out(self, exc: httpx.TimeoutException) -> FetchError:
        """The reason a timeout ended the fetch, naming the setting that bounds it."""
        deadline = getattr(fetch_deadline, "at", None)
        if deadline is not None and time.monotonic() >= deadline - 0.05:
            return FetchError(f"took longer than {self.total_timeout_s:g} s in total (NEWSBOT_FETCH_TOTAL_TIMEOUT_S)")
        if isinstance(exc, httpx.ConnectTimeout):
            return FetchError(f"timed out connecting after {self.connect_timeout_s:g} s "
                              "(NEWSBOT_FETCH_CONNECT_TIMEOUT_S)")
        if isinstance(exc, httpx.ReadTimeout):
            return FetchError(f"timed out: no data for {self.read_timeout_s:g} s (NEWSBOT_FETCH_READ_TIMEOUT_S)")
        return FetchError(f"timed out ({type(exc).__name__})")
