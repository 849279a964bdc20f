"""`intertask recommend`: which intermediate task should a new target train on first?"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer

from intertask.cli import rich_table
from intertask.formatting import fmt_number as _fmt


KEY_METHODS = ("max_pairwise", "text_embedding", "logme", "vocab_overlap")


def _verify_ci(row) -> str:
    """The verified gain's interval, or why there is none (one seed gives no interval)."""
    if row["ci_low"] is None or math.isnan(row["ci_low"]):
        return "too few seeds for an interval"
    return f"[{_fmt(row['ci_low'], '+.1f')}, {_fmt(row['ci_high'], '+.1f')}]"


def print_recommendation(rec) -> None:
    """The verdict, then a table of sources (and the verification table when present)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    verdict = rec.verdict
    console.print(f"[bold]{verdict.headline}[/bold]")
    for c in verdict.criteria:
        mark = "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]"
        console.print(f"  {mark} {c.name}: {c.detail}")
    for warning in verdict.warnings:
        console.print(f"  [yellow]warning[/yellow]: {warning}")
    console.print(f"  ranked by: {verdict.ranked_by}")
    # Method scores only where the terminal has room; every score is in --json and --report.
    shown = [m for m in KEY_METHODS if f"score_{m}" in rec.ranking] if console.width >= 130 else []
    risk = rec.stats.get("risk_calibration") or {}
    error = risk.get("expected_gain_error")
    show_p_neg = not risk or risk["brier"] < risk["brier_base"]  # dropped where it measured no better than a constant
    measured = (f" On {risk['n_targets']} held-out history targets the expected gain was off by {error:.1f} points "
                f"on average (shown as ±) and P(neg) scored Brier {risk['brier']:.2f} against {risk['brier_base']:.2f} "
                "for the plain base rate" + ("" if show_p_neg else ", so it is not shown") + ".") if risk else ""
    table = Table(title=f"sources for {rec.target} ({len(rec.seeds)} target seeds, {rec.budget_steps} steps)",
                  caption="top-k share: methods with the source in their top k; stable: target seeds with it in "
                          "the top k; similar: text-embedding cosine; exp. gain (points) and P(neg): from the "
                          "library's past transfers to similar targets." + measured, caption_justify="left")
    columns = ("#", "source", "mean\nrank", "top-k\nshare", "stable", "similar", *shown, "exp.\ngain",
               *(("P(neg)",) if show_p_neg else ()))
    for column in columns:
        if column == "source":
            table.add_column(column, max_width=28, overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    leaks = {leak["source"]: leak["share"] for leak in rec.stats.get("leaks", []) if leak["warns"]}
    for row in rec.ranking.to_dict(orient="records"):
        name = row["source"] + (f" [red](leak {leaks[row['source']]:.0%})[/red]"
                                if row["source"] in leaks else "")
        gain = _fmt(row["expected_gain"], "+.1f")
        if error is not None and gain != _fmt(None):
            gain += f" ±{error:.1f}"
        table.add_row(str(row["combined_rank"]), name, _fmt(row["mean_rank"], ".1f"),
                      _fmt(row["method_topk"], ".0%"), _fmt(row["stability"], ".0%"), _fmt(row["similarity"], ".2f"),
                      *(_fmt(row[f"score_{m}"], ".3f") for m in shown), gain,
                      *((_fmt(round(row["p_negative"], 1), ".0%"),) if show_p_neg else ()))  # to the 10% it measures
    console.print(table)
    if rec.verify is not None:
        vt = rich_table("verified transfers (test gain vs no transfer, 95% t-interval over seeds)",
                        ("source", "mean gain", "95% CI", "val gain", "seeds"))
        for row in rec.verify.to_dict(orient="records"):
            vt.add_row(row["source"], _fmt(row["mean_gain"], "+.1f"),
                       _verify_ci(row), _fmt(row["val_gain"], "+.1f"),
                       str(row["n_seeds"]))
        console.print(vt)
        console.print(f"[bold]final choice: {rec.choice}[/bold]")


def register(app: typer.Typer) -> None:
    """Add the `recommend` command to `app`."""

    @app.command("recommend")
    def recommend_command(
        target: str = typer.Option(..., "--target", help="A suite or toy task name, a CSV/TSV/JSONL/Parquet file, or hf:NAME."),
        text_column: Optional[str] = typer.Option(None, help="Column with the text (files and hf: only)."),
        label_column: Optional[str] = typer.Option(None, help="Column with the label (files and hf: only)."),
        library: Optional[Path] = typer.Option(None, help="Source library directory (default: the shipped MiniLM library)."),
        methods: Optional[str] = typer.Option(None, help="Comma-separated selection methods (default: all that apply)."),
        budget_steps: Optional[int] = typer.Option(None, help="Training steps of the short target runs (default 16, as in the library history)."),
        seeds: int = typer.Option(3, help="Target seeds of the short runs (stability needs >= 2)."),
        verify: int = typer.Option(0, "--verify", help="Verify the top K sources with real transfers."),
        verify_seeds: int = typer.Option(3, help="Seeds per verified transfer and baseline."),
        record: bool = typer.Option(False, "--record", help="With --verify and --library: run the verification "
                                    "under the library's history protocol and add its transfers to the history."),
        device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N | mps."),
        as_json: bool = typer.Option(False, "--json", help="Print the recommendation as JSON."),
        report: Optional[Path] = typer.Option(None, help="Also write a report (FILE.md or FILE.html)."),
    ) -> None:
        """Rank the library's source tasks for TARGET and say how far to trust the ranking."""
        from intertask.errors import IntertaskError
        from intertask.paths import check_output_file
        from intertask.recommend import recommend

        if report is not None and report.suffix.lower() not in (".md", ".html", ".htm"):
            raise IntertaskError(f"--report {report} must end in .md or .html")
        if report is not None:
            check_output_file(report, "report")  # before the (long) computation
        chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
        rec = recommend(target, library_dir=library, methods=chosen, budget_steps=budget_steps, seeds=seeds,
                        verify_k=verify, verify_seeds=verify_seeds, progress=not as_json,
                        device=device, text_column=text_column, label_column=label_column, record=record)
        if as_json:
            typer.echo(json.dumps(rec.to_dict(), indent=1))
        else:
            print_recommendation(rec)
        if report is not None:  # after printing: a report that cannot be written loses no recommendation
            from intertask.report.html import write_recommendation_report

            write_recommendation_report(report, rec.target, rec.ranking, rec.verdict, rec.verify)
            if not as_json:
                typer.echo(f"report written to {report}")
