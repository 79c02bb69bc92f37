"""FTS5's tokenizer and stems, and turning free text into safe FTS5 queries.

The schema (registry.py), the selective query (keyword.py) and the in-memory copy (keyword_copy.py) all use these,
and their agreement is what makes the copy's scores equal FTS5's.
"""

from __future__ import annotations

import sqlite3
import threading

FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"  # chunks_fts's tokenizer


def df_limit(max_df: float, n_rows: int) -> float:
    """The most rows a word may be in and still be searched by a selective query (small stores keep words)."""
    return max(max_df * n_rows, 10)


def fts_query(text: str) -> str | None:
    """A safe FTS5 OR-query from free text (quotes every term, so user text can't inject syntax)."""
    from rag.text import QUERY_WORD_RE

    terms = [t for t in QUERY_WORD_RE.findall(text.lower()) if len(t) > 1 or t.isdigit()]
    terms = [t.strip(".'’-") for t in terms]
    unique = list(dict.fromkeys(t for t in terms if t))
    return " OR ".join(f'"{t}"' for t in unique) or None


def selective_words(text: str) -> list[str]:
    """A selective keyword query's candidate words: distinct, lower-case, not stopwords, 2+ characters."""
    from rag.text import TOKEN_RE
    from rag.text import FUNCTION_WORDS

    return [w for w in dict.fromkeys(TOKEN_RE.findall(text.lower())) if w not in FUNCTION_WORDS and len(w) >= 2]


class FtsStemmer:
    """The stems FTS5's `porter unicode61` tokenizer makes of single words, memoised.

    PyStemmer's Porter differs from SQLite's on about 1 word in 500 of a news corpus (SQLite leaves words under
    3 letters alone and strips "-logy"/"-bly" further: "technology" is "technolog" there, "technologi" here), so
    looking a word up in fts5vocab by PyStemmer's stem misses it. A private in-memory FTS5 table tokenises them."""

    TOKENIZE = FTS_TOKENIZE

    def __init__(self, max_words: int = 200_000) -> None:
        self._memo: dict[str, str] = {}
        self._max = max_words
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{self.TOKENIZE}')")
        self._db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")

    def stems(self, words: list[str]) -> list[str]:
        """The stem of each word (single tokens, e.g. from TOKEN_RE); a word FTS5 drops entirely stems to ""."""
        memo = self._memo
        known = {w: memo[w] for w in dict.fromkeys(words) if w in memo}
        missing = [w for w in dict.fromkeys(words) if w not in known]
        if missing:
            with self._lock, self._db:
                self._db.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(missing, 1))
                found = {doc: term for term, doc in self._db.execute("SELECT term, doc FROM v")}
                self._db.execute("DELETE FROM t")
            known.update((w, found.get(i, "")) for i, w in enumerate(missing, 1))
            if len(memo) > self._max:  # start afresh (a new dict: other threads may be reading the old one)
                self._memo = memo = {}
            memo.update((w, known[w]) for w in missing)
        return [known[w] for w in words]


fts_stemmer = FtsStemmer()
