"""The `intertask` command. Each subcommand lives in its own module and ends in one API call.

A user's mistake (`IntertaskError`) prints one line, `error: ...`, and exits with status 2.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from intertask.errors import IntertaskError

app = typer.Typer(
    name="intertask",
    help="Choose and measure intermediate tasks for prompt-tuning transfer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Choose and measure intermediate tasks for prompt-tuning transfer."""


def _register_commands() -> None:
    from intertask.cli import consistency, evaluate, imports, library, recommend, report, study, tasks, train

    for module in (tasks, train, study, imports, evaluate, consistency, library, recommend, report):
        module.register(app)


@app.command()
def version() -> None:
    """Print intertask's version."""
    from intertask import __version__

    typer.echo(__version__)


def run(argv: list[str] | None = None) -> int:
    """Run the command line `argv` and return its exit status; user errors print one line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Commands show their own progress: hide transformers' weight-loading bars and notices.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    _register_commands()
    try:
        app(args=argv, prog_name="intertask")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except IntertaskError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted; finished work is kept, run the same command again to resume", err=True)
        return 130
    return 0


def main() -> None:
    """Console entry point."""
    sys.exit(run())
