"""The `intertask` command. Each subcommand lives in its own module and ends in one API call.

A user's mistake (`IntertaskError`) prints one line, `error: ...`, and exits with status 2; an error about
one API parameter names the command's flag for it (`cli_message`, the one map of parameters to flags).
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from intertask.errors import IntertaskError

INTERRUPTED = 130  # the shell's exit status for Ctrl-C (128 + SIGINT)

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


# API parameters the commands name otherwise: a differently named flag, or a positional argument's word
FLAGS = {"verify_k": "--verify", "library_dir": "--library", "out_dir": "--out", "runs": "--target-runs",
         "library": "library", "table": "table"}


def flag_for(parameter: str) -> str:
    """How the command line names an API `parameter`: `--` and its name with dashes (`budget_steps` →
    `--budget-steps`), unless `FLAGS` says otherwise; a CLI check that names its flag (`--out`) keeps it.
    The one map from parameters to flags."""
    if parameter.startswith("--"):
        return parameter
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def cli_message(err: IntertaskError) -> str:
    """The message of `err` as the command line says it: its leading `parameter` as that flag."""
    message = str(err)
    if err.parameter and message.startswith(err.parameter):
        return flag_for(err.parameter) + message[len(err.parameter):]
    return message


def one_line(message: str) -> str:
    """`message` as one printable line: a line break (a user's path may hold one) written as `\\n`, a
    lone surrogate (a file name's undecodable byte) as `\\udcNN`."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def rich_table(title, columns, left: int = 1, no_wrap: bool = False):
    """A rich `Table` with `columns`, the first `left` left-aligned and the rest right-aligned."""
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < left else "right", no_wrap=no_wrap)
    return table


def run(argv: list[str] | None = None) -> int:
    """Run the command line `argv` and return its exit status; user errors print one line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Commands show their own progress: hide transformers' weight-loading bars and notices.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    _register_commands()
    # Typer vendors Click: its usage errors derive from UsageError, which derives from ClickException.
    usage_error = typer.BadParameter.__mro__[1]
    click_exception = usage_error.__mro__[1]
    try:
        # standalone_mode=False: Click hands usage errors and Ctrl-C to us instead of printing its own box
        code = app(args=argv, prog_name="intertask", standalone_mode=False)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except IntertaskError as err:
        typer.echo(f"error: {one_line(cli_message(err))}", err=True)
        return 2
    except usage_error as err:
        if not err.format_message():  # a group called without a command: its help was printed
            return err.exit_code
        command = err.ctx.command_path if err.ctx else "intertask"
        typer.echo(f"error: {one_line(err.format_message().replace(chr(10), ' '))} (see `{command} --help`)", err=True)
        return 2
    except click_exception as err:
        typer.echo(f"error: {one_line(err.format_message().replace(chr(10), ' '))}", err=True)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    if code == INTERRUPTED:  # Typer turns Ctrl-C inside a command into exit code 130
        typer.echo("interrupted; finished work is kept (a study store keeps every finished run; a file being "
                   "written is left untouched), run the same command again to resume", err=True)
    return code if isinstance(code, int) else 0


def main() -> None:
    """Console entry point."""
    sys.exit(run())
