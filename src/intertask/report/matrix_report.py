"""The report of a transfer matrix file (`intertask report --matrix`): its coverage, its consistency across
seeds and settings, and, for one setting, the selectors evaluated under both metric definitions."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from intertask.stats import TARGET_INTERVAL_RULE
from intertask.report import figures
from intertask.report._common import figure_png
from intertask.formatting import fmt_number as fmt
from intertask.report._page import Rendered, figure_html, html_table, write_page
from intertask.report.consistency_figures import consistency_figure
from intertask.report.html import summary_table

CONSISTENCY_CAPTION = (
    "Left: per target (rows, with its group) and setting (columns), the share of sources whose seeds all agree "
    "on whether the transfer helped (1 = every source's seeds agree; n/a where neither baselines nor published "
    "per-cell gains say). Middle: Spearman's ρ between two seeds' rankings of the sources, mean over seed pairs. "
    "Right: ρ between two settings' rankings (seed-mean scores), mean over targets. Low values cap how well "
    "any selector can be measured on that target or setting."
)
SELECTOR_CAPTION = (
    "Each selection method's mean over target × seed cases under our definitions, with a 95% CI "
    f"{TARGET_INTERVAL_RULE}. Random is the exact expectation of a random ranking."
)
NAMES = {"sign_agreement": "seeds agree on sign", "negative_share": "negative on average",
         "seed_spearman": "ρ between seeds"}


def _aggregates(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per `key`, one column per metric: 'mean [ci_low, ci_high]' and its n targets / cells."""
    rows = []
    for name, part in frame.groupby(key, sort=False):
        row = {key: name}
        for r in part.to_dict(orient="records"):
            defined = r["n_cells"] and pd.notna(r["mean"])
            row[NAMES[r["metric"]]] = (f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]\n"
                                       f"n = {r['n_targets']} / {r['n_cells']}") if defined else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _taskweb_table(summary: pd.DataFrame) -> pd.DataFrame:
    cells = summary.assign(cell=summary.apply(
        lambda r: f"{fmt(r['mean'])} ±{fmt(r['std'])}\n[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", axis=1))
    table = cells.pivot_table(index="method", columns="metric", values="cell", aggfunc="first")
    table = table.reindex(summary["method"].unique())[["ndcg_rank", "regret_mean_at_k"]]
    table.columns = ["NDCG, rank gain ↑", "Regret@k, mean of top k ↓"]
    table.insert(2, "n targets", summary.groupby("method", sort=False)["n"].max())
    return table.reset_index().rename_axis(columns=None)


def write_matrix_report(out_dir, transfers, result, evaluation=None,
                        title: str = "intertask transfer matrix report") -> Path:
    """Write `out_dir/report.html` and its PNGs: coverage of the `TransferMatrix` `transfers` (its holes),
    the `Consistency` `result`, and, when given, a `MatrixEvaluation`; return the report's path."""
    matrix = transfers.frame
    rendered = [Rendered("consistency_matrix", "Consistency across seeds and settings", CONSISTENCY_CAPTION,
                         figure_png(consistency_figure(result)))]
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Coverage</h2>"]
    items = [f"{matrix['setting'].nunique()} settings, {matrix['target'].nunique()} targets, "
             f"{matrix['source'].nunique()} sources, {matrix['seed'].nunique()} seeds: {len(matrix)} transfers."]
    items += transfers.describe_holes().splitlines()
    body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
    body += ["<h2>Consistency</h2>", f"<p>Mean [95% CI {TARGET_INTERVAL_RULE}]; n = targets / cells.</p>",
             html_table(_aggregates(result.by_setting, "setting")), html_table(_aggregates(result.by_group, "group")),
             "<h3>Targets, least consistent first</h3>", html_table(result.targets), figure_html(rendered[0])]
    body.append("<h2>Selection methods</h2>")
    if evaluation is None:
        body.append('<p class="note">No selectors evaluated: the matrix has several settings; choose one to '
                    "evaluate (and add methods as predictions files).</p>")
    else:
        k = evaluation.config["k"]
        rendered.append(Rendered("selector_comparison", "Selection methods compared", SELECTOR_CAPTION,
                                 figure_png(figures.selector_comparison(evaluation.ours.summary, k))))
        gold = "TaskWeb's transfer label" if evaluation.config["gold"] == "taskweb_label" else "the mean score"
        body += [f"<h3>Ours (Lin et al.), setting {html.escape(evaluation.config['setting'])}: one case per "
                 "target × seed</h3>", html_table(summary_table(evaluation.ours.summary, k)),
                 f"<h3>TaskWeb's: one case per target, seed-mean scores, gold order by {html.escape(gold)}</h3>",
                 html_table(_taskweb_table(evaluation.taskweb_summary)), figure_html(rendered[1])]
    return write_page(out_dir, title, body, rendered)


def build_matrix_report(matrix_path, out_dir, predictions: dict | None = None, setting: str | None = None,
                        k: int = 3) -> Path:
    """Read the matrix file, measure its consistency over all settings, evaluate `random` and the
    `predictions` (`{method: target, source, predicted}`) on `setting` (or the only one), and write the report."""
    from intertask.evaluation.consistency import consistency, target_groups
    from intertask.evaluation.from_matrix import evaluate_matrix, predictions_from_files
    from intertask.matrix.transfer import TransferMatrix

    transfers = TransferMatrix.read(matrix_path)  # predictions need the setting when there are several
    one = transfers.select(setting) if setting is not None or predictions or len(transfers.settings) == 1 else None
    result = consistency(transfers.frame, target_groups(transfers.targets))
    evaluation = None if one is None else evaluate_matrix(one, predictions_from_files(one, predictions or {}), k=k)
    return write_matrix_report(out_dir, transfers, result, evaluation,
                               title=f"intertask transfer matrix report: {Path(matrix_path).name}")
