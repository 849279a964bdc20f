"""`intertask evaluate`: how well does each selection method predict a study's transfers?

Three modes, each "build predictions → the one `intertask.evaluation.evaluate` → print"
(`intertask.cli.evaluate_tables`): a study store's runs (`--store`), recommend's short runs on a library's
history (`--library`), or selectors' score files against a transfer matrix file (`--matrix`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from intertask.cli import options as opt
from intertask.errors import IntertaskError

MODE_OPTIONS = {
    "--store": ("--study", "--methods", "--seeds", "--max-texts", "--recommender", "--device"),
    "--library": ("--methods", "--budget-steps", "--target-runs", "--device", "--runs-file"),
    "--matrix": ("--predictions", "--symmetric", "--setting", "--targets"),
}


def _store_evaluation(store: Path, study, methods, seeds, max_texts: int | None, device: str, recommender: bool, k: int,
                      top_k: int, quiet: bool):
    """`--store`: predictions from the study's runs (and recommend's LOTO rows) → `evaluate`."""
    from intertask.evaluation import evaluate
    from intertask.evaluation.from_store import parse_methods, predictions_from_store
    from intertask.study.export import read_study

    chosen = [c[0] for c in parse_methods(methods)] if methods else None
    try:
        seed_list = [int(s) for s in opt.items(seeds)] if seeds else None
    except ValueError:
        raise IntertaskError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    view = read_study(store, study)
    matrix = view.matrix.select(seeds=seed_list) if seed_list and len(view.matrix) else view.matrix
    predictions = predictions_from_store(view, matrix, chosen, max_texts=max_texts, progress=not quiet, device=device)
    if recommender:
        from intertask.recommend.loto import recommender_predictions

        predictions = recommender_predictions(predictions, matrix)
    return evaluate(matrix, predictions, k=k, top_k=top_k)


def _library_evaluation(library: Path, methods, budget_steps, target_runs: int, k: int, top_k: int, device: str,
                        quiet: bool, runs_file: Path | None):
    """`--library`: predictions from recommend's short runs on each historical target → `evaluate`."""
    from intertask.backbones import resolve_device
    from intertask.evaluation import evaluate
    from intertask.progress import progress_bar
    from intertask.recommend.library import load_library
    from intertask.recommend.loto import predictions_from_library

    with progress_bar(not quiet) as callback:
        built = predictions_from_library(load_library(library), opt.items(methods), budget_steps, target_runs,
                                         resolve_device(device), callback, runs_file=runs_file)
    return evaluate(built.truth, built.predictions, k=k, top_k=top_k)


def _matrix_evaluation(matrix: Path, predictions, symmetric, setting, targets, k: int, top_k: int):
    """`--matrix`: predictions from files (and `random`) → `evaluate`, plus TaskWeb's definitions."""
    from intertask.evaluation.from_matrix import evaluate_matrix, predictions_from_files
    from intertask.matrix.transfer import TransferMatrix

    table = TransferMatrix.read(matrix).select(setting, opt.items(targets))
    evaluation = evaluate_matrix(table, predictions_from_files(table, opt.read_named(predictions, symmetric)),
                                 k=k, top_k=top_k)
    evaluation.config["matrix"] = str(matrix)
    evaluation.ours.config.update(study=f"{matrix.name} [{evaluation.config['setting']}]", matrix=str(matrix))
    return evaluation


def _mode(modes: dict, given: dict) -> str:
    """The one mode given (`--store`, `--library` or `--matrix`); an option of another mode is refused."""
    chosen = [name for name, value in modes.items() if value is not None]
    if len(chosen) != 1:
        raise IntertaskError("give exactly one of --store (a study), --library (a library's history) and "
                             "--matrix (a transfer matrix file)")
    wrong = [name for name, value in given.items() if value and name not in MODE_OPTIONS[chosen[0]]]
    if wrong:
        modes = [m for m, names in MODE_OPTIONS.items() if wrong[0] in names]
        raise IntertaskError(f"{wrong[0]} goes with {' or '.join(modes)}, not {chosen[0]}")
    return chosen[0]


def _write(out: Path, evaluation) -> None:
    """`out` as JSON (`.json`) or the summary as CSV (`.csv`), written atomically."""
    from intertask.paths import atomic_output

    with atomic_output(out) as tmp:
        if out.suffix.lower() == ".json":
            tmp.write_text(json.dumps(evaluation.to_dict(), indent=1))
        else:
            evaluation.summary.to_csv(tmp, index=False)


