"""The tables `intertask evaluate` prints (and `library add-combination`, `print_recommender`): each method
with its intervals, each method paired with one of them, recommend beside every selector, and the methods
under TaskWeb's definitions. Imported only when printing (rich and the statistics load here)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from intertask.cli import rich_table
from intertask.errors import IntertaskError, did_you_mean
from intertask.formatting import MISSING, fmt_number
from intertask.stats import interval_names

RECOMMENDER_FIRST = ("recommend", "recommend_mean_rank", "recommend_learned", "expected_gain")


def _pm(stats, spec: str = ".3f") -> str:
    """'mean ± std' of one summary row."""
    if stats is None or math.isnan(stats["mean"]):
        return MISSING
    return f"{fmt_number(stats['mean'], spec)} ± {fmt_number(stats['std'], spec)}"


def _ci(stats, spec: str = ".3f") -> str:
    """'[low, high]' of one summary row."""
    if stats is None or math.isnan(stats["mean"]):
        return MISSING
    return f"[{fmt_number(stats['ci_low'], spec)}, {fmt_number(stats['ci_high'], spec)}]"


def _method_table(summary, title: str, k: int, top_k: int) -> Table:
    """One row per method with NDCG and Regret@k (mean ± std, 95% CI), top-k score, cases (targets), cost."""
    table = rich_table(title, ("method", "NDCG ↑", "95% CI", f"Regret@{k} % ↓", "95% CI ", f"top-{top_k} score",
                               "cases (targets)", "cost s", "target steps"), no_wrap=True)
    for method, frame in summary.groupby("method", sort=False):
        rows = {r["metric"]: r for r in frame.to_dict(orient="records")}
        first = next(iter(rows.values()))
        ndcg, regret, top = rows.get("ndcg"), rows.get("regret_at_k"), rows.get("top_k_score")
        table.add_row(str(method), _pm(ndcg), _ci(ndcg), _pm(regret, ".2f"), _ci(regret, ".2f"),
                      fmt_number(top["mean"] if top else None, ".2f"), f"{int(first['n'])} ({int(first['n_targets'])})",
                      fmt_number(first["cost_seconds"], ".4f"), fmt_number(first["target_steps"], ".0f"))
    return table


def print_evaluation(evaluation) -> None:
    """The overall table, the same split by tag group, then the ground truth's seed consistency."""
    console = Console(width=max(Console().width, 150))
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
            console.print(_method_table(part, f"{group} targets (95% CI: {interval_names(part['interval'])})", k,
                                        top_k))
    consistency = rich_table("ground truth across target seeds (Spearman between seeds' source rankings)",
                             ("target", "spearman", "seeds", "pairs"))
    for row in evaluation.consistency.to_dict(orient="records"):
        consistency.add_row(str(row["target"]), fmt_number(row["spearman"]), str(row["n_seeds"]), str(row["n_pairs"]))
    console.print(consistency)


def check_against(evaluation, against: str) -> None:
    """Refuse an `--against` method the evaluation does not have."""
    methods = list(evaluation.cases["method"].unique())
    if against not in methods:
        raise IntertaskError(f"--against {against!r} is not among the evaluated methods"
                             f"{did_you_mean(against, methods)}")


def print_comparison(evaluation, against: str) -> None:
    """Every method paired with `against` on the same cases: win rate and mean difference with its CI."""
    from intertask.evaluation.compare import paired_table

    k = evaluation.config["k"]
    pairs = {metric: paired_table(evaluation, metric) for metric in ("ndcg", "regret_at_k")}
    pairs = {metric: paired[paired["method_b"] == against].set_index("method_a") for metric, paired in pairs.items()}
    table = rich_table(f"each method against {against}, paired on the same target × seed cases (95% CI: "
                       f"{interval_names(pairs['ndcg']['interval'])}; targets in the last column)",
                       ("method", "NDCG win rate", "NDCG diff [95% CI]", f"Regret@{k} win rate",
                        f"Regret@{k} diff [95% CI]", "targets"), no_wrap=True)
    for method in pairs["ndcg"].index:
        cells = []
        for metric, spec in (("ndcg", ".3f"), ("regret_at_k", ".2f")):
            row = pairs[metric].loc[method]
            cells += [fmt_number(row["win_rate"], ".2f"), f"{fmt_number(row['mean_diff'], '+' + spec)} "
                      f"[{fmt_number(row['ci_low'], spec)}, {fmt_number(row['ci_high'], spec)}]"]
        table.add_row(str(method), *cells, str(int(pairs["ndcg"].at[method, "n_targets"])))
    Console(width=150).print(table)


def print_recommender(evaluation) -> None:
    """`recommend` and its candidate rules beside every selector (leave-one-target-out), the metrics a user
    feels: NDCG, Regret@k, and the top-1 source's gain over no transfer and over a random source; then the
    rule chosen without each target and on all of them."""
    config = evaluation.config
    k = config["k"]
    summary = evaluation.summary.set_index(["method", "metric"])
    methods = list(dict.fromkeys(evaluation.summary["method"]))
    methods = [m for m in RECOMMENDER_FIRST if m in methods] + [m for m in methods if m not in RECOMMENDER_FIRST]
    table = rich_table(f"recommend vs each selector, leave-one-target-out over {evaluation.cases['target'].nunique()}"
                       f" targets (95% CI: {interval_names(evaluation.summary['interval'])})",
                       ("method", "NDCG ↑", f"Regret@{k} % ↓", "top-1 gain ↑", "top-1 gain vs random ↑",
                        "cases (targets)"), no_wrap=True)
    for method in (m for m in methods if "@" not in m):
        cells = []
        for metric, spec in (("ndcg", ".3f"), ("regret_at_k", ".2f"), ("top1_gain", "+.2f"),
                             ("top1_gain_over_random", "+.2f")):
            row = summary.loc[(method, metric)]
            cells.append(f"{fmt_number(row['mean'], spec)} {_ci(row, spec.lstrip('+'))}")
        row = summary.loc[(method, "ndcg")]
        table.add_row(method, *cells, f"{int(row['n'])} ({int(row['n_targets'])})")
    console = Console(width=150)
    console.print(table)
    rule = config.get("combination")
    if rule:
        chosen = ", ".join(f"{t}: {r}" for t, r in config.get("held_out_rules", {}).items())
        console.print(f"recommend's rule chosen with each target held out (inner folds only): {chosen}")
        console.print(f"rule on every target: {rule['rule']} (fallback {rule['fallback']}): {rule['reason']}")


def print_taskweb(evaluation) -> None:
    """The methods under TaskWeb's definitions: rank-gain NDCG and Regret@k over the mean of the top k."""
    config = evaluation.config
    k = config["k"]
    gold = "TaskWeb's transfer label" if config["gold"] == "taskweb_label" else "the mean score (no per-cell gains)"
    table = rich_table(f"under TaskWeb's definitions: one case = one target, seed-mean scores, gold order = {gold}; "
                       f"95% CI: {interval_names(evaluation.taskweb_summary['interval'])}",
                       ("method", "NDCG (rank gain) ↑", "95% CI", f"Regret@{k} (mean of top {k}) % ↓", "95% CI ",
                        "n"), no_wrap=True)
    for method, frame in evaluation.taskweb_summary.groupby("method", sort=False):
        rows = {r["metric"]: r for r in frame.to_dict(orient="records")}
        ndcg, regret = rows["ndcg_rank"], rows["regret_mean_at_k"]
        table.add_row(str(method), _pm(ndcg), _ci(ndcg), _pm(regret, ".2f"), _ci(regret, ".2f"), str(int(ndcg["n"])))
    Console(width=150).print(table)
