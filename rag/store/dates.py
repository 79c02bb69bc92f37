"""Dates as YYYYMMDD integers: the store's date format (Chroma's $gte/$lte filters need numbers)."""

from __future__ import annotations

from datetime import date


def date_to_int(day: date | None) -> int:
    """A date as YYYYMMDD; 0 = undated."""
    return day.year * 10000 + day.month * 100 + day.day if day else 0


def int_to_date(value: int | None) -> date | None:
    """The inverse of `date_to_int`."""
    if not value:
        return None
    return date(value // 10000, value // 100 % 100, value % 100)


def int_to_iso(value: int | None) -> str | None:
    """YYYY-MM-DD, or None for undated."""
    day = int_to_date(value)
    return day.isoformat() if day else None
