"""The small error hierarchy; only the CLI and the bot turn these into user-facing text."""


class NewsbotError(Exception):
    """Base class of every error newsbot raises on purpose."""


class ConfigError(NewsbotError):
    """A setting is missing or wrong; the message says how to fix it."""


class IngestError(NewsbotError):
    """One input could not be ingested; the message is the reason."""


class StoreError(NewsbotError):
    """The store cannot be used as asked (e.g. built with another embedding model)."""


class LibraryError(NewsbotError):
    """A library name is not valid, or an article is not in the library named."""


class ModelError(NewsbotError):
    """The chat model failed after its retries."""


class QuestionError(NewsbotError):
    """The question is empty, too long or otherwise unusable."""


class EvalError(NewsbotError):
    """An eval input (corpus or queries file) is not what the benchmark expects; the message says which part."""


def describe_error(exc: BaseException) -> str:
    """The error's class and HTTP status, never its text: a server's error message can echo the API key."""
    status = getattr(exc, "status_code", None)
    return type(exc).__name__ + (f", HTTP {status}" if status else "")
