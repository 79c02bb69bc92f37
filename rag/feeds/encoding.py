"""A response body's Content-Encoding decoded under the size cap: one gzip or deflate layer at most, never more
than the cap at a time (a compression bomb stops at the cap)."""

from __future__ import annotations

import zlib

from rag.feeds.network import FetchError


class BodyDecoder:
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
