"""`intertask library`: build a source library from a study, and show one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from intertask.formatting import fmt_number


def register(app: typer.Typer) -> None:
    """Add the `library` command group (build, show) to `app`."""
    group = typer.Typer(help="Build and inspect source libraries (trained source prompts).", no_args_is_help=True)
    app.add_typer(group, name="library")

    @group.command("build")
    def build_command(
        config: Optional[Path] = typer.Argument(None, help="Study config (TOML) whose sources to train first."),
        store: Optional[Path] = typer.Option(None, help="An existing study store to build from (or, with CONFIG, "
                                                      "where to run the study; default OUT/.store)."),
        out: Path = typer.Option(..., help="Library directory to write (replaced atomically)."),
        with_history: bool = typer.Option(False, "--with-history", help="With CONFIG: run the whole study "
                                          "(baselines and transfers too) so the library carries historical gains."),
        device: str = typer.Option("auto", help="Device for the text embeddings: auto | cpu | cuda | mps."),
    ) -> None:
        """Write a versioned, checksummed library of source prompts, profiles and history."""
        from intertask.errors import IntertaskError
        from intertask.recommend.build import build_library
        from intertask.recommend.library import describe, load_library
        from intertask.backbones import resolve_device

        if config is None and store is None:
            raise IntertaskError("give a study CONFIG (TOML) or --store PATH to build the library from")
        if config is not None and not config.is_file():
            raise IntertaskError(f"config file not found: {config}; check the path")
        path = build_library(config if config is not None else store, out, store_path=store if config else None,
                             device=resolve_device(device), with_history=with_history)
        info = describe(load_library(path))
        typer.echo(f"library written to {path}: {len(info['sources'])} sources, "
                   f"backbone {info['backbone']['name']}, {info['history_rows']} historical transfers")

    @group.command("add-esm")
    def add_esm_command(
        path: Path = typer.Argument(..., help="Library directory."),
        device: str = typer.Option("auto", help="Device for the backbone: auto | cpu | cuda | mps."),
    ) -> None:
        """Add ESM-LogME's embedding space maps to a library built without them (two backbone passes
        over up to 512 texts per source)."""
        from intertask.backbones import resolve_device
        from intertask.progress import progress_bar
        from intertask.recommend.esm_maps import add_esm_maps

        with progress_bar(True) as callback:
            written = add_esm_maps(path, device=resolve_device(device), progress=callback)
        typer.echo(f"embedding space maps written to {written}")

    @group.command("show")
    def show_command(
        path: Path = typer.Argument(..., help="Library directory."),
        as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    ) -> None:
        """Verify a library's checksums and list its sources."""
        from intertask.recommend.library import describe, load_library

        info = describe(load_library(path))
        if as_json:
            typer.echo(json.dumps(info, indent=1))
            return
        from rich.console import Console
        from rich.table import Table

        bb = info["backbone"]
        console = Console()
        console.print(f"library {info['path']} — backbone {bb['name']} (hidden {bb['hidden_size']}, "
                      f"prompt length {bb['prompt_length']}), built {info['created_at']} by intertask "
                      f"{info['intertask_version']}; checksums OK")
        table = Table()
        for column in ("source", "train examples", "tags", "seeds", "best val score"):
            table.add_column(column, justify="left" if column in ("source", "tags") else "right")
        for s in info["sources"]:
            score = fmt_number(s["best_score"], ".1f")
            table.add_row(s["name"], str(s["n_train"]), ", ".join(s["tags"]), ",".join(map(str, s["seeds"])), score)
        console.print(table)
        targets = info["history_targets"]
        console.print(f"history: {info['history_rows']} transfers to {len(targets)} targets"
                      + (f" ({', '.join(targets)})" if targets else ""))
        console.print("embedding space maps (esm_logme): " + ("yes" if info["esm_maps"] else
                      f"none; add them with `intertask library add-esm {path}`"))
        combination = info["combination"]
        console.print("ranking rule: " + ("none (recommend uses the equal-weight mean rank)" if combination is None
                      else f"{combination['rule']} (fallback {combination['fallback']}): {combination['reason']}"))
