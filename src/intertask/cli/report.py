"""`intertask report`: a self-contained HTML report of a study store (figures embedded and as PNGs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from intertask.cli import options as opt


def register(app: typer.Typer) -> None:
    """Add the `report` command to `app`."""

    @app.command("report")
    def report(
        store: Optional[Path] = opt.STORE,
        out: Path = typer.Option(..., "--out", help="Folder to write report.html and the figure PNGs into."),
        k: int = opt.K,
        study: Optional[str] = opt.STUDY,
        matrix: Optional[Path] = opt.MATRIX,
        predictions: list[str] = opt.PREDICTIONS,
        symmetric: list[str] = opt.SYMMETRIC,
        setting: Optional[str] = opt.SETTING,
    ) -> None:
        """Write an HTML report of a transfer study: gain heatmap, per-target scores, selector comparison."""
        from intertask.errors import IntertaskError
        from intertask.report import build_study_report

        if (store is None) == (matrix is None):
            raise IntertaskError("give exactly one of --store (a study) and --matrix (a transfer matrix file)")
        if matrix is not None:
            from intertask.report.matrix_report import build_matrix_report

            path = build_matrix_report(matrix, out, opt.read_named(predictions, symmetric), setting, k=k)
        elif predictions or symmetric or setting:
            raise IntertaskError("--predictions, --symmetric and --setting go with --matrix, not --store")
        else:
            path = build_study_report(store, out, k=k, study=study)
        typer.echo(f"wrote {path}")
