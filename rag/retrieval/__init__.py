"""Retrieval: a question -> numbered passages.

- `retriever.py`: the hybrid retriever (a LangChain `BaseRetriever`: dense + keyword, fused, outlet-aware).
- `question.py`: what the question asks for: outlets named (fuzzy), dates, meta words.
"""
