"""A rich progress bar for long API calls: `progress_bar(enabled)` yields a `progress(event, done, total)`
callback (the one `train_packed` takes), one bar per event, drawn on stderr and removed when done."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def progress_bar(enabled: bool):
    """A rich progress bar on stderr; yields the `progress(event, done, total)` callback (or None)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)  # drawn only on a terminal: a redirected stderr gets no bar and no blank lines
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def callback(event: str, done: int, total: int) -> None:
            label = {"train": "training prompts (steps)", "test": "testing runs"}.get(event, event)
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield callback
