"""Self-contained reports: a study report (HTML + PNGs) and a recommendation report (HTML or Markdown).

Every input is checked and every figure rendered in memory before anything is written; files are
written atomically (temporary file in the same folder, then rename), the report page last.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from intertask.errors import IntertaskError
from intertask.stats import TARGET_INTERVAL_RULE
from intertask.formatting import fmt_number
from intertask.report import figures as study_figures
from intertask.report import recommend_figures
from intertask.report._common import reasoning_targets, require_columns
from intertask.report._page import Rendered, figure_html, html_table, page, render, write_files, write_page

if TYPE_CHECKING:
    from intertask.matrix.transfer import TransferMatrix
    from intertask.recommend.verdict import Verdict


SUMMARY_NOTE = (
    f"Each cell: mean ±std over target × seed cases, [95% CI {TARGET_INTERVAL_RULE}] below; ↑ higher is better, "
    "↓ lower is better. Methods sorted by NDCG."
)
METRIC_ORDER = ("ndcg", "ndcg_gain", "regret_at_k", "top_k_score", "spearman", "kendall")


def summary_table(summary: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """One row per method (best NDCG first), one column per metric: 'mean ±std' over '[ci_low, ci_high]',
    headed by the metric's name and direction (↑ higher is better, ↓ lower), plus n (cases) and, when
    the summary has them, the targets the intervals rest on."""
    require_columns(summary, study_figures.SUMMARY_COLUMNS, "evaluation summary")
    cell = summary.apply(
        lambda r: f"{fmt_number(r['mean'])} ±{fmt_number(r['std'])}\n[{fmt_number(r['ci_low'])}, {fmt_number(r['ci_high'])}]", axis=1
    )
    table = summary.assign(cell=cell).pivot_table(index="method", columns="metric", values="cell", aggfunc="first")
    order = summary[summary["metric"] == "ndcg"].sort_values("mean", ascending=False)["method"].tolist()
    table = table.reindex(order + [m for m in table.index if m not in order])
    metrics = [m for m in METRIC_ORDER if m in table.columns] + [m for m in table.columns if m not in METRIC_ORDER]
    table = table[metrics]
    table.columns = [_metric_header(m, k) for m in metrics]
    table.insert(len(table.columns), "n", summary.groupby("method")["n"].max().reindex(table.index))
    if "n_targets" in summary:
        table.insert(len(table.columns), "targets", summary.groupby("method")["n_targets"].max().reindex(table.index))
    return table.reset_index().rename_axis(columns=None)


def _metric_header(metric: str, k: int | None) -> str:
    names = {"ndcg": "NDCG", "ndcg_gain": "gain NDCG", "regret_at_k": f"Regret@{k or 'k'}",
             "top_k_score": "top-k score", "spearman": "Spearman", "kendall": "Kendall"}
    arrow = " ↓" if metric.startswith("regret") else (" ↑" if metric in names else "")
    return names.get(metric, metric) + arrow


def _overview(matrix: pd.DataFrame, reasoning: set[str], floored: list[tuple[str, int]]) -> str:
    means = matrix.groupby("source")["relative_gain"].mean().sort_values(ascending=False)
    negative = float((matrix["gain"] < 0).mean() * 100)
    items = [
        f"{matrix['source'].nunique()} sources × {matrix['target'].nunique()} targets × "
        f"{matrix['seed'].nunique()} seeds = {len(matrix)} transfers.",
        f"Best source on average: {means.index[0]} ({means.iloc[0]:+.1f}% relative gain); "
        f"worst: {means.index[-1]} ({means.iloc[-1]:+.1f}%).",
        f"{negative:.0f}% of transfers scored below their no-transfer baseline (negative transfer).",
        "Reasoning targets: " + (", ".join(sorted(reasoning & set(matrix["target"].astype(str)))) or "none tagged") + ".",
    ]
    if floored:
        items.append(f"Left out of every number and figure: {len(floored)} target × seed case(s) whose baseline "
                     f"did not clear its floor, so they measure no transfer ({', '.join(f'{t}/{s}' for t, s in floored)}).")
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def write_study_report(
    out_dir,
    matrix: TransferMatrix,
    evaluation_cases: pd.DataFrame,
    evaluation_summary: pd.DataFrame,
    tags,
    consistency: pd.DataFrame | None = None,
    snapshot_curve: pd.DataFrame | None = None,
    title: str = "intertask study report",
    k: int | None = None,
) -> Path:
    """Write `out_dir/report.html` (figures embedded as base64 PNG) and each figure as
    `out_dir/<name>.png`; return the report's path. Optional parts that are absent or empty get a
    note instead of a figure. Raises `IntertaskError` naming any missing column before writing. The cases
    whose baseline did not learn measure no transfer (`TransferMatrix.not_learned`): left out, and named."""
    reasoning = reasoning_targets(tags)
    floored = [(t, s) for _, t, s in matrix.not_learned()]
    matrix = matrix.learned_only()
    require_columns(evaluation_cases, study_figures.CASES_COLUMNS, "evaluation cases")
    table = summary_table(evaluation_summary, k)
    has_consistency = _present(consistency, study_figures.CONSISTENCY_COLUMNS, "consistency table")
    has_consistency = has_consistency and consistency["spearman"].notna().any()
    has_curve = _present(snapshot_curve, study_figures.CURVE_COLUMNS, "snapshot curve")
    case_targets = set(evaluation_cases["target"].astype(str))
    has_reasoning = bool(case_targets & reasoning and case_targets - reasoning)

    figs = study_figures
    sections = [
        render("gain_heatmap", "Transfer gain, sources × targets", figs.gain_heatmap, matrix, tags),
        render("transfer_strips", "Transfer scores per target across seeds", figs.transfer_strips, matrix, tags),
        render("selector_comparison", "Selection methods compared", figs.selector_comparison, evaluation_summary, k),
        render("consistency", "Consistency of the ground truth across seeds", figs.consistency_plot, consistency, tags)
        if has_consistency
        else ("consistency", "No seed consistency to show: it needs at least two seeds per target."),
        render("snapshot_curve", "Prompt methods vs target training steps", figs.snapshot_curve, snapshot_curve, k)
        if has_curve
        else ("snapshot_curve", "No snapshot curve: this study kept no target prompt snapshots, so quality "
              "versus target training steps cannot be shown (set snapshot steps in the study config)."),
        render("reasoning_comparison", "Reasoning targets vs the rest", figs.reasoning_comparison,
               evaluation_cases, tags, k)
        if has_reasoning
        else ("reasoning_comparison", "No reasoning comparison: it needs targets tagged 'reasoning' and others."),
    ]
    rendered = [part for part in sections if isinstance(part, Rendered)]

    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Overview</h2>", _overview(matrix.frame, reasoning, floored)]
    body += ["<h2>Selection methods</h2>", f"<p>{html.escape(SUMMARY_NOTE)}</p>", html_table(table)]
    body.append("<h2>Figures</h2>")
    for part in sections:
        if isinstance(part, Rendered):
            body.append(figure_html(part))
        else:
            body.append(f'<p class="note" id="{part[0]}">{html.escape(part[1])}</p>')

    return write_page(out_dir, title, body, rendered)


def _present(df, columns, what: str) -> bool:
    """True when the optional table `df` is given and has rows; checks its columns when given."""
    return df is not None and not require_columns(df, columns, what, allow_empty=True).empty


def _ranking_display(ranking: pd.DataFrame) -> pd.DataFrame:
    ranked = ranking.sort_values("combined_rank", kind="stable")
    columns = recommend_figures.score_columns(ranked)
    shown = ranked[["combined_rank", "source", *columns, "stability", "expected_gain", "p_negative"]]
    names = {c: f"score ({c[len('score_'):]})" for c in columns}
    names |= {"combined_rank": "rank", "expected_gain": "expected gain (points)",
              "p_negative": "P(negative transfer)"}
    if shown["expected_gain"].isna().all():
        shown = shown.drop(columns=["expected_gain", "p_negative"])
    if "leak_share" in ranked and (ranked["leak_share"] > 0).any():  # sources holding the target's own texts
        shown = shown.assign(leak_share=ranked["leak_share"])
        names["leak_share"] = "target texts in source (leak)"
    return shown.rename(columns=names).reset_index(drop=True)


def _md_escape(text) -> str:
    """Escape Markdown's inline syntax (and table pipes) in a cell or sentence."""
    text = str(text)
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def _md_table(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(_md_escape(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_md_escape(fmt_number(v)) for v in row) + " |")
    return "\n".join(lines)


def write_recommendation_report(
    path, target_name: str, ranking: pd.DataFrame, verdict: Verdict, verify: pd.DataFrame | None = None
) -> Path:
    """Write a recommendation for `target_name`: a self-contained HTML file, or, when `path` ends
    in `.md`, Markdown with its PNGs next to it (`<stem>_ranking.png`, `<stem>_verify.png`).

    `ranking`: `source, combined_rank, score_<method>..., stability, expected_gain, p_negative`;
    `verdict`: a `Verdict` (`intertask.recommend.verdict.make_verdict`); `verify` (optional):
    `source, mean_gain, ci_low, ci_high, n_seeds`. Returns the report's path."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm", ".md"):
        raise IntertaskError(f"report {path} must end in .html or .md", "report")
    from intertask.recommend.verdict import Verdict  # here: the recommend package loads torch

    if not isinstance(verdict, Verdict):
        raise IntertaskError(f"verdict must be a Verdict (from make_verdict), got {type(verdict).__name__}")
    table = _ranking_display(recommend_figures.ordered_ranking(ranking))
    rendered = [render("ranking", "Ranked sources", recommend_figures.ranking_figure, ranking, target_name)]
    if verify is not None:
        rendered.append(render("verify", "Verified transfers", recommend_figures.verify_figure, verify, target_name))
    no_verify = (
        "Not verified with real transfers: verifying the top K sources trains them and the "
        "no-transfer baseline and measures the gain with a 95% CI."
    )
    title = f"Which intermediate task for {target_name}?"
    if path.suffix.lower() == ".md":
        lines = [f"# {_md_escape(title)}", "", f"**{_md_escape(verdict.headline)}**", ""]
        lines += [
            f"- {'PASS' if c.passed else 'FAIL'} **{_md_escape(c.name)}**: {_md_escape(c.detail)}"
            for c in verdict.criteria
        ]
        lines += [""] + [f"> Warning: {_md_escape(w)}" for w in verdict.warnings]
        lines += ["", f"Ranked by: {_md_escape(verdict.ranked_by)}"] if verdict.ranked_by else []
        figures_md = [
            [f"## {fig.title}", "", f"![{fig.title}]({path.stem}_{fig.name}.png)", "", _md_escape(fig.caption), ""]
            for fig in rendered
        ]
        lines += [""] + figures_md[0] + ["## All sources", "", _md_table(table), ""]
        lines += figures_md[1] if verify is not None else [_md_escape(no_verify), ""]
        files = {path.with_name(f"{path.stem}_{fig.name}.png"): fig.png for fig in rendered}
        write_files({**files, path: "\n".join(lines).encode("utf-8")}, "report")
        return path
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="headline">{html.escape(verdict.headline)}</p>']
    rows = "".join(
        f'<tr><td class="{"pass" if c.passed else "fail"}">{"✓ pass" if c.passed else "✗ fail"}</td>'
        f"<td>{html.escape(c.name)}</td><td>{html.escape(c.detail)}</td></tr>"
        for c in verdict.criteria
    )
    head = "<thead><tr><th></th><th>criterion</th><th>detail</th></tr></thead>"
    body.append(f"<table>{head}<tbody>{rows}</tbody></table>")
    body += [f'<p class="warn">Warning: {html.escape(w)}</p>' for w in verdict.warnings]
    body += [f'<p class="note">Ranked by: {html.escape(verdict.ranked_by)}</p>'] if verdict.ranked_by else []
    body += [figure_html(rendered[0]), "<h2>All sources</h2>", html_table(table)]
    body += [figure_html(fig) for fig in rendered[1:]]
    if verify is None:
        body.append(f'<p class="note" id="verify">{html.escape(no_verify)}</p>')
    else:
        shown = verify[list(recommend_figures.VERIFY_COLUMNS)].sort_values("mean_gain", ascending=False)
        shown = shown.rename(columns={"mean_gain": "mean gain (points)", "ci_low": "95% CI low",
                                      "ci_high": "95% CI high", "n_seeds": "seeds"})
        body += ["<h2>Verification</h2>", html_table(shown)]
    write_files({path: page(title, "\n".join(body))}, "report")
    return path
