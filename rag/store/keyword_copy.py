"""An in-memory copy of the FTS5 keyword index, scored with FTS5's own bm25() formula.

FTS5 ranks an OR query by calling bm25() on every row that matches any of its words: at 90k chunks a question's
words match tens of thousands of rows and ranking them costs about 100 ms. Here each (word, chunk) pair's BM25
contribution is computed once, when the copy is built, so a query is a sum over its words' postings and a partial
sort (numpy). Tokens, stems, document frequencies and row lengths are read from FTS5 itself (fts5vocab and the
docsize table), so the scores are bm25()'s and the rankings FTS5's; FTS5 stays the source of truth and answers
whenever the copy is not built yet or the store changed since (see `KeywordSearch.search`).

Not a library: bm25s and rank-bm25 tokenise on their own and have no per-column weights, so their scores would
drift from FTS5's (the hybrid recipe's weights were fitted on FTS5's), and neither reads an index someone else
keeps up to date.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from dataclasses import dataclass

import numpy as np

from rag.store.fts import df_limit

K1, B = 1.2, 0.75  # FTS5's bm25() constants
COLUMNS = ("title", "source", "body")  # chunks_fts's columns, in order


def _varints(blob: bytes) -> list[int]:
    """SQLite's varints (big-endian, 7 bits a byte, high bit = more follows), as FTS5's docsize table holds them."""
    out, value = [], 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            out.append(value)
            value = 0
    return out


@dataclass(frozen=True)
class KeywordIndex:
    """Postings of the store's words with their precomputed bm25() contributions, plus each chunk's filters.

    Only words in at most `max_df` of the rows (or 10) are kept, as those are the only ones a selective query
    asks for; `df` still knows every word's document frequency."""

    weights: tuple[float, float, float]
    max_df: float
    n_rows: int
    rowids: np.ndarray  # int64 FTS5 rowids (= chunk rowids), ascending, by position
    chunk_ids: tuple[str, ...]  # by position ("" = no chunk row)
    live: np.ndarray  # bool: the position has a chunk row (the SQL joins leave out any that has none)
    sources: np.ndarray  # object array of each position's outlet ("" = none)
    published: np.ndarray  # int64 YYYYMMDD, 0 = undated
    df: dict[str, int]  # stem -> rows holding it (any column)
    spans: dict[str, tuple[int, int]]  # kept stem -> its slice of the postings
    post_pos: np.ndarray  # int32 positions
    post_score: np.ndarray  # float64 bm25() contribution of the stem in that row

    @classmethod
    def build(cls, conn: sqlite3.Connection, weights: tuple[float, float, float], max_df: float) -> KeywordIndex:
        """Read the FTS5 index through `conn` inside one read transaction (a consistent snapshot)."""
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.kw_rows USING fts5vocab(main, chunks_fts, row)")
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.kw_inst USING fts5vocab(main, chunks_fts, instance)")
        conn.execute("BEGIN")
        try:
            sizes = conn.execute("SELECT id, sz FROM chunks_fts_docsize ORDER BY id").fetchall()
            meta = dict((r[0], r[1:]) for r in conn.execute(
                "SELECT c.rowid, c.chunk_id, v.source, v.published FROM chunks c JOIN versions v USING (version_id)"))
            df = dict(conn.execute("SELECT term, doc FROM temp.kw_rows"))
            n_rows = len(sizes)
            limit = df_limit(max_df, n_rows)
            w_title, w_source, w_body = weights
            rowids = np.fromiter((r[0] for r in sizes), np.int64, n_rows)
            lengths = np.fromiter((sum(_varints(r[1])) for r in sizes), np.float64, n_rows)
            spans: dict[str, tuple[int, int]] = {}
            docs = array("q")  # flat typed buffers: millions of postings at 90k chunks, no object per entry
            freqs = array("d")
            terms: list[str] = []
            query = ("SELECT doc, SUM(CASE col WHEN 'title' THEN ? WHEN 'source' THEN ? ELSE ? END) "
                     "FROM temp.kw_inst WHERE term = ? GROUP BY doc ORDER BY doc")
            for term, n in df.items():
                if n > limit:
                    continue
                start = len(docs)
                for doc, freq in conn.execute(query, (w_title, w_source, w_body, term)):
                    docs.append(doc)
                    freqs.append(freq)
                spans[term] = (start, len(docs))
                terms.append(term)
        finally:
            conn.execute("COMMIT")
        pos = np.searchsorted(rowids, np.frombuffer(docs, np.int64)).astype(np.int32)
        freq = np.frombuffer(freqs, np.float64)
        avgdl = lengths.sum() / n_rows if n_rows else 1.0
        idf = np.empty(len(docs), np.float64)
        for term in terms:
            a, b = spans[term]
            n = df[term]
            value = math.log((n_rows - n + 0.5) / (n + 0.5))
            idf[a:b] = value if value > 0 else 1e-6  # as FTS5 clamps it
        score = idf * ((freq * (K1 + 1)) / (freq + K1 * (1 - B + B * lengths[pos] / avgdl)))  # FTS5's grouping
        rows = [meta.get(int(r), ("", "", 0)) for r in rowids]
        return cls(weights=tuple(weights), max_df=max_df, n_rows=n_rows, rowids=rowids,
                   chunk_ids=tuple(r[0] for r in rows), live=np.array([bool(r[0]) for r in rows], bool),
                   sources=np.array([r[1] or "" for r in rows], dtype=object),
                   published=np.fromiter((r[2] or 0 for r in rows), np.int64, n_rows),
                   df=df, spans=spans, post_pos=pos, post_score=score)

    def kept(self, stem: str) -> bool:
        """Whether a selective query would keep this stem (known, and not too common)."""
        return stem in self.spans

    def positions(self, rowids: np.ndarray) -> np.ndarray:
        """A mask of the positions of these chunk rowids (e.g. a library scope's)."""
        mask = np.zeros(self.n_rows, bool)
        pos = np.minimum(np.searchsorted(self.rowids, rowids), max(self.n_rows - 1, 0))
        if self.n_rows:  # a chunk committed after the copy was built has no position: left out
            mask[pos[self.rowids[pos] == rowids]] = True
        return mask

    def search(self, stems: list[str], k: int, since: int | None = None, until: int | None = None,
               source: str | list[str] | None = None, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The best k rows for an OR query of these stems (one bm25 phrase each), as (chunk_id, score), best first.

        Filters and tie order follow `KeywordSearch`'s SQL: since/until on the article's date, a source string
        case-insensitively, a source list exactly, `allowed` (a mask from `positions`: the libraries' chunks);
        equal scores in rowid order."""
        slices = [self.spans[s] for s in stems if s in self.spans]
        if not slices or k <= 0:
            return []
        pos = np.concatenate([self.post_pos[a:b] for a, b in slices])
        scores = np.bincount(pos, weights=np.concatenate([self.post_score[a:b] for a, b in slices]),
                             minlength=self.n_rows)
        hits = np.flatnonzero(np.bincount(pos, minlength=self.n_rows))
        hits = hits[self.live[hits]]
        if allowed is not None:
            hits = hits[allowed[hits]]
        if since or until or source:
            hits = hits[self._allowed(hits, since, until, source)]
        found = scores[hits]
        if len(hits) > k:  # the k best; of rows tied at the k-th score, the lowest rowids
            kth = -np.partition(-found, k - 1)[k - 1]
            above = np.flatnonzero(found > kth)
            best = np.sort(np.concatenate([above, np.flatnonzero(found == kth)[:k - len(above)]]))
            hits, found = hits[best], found[best]
        order = np.argsort(-found, kind="stable")
        return [(self.chunk_ids[p], float(s)) for p, s in zip(hits[order], found[order])]

    def _allowed(self, hits: np.ndarray, since, until, source) -> np.ndarray:
        ok = np.ones(len(hits), bool)
        dates = self.published[hits]
        if since:
            ok &= dates >= since
        if until:
            ok &= dates <= until
        if isinstance(source, list):
            ok &= np.isin(self.sources[hits], source)
        elif source:  # SQLite's lower() folds ASCII letters only
            want = _ascii_lower(source)
            ok &= np.array([_ascii_lower(s) == want for s in self.sources[hits]], bool)
        return ok


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)
