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

    console = Console()
    console = Console(width=max(console.width, 150))
    config = evaluation.config
    k, top_k = config["k"], config["top_k"]
    over = "cases" if config["bootstrap"] == "case" else "targets"
    console.print(_method_table(evaluation.summary, f"selection methods on {config.get('study', 'the study')} "
                                f"({config.get('backbone', '?')}; one case = one target × seed; 95% CI by "
                                f"bootstrap resampling {over})", k, top_k))
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
            console.print(_method_table(part, f"{group} targets", k, top_k))
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

    from intertask.evaluation.evaluate import paired_table

    _check_against(evaluation, against)
    k = evaluation.config["k"]
    over = "cases" if evaluation.config["bootstrap"] == "case" else "targets"
    table = Table(title=f"each method against {against}, paired on the same target × seed cases "
                        f"(95% CI resampling {over})")
    for column in ("method", "NDCG win rate", "NDCG diff [95% CI]", f"Regret@{k} win rate", f"Regret@{k} diff [95% CI]"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    pairs = {}
    for metric in ("ndcg", "regret_at_k"):
        paired = paired_table(evaluation, metric)
        pairs[metric] = paired[paired["method_b"] == against].set_index("method_a")
    for method in pairs["ndcg"].index:
        cells = []
        for metric, spec in (("ndcg", ".3f"), ("regret_at_k", ".2f")):
            row = pairs[metric].loc[method]
            cells += [_fmt(row["win_rate"], ".2f"),
                      f"{_fmt(row['mean_diff'], '+' + spec)} [{_fmt(row['ci_low'], spec)}, {_fmt(row['ci_high'], spec)}]"]
        table.add_row(str(method), *cells)
    Console(width=150).print(table)


RECOMMENDER_FIRST = ("recommend_learned", "recommend", "expected_gain")


def print_recommender(evaluation) -> None:
    """`recommend`'s combinations beside every selector (leave-one-target-out), the metrics a user
    feels: NDCG, Regret@k, and the top-1 source's gain over no transfer and over a random source."""
    from rich.console import Console
    from rich.table import Table

    config = evaluation.config
    k = config["k"]
    summary = evaluation.summary.set_index(["method", "metric"])
    methods = list(dict.fromkeys(evaluation.summary["method"]))
    methods = [m for m in RECOMMENDER_FIRST if m in methods] + [m for m in methods if m not in RECOMMENDER_FIRST]
    methods = [m for m in methods if "@" not in m]
    n_targets = int(evaluation.cases["target"].nunique())
    table = Table(title=f"recommend vs each selector, leave-one-target-out over {n_targets} targets "
                        f"(95% CI resampling targets)")
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
    if decision:
        console.print(f"learned combination {'USED' if decision['use'] else 'not used'} by recommend: "
                      f"{decision['reason']}")


def _check_against(evaluation, against: str) -> None:
    from intertask.errors import IntertaskError, did_you_mean

    methods = list(evaluation.cases["method"].unique())
    if against not in methods:
        raise IntertaskError(f"--against {against!r} is not among the evaluated methods{did_you_mean(against, methods)}")


def _write(out: Path, evaluation) -> None:
    """`out` as JSON (`.json`) or the summary as CSV (`.csv`), written atomically."""
    from intertask.errors import IntertaskError
    from intertask.paths import atomic_output

    suffix = out.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise IntertaskError(f"--out {out} must end in .json or .csv")
    if not out.parent.is_dir():
        raise IntertaskError(f"folder {str(out.parent)!r} does not exist; create it or choose another --out")
    with atomic_output(out) as tmp:
        if suffix == ".json":
            tmp.write_text(json.dumps(evaluation.to_dict(), indent=1))
        else:
            evaluation.summary.to_csv(tmp, index=False)


def _evaluate_library(library: Path, methods, budget_steps, target_runs: int, k: int, top_k: int, device: str,
                      quiet: bool):
    from intertask.backbones import resolve_device
    from intertask.evaluation.recommender import evaluate_library
    from intertask.progress import progress_bar

    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    with progress_bar(not quiet) as callback:
        return evaluate_library(library, methods=chosen, budget_steps=budget_steps, runs=target_runs, k=k,
                                top_k=top_k, device=resolve_device(device), progress=callback)


def register(app: typer.Typer) -> None:
    """Add the `evaluate` command to `app`."""

    @app.command("evaluate")
    def evaluate_command(
        store: Optional[Path] = typer.Option(None, "--store", help="Study store directory (from `intertask study run`)."),
        library: Optional[Path] = typer.Option(None, "--library", help="Evaluate recommend on this library's history "
                                               "instead (leave-one-target-out; runs recommend's short target runs "
                                               "for every historical target)."),
        recommender: bool = typer.Option(False, "--recommender", help="With --store: add recommend's combinations "
                                         "(equal-weight, learned, expected gain), scored leave-one-target-out."),
        save_combination: bool = typer.Option(False, "--save-combination", help="With --library: store the learned "
                                              "combination and its decision in the library (combination.json)."),
        budget_steps: Optional[int] = typer.Option(None, "--budget-steps", help="With --library: steps of the short "
                                                   "target runs (default: recommend's)."),
        target_runs: int = typer.Option(3, "--target-runs", min=1, help="With --library: short target runs per "
                                        "historical target (recommend's --seeds)."),
        methods: Optional[str] = typer.Option(
            None, help="Comma-separated selection methods (default: all; max_pairwise@20 pins a snapshot step)."),
        k: int = typer.Option(3, "--k", min=1, help="k of Regret@k (the paper's script: 3)."),
        top_k: int = typer.Option(2, "--top-k", min=1, help="k of the top-k score (the paper's script: 2)."),
        seeds: Optional[str] = typer.Option(None, help="Comma-separated target seeds (default: all)."),
        max_texts: int = typer.Option(256, min=1, help="Training examples per task for text embeddings and LogME."),
        device: str = typer.Option("cpu", help="cpu | cuda | cuda:N | mps (the backbone for LogME and embeddings)."),
        as_json: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
        out: Optional[Path] = typer.Option(None, "--out", help="Also write the evaluation to FILE.json or the summary to FILE.csv."),
        study: Optional[str] = typer.Option(None, "--study", help="Which study of the store (default: the latest run)."),
        against: Optional[str] = typer.Option(None, "--against", help="Pair every method with this one: win rate "
                                              "and difference with 95% CI (default: random, when evaluated)."),
        matrix: Optional[Path] = typer.Option(None, "--matrix", help="Instead of --store: a transfer matrix file "
                                              "(from `intertask import`); methods come from --predictions."),
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
        also recommend's own combinations, leave-one-target-out; on a matrix also under TaskWeb's definitions."""
        from intertask.errors import IntertaskError
        from intertask.evaluation.from_store import evaluate_store, parse_methods

        if out is not None and out.suffix.lower() not in (".json", ".csv"):
            raise IntertaskError(f"--out {out} must end in .json or .csv")
        if sum(x is not None for x in (store, library, matrix)) != 1:
            raise IntertaskError("give exactly one of --store (a study), --library (a library's history) and "
                                 "--matrix (a transfer matrix file)")
        if recommender and store is None:
            raise IntertaskError("--recommender goes with --store; --library always scores recommend's combinations")
        if save_combination and library is None:
            raise IntertaskError("--save-combination needs --library: the combination is learned from its history")
        if matrix is not None:
            from intertask.evaluation.from_matrix import evaluate_matrix_file

            if methods or seeds or study:
                raise IntertaskError("--methods, --seeds and --study go with --store; on a --matrix, methods come "
                                     "from --predictions NAME=FILE")

            chosen = None if targets is None else [t.strip() for t in targets.split(",") if t.strip()]
            if chosen == []:
                raise IntertaskError(f"--targets {targets!r} names no target; give comma-separated names, e.g. "
                                     "--targets rte,cb")
            evaluation = evaluate_matrix_file(matrix, predictions, symmetric, setting, chosen, k, top_k=top_k)
            if against is not None:
                _check_against(evaluation.ours, against)
            if out is not None:
                _write(out, evaluation)
            if as_json:
                typer.echo(json.dumps(evaluation.to_dict(), indent=1))
                return
            print_evaluation(evaluation.ours)
            if against is not None or evaluation.ours.cases["method"].nunique() > 1:
                print_comparison(evaluation.ours, against or "random")
            print_taskweb(evaluation)
            if out is not None:
                typer.echo(f"wrote {out}")
            return
        if predictions or symmetric or setting or targets:
            raise IntertaskError("--predictions, --symmetric, --setting and --targets go with --matrix, not --store")
        if library is not None:
            evaluation = _evaluate_library(library, methods, budget_steps, target_runs, k, top_k, device, as_json)
        else:
            chosen = parse_methods(methods) if methods else None
            try:
                seed_list = [int(s) for s in seeds.split(",") if s.strip()] if seeds else None
            except ValueError:
                raise IntertaskError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
            evaluation = evaluate_store(store, methods=[c[0] for c in chosen] if chosen else None, k=k, top_k=top_k,
                                        seeds=seed_list, max_texts=max_texts, progress=not as_json, device=device,
                                        study=study, recommender=recommender)
        if against is not None:  # before anything is written or printed
            _check_against(evaluation, against)
        if out is not None:
            _write(out, evaluation)
        if save_combination:
            from intertask.evaluation.recommender import save_combination as save

            saved = save(library, evaluation)
        if as_json:
            typer.echo(json.dumps(evaluation.to_dict(), indent=1))
        else:
            print_evaluation(evaluation)
            if against is not None or "random" in set(evaluation.cases["method"]):
                print_comparison(evaluation, against or "random")
            if evaluation.config.get("recommender"):
                print_recommender(evaluation)
            if out is not None:
                typer.echo(f"wrote {out}")
            if save_combination:
                typer.echo(f"wrote {saved}")


def print_taskweb(evaluation) -> None:
    """The methods under TaskWeb's definitions: rank-gain NDCG and Regret@k over the mean of the top k."""
    from rich.console import Console
    from rich.table import Table

    config = evaluation.config
    k = config["k"]
    gold = "TaskWeb's transfer label" if config["gold"] == "taskweb_label" else "the mean score (no per-cell gains)"
    table = Table(title=f"under TaskWeb's definitions: one case = one target, seed-mean scores, gold order = {gold}; "
                        "95% CI by bootstrap over targets")
    for column in ("method", "NDCG (rank gain) ↑", "95% CI", f"Regret@{k} (mean of top {k}) % ↓", "95% CI ", "n"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for method, frame in evaluation.taskweb_summary.groupby("method", sort=False):
        rows = {r["metric"]: r for r in frame.to_dict(orient="records")}
        ndcg, regret = rows["ndcg_rank"], rows["regret_mean_at_k"]
        table.add_row(str(method), _pm(ndcg), _ci(ndcg), _pm(regret, ".2f"), _ci(regret, ".2f"), str(int(ndcg["n"])))
    Console(width=150).print(table)
