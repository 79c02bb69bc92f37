"""The one HTTP client for URLs that a person typed or a feed named (the bot fetches what a server admin typed).

Safety: http(s) only, no user info (credentials are never kept or shown); every address a host name resolves to is
checked before connecting, on the first request and on every redirect, and the connection goes to the checked
address (no second lookup to rebind); private, loopback, link-local, multicast, reserved and cloud-metadata
addresses are refused unless NEWSBOT_ALLOW_PRIVATE_URLS=true.

Bounds: the total timeout is one deadline for the whole `get` (lookup, connect, every read and write, all
redirects), enforced on the socket itself, so interim `100 Continue` responses, dripped header lines or a slow body
can't outlast it. The body cap counts raw bytes and decoded bytes, and at most one gzip or deflate encoding is
decoded, never more than the cap at a time (a gzip bomb stops at the cap); stacked or other encodings are refused.
At most `MAX_REDIRECTS` redirects.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import queue
import re
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from rag.errors import NewsbotError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_RETRY_AFTER_S = 24 * 3600  # a server may ask for a pause, never for "never" (400 digits parsed as inf once)
# The only encodings asked for and decoded. httpx would also ask for zstd (installed here) and decode each read
# whole before any cap is checked: 8 KB of zstd reached 553 MB, 1,827 bytes of `gzip, gzip` 2.1 GB.
ACCEPT_ENCODING = "gzip, deflate"
USER_AGENT = "newsbot/0.1 (feed reader; +https://github.com/newsbot)"
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.I)
# The deadline (time.monotonic()) of the `get` running in this thread: fetches run in worker threads, and a pooled
# connection serves whichever request uses it next, so the deadline belongs to the thread, not the connection.
_deadline = threading.local()


class FetchError(NewsbotError):
    """A URL could not be fetched; the message is the reason. `retry_after`: seconds the server asked us to wait."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


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


def refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address must not be fetched (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"{kind.replace('_', '-')} address {ip}"
    if not ip.is_global:
        return f"non-public address {ip}"
    return None


def check_url(url: str) -> str:
    """The URL if it is a valid http(s) URL with a host and no user info, else FetchError saying what is wrong."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a port that is not a number from 0 to 65535)
    except ValueError as exc:
        raise FetchError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {parts.scheme or 'a bare name'!r}")
    if not parts.hostname:
        raise FetchError("the URL has no host")
    if "@" in parts.netloc:
        raise FetchError("a URL with a user name or password is refused (newsbot never keeps credentials): give it "
                         "without them")
    try:  # what httpx would reject later as a traceback (e.g. 0177.0.0.1, a control character)
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"not a valid URL: {exc}") from None
    return url


def _time_left(timeout: float | None, timed_out: type[Exception]) -> float | None:
    """`timeout` cut to what is left of this thread's deadline; `timed_out` once the deadline has passed."""
    deadline = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise timed_out("the fetch's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline of the request using it: a
    server dripping bytes or sending `100 Continue` forever is cut off there, and the connection closed."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        # one TLS socket timeout bounds the whole handshake (CPython turns it into a deadline per call)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                      _time_left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


def _resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, looked up in a daemon thread: getaddrinfo has no timeout, the deadline does."""
    answer: queue.SimpleQueue = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answer.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:  # UnicodeError: a label too long for IDNA
            answer.put(exc)

    threading.Thread(target=lookup, name=f"newsbot-resolve {host}", daemon=True).start()
    try:
        found = answer.get(timeout=_time_left(None, httpcore.ConnectTimeout))
    except queue.Empty:
        raise httpcore.ConnectTimeout(f"looking up {host} outlasted the deadline") from None
    if isinstance(found, Exception):
        raise FetchError(f"cannot resolve {host}: {getattr(found, 'strerror', None) or found}")
    return list(dict.fromkeys(info[4][0] for info in found))


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host once, checks every address, and connects to a checked one, by the deadline."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if not self.allow_private and host.lower().rstrip(".") in METADATA_HOSTS:
            raise FetchError(f"refused {host}: a cloud metadata host")
        addresses = _resolve(host, port)
        if not self.allow_private:
            for address in addresses:
                why = refused_address(ipaddress.ip_address(address.split("%")[0]))
                if why:
                    raise FetchError(f"refused {host}: it resolves to a {why} (set NEWSBOT_ALLOW_PRIVATE_URLS=true "
                                     "to allow private addresses)")
        last: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, _time_left(timeout, httpcore.ConnectTimeout),
                                             local_address, socket_options)
                return _DeadlineStream(stream)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


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


class _Decoder:
    """Decodes at most one gzip or deflate layer, never holding more than `limit` decoded bytes (zlib's
    `max_length`, checked as it goes), so a compression bomb stops at the cap; other encodings are refused."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c for c in (c.strip().lower() for c in content_encoding.split(",")) if c not in ("", "identity")]
        if len(codings) > 1:
            raise FetchError(f"refused: the response is encoded {len(codings)} times ({', '.join(codings)}); newsbot "
                             "decodes one gzip or deflate layer")
        self.coding = codings[0] if codings else None
        if self.coding not in (None, "gzip", "x-gzip", "deflate"):
            raise FetchError(f"refused: the response is {self.coding!r}-encoded; newsbot decodes only gzip and "
                             "deflate (and asks for nothing else)")
        self.limit, self.size = limit, 0
        self._pending = b""  # deflate: the first bytes, until its header says zlib-wrapped or raw
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16) if self.coding in ("gzip", "x-gzip") else None

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of `data`; FetchError once the total would pass the limit or the data is corrupt."""
        if self.coding is None:
            out = data
        else:
            out = self._inflate(data)
        self.size += len(out)
        if self.size > self.limit:
            raise FetchError(f"response is over the {self.limit:,}-byte limit" + (
                f" once {self.coding}-decoded" if self.coding else "") + " (NEWSBOT_FETCH_MAX_BYTES)")
        return out

    def _inflate(self, data: bytes) -> bytes:
        if self._z is None:  # deflate as servers send it: zlib-wrapped (RFC 9110) or raw
            self._pending += data
            if len(self._pending) < 2:
                return b""
            cmf, flg = self._pending[0], self._pending[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._pending = self._pending, b""
        out = bytearray()
        try:
            while data and not self._z.eof and self.size + len(out) <= self.limit:
                out += self._z.decompress(data, self.limit - self.size - len(out) + 1)  # one byte over: refused
                data = self._z.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(f"the {self.coding}-encoded body is corrupt ({exc})") from None
        return bytes(out)


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
            max_keepalive_connections=max_connections, network_backend=_GuardedBackend(allow_private))
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
        previous = getattr(_deadline, "at", None)
        _deadline.at = own if deadline is None else min(own, deadline)
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            return self._follow(check_url(url), headers)
        finally:
            _deadline.at = previous

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
                                    write=self.read_timeout_s, pool=_time_left(None, httpx.PoolTimeout))
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
        decoder = _Decoder(r.headers.get("content-encoding", ""), self.max_bytes)
        body, raw = bytearray(), 0
        for piece in r.iter_raw():
            raw += len(piece)
            if raw > self.max_bytes:  # also bounds what a decoder could be fed that yields nothing
                raise FetchError(f"response is over the {self.max_bytes:,}-byte limit (NEWSBOT_FETCH_MAX_BYTES)")
            body += decoder.feed(piece)
            _time_left(None, httpx.ReadTimeout)
        return bytes(body)

    def _timed_out(self, exc: httpx.TimeoutException) -> FetchError:
        """The reason a timeout ended the fetch, naming the setting that bounds it."""
        deadline = getattr(_deadline, "at", None)
        if deadline is not None and time.monotonic() >= deadline - 0.05:
            return FetchError(f"took longer than {self.total_timeout_s:g} s in total (NEWSBOT_FETCH_TOTAL_TIMEOUT_S)")
        if isinstance(exc, httpx.ConnectTimeout):
            return FetchError(f"timed out connecting after {self.connect_timeout_s:g} s "
                              "(NEWSBOT_FETCH_CONNECT_TIMEOUT_S)")
        if isinstance(exc, httpx.ReadTimeout):
            return FetchError(f"timed out: no data for {self.read_timeout_s:g} s (NEWSBOT_FETCH_READ_TIMEOUT_S)")
        return FetchError(f"timed out ({type(exc).__name__})")
