"""newsbot's retrieval pipeline: articles → chunks → Chroma → cited answers. Knows nothing of Discord."""
