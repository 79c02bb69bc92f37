"""Bytes to text the way a person would expect: BOMs, UTF-8, UTF-16, then Windows-1252/Latin-1; non-text refused."""

from __future__ import annotations

import re

from rag.errors import IngestError

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def decode_bytes(data: bytes) -> str:
    """Decode text the way a person would expect: BOMs, UTF-8, UTF-16, then Windows-1252/Latin-1."""
    return decode_text(data)[0]


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The decoded text plus a warning when bytes had to be replaced; raise IngestError for non-text."""
    if not data.strip():
        raise IngestError("file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        return _utf8(data[3:])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), None
    sample = data[:4096]
    if sample.count(b"\x00") > len(sample) // 4:
        # UTF-16 without a BOM has a zero in every other byte of ASCII text: odd bytes for LE, even for BE.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        for enc in ("utf-16-le", "utf-16-be") if odd >= even else ("utf-16-be", "utf-16-le"):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                continue
            if _looks_like_text(text):
                return text, None
        raise IngestError("binary file (not text)")
    if b"\x00" in sample:
        raise IngestError("binary file (not text)")
    text, note = _utf8(data)
    if not _looks_like_text(text):
        raise IngestError("binary file (not text): not UTF-8, UTF-16 or Latin-1")
    return text, note


def _utf8(data: bytes) -> tuple[str, str | None]:
    """UTF-8; else Windows-1252/Latin-1, unless the file is mostly UTF-8 with a few broken bytes."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    replaced = data.decode("utf-8", errors="replace")
    broken = replaced.count("\ufffd")
    if len(_UTF8_MULTIBYTE.findall(data)) >= broken:
        # Real UTF-8 (it has valid multi-byte characters) with a few damaged bytes: keep the good text.
        return replaced, f"invalid UTF-8: {broken} undecodable byte(s) replaced with \ufffd"
    for enc in ("cp1252", "latin-1"):  # cp1252 first: it is what "Latin-1" files from Windows really are
        try:
            return data.decode(enc), None
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _looks_like_text(text: str) -> bool:
    sample = text[:4096]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f") or 0x7F <= ord(ch) < 0xA0)
    return bad <= max(1, len(sample) // 100)
