"""A hostile web site on 127.0.0.1 for tests/feeds/test_hostile_fetch.py and benchmarks/hostile.py: every byte it sends
is written here, on a raw socket, so it can do what no polite server would (bombs, floods, drips, tarpits).

`HostileSite.routes` maps a request path (percent-decoded) to a handler `(sock) -> None` that writes the whole
answer; the builders below make the usual ones. Handlers that stall wait on `site.closing`, so the site stops by
itself when the `with` block ends; its threads are daemons.
"""

from __future__ import annotations

import gzip
import socket
import socketserver
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from functools import cache
from urllib.parse import unquote, urlsplit

Handler = Callable[[socket.socket], None]


class HostileSite:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[bytes] = []  # each request's head, as received
        self.closing = threading.Event()
        site = self

        class Connection(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        data = self.request.recv(4096)
                        if not data:
                            return
                        head += data
                except OSError:
                    return
                path = unquote(urlsplit(head.split(b" ", 2)[1].decode("latin-1")).path)
                site.hits[path] += 1
                site.requests.append(head)
                try:
                    site.routes.get(path, not_found)(self.request)
                except OSError:  # the client hung up: what a deadline does
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Connection)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> HostileSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    # ---- handlers that stall until they are cut off (or the site closes) ----------------------------------------

    def continue_flood(self, every_s: float = 0.5) -> Handler:
        """`100 Continue` interim responses forever: the final response never comes."""
        def handle(sock: socket.socket) -> None:
            while not self.closing.wait(every_s):
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return handle

    def dripped_headers(self, every_s: float = 0.2) -> Handler:
        """A status line, then header lines one byte at a time, forever."""
        def handle(sock: socket.socket) -> None:
            sock.sendall(b"HTTP/1.1 200 OK\r\n")
            while not self.closing.wait(every_s):
                for byte in b"X-Drip: 1\r\n":
                    sock.sendall(bytes([byte]))
        return handle

    def slow_body(self, every_s: float = 0.2) -> Handler:
        """Headers promising a megabyte, then one byte at a time."""
        def handle(sock: socket.socket) -> None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000000\r\n\r\n")
            while not self.closing.wait(every_s):
                sock.sendall(b"<")
        return handle

    def turns_into_tarpit(self, first: Handler, after: Handler, good_for: int = 1) -> Handler:
        """`first` for the first `good_for` requests, `after` for every later one (a feed that goes bad)."""
        served = Counter()

        def handle(sock: socket.socket) -> None:
            served["n"] += 1
            (first if served["n"] <= good_for else after)(sock)
        return handle


# ---- handlers that answer at once ----------------------------------------------------------------------------

def answer(body: bytes, *, status: str = "200 OK", content_type: str = "application/rss+xml",
           headers: dict[str, str] | None = None) -> Handler:
    """One complete response with a Content-Length, then the connection is closed."""
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def handle(sock: socket.socket) -> None:
        sock.sendall(raw)
    return handle


def encoded(body: bytes, encoding: str, content_type: str = "application/rss+xml") -> Handler:
    """`body` (already encoded) sent with `Content-Encoding: encoding`."""
    return answer(body, content_type=content_type, headers={"Content-Encoding": encoding})


def not_found(sock: socket.socket) -> None:
    answer(b"not found", status="404 Not Found", content_type="text/plain")(sock)


# ---- bombs: small on the wire, huge once decoded (built once, in pieces, so building one costs no memory) ------

def _zeros(total: int, compressor) -> bytes:
    piece, out = bytes(1 << 20), []
    for _ in range(total >> 20):
        out.append(compressor.compress(piece))
    out.append(compressor.flush())
    return b"".join(out)


@cache
def gzip_bomb(decoded_mb: int = 1024) -> bytes:
    return _zeros(decoded_mb << 20, zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16))


@cache
def deflate_bomb(decoded_mb: int = 1024, raw: bool = False) -> bytes:
    """zlib-wrapped deflate (as RFC 9110 says), or raw deflate (as some servers send it)."""
    return _zeros(decoded_mb << 20, zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS))


@cache
def stacked_gzip_bomb(decoded_mb: int = 1024) -> bytes:
    """`Content-Encoding: gzip, gzip`: a gzip bomb, gzipped again (1 GB of zeros in about 2 KB)."""
    return gzip.compress(gzip_bomb(decoded_mb), 9)


@cache
def zstd_bomb(decoded_mb: int = 1024) -> bytes:
    import zstandard

    writer = zstandard.ZstdCompressor(level=19).compressobj()
    return _zeros(decoded_mb << 20, writer)
