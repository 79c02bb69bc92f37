"""The network under the Fetcher: which URLs and addresses may be fetched, and one deadline per fetch, enforced on
the socket itself.

Safety: http(s) only, no user info (credentials are never kept or shown); every address a host name resolves to is
checked before connecting, on the first request and on every redirect, and the connection goes to the checked
address (no second lookup to rebind); private, loopback, link-local, multicast, reserved and cloud-metadata
addresses are refused unless NEWSBOT_ALLOW_PRIVATE_URLS=true.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import httpcore
import httpx

from rag.errors import NewsbotError

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
# The deadline (time.monotonic()) of the `get` running in this thread: fetches run in worker threads, and a pooled
# connection serves whichever request uses it next, so the deadline belongs to the thread, not the connection.
fetch_deadline = threading.local()


class FetchError(NewsbotError):
    """A URL could not be fetched; the message is the reason. `retry_after`: seconds the server asked us to wait."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after



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


def time_left(timeout: float | None, timed_out: type[Exception]) -> float | None:
    """`timeout` cut to what is left of this thread's deadline; `timed_out` once the deadline has passed."""
    deadline = getattr(fetch_deadline, "at", None)
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
        return self._stream.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        # one TLS socket timeout bounds the whole handshake (CPython turns it into a deadline per call)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                      time_left(timeout, httpcore.ConnectTimeout)))

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
        found = answer.get(timeout=time_left(None, httpcore.ConnectTimeout))
    except queue.Empty:
        raise httpcore.ConnectTimeout(f"looking up {host} outlasted the deadline") from None
    if isinstance(found, Exception):
        raise FetchError(f"cannot resolve {host}: {getattr(found, 'strerror', None) or found}")
    return list(dict.fromkeys(info[4][0] for info in found))


class GuardedBackend(httpcore.SyncBackend):
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
                stream = super().connect_tcp(address, port, time_left(timeout, httpcore.ConnectTimeout),
                                             local_address, socket_options)
                return _DeadlineStream(stream)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")
