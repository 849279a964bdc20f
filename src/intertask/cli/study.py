"""Placeholder: filled in by the issue that owns this subcommand."""


def register(app) -> None:
    return None
