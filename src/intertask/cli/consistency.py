"""`intertask consistency`: do seeds and settings of a transfer matrix agree with each other?"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from intertask.cli import rich_table


def _cell(mean, low, high, spec: str = ".3f") -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    return f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"


def print_consistency(result, shown: int = 8) -> None:
    """Per setting and per group: sign agreement, negative share, seed ρ (95% CIs over targets); setting
    pairs; the least consistent targets."""
    from rich.console import Console

    from intertask.stats import interval_names

    console = Console(width=160)
    names = {"sign_agreement": "seeds agree on sign", "negative_share": "negative on average",
             "seed_spearman": "ρ between seeds"}
    for key, frame in (("setting", result.by_setting), ("group", result.by_group)):
        table = rich_table(f"consistency per {key} (mean [95% CI: {interval_names(frame['interval'])}]; "
                           "n = targets / cells)", (key, *names.values()))
        for name, part in frame.groupby(key, sort=False):
            rows = {r["metric"]: r for r in part.to_dict(orient="records")}
            table.add_row(str(name), *(
                _cell(rows[m]["mean"], rows[m]["ci_low"], rows[m]["ci_high"]) + f"  n={rows[m]['n_targets']}/{rows[m]['n_cells']}"
                if m in rows and rows[m]["n_cells"] else "-" for m in names))
        console.print(table)
    if len(result.between_settings):
        table = rich_table("ρ between settings' source rankings (mean over targets [95% CI: "
                           f"{interval_names(result.between_settings['interval'])}])",
                           ("setting a", "setting b", "ρ [95% CI]", "targets"), left=2)
        for row in result.between_settings.to_dict(orient="records"):
            table.add_row(row["setting_a"], row["setting_b"], _cell(row["spearman"], row["ci_low"], row["ci_high"]),
                          str(row["n_targets"]))
        console.print(table)
    table = rich_table(f"the {shown} least consistent targets (lowest ρ between seeds, mean over settings)",
                       ("target", "group", "ρ between seeds", "seeds agree on sign", "negative on average",
                        "ρ between settings", "settings"), left=2)
    for row in result.targets.head(shown).to_dict(orient="records"):
        table.add_row(row["target"], row["group"], *(f"{row[c]:.3f}" if not math.isnan(row[c]) else "-" for c in
                      ("seed_spearman", "sign_agreement", "negative_share", "setting_spearman")), str(row["n_settings"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `consistency` command to `app`."""

    @app.command("consistency")
    def consistency_command(
        matrix: Path = typer.Option(..., "--matrix", help="Transfer matrix file (from `intertask import` or "
                                                          "`intertask study export`)."),
        as_json: bool = typer.Option(False, "--json", help="Print every table as JSON."),
        n_boot: int = typer.Option(2000, "--n-boot", min=1, help="Bootstrap resamples for the CIs."),
    ) -> None:
        """Seed sign agreement, Spearman between seeds and between settings, per target, with 95% CIs."""
        from intertask.evaluation.consistency import consistency, target_groups
        from intertask.matrix.transfer import TransferMatrix

        table = TransferMatrix.read(matrix).frame
        result = consistency(table, target_groups(sorted(table["target"].unique())), n_boot=n_boot)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=1))
        else:
            print_consistency(result)
