"""The store, one room per job; `rag.store.index.NewsIndex` is the facade the rest of newsbot calls.

- `db.py`: the registry's connections, the write lock (a file lock, or a PostgreSQL advisory lock), the store's
  generation, values memoised on the store's version.
- `registry.py`: articles, their stored versions, chunks and library membership (SQLite or PostgreSQL);
  `schema.py`: its tables on both, their version and migrations; `sql.py`: one connection type for both.
- `mirror.py`: in server mode, the local FTS5 copy of the keyword rows kept in step from PostgreSQL; `copy.py`:
  a whole store copied into an empty one (registry rows and vectors, no embedding).
- `catalog.py`: the registry opened on its own, checked against the embedding model (listing commands open only
  this).
- `vectors.py`: the Chroma collection; dense search over the whole store or over a set of libraries.
- `fts.py`, `keyword.py`, `keyword_copy.py`: FTS5 keyword search and its in-memory copy.
- `ingest.py`: the write path (ingest, remove, the orphan sweep); `faults.py`: its named crash points.
- `index.py`: `NewsIndex`, the facade.
- `private.py`: the data folder 0700 and its files 0600; `backup.py`: `newsbot backup` and `restore`, with
  `manifest.py`: the manifest's checksums and every check a restore makes.

Nothing here imports Chroma or onnxruntime at module level except `vectors.py`, so the registry can be read
without them; `db.py`, `registry.py` and `catalog.py` import no numpy or LangChain either (tests/test_cli.py checks
what `newsbot stats` imports).
"""
