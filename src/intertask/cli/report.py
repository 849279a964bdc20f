"""`intertask report`: a self-contained HTML report of a study store (figures embedded and as PNGs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the `report` command to `app`."""

    @app.command("report")
    def report(
        store: Path = typer.Option(..., "--store", help="Study store directory (from `intertask study run`)."),
        out: Path = typer.Option(..., "--out", help="Folder to write report.html and the figure PNGs into."),
        k: int = typer.Option(3, "--k", min=1, help="k of Regret@k and top-k score."),
        study: Optional[str] = typer.Option(None, "--study", help="Which study of the store (default: the latest run)."),
    ) -> None:
        """Write an HTML report of a transfer study: gain heatmap, per-target scores, selector comparison."""
        from intertask.report import build_study_report

        path = build_study_report(store, out, k=k, study=study)
        typer.echo(f"wrote {path}")
