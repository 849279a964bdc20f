"""`intertask evaluate`: how well does each selection method predict a study's transfers?"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer

from intertask.formatting import MISSING, fmt_number


def _fmt(value, spec: str = ".3f") -> str:
    return fmt_number(value, spec)


def _pm(stats, spec: str = ".3f") -> str:
    """'mean ± std' of one summary row."""
    if stats is None or math.isnan(stats["mean"]):
        return MISSING
    return f"{_fmt(stats['mean'], spec)} ± {_fmt(stats['std'], spec)}"


def _ci(stats, spec: str = ".3f") -> str:
    if stats is None or math.isnan(stats["mean"]):
        return MISSING
    return f"[{_fmt(stats['ci_low'], spec)}, {_fmt(stats['ci_high'], spec)}]"


def _method_table(summary, title: str, k: int, top_k: int):
    """A rich table: one row per method with NDCG and Regret@k (mean ± std, 95% CI), top-k score,
    cases (targets), cost."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("method", "NDCG ↑", "95% CI", f"Regret@{k} % ↓", "95% CI ", f"top-{top_k} score",
                   "cases (targets)", "cost s", "target steps"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for method, frame in summary.groupby("method", sort=False):
        rows = {r["metric"]: r for r in frame.to_dict(orient="records")}
        first = next(iter(rows.values()))
        ndcg, regret, top = rows.get("ndcg"), rows.get("regret_at_k"), rows.get("top_k_score")
        table.add_row(str(method), _pm(ndcg), _ci(ndcg), _pm(regret, ".2f"), _ci(regret, ".2f"),
                      _fmt(top["mean"] if top else None, ".2f"), f"{int(first['n'])} ({int(first['n_targets'])})",
                      _fmt(first["cost_seconds"], ".4f"), _fmt(first["target_steps"], ".0f"))
    return table


def print_evaluation(evaluation) -> None:
    """The overall table, the same split by tag group, then the ground truth's seed consistency."""
    from rich.console import Console
    from rich.table import Table

    from intertask.stats import interval_names

    console = Console()
    console = Console(width=max(console.width, 150))
    config = evaluation.config
    k, top_k = config["k"], config["top_k"]
    console.print(_method_table(evaluation.summary, f"selection methods on {config.get('study', 'the study')} "
                                f"({config.get('backbone', '?')}; one case = one target × seed; 95% CI: "
                                f"{interval_names(evaluation.summary['interval'])})", k, top_k))
    floored = config.get("not_learned_cases") or []
    if floored:
        console.print(f"left out: {len(floored)} target × seed case(s) whose baseline did not clear its floor "
                      f"(no transfer is measured there): {', '.join(f'{t}/{s}' for t, s in floored)}")
    n_sources = int(evaluation.cases["n_sources"].min())
    if k >= n_sources:
        console.print(f"note: k = {k} ≥ the {n_sources} sources of a case, so Regret@{k} is 0 for every "
                      f"method; use a smaller --k")
    undefined = evaluation.summary.loc[evaluation.summary["metric"] == "ndcg", "n_undefined"].max()
    if undefined:
        console.print(f"note: {int(undefined)} case(s) per method have a negative score (Pearson × 100 of a "
                      "regression target); NDCG and Regret are undefined there (NaN) and left out")
    tag = config.get("tag", "reasoning")
    groups = list(evaluation.by_tag["group"].unique())
    if tag not in groups:
        console.print(f"no {tag} target in this study: the {tag} vs other split is not available")
    else:
        for group in groups:
            part = evaluation.by_tag[evaluation.by_tag["group"] == group].drop(columns="group")
            console.print(_method_table(part, f"{group} targets (95% CI: {interval_names(part['interval'])})",
                                        k, top_k))
    consistency = Table(title="ground truth across target seeds (Spearman between seeds' source rankings)")
    for column in ("target", "spearman", "seeds", "pairs"):
        consistency.add_column(column, justify="left" if column == "target" else "right")
    for row in evaluation.consistency.to_dict(orient="records"):
        consistency.add_row(str(row["target"]), _fmt(row["spearman"]), str(row["n_seeds"]), str(row["n_pairs"]))
    console.print(consistency)


