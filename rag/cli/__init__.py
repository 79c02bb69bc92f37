"""`newsbot …`: the command line. `app.py` holds the commands, `feeds.py` the `feeds` sub-app."""


def main() -> None:
    """The `newsbot` entry point (imported lazily, so `import rag.cli` stays cheap)."""
    from rag.cli.app import main as run

    run()
