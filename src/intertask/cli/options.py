"""Command-line options several commands share (`evaluate`, `report`, `library add-combination`), declared
once, and the parsing of their values."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from intertask.errors import IntertaskError
from intertask.paths import check_output_file

STORE = typer.Option(None, "--store", help="Study store directory (from `intertask study run`).")
STUDY = typer.Option(None, "--study", help="Which study of the store (default: the latest run).")
MATRIX = typer.Option(None, "--matrix", help="Instead of --store: a transfer matrix file (from `intertask import` "
                      "or `study export`); selectors to evaluate come from --predictions.")
PREDICTIONS = typer.Option([], "--predictions", help="With --matrix: NAME=FILE, a selector's scores (target, "
                           "source, score table or pickle); repeatable.")
SYMMETRIC = typer.Option([], "--symmetric", help="With --matrix: score this --predictions NAME by the mean of "
                         "both directions (TaskWeb's LLM-similarity).")
SETTING = typer.Option(None, "--setting", help="With --matrix: the setting to evaluate.")
K = typer.Option(3, "--k", min=1, help="k of Regret@k (the paper's script: 3).")
BUDGET_STEPS = typer.Option(None, "--budget-steps", help="Steps of recommend's short target runs (default: "
                            "recommend's).")
TARGET_RUNS = typer.Option(None, "--target-runs", min=1, help="Short target runs per historical target "
                           "(recommend's --seeds; default 3).")
RUNS_FILE = typer.Option(None, "--runs-file", help="Keep the short runs' scores in FILE.json; a rerun reuses "
                         "them (a killed run resumes).")


def items(text: Optional[str]) -> Optional[list[str]]:
    """A comma-separated option as a list (None when not given)."""
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def check_new_file(path: Optional[Path], flag: str, suffixes: tuple[str, ...]) -> None:
    """Refuse, before anything runs, a file option that does not end in one of `suffixes`, that
    `paths.check_output_file` refuses (below a file, not a regular file) or whose folder does not exist."""
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise IntertaskError(f"{flag} {path} must end in {' or '.join(suffixes)}")
    check_output_file(path, flag)
    if not path.parent.is_dir():
        raise IntertaskError(f"folder {str(path.parent)!r} does not exist; create it or choose another {flag}")


def read_named(specs, symmetric=()) -> dict:
    """`{name: read_predictions(path)}` (`intertask.matrix.predictions`) for `--predictions NAME=PATH`
    specs; the `--symmetric` names read both directions."""
    from intertask.matrix.predictions import read_predictions

    named = {}
    for spec in specs:
        name, sep, path = str(spec).partition("=")
        if not sep or not name.strip() or not path.strip():
            raise IntertaskError(f"--predictions {spec!r} must be NAME=FILE, e.g. roe=scores_roe.p")
        if name.strip() in named:
            raise IntertaskError(f"--predictions names {name.strip()!r} twice")
        named[name.strip()] = path.strip()
    unknown = [s for s in symmetric if s not in named]
    if unknown:
        raise IntertaskError(f"--symmetric {unknown[0]!r} is not a --predictions name; names: "
                             f"{', '.join(named) or 'none'}")
    return {name: read_predictions(path, symmetric=name in symmetric) for name, path in named.items()}
