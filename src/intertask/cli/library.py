"""`intertask library`: build a source library from a study or source by source, and show one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from intertask.cli import options as opt
from intertask.cli import rich_table
from intertask.cli.study import ExecutorName
from intertask.formatting import fmt_number


def register(app: typer.Typer) -> None:
    """Add the `library` command group (build, create, add-source, measure, add-esm, add-fingerprints,
    add-combination, show) to `app`."""
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

    @group.command("create")
    def create_command(
        out: Path = typer.Argument(..., help="Library directory to create (absent or empty)."),
        backbone: str = typer.Option("minilm", help="Backbone the sources train on (ignored with --protocol)."),
        protocol: Optional[Path] = typer.Option(None, help="Study config (TOML) whose backbone, prompt length, "
                                                "source and target training the library adopts (default: "
                                                "configs/library.toml's, the shipped library's)."),
        device: str = typer.Option("auto", help="Device for the backbone: auto | cpu | cuda | mps."),
    ) -> None:
        """Create an empty library; then add sources to it with `library add-source`."""
        from intertask.backbones import resolve_device
        from intertask.errors import IntertaskError
        from intertask.recommend.add_source import create_library

        if protocol is not None and not protocol.is_file():
            raise IntertaskError(f"config file not found: {protocol}; check the path")
        path = create_library(out, backbone=backbone, study_config=protocol, device=resolve_device(device))
        typer.echo(f"empty library written to {path}; add sources with `intertask library add-source {path} TASK ...`")

    @group.command("add-source")
    def add_source_command(
        path: Path = typer.Argument(..., help="Library directory."),
        tasks: list[str] = typer.Argument(..., help="Suite task names or CSV/TSV/JSONL/Parquet files."),
        text_column: Optional[str] = typer.Option(None, help="Column with the text (files only)."),
        label_column: Optional[str] = typer.Option(None, help="Column with the label (files only)."),
        device: str = typer.Option("auto", help="Device for training: auto | cpu | cuda | mps."),
    ) -> None:
        """Train each TASK under the library's source protocol and add it as a source, one at a time
        (kill it and run it again: sources already in the library are skipped)."""
        from intertask.backbones import resolve_device
        from intertask.progress import progress_bar
        from intertask.recommend.add_source import add_sources
        from intertask.recommend.library import describe, load_library

        with progress_bar(True) as callback:
            report = add_sources(path, tasks, text_column=text_column, label_column=label_column,
                                 device=resolve_device(device), progress=callback)
        if report.skipped:
            typer.echo(f"already in the library, skipped: {', '.join(report.skipped)}")
        typer.echo(f"added {len(report.added)} source(s) to {path}" +
                   (f": {', '.join(report.added)}" if report.added else ""))
        info = describe(load_library(path))
        if not info["esm_maps"]:
            typer.echo(f"the library has no embedding space maps (esm_logme); add them with "
                       f"`intertask library add-esm {path}`")
        if not info["fingerprints"]:
            typer.echo(f"the library has no text fingerprints (leak check); add them with "
                       f"`intertask library add-fingerprints {path}`")

    @group.command("add-fingerprints")
    def add_fingerprints_command(
        path: Path = typer.Argument(..., help="Library directory."),
    ) -> None:
        """Add the leak check's text fingerprints to a library built without them (its sources' tasks
        are loaded by name)."""
        from intertask.progress import progress_bar
        from intertask.recommend.leakage import add_fingerprints

        with progress_bar(True) as callback:
            written = add_fingerprints(path, progress=callback)
        typer.echo(f"text fingerprints written to {written} ({written.stat().st_size / 1e6:.2f} MB)")

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

    @group.command("measure")
    def measure_command(
        path: Path = typer.Argument(..., help="Library directory whose history grows."),
        targets: list[str] = typer.Option(..., "--target", help="A suite task name or a data file; repeat for "
                                          "several targets, measured one after another."),
        text_column: Optional[str] = typer.Option(None, help="Column with the text (files only)."),
        label_column: Optional[str] = typer.Option(None, help="Column with the label (files only)."),
        seeds: int = typer.Option(3, help="Target seeds 0..N-1 (the history's protocol: 3)."),
        executor: ExecutorName = typer.Option(ExecutorName.LOCAL, "--executor", help="local | ray."),
        ray_address: Optional[str] = typer.Option(
            None, "--ray-address", help="Ray cluster for --executor ray (default: $RAY_ADDRESS, else a local instance)."),
        pack_size: int = typer.Option(12, help="Runs trained together in one pack."),
        allow_overlap: bool = typer.Option(False, "--allow-overlap", help="Measure a target that is also a source "
                                           "or copies one's texts (the leak check refuses it otherwise)."),
        device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N | mps."),
    ) -> None:
        """Measure the transfers of every library source to each TARGET (baseline and transfers, 3 seeds,
        the library's target protocol) and append them to the library's history. Kill it and run it
        again: finished cells are kept, only the missing ones train."""
        from intertask.backbones import resolve_device
        from intertask.errors import IntertaskError
        from intertask.recommend.measure import measure_target

        if seeds < 1 or pack_size < 1:
            raise IntertaskError(f"--seeds and --pack-size must be >= 1, got {seeds} and {pack_size}")
        options = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v is not None}
        device = resolve_device(device)
        failed = 0
        for target in targets:
            done = measure_target(path, target, seeds=range(seeds), task_options=options or None, executor=executor.value,
                                  ray_address=ray_address, pack_size=pack_size, device=device, allow_overlap=allow_overlap)
            flags = ", ".join(f"seed {s}: {'learned' if ok else 'AT ITS FLOOR (left out of expected gains)'}"
                              for s, ok in sorted(done.baseline_learned.items()))
            typer.echo(f"{done.target}: {done.trained} runs trained, {done.appended} transfers appended; "
                       f"baseline {flags or 'not measured'}")
            for run_id, error in done.failed.items():
                typer.echo(f"  failed {run_id}: {error.splitlines()[0][:200]}", err=True)
            failed += len(done.failed)
        if failed:
            raise typer.Exit(1)

    @group.command("add-combination")
    def add_combination_command(
        path: Path = typer.Argument(..., help="Library directory (with a history of transfers)."),
        methods: Optional[str] = typer.Option(None, help="Comma-separated selectors to combine (default: "
                                              "recommend's)."),
        budget_steps: Optional[int] = opt.BUDGET_STEPS,
        target_runs: Optional[int] = opt.TARGET_RUNS,
        runs_file: Optional[Path] = opt.RUNS_FILE,
        device: str = typer.Option("auto", help="Device for the backbone: auto | cpu | cuda | mps."),
    ) -> None:
        """Choose recommend's ranking rule on the library's history (nested leave-one-target-out: mean rank,
        expected gain, a learned combination or one selector) and store it in the library (combination.json)
        with how far its printed risk was off on held-out targets."""
        from intertask.backbones import resolve_device
        from intertask.cli.evaluate_tables import print_recommender
        from intertask.progress import progress_bar
        from intertask.recommend.add_combination import add_combination

        opt.check_new_file(runs_file, "--runs-file", (".json",))
        with progress_bar(True) as callback:
            written, evaluation = add_combination(path, opt.items(methods), budget_steps, target_runs or 3,
                                                  device=resolve_device(device), progress=callback,
                                                  runs_file=runs_file)
        print_recommender(evaluation)
        typer.echo(f"ranking rule written to {written}")

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
        cases = info["history_cases"]
        learned = sum(c["learned_seeds"] == len(c["seeds"]) for c in cases)
        console.print(f"history: {info['history_rows']} transfers to {len(cases)} targets, {learned} of them with a "
                      "baseline above its floor on every seed")
        if cases:
            history = rich_table(None, ("target", "seeds", "baseline learned", "sources on every seed",
                                        "min baseline - floor"))
            for c in cases:
                history.add_row(c["target"], ",".join(map(str, c["seeds"])), f"{c['learned_seeds']}/{len(c['seeds'])}",
                                f"{c['complete_sources']}/{len(info['sources'])}",
                                fmt_number(c["min_baseline_margin"], "+.1f"))
            console.print(history)
        console.print("embedding space maps (esm_logme): " + ("yes" if info["esm_maps"] else
                      f"none; add them with `intertask library add-esm {path}`"))
        console.print("text fingerprints (leak check): " + ("yes" if info["fingerprints"] else
                      f"none; add them with `intertask library add-fingerprints {path}`"))
        protocol = info["source_training"]
        console.print(f"source protocol: seeds {protocol['seeds']}, " +
                      ", ".join(f"{k} {protocol['train'][k]}" for k in ("steps", "patience", "eval_every", "prompt_lr")
                                if k in protocol["train"]))
        combination = info["combination"]
        console.print("ranking rule: " + ("none (recommend uses the equal-weight mean rank)" if combination is None
                      else f"{combination['rule']} (fallback {combination['fallback']}): {combination['reason']}"))
