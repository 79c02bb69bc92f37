"""The store: Chroma vectors, the SQLite registry and keyword index, and the write path that keeps them agreeing."""