def register(app: typer.Typer) -> None:
    """Add the `evaluate` command to `app`."""

    @app.command("evaluate")
    def evaluate_command(
        store: Optional[Path] = opt.STORE,
        library: Optional[Path] = typer.Option(None, "--library", help="Evaluate recommend on this library's history "
                                               "instead (leave-one-target-out; runs recommend's short target runs "
                                               "for every historical target)."),
        matrix: Optional[Path] = opt.MATRIX,
        recommender: bool = typer.Option(False, "--recommender", help="With --store: add recommend (its rule chosen "
                                         "without each target) and its candidate rules, scored leave-one-target-out."),
        budget_steps: Optional[int] = opt.BUDGET_STEPS,
        target_runs: Optional[int] = opt.TARGET_RUNS,
        runs_file: Optional[Path] = opt.RUNS_FILE,
        methods: Optional[str] = typer.Option(
            None, help="Comma-separated selection methods (default: all; max_pairwise@20 pins a snapshot step)."),
        k: int = opt.K,
        top_k: int = typer.Option(2, "--top-k", min=1, help="k of the top-k score (the paper's script: 2)."),
        seeds: Optional[str] = typer.Option(None, help="Comma-separated target seeds (default: all)."),
        max_texts: Optional[int] = typer.Option(None, min=1, help="Training examples per task for text embeddings "
                                                "and LogME (default: 512, or the backbone's hidden size + 1 if larger, "
                                                "so LogME has more examples than features)."),
        device: Optional[str] = typer.Option(None, help="cpu | cuda | cuda:N | mps (the backbone for LogME and "
                                             "embeddings; default cpu)."),
        as_json: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
        out: Optional[Path] = typer.Option(None, "--out", help="Also write the evaluation to FILE.json or the summary to FILE.csv."),
        study: Optional[str] = opt.STUDY,
        against: Optional[str] = typer.Option(None, "--against", help="Pair every method with this one: win rate "
                                              "and difference with 95% CI (default: random, when evaluated)."),
        predictions: list[str] = opt.PREDICTIONS,
        symmetric: list[str] = opt.SYMMETRIC,
        setting: Optional[str] = opt.SETTING,
        targets: Optional[str] = typer.Option(None, "--targets", help="With --matrix: comma-separated targets "
                                              "(default: all)."),
    ) -> None:
        """Score selection methods against a study's transfers (--store), a library's history (--library)
        or a transfer matrix file (--matrix): NDCG, Regret@k, top-k, cost; with --recommender or --library,
        also recommend itself and its candidate rules, leave-one-target-out; on a matrix also under TaskWeb's
        definitions. Each mode builds predictions and hands them to the one evaluation
        (`intertask.evaluation.evaluate`)."""
        opt.check_new_file(out, "--out", (".json", ".csv"))
        mode = _mode({"--store": store, "--library": library, "--matrix": matrix},
                     {"--study": study, "--methods": methods, "--seeds": seeds, "--max-texts": max_texts,
                      "--recommender": recommender, "--device": device, "--budget-steps": budget_steps,
                      "--target-runs": target_runs, "--predictions": predictions, "--symmetric": symmetric,
                      "--setting": setting, "--targets": targets, "--runs-file": runs_file})
        opt.check_new_file(runs_file, "--runs-file", (".json",))
        if mode == "--matrix":
            result = _matrix_evaluation(matrix, predictions, symmetric, setting, targets, k, top_k)
            evaluation = result.ours
        elif mode == "--library":
            evaluation = result = _library_evaluation(library, methods, budget_steps, target_runs or 3, k, top_k,
                                                      device or "cpu", as_json, runs_file)
        else:
            evaluation = result = _store_evaluation(store, study, methods, seeds, max_texts, device or "cpu",
                                                    recommender, k, top_k, as_json)
        from intertask.cli import evaluate_tables as tables

        if against is not None:  # before anything is written or printed
            tables.check_against(evaluation, against)
        if out is not None:
            _write(out, result)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=1))
            return
        tables.print_evaluation(evaluation)
        if against is not None or "random" in set(evaluation.cases["method"]):
            tables.print_comparison(evaluation, against or "random")
        if evaluation.config.get("recommender"):
            tables.print_recommender(evaluation)
        if mode == "--matrix":
            tables.print_taskweb(result)
        if out is not None:
            typer.echo(f"wrote {out}")
