"""`intertask study`: run a source × target × seed transfer study, show its state, export its matrix."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from intertask.cli import rich_table


class ExecutorName(str, Enum):
    LOCAL = "local"
    RAY = "ray"


def _print_summary(summary: dict) -> None:
    from rich.console import Console

    table = rich_table(f"study {summary['study']} in {summary['store']}",
                       ("kind", "total", "done", "failed", "pending"))
    for kind, counts in summary["by_kind"].items():
        table.add_row(kind, *(str(counts[k]) for k in ("total", "done", "failed", "pending")))
    table.add_row("all", *(str(summary[k]) for k in ("total", "done", "failed", "pending")), style="bold")
    console = Console()
    console.print(table)
    if "seconds" in summary:
        console.print(f"trained {summary['trained']} runs in {summary['seconds']:.1f} s")
    if summary["damaged_artifacts"]:
        console.print(f"{summary['damaged_artifacts']} finished run(s) lost or altered their artifact; "
                      "`intertask study run` re-runs them")
    for failed in summary["failed_runs"][:10]:
        console.print(f"failed {failed['kind']} {failed['task']} seed {failed['seed']}: "
                      f"{(failed['error'] or '').splitlines()[0][:200]}")
    if summary["failed_runs"] or summary["pending"]:
        console.print("run the same `intertask study run` again to retry failed and finish pending runs")


def register(app: typer.Typer) -> None:
    """Add the `study` command group (run, status, check, export) to `app`."""
    group = typer.Typer(help="Run and read source × target × seed transfer studies.", no_args_is_help=True)
    app.add_typer(group, name="study")

    @group.command("run")
    def run_command(
        config: Path = typer.Argument(..., help="Study config (TOML), e.g. configs/quickstart.toml."),
        store: Path = typer.Option(..., "--store", help="Store directory (created if missing; reused to resume)."),
        executor: ExecutorName = typer.Option(ExecutorName.LOCAL, "--executor", help="local | ray."),
        ray_address: Optional[str] = typer.Option(
            None, "--ray-address", help="Ray cluster for --executor ray (default: $RAY_ADDRESS, else a local instance)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
    ) -> None:
        """Train every run of the study not yet in the store; safe to interrupt and run again."""
        from intertask.study.runner import run_study

        summary = run_study(config, store, executor=executor.value, progress=not quiet, ray_address=ray_address)
        _print_summary(summary)
        if summary["failed"]:
            typer.echo(f"error: {summary['failed']} of {summary['total']} runs failed (see above); fix the cause "
                       "and run the same command again to retry them", err=True)
            raise typer.Exit(1)

    @group.command("status")
    def status_command(
        store: Path = typer.Option(..., "--store", help="Store directory."),
        study: Optional[str] = typer.Option(None, help="Study name (default: the latest in the store)."),
        as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    ) -> None:
        """Runs done / failed / pending per kind; works while a study is running."""
        from intertask.study.runner import study_status

        summary = study_status(store, study)
        if as_json:
            typer.echo(json.dumps(summary, indent=1))
        else:
            _print_summary(summary)

    @group.command("check")
    def check_command(store: Path = typer.Option(..., "--store", help="Store directory.")) -> None:
        """Check the store for damage (database pages, tables, artifacts) without changing anything."""
        from intertask.study.store import Store

        report = Store(store).check()
        for problem in report["problems"]:
            typer.echo(f"damaged: {problem}")
        if report["problems"]:
            raise typer.Exit(1)
        typer.echo(f"store {report['store']} is intact: {report['studies']} studies, {report['runs']} runs")

    @group.command("export")
    def export_command(
        store: Path = typer.Option(..., "--store", help="Store directory."),
        out: Path = typer.Option(..., "--out", help="Output file: .csv, .parquet, .json or .jsonl (by its suffix)."),
        study: Optional[str] = typer.Option(None, help="Study name (default: the latest in the store)."),
    ) -> None:
        """Write the transfer matrix (setting, target, source, source_seed, seed, score, baseline, gain, ...),
        which `evaluate`, `report` and `consistency` read with --matrix."""
        from intertask.study.export import export_study

        path = export_study(store, out, study)
        typer.echo(f"wrote {path}")
