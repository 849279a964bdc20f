"""`intertask report`: a self-contained HTML report of a study store (figures embedded and as PNGs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the `report` command to `app`."""

    @app.command("report")
    def report(
        store: Optional[Path] = typer.Option(None, "--store", help="Study store directory (from `intertask study run`)."),
        out: Path = typer.Option(..., "--out", help="Folder to write report.html and the figure PNGs into."),
        k: int = typer.Option(3, "--k", min=1, help="k of Regret@k and top-k score."),
        study: Optional[str] = typer.Option(None, "--study", help="Which study of the store (default: the latest run)."),
        matrix: Optional[Path] = typer.Option(None, "--matrix", help="Instead of --store: a transfer matrix file "
                                              "(from `intertask import`): coverage, consistency, selectors."),
        predictions: list[str] = typer.Option([], "--predictions", help="With --matrix: NAME=FILE, a selector's "
                                              "scores to evaluate; repeatable."),
        symmetric: list[str] = typer.Option([], "--symmetric", help="With --matrix: read this --predictions NAME "
                                            "in both directions."),
        setting: Optional[str] = typer.Option(None, "--setting", help="With --matrix: the setting to evaluate."),
    ) -> None:
        """Write an HTML report of a transfer study: gain heatmap, per-target scores, selector comparison."""
        from intertask.errors import IntertaskError
        from intertask.report import build_study_report

        if (store is None) == (matrix is None):
            raise IntertaskError("give exactly one of --store (a study) and --matrix (a transfer matrix file)")
        if matrix is not None:
            from intertask.cli.evaluate import read_named
            from intertask.report.matrix_report import build_matrix_report

            path = build_matrix_report(matrix, out, read_named(predictions, symmetric), setting, k=k)
        elif predictions or symmetric or setting:
            raise IntertaskError("--predictions, --symmetric and --setting go with --matrix, not --store")
        else:
            path = build_study_report(store, out, k=k, study=study)
        typer.echo(f"wrote {path}")
