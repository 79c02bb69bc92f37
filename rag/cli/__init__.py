"""`newsbot …`: the command line. `app.py` is the app and its entry point; each other module holds the commands
of one job (see app.py)."""


def main() -> None:
    """The `newsbot` entry point (imported lazily, so `import rag.cli` stays cheap)."""
    from rag.cli.app import main as run

    run()
