"""`intertask import`: a transfer matrix from a long table or from a TaskWeb clone, into one matrix file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _finish(matrix, source: str, out: Path, missing_out: Optional[Path]) -> None:
    """Write the matrix (and the list of missing cells), then say what it holds and what it lacks.
    Both output paths are checked before either is written."""
    from intertask.errors import IntertaskError
    from intertask.matrix.table import file_format
    from intertask.paths import atomic_output, check_output_file

    file_format(out, "out")
    check_output_file(out, "out")
    if missing_out is not None:
        if missing_out.suffix.lower() != ".csv" or not missing_out.parent.is_dir():
            raise IntertaskError(f"--missing {str(missing_out)!r} must be a .csv file in an existing folder")
        check_output_file(missing_out, "missing")
    holes = matrix.holes()
    matrix.write(out, "out")
    if missing_out is not None:
        with atomic_output(missing_out, "missing") as tmp:
            holes.to_csv(tmp, index=False)
    frame = matrix.frame
    typer.echo(f"wrote {out}: {len(matrix)} transfers from {source}; {len(matrix.settings)} setting(s) "
               f"({', '.join(matrix.settings)}), {len(matrix.targets)} targets, {len(matrix.sources)} "
               f"sources, {frame['seed'].nunique()} seeds")
    typer.echo(matrix.describe_holes(holes))
    if len(holes):
        where = f"listed in {missing_out}" if missing_out else "list them all with --missing FILE.csv"
        typer.echo(f"{len(holes)} missing cell(s) are left out, never filled in ({where})")


def register(app: typer.Typer) -> None:
    """Add the `import` command group (table, taskweb) to `app`."""
    group = typer.Typer(help="Bring your own transfer matrix: published ground truth to evaluate selectors on.",
                        no_args_is_help=True)
    app.add_typer(group, name="import")
    out_help = "Matrix file to write (.parquet, .csv, .json or .jsonl); `evaluate`, `report` and `consistency` read it."
    missing_help = "Also write every missing setting × target × source × seed cell to FILE.csv."

    @group.command("table")
    def table_command(
        path: Path = typer.Argument(..., help="Long table (.csv, .parquet, .json, .jsonl): target, source, seed, "
                                              "score [, setting, source_seed, baseline, floor, ...]."),
        out: Path = typer.Option(..., "--out", help=out_help),
        missing: Optional[Path] = typer.Option(None, "--missing", help=missing_help),
    ) -> None:
        """Check a long table of transfers and write it as a transfer matrix."""
        from intertask.matrix.transfer import TransferMatrix

        _finish(TransferMatrix.read(path), str(path), out, missing)

    @group.command("taskweb")
    def taskweb_command(
        clone: Path = typer.Argument(..., help="Root of a local clone of github.com/danieljkim0118/TaskWeb."),
        out: Path = typer.Option(..., "--out", help=out_help),
        missing: Optional[Path] = typer.Option(None, "--missing", help=missing_help),
    ) -> None:
        """Import TaskWeb's pairwise transfers (22 tasks, 9 settings, 8 seeds) with its published PC and PM."""
        from intertask.matrix.transfer import TransferMatrix

        _finish(TransferMatrix.from_taskweb(clone), f"the TaskWeb clone {clone}", out, missing)
