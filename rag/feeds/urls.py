"""Canonical article URLs (the same article reached through two feeds, or with tracking tags, is one URL), and the
one way a URL is shown or logged (`shown_url`): no credentials, nothing that can end a `<…>` or start markup."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Parameters that say how a reader arrived, never which article: dropped. `utm_*` is matched by prefix.
TRACKING = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_hsenc", "_hsmi",
            "ref_src", "ref_url", "cmpid", "ito", "ncid", "sr_share", "smid", "cid"}
DEFAULT_PORTS = {"http": 80, "https": 443}
MASK = "***"
# What RFC 3986 allows unencoded in a path (pchar and "/") and in a query or fragment ("?" too); `%` is kept only as
# the start of a valid escape. Everything else (spaces, < > " ` [ ] { } | \ ^, controls, non-ASCII) is encoded, so a
# URL shown as `<url>` in Discord can't close its brackets or become a masked link.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_USERINFO = re.compile(r"(?<=//)[^/?#]*@")  # for text urlsplit can't parse


def _quote(text: str, safe: str) -> str:
    """`text` with what is not URL-safe percent-encoded; valid %XX escapes are left as they are."""
    return quote(_LONE_PERCENT.sub("%25", text), safe=safe)


def _host(parts: SplitResult) -> str:
    """The host, lower case: an IPv6 address keeps its brackets, an IDN becomes punycode, anything odd is encoded."""
    host = parts.hostname or ""
    if ":" in host:
        return f"[{_quote(host, ':%')}]"
    if not host.isascii():
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:  # not a valid IDN: shown inert rather than refused here (fetching refuses it)
            pass
    return _quote(host, "%")


def _split(url: str) -> tuple[SplitResult, int | None] | None:
    """The URL's parts and port, or None when it is not a URL at all (a bad port or IPv6 host)."""
    try:
        parts = urlsplit(url.strip())
        return parts, parts.port
    except ValueError:
        return None


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no user info, no default port, no fragment, no tracking parameters (the rest kept
    in order), percent-encoded where a URL may not hold the character."""
    split = _split(url)
    if split is None:  # never fetchable; kept (inert) so the entry that named it is still stored
        return _quote(_USERINFO.sub("", url.strip(), 1), _QUERY_SAFE)
    parts, port = split
    scheme = parts.scheme.lower()
    host = _host(parts)
    if port and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("utm_") and k.lower() not in TRACKING]
    return urlunsplit((scheme, host, _quote(parts.path or "/", _PATH_SAFE), urlencode(query, doseq=True), ""))


def shown_url(url: str) -> str:
    """`url` as it may be shown, logged or audited: user info replaced by ***, and percent-encoded like
    `canonical_url` (so it can't break out of `<…>`), otherwise as given."""
    split = _split(url)
    if split is None:
        return _quote(_USERINFO.sub(f"{MASK}@", url.strip(), 1), "/:@%*")
    parts, port = split
    netloc = _host(parts) + (f":{port}" if port is not None else "")
    if "@" in parts.netloc:
        netloc = f"{MASK}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, _quote(parts.path, _PATH_SAFE),
                       _quote(parts.query, _QUERY_SAFE), _quote(parts.fragment, _QUERY_SAFE)))
