"""`intertask import`: a transfer matrix from a long table or from a TaskWeb clone, into one matrix file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _finish(matrix, source: str, out: Path, missing_out: Optional[Path]) -> None:
    """Write the matrix (and the list of missing cells), then say what it holds and what it lacks."""
    from intertask.matrix.table import describe_missing, missing_cells, write_matrix

    missing = missing_cells(matrix)
    if missing_out is not None and (missing_out.suffix.lower() != ".csv" or not missing_out.parent.is_dir()):
        from intertask.errors import IntertaskError

        raise IntertaskError(f"--missing {missing_out} must be a .csv file in an existing folder")
    write_matrix(matrix, out)
    if missing_out is not None:
        from intertask.paths import atomic_output

        with atomic_output(missing_out) as tmp:
            missing.to_csv(tmp, index=False)
    settings = sorted(matrix["setting"].unique())
    typer.echo(f"wrote {out}: {len(matrix)} transfers from {source}; {len(settings)} setting(s) "
               f"({', '.join(settings)}), {matrix['target'].nunique()} targets, {matrix['source'].nunique()} "
               f"sources, {matrix['seed'].nunique()} seeds")
    typer.echo(describe_missing(matrix, missing))
    if len(missing):
        where = f"listed in {missing_out}" if missing_out else "list them all with --missing FILE.csv"
        typer.echo(f"{len(missing)} missing cell(s) are left out, never filled in ({where})")


def register(app: typer.Typer) -> None:
    """Add the `import` command group (table, taskweb) to `app`."""
    group = typer.Typer(help="Bring your own transfer matrix: published ground truth to evaluate selectors on.",
                        no_args_is_help=True)
    app.add_typer(group, name="import")
    out_help = "Matrix file to write (.parquet, .csv or .jsonl); `evaluate`, `report` and `consistency` read it."
    missing_help = "Also write every missing setting × target × source × seed cell to FILE.csv."

    @group.command("table")
    def table_command(
        path: Path = typer.Argument(..., help="Long table (.csv, .parquet, .jsonl): target, source, seed, score "
                                              "[, baseline, setting, mean_relative_gain, positive_share]."),
        out: Path = typer.Option(..., "--out", help=out_help),
        missing: Optional[Path] = typer.Option(None, "--missing", help=missing_help),
    ) -> None:
        """Check a long table of transfers and write it as a transfer matrix."""
        from intertask.matrix.table import read_matrix

        _finish(read_matrix(path), str(path), out, missing)

    @group.command("taskweb")
    def taskweb_command(
        clone: Path = typer.Argument(..., help="Root of a local clone of github.com/danieljkim0118/TaskWeb."),
        out: Path = typer.Option(..., "--out", help=out_help),
        missing: Optional[Path] = typer.Option(None, "--missing", help=missing_help),
    ) -> None:
        """Import TaskWeb's pairwise transfers (22 tasks, 9 settings, 8 seeds) with its published PC and PM."""
        from intertask.matrix.taskweb import read_taskweb

        _finish(read_taskweb(clone), f"the TaskWeb clone {clone}", out, missing)