def print_comparison(evaluation, against: str) -> None:
    """Every method paired with `against` on the same cases: win rate and mean difference with its CI."""
    from rich.console import Console
    from rich.table import Table

    from intertask.evaluation.compare import paired_table
    from intertask.stats import interval_names

    _check_against(evaluation, against)
    k = evaluation.config["k"]
    pairs = {metric: paired_table(evaluation, metric) for metric in ("ndcg", "regret_at_k")}
    pairs = {metric: paired[paired["method_b"] == against].set_index("method_a") for metric, paired in pairs.items()}
    table = Table(title=f"each method against {against}, paired on the same target × seed cases "
                        f"(95% CI: {interval_names(pairs['ndcg']['interval'])}; targets in the last column)")
    for column in ("method", "NDCG win rate", "NDCG diff [95% CI]", f"Regret@{k} win rate", f"Regret@{k} diff [95% CI]",
                   "targets"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for method in pairs["ndcg"].index:
        cells = []
        for metric, spec in (("ndcg", ".3f"), ("regret_at_k", ".2f")):
            row = pairs[metric].loc[method]
            cells += [_fmt(row["win_rate"], ".2f"),
                      f"{_fmt(row['mean_diff'], '+' + spec)} [{_fmt(row['ci_low'], spec)}, {_fmt(row['ci_high'], spec)}]"]
        table.add_row(str(method), *cells, str(int(pairs["ndcg"].at[method, "n_targets"])))
    Console(width=150).print(table)


RECOMMENDER_FIRST = ("recommend", "recommend_mean_rank", "recommend_learned", "expected_gain")


def print_recommender(evaluation) -> None:
    """`recommend`'s combinations beside every selector (leave-one-target-out), the metrics a user
    feels: NDCG, Regret@k, and the top-1 source's gain over no transfer and over a random source."""
    from rich.console import Console
    from rich.table import Table

    from intertask.stats import interval_names

    config = evaluation.config
    k = config["k"]
    summary = evaluation.summary.set_index(["method", "metric"])
    methods = list(dict.fromkeys(evaluation.summary["method"]))
    methods = [m for m in RECOMMENDER_FIRST if m in methods] + [m for m in methods if m not in RECOMMENDER_FIRST]
    methods = [m for m in methods if "@" not in m]
    n_targets = int(evaluation.cases["target"].nunique())
    table = Table(title=f"recommend vs each selector, leave-one-target-out over {n_targets} targets "
                        f"(95% CI: {interval_names(evaluation.summary['interval'])})")
    columns = ("method", "NDCG ↑", f"Regret@{k} % ↓", "top-1 gain ↑", "top-1 gain vs random ↑", "cases (targets)")
    for column in columns:
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for method in methods:
        cells = []
        for metric, spec in (("ndcg", ".3f"), ("regret_at_k", ".2f"), ("top1_gain", "+.2f"),
                             ("top1_gain_over_random", "+.2f")):
            row = summary.loc[(method, metric)]
            cells.append(f"{_fmt(row['mean'], spec)} {_ci(row, spec.lstrip('+'))}")
        row = summary.loc[(method, "ndcg")]
        table.add_row(method, *cells, f"{int(row['n'])} ({int(row['n_targets'])})")
    console = Console(width=150)
    console.print(table)
    decision = config.get("combination")
    if decision:  # recommend's rule, chosen without each held-out target
        chosen = ", ".join(f"{t}: {r}" for t, r in config.get("held_out_rules", {}).items())
        console.print(f"recommend's rule chosen with each target held out (inner folds only): {chosen}")
        console.print(f"rule on every target: {decision['rule']} (fallback {decision['fallback']}): "
                      f"{decision['reason']}")


def _check_against(evaluation, against: str) -> None:
    from intertask.errors import IntertaskError, did_you_mean

    methods = list(evaluation.cases["method"].unique())
    if against not in methods:
        raise IntertaskError(f"--against {against!r} is not among the evaluated methods{did_you_mean(against, methods)}")


def _write(out: Path, evaluation) -> None:
    """`out` as JSON (`.json`) or the summary as CSV (`.csv`), written atomically."""
    from intertask.paths import atomic_output

    with atomic_output(out) as tmp:
        if out.suffix.lower() == ".json":
            tmp.write_text(json.dumps(evaluation.to_dict(), indent=1))
        else:
            evaluation.summary.to_csv(tmp, index=False)


def _items(text: Optional[str]) -> Optional[list[str]]:
    """A comma-separated option as a list (None when not given)."""
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _store_evaluation(store: Path, study, methods, seeds, max_texts: int | None, device: str, recommender: bool, k: int,
                      top_k: int, quiet: bool):
    """`--store`: predictions from the study's runs (and recommend's LOTO rows) → `evaluate`."""
    from intertask.errors import IntertaskError
    from intertask.evaluation import evaluate
    from intertask.evaluation.from_store import parse_methods, predictions_from_store
    from intertask.study.export import read_study

    chosen = [c[0] for c in parse_methods(methods)] if methods else None
    try:
        seed_list = [int(s) for s in _items(seeds)] if seeds else None
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
    from intertask.progress import progress_bar
    from intertask.recommend.library import load_library
    from intertask.evaluation import evaluate
    from intertask.recommend.loto import predictions_from_library

    with progress_bar(not quiet) as callback:
        built = predictions_from_library(load_library(library), _items(methods), budget_steps, target_runs,
                                         resolve_device(device), callback, runs_file=runs_file)
    return evaluate(built.truth, built.predictions, k=k, top_k=top_k)


def check_runs_file(runs_file: Path | None) -> None:
    """Refuse a `--runs-file` that is not FILE.json in an existing folder (before anything runs)."""
    from intertask.errors import IntertaskError

    if runs_file is not None and runs_file.suffix.lower() != ".json":
        raise IntertaskError(f"--runs-file {runs_file} must end in .json")
    if runs_file is not None and not runs_file.parent.is_dir():
        raise IntertaskError(f"folder {str(runs_file.parent)!r} does not exist; create it or choose another "
                             "--runs-file")


def read_named(specs, symmetric=()) -> dict:
    """`{name: read_predictions(path)}` (`intertask.matrix.predictions`) for `--predictions NAME=PATH`
    specs; the `--symmetric` names read both directions."""
    from intertask.errors import IntertaskError
    from intertask.matrix.predictions import read_predictions

    named = {}
    for spec in specs:
        name, sep, path = str(spec).partition("=")
        if not sep or not name.strip() or not path.strip():
            raise IntertaskError(f"--predictions {spec!r} must be NAME=FILE, e.g. roe=scores_roe.p")
        if name.strip() in named:
            raise IntertaskError(f"--predictions names {name.strip()!r} twice")
        named[name.strip()] = path.strip()
    unknown = [s for s in symmetric if s not in named]
    if unknown:
        raise IntertaskError(f"--symmetric {unknown[0]!r} is not a --predictions name; names: {', '.join(named) or 'none'}")
    return {name: read_predictions(path, symmetric=name in symmetric) for name, path in named.items()}


def _matrix_evaluation(matrix: Path, predictions, symmetric, setting, targets, k: int, top_k: int):
    """`--matrix`: predictions from files (and `random`) → `evaluate`, plus TaskWeb's definitions."""
    from intertask.evaluation.from_matrix import evaluate_matrix, predictions_from_files
    from intertask.matrix.transfer import TransferMatrix

    table = TransferMatrix.read(matrix).select(setting, _items(targets))
    evaluation = evaluate_matrix(table, predictions_from_files(table, read_named(predictions, symmetric)),
                                 k=k, top_k=top_k)
    evaluation.config["matrix"] = str(matrix)
    evaluation.ours.config.update(study=f"{matrix.name} [{evaluation.config['setting']}]", matrix=str(matrix))
    return evaluation


def _check_options(given: dict, mode: str, allowed: dict) -> None:
    """Refuse an option given with a mode it does not go with."""
    from intertask.errors import IntertaskError

    wrong = [name for name, value in given.items() if value and name not in allowed[mode]]
    if wrong:
        modes = [m for m, names in allowed.items() if wrong[0] in names]
        raise IntertaskError(f"{wrong[0]} goes with {' or '.join(modes)}, not {mode}")


MODE_OPTIONS = {
    "--store": ("--study", "--methods", "--seeds", "--max-texts", "--recommender", "--device"),
    "--library": ("--methods", "--budget-steps", "--target-runs", "--device", "--runs-file"),
    "--matrix": ("--predictions", "--symmetric", "--setting", "--targets"),
}


def register(app: typer.Typer) -> None:
    """Add the `evaluate` command to `app`."""

    @app.command("evaluate")
    def evaluate_command(
        store: Optional[Path] = typer.Option(None, "--store", help="Study store directory (from `intertask study run`)."),
        library: Optional[Path] = typer.Option(None, "--library", help="Evaluate recommend on this library's history "
                                               "instead (leave-one-target-out; runs recommend's short target runs "
                                               "for every historical target)."),
        matrix: Optional[Path] = typer.Option(None, "--matrix", help="Instead of --store: a transfer matrix file "
                                              "(from `intertask import` or `study export`); methods come from "
                                              "--predictions."),
        recommender: bool = typer.Option(False, "--recommender", help="With --store: add recommend (its rule chosen "
                                         "without each target) and its candidate rules, scored leave-one-target-out."),
        budget_steps: Optional[int] = typer.Option(None, "--budget-steps", help="With --library: steps of the short "
                                                   "target runs (default: recommend's)."),
        target_runs: Optional[int] = typer.Option(None, "--target-runs", min=1, help="With --library: short target "
                                                  "runs per historical target (recommend's --seeds; default 3)."),
        runs_file: Optional[Path] = typer.Option(None, "--runs-file", help="With --library: keep the short runs' "
                                                 "scores in FILE.json; a rerun reuses them (a killed run resumes)."),
        methods: Optional[str] = typer.Option(
            None, help="Comma-separated selection methods (default: all; max_pairwise@20 pins a snapshot step)."),
        k: int = typer.Option(3, "--k", min=1, help="k of Regret@k (the paper's script: 3)."),
        top_k: int = typer.Option(2, "--top-k", min=1, help="k of the top-k score (the paper's script: 2)."),
        seeds: Optional[str] = typer.Option(None, help="Comma-separated target seeds (default: all)."),
        max_texts: Optional[int] = typer.Option(None, min=1, help="Training examples per task for text embeddings "
                                                "and LogME (default: 512, or the backbone's hidden size + 1 if larger, "
                                                "so LogME has more examples than features)."),
        device: Optional[str] = typer.Option(None, help="cpu | cuda | cuda:N | mps (the backbone for LogME and "
                                             "embeddings; default cpu)."),
        as_json: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
        out: Optional[Path] = typer.Option(None, "--out", help="Also write the evaluation to FILE.json or the summary to FILE.csv."),
        study: Optional[str] = typer.Option(None, "--study", help="Which study of the store (default: the latest run)."),
        against: Optional[str] = typer.Option(None, "--against", help="Pair every method with this one: win rate "
                                              "and difference with 95% CI (default: random, when evaluated)."),
        predictions: list[str] = typer.Option([], "--predictions", help="With --matrix: NAME=FILE, a selector's "
                                              "scores (target, source, score table or pickle); repeatable."),
        symmetric: list[str] = typer.Option([], "--symmetric", help="With --matrix: score this --predictions NAME "
                                            "by the mean of both directions (TaskWeb's LLM-similarity)."),
        setting: Optional[str] = typer.Option(None, "--setting", help="With --matrix: the setting to evaluate."),
        targets: Optional[str] = typer.Option(None, "--targets", help="With --matrix: comma-separated targets "
                                              "(default: all)."),
    ) -> None:
        """Score selection methods against a study's transfers (--store), a library's history (--library)
        or a transfer matrix file (--matrix): NDCG, Regret@k, top-k, cost; with --recommender or --library,
        also recommend's own combinations, leave-one-target-out; on a matrix also under TaskWeb's definitions.
        Each mode builds predictions and hands them to the one evaluation (`intertask.evaluation.evaluate`)."""
        from intertask.errors import IntertaskError

        if out is not None and out.suffix.lower() not in (".json", ".csv"):
            raise IntertaskError(f"--out {out} must end in .json or .csv")
        if out is not None and not out.parent.is_dir():
            raise IntertaskError(f"folder {str(out.parent)!r} does not exist; create it or choose another --out")
        modes = {"--store": store, "--library": library, "--matrix": matrix}
        given = [name for name, value in modes.items() if value is not None]
        if len(given) != 1:
            raise IntertaskError("give exactly one of --store (a study), --library (a library's history) and "
                                 "--matrix (a transfer matrix file)")
        _check_options({"--study": study, "--methods": methods, "--seeds": seeds, "--max-texts": max_texts,
                        "--recommender": recommender, "--device": device, "--budget-steps": budget_steps,
                        "--target-runs": target_runs, "--predictions": predictions, "--symmetric": symmetric,
                        "--setting": setting, "--targets": targets, "--runs-file": runs_file}, given[0], MODE_OPTIONS)
        check_runs_file(runs_file)
        if matrix is not None:
            result = _matrix_evaluation(matrix, predictions, symmetric, setting, targets, k, top_k)
            evaluation = result.ours
        elif library is not None:
            evaluation = result = _library_evaluation(library, methods, budget_steps, target_runs or 3, k, top_k,
                                                      device or "cpu", as_json, runs_file)
        else:
            evaluation = result = _store_evaluation(store, study, methods, seeds, max_texts, device or "cpu",
                                                    recommender, k, top_k, as_json)
        if against is not None:  # before anything is written or printed
            _check_against(evaluation, against)
        if out is not None:
            _write(out, result)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=1))
            return
        print_evaluation(evaluation)
        if against is not None or "random" in set(evaluation.cases["method"]):
            print_comparison(evaluation, against or "random")
        if evaluation.config.get("recommender"):
            print_recommender(evaluation)
        if matrix is not None:
            print_taskweb(result)
        if out is not None:
            typer.echo(f"wrote {out}")


def print_taskweb(evaluation) -> None:
    """The methods under TaskWeb's definitions: rank-gain NDCG and Regret@k over the mean of the top k."""
    from rich.console import Console
    from rich.table import Table

    from intertask.stats import interval_names

    config = evaluation.config
    k = config["k"]
    gold = "TaskWeb's transfer label" if config["gold"] == "taskweb_label" else "the mean score (no per-cell gains)"
    table = Table(title=f"under TaskWeb's definitions: one case = one target, seed-mean scores, gold order = {gold}; "
                        f"95% CI: {interval_names(evaluation.taskweb_summary['interval'])}")
    for column in ("method", "NDCG (rank gain) ↑", "95% CI", f"Regret@{k} (mean of top {k}) % ↓", "95% CI ", "n"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for method, frame in evaluation.taskweb_summary.groupby("method", sort=False):
        rows = {r["metric"]: r for r in frame.to_dict(orient="records")}
        ndcg, regret = rows["ndcg_rank"], rows["regret_mean_at_k"]
        table.add_row(str(method), _pm(ndcg), _ci(ndcg), _pm(regret, ".2f"), _ci(regret, ".2f"), str(int(ndcg["n"])))
    Console(width=150).print(table)
