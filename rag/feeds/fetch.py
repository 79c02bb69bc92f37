"""The one HTTP client for URLs that a person typed or a feed named (the bot fetches what a server admin typed).

Safety: http(s) only; every address a host name resolves to is checked before connecting, on the first request
and on every redirect, and the connection goes to the checked address (no second lookup to rebind); private,
loopback, link-local, multicast, reserved and cloud-metadata addresses are refused unless
NEWSBOT_ALLOW_PRIVATE_URLS=true. Connect, read and total timeouts; a body cap counted on the decoded bytes (so a
gzip bomb stops at the cap too); at most `MAX_REDIRECTS` redirects.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from rag.errors import NewsbotError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
USER_AGENT = "newsbot/0.1 (feed reader; +https://github.com/newsbot)"
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.I)


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
    """The URL if it is http(s) with a host, else FetchError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {parts.scheme or 'a bare name'!r}")
    if not parts.hostname:
        raise FetchError("the URL has no host")
    return url.strip()


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host once, checks every address, and connects to a checked one."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if not self.allow_private and host.lower().rstrip(".") in METADATA_HOSTS:
            raise FetchError(f"refused {host}: a cloud metadata host")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchError(f"cannot resolve {host}: {exc.strerror}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not self.allow_private:
            for address in addresses:
                why = refused_address(ipaddress.ip_address(address.split("%")[0]))
                if why:
                    raise FetchError(f"refused {host}: it resolves to a {why} (set NEWSBOT_ALLOW_PRIVATE_URLS=true "
                                     "to allow private addresses)")
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - (now or time.time()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class Fetcher:
    """GETs with the safety rules above; one per thread pool is fine (httpx.Client is thread-safe)."""

    def __init__(self, *, allow_private: bool = False, connect_timeout_s: float = 5.0, read_timeout_s: float = 10.0,
                 total_timeout_s: float = 30.0, max_bytes: int = 5 * 1024 * 1024, max_connections: int = 16) -> None:
        self.total_timeout_s = total_timeout_s
        self.max_bytes = max_bytes
        transport = httpx.HTTPTransport(retries=0)
        # httpx builds its pool without a way to pass a network backend; swap in one with the address guard.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=transport._pool._ssl_context, max_connections=max_connections,
            max_keepalive_connections=max_connections, network_backend=_GuardedBackend(allow_private))
        self.client = httpx.Client(
            transport=transport, follow_redirects=False, headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s,
                                  pool=total_timeout_s))

    @classmethod
    def from_settings(cls, settings) -> Fetcher:
        return cls(allow_private=settings.allow_private_urls, connect_timeout_s=settings.fetch_connect_timeout_s,
                   read_timeout_s=settings.fetch_read_timeout_s, total_timeout_s=settings.fetch_total_timeout_s,
                   max_bytes=settings.fetch_max_bytes)

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            accept: str = "*/*") -> Response:
        """The body at `url` after at most MAX_REDIRECTS redirects, or a 304; FetchError for anything else."""
        deadline = time.monotonic() + self.total_timeout_s
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current, permanent = check_url(url), True
        for _ in range(MAX_REDIRECTS + 1):
            response = self._one(current, headers, deadline)
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

    def _one(self, url: str, headers: dict[str, str], deadline: float) -> Response:
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                found = Response(url=url, status=r.status_code, content_type=r.headers.get("content-type", ""),
                                 etag=r.headers.get("etag"), last_modified=r.headers.get("last-modified"),
                                 headers={k.lower(): v for k, v in r.headers.items()})
                match = _MAX_AGE.search(r.headers.get("cache-control", ""))
                found.max_age = float(match.group(1)) if match else None
                if r.status_code in (304,) or 300 <= r.status_code < 400:
                    return found
                if r.status_code >= 400:
                    raise FetchError(f"HTTP {r.status_code}" + (f" {r.reason_phrase}" if r.reason_phrase else ""),
                                     status=r.status_code, retry_after=retry_after_s(r.headers.get("retry-after")))
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(f"response is {int(declared):,} bytes, over the {self.max_bytes:,}-byte limit")
                body = bytearray()
                for piece in r.iter_bytes():
                    body += piece
                    if len(body) > self.max_bytes:
                        raise FetchError(f"response is over the {self.max_bytes:,}-byte limit")
                    if time.monotonic() > deadline:
                        raise FetchError(f"took longer than {self.total_timeout_s:g} s in total")
                found.content = bytes(body)
                return found
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out ({type(exc).__name__})") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
        except (httpx.HTTPError, httpcore.ProtocolError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
