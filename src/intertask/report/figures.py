"""Figures of a transfer study, each a `matplotlib.figure.Figure` built from plain DataFrames.

Inputs (one row each):
- `matrix`: a transfer — `target, source, seed, score, baseline, gain, relative_gain`
  (scores 0–100; `gain = score − baseline` in points; `relative_gain = gain / baseline × 100` in %).
- `cases`: a method × target × seed evaluation — `method, target, seed, ndcg, regret_at_k, ...`.
- `summary`: `method, metric, mean, std, ci_low, ci_high, n` (95% bootstrap CI).
- `consistency`: `target, spearman` (source ranking agreement between two seeds), one row per seed
  pair (with `seed_a, seed_b`) or one per target (already the mean over pairs).
- `curve`: `method, target_steps, metric, mean, ci_low, ci_high` (quality vs target prompt steps).
`tags` maps a task name to its tags; targets tagged 'reasoning' are drawn apart.

Recommendation figures live in `intertask.report.recommend_figures`.
"""

from __future__ import annotations

import math

import numpy as np

from intertask.errors import IntertaskError
from intertask.stats import TARGET_INTERVAL_RULE, interval_names
from intertask.formatting import MISSING
from intertask.report._common import (
    OTHER_COLOR,
    REASONING_COLOR,
    mean_ci,
    new_figure,
    order_targets,
    reasoning_targets,
    require_columns,
    wrap_name,
)

CASES_COLUMNS = ("method", "target", "seed", "ndcg", "regret_at_k")
SUMMARY_COLUMNS = ("method", "metric", "mean", "std", "ci_low", "ci_high", "n")
CONSISTENCY_COLUMNS = ("target", "spearman")
CURVE_COLUMNS = ("method", "target_steps", "metric", "mean", "ci_low", "ci_high")

METRIC_LABELS = {
    "ndcg": "NDCG (higher is better)",
    "ndcg_gain": "gain-based NDCG (higher is better)",
    "regret_at_k": "Regret@{k} (% of best score, lower is better)",
    "top_k_score": "top-k score (%, higher is better)",
    "spearman": "Spearman ρ with ground truth (higher is better)",
    "kendall": "Kendall τ with ground truth (higher is better)",
}


def metric_label(metric: str, k: int | None = None) -> str:
    """Axis label for an evaluation metric, with its direction and unit."""
    text = METRIC_LABELS.get(metric, metric)
    return text.replace("{k}", str(k) if k else "k")


def _ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=6)


def _source_order(matrix) -> list[str]:
    """Sources by mean relative gain over all targets, best first."""
    means = matrix.groupby("source")["relative_gain"].mean().sort_values(ascending=False)
    return [str(s) for s in means.index]


def _target_ticks(ax, targets, reasoning, axis: str = "x", width: int = 14) -> None:
    labels = [wrap_name(t, width) + ("\n(reasoning)" if t in reasoning else "") for t in targets]
    ticks = ax.xaxis if axis == "x" else ax.yaxis
    ticks.set_ticks(range(len(targets)), labels, rotation=0, fontsize=8)
    for tick, target in zip(ticks.get_ticklabels(), targets):
        if target in reasoning:
            tick.set_color(REASONING_COLOR)


def gain_heatmap(matrix, tags=None):
    """Sources × targets heatmap of a `TransferMatrix`'s mean relative gain (%) over seeds, each cell `mean ± std`.

    Diverging colours centred at 0 (blue helps, red hurts); sources sorted best first;
    reasoning targets last, behind a vertical line.
    """
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    matrix = matrix.frame
    reasoning = reasoning_targets(tags)
    sources = _source_order(matrix)
    targets = order_targets(matrix["target"].astype(str), reasoning)
    grouped = matrix.assign(source=matrix["source"].astype(str), target=matrix["target"].astype(str))
    grouped = grouped.groupby(["source", "target"])["relative_gain"]
    mean = grouped.mean().unstack("target").reindex(index=sources, columns=targets)
    std = grouped.std(ddof=1).unstack("target").reindex(index=sources, columns=targets)
    n_seeds = int(matrix["seed"].nunique())

    values = mean.to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    limit = limit if limit > 0 else 1.0
    fig = new_figure(max(6.0, 2.8 + 1.05 * len(targets)), max(3.6, 2.2 + 0.46 * len(sources)))
    ax = fig.add_subplot()
    cmap = colormaps["RdBu"].with_extremes(bad="#dddddd")
    image = ax.imshow(
        np.ma.masked_invalid(values),
        cmap=cmap,
        norm=TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit),
        aspect="auto",
    )
    for i in range(len(sources)):
        for j in range(len(targets)):
            m, s = values[i, j], std.iat[i, j]
            if not np.isfinite(m):
                ax.text(j, i, MISSING, ha="center", va="center", fontsize=7, color="#555555")
                continue
            text = f"{m:+.1f}" + (f"\n±{s:.1f}" if np.isfinite(s) else "")
            color = "white" if abs(m) > 0.6 * limit else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color, linespacing=1.0)
    n_other = sum(t not in reasoning for t in targets)
    if 0 < n_other < len(targets):
        ax.axvline(n_other - 0.5, color="black", linewidth=2)
    _target_ticks(ax, targets, reasoning, "x")
    ax.set_yticks(range(len(sources)), sources, fontsize=8)
    ax.set_xlabel("target task")
    ax.set_ylabel("source task (best on average first)")
    ax.set_title(
        f"Relative transfer gain over the no-transfer baseline\n(mean ± std over {n_seeds} seed(s))",
        fontsize=11,
    )
    bar = fig.colorbar(image, ax=ax, shrink=0.85, pad=0.01)
    bar.set_label("relative gain (%)")
    return fig


def transfer_strips(matrix, tags=None, max_columns: int = 5):
    """Small multiples of a `TransferMatrix`, one panel per target: each source's transfer score per seed (dots) and
    their mean (black bar), against the no-transfer baseline (line = mean, band = seed range)."""
    matrix = matrix.frame
    reasoning = reasoning_targets(tags)
    sources = _source_order(matrix)
    targets = order_targets(matrix["target"].astype(str), reasoning)
    seeds = sorted(matrix["seed"].unique().tolist())
    offsets = np.linspace(-0.22, 0.22, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    colors = [f"C{i % 10}" for i in range(len(seeds))]
    n_cols = min(max_columns, len(targets))
    n_rows = math.ceil(len(targets) / n_cols)
    fig = new_figure(2.4 + 2.6 * n_cols, 1.0 + n_rows * (1.1 + 0.27 * len(sources)))
    axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
    position = {s: i for i, s in enumerate(sources)}
    for index, target in enumerate(targets):
        ax = axes[index // n_cols][index % n_cols]
        rows = matrix[matrix["target"].astype(str) == target]
        baselines = rows.groupby("seed")["baseline"].first().to_numpy(dtype=float)
        if baselines.size:
            ax.axvspan(baselines.min(), baselines.max(), color="#bbbbbb", alpha=0.45, linewidth=0)
            ax.axvline(baselines.mean(), color="#444444", linestyle="--", linewidth=1.2)
        for seed, offset, color in zip(seeds, offsets, colors):
            part = rows[rows["seed"] == seed]
            y = part["source"].astype(str).map(position).to_numpy(dtype=float) + offset
            ax.scatter(part["score"], y, s=16, color=color, alpha=0.85, linewidths=0, zorder=3)
        means = rows.groupby(rows["source"].astype(str))["score"].mean()
        ax.scatter(
            means.to_numpy(), [position[s] for s in means.index], marker="|", s=160, color="black", zorder=4
        )
        ax.set_title(
            wrap_name(target, 24) + (" (reasoning)" if target in reasoning else ""),
            fontsize=9,
            color=REASONING_COLOR if target in reasoning else "black",
        )
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    for index in range(len(targets), n_rows * n_cols):
        axes[index // n_cols][index % n_cols].set_visible(False)
    axes[0][0].set_yticks(range(len(sources)), sources)
    axes[0][0].set_ylim(len(sources) - 0.5, -0.5)
    for row in axes:
        row[0].tick_params(axis="y", labelsize=8)
    for index in range(max(0, len(targets) - n_cols), len(targets)):
        axes[index // n_cols][index % n_cols].set_xlabel("target test score after transfer (%)", fontsize=8)
    fig.supylabel("source task", fontsize=10)
    fig.suptitle("Transfer scores per target: every source, every seed, against the no-transfer baseline")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f"seed {s}") for s, c in zip(seeds, colors)]
    handles += [
        Line2D([], [], marker="|", linestyle="", markersize=12, color="black", label="mean over seeds"),
        Line2D([], [], linestyle="--", color="#444444", label="baseline (mean)"),
        Patch(color="#bbbbbb", alpha=0.45, label="baseline (seed range)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return fig


def _summary_metric(summary, metric: str):
    rows = summary[summary["metric"] == metric]
    if rows.empty:
        present = ", ".join(sorted(summary["metric"].astype(str).unique()))
        raise IntertaskError(f"evaluation summary has no rows for metric {metric!r} (it has: {present})")
    return rows.set_index(rows["method"].astype(str))


def selector_comparison(summary, k: int | None = None):
    """Dot plot per metric (NDCG, gain-based NDCG when present, Regret@k): each method's mean over
    targets × seeds with its 95% CI over targets (`target_interval`); the dashed line marks the `random` method."""
    require_columns(summary, SUMMARY_COLUMNS, "evaluation summary")
    metrics = [m for m in ("ndcg", "ndcg_gain", "regret_at_k") if m in set(summary["metric"])]
    for needed in ("ndcg", "regret_at_k"):
        _summary_metric(summary, needed)
    order = _summary_metric(summary, "ndcg")["mean"].sort_values(ascending=True).index.tolist()
    fig = new_figure(1.8 + 3.6 * len(metrics), 1.6 + 0.36 * len(order))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        rows = _summary_metric(summary, metric).reindex(order)
        y = np.arange(len(order))
        low = (rows["mean"] - rows["ci_low"]).clip(lower=0).to_numpy(dtype=float)
        high = (rows["ci_high"] - rows["mean"]).clip(lower=0).to_numpy(dtype=float)
        ax.errorbar(rows["mean"], y, xerr=[low, high], fmt="o", color=OTHER_COLOR, capsize=3, markersize=5)
        if "random" in rows.index and np.isfinite(rows.at["random", "mean"]):
            ax.axvline(rows.at["random", "mean"], color="#777777", linestyle="--", linewidth=1, label="random")
            if metric == metrics[0]:
                ax.legend(fontsize=8, loc="best")
        ax.set_xlabel(metric_label(metric, k), fontsize=9)
        ax.xaxis.set_major_locator(_ticks())
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(order)), order, fontsize=9)
    axes[0].set_ylabel("selection method")
    n = int(summary["n"].max())
    targets = f" of {int(summary['n_targets'].max())} targets" if "n_targets" in summary else ""
    intervals = f"95% CI: {interval_names(summary['interval'])}" if "interval" in summary else "95% CI"
    fig.suptitle(f"How well each selector ranks sources (mean over {n} target × seed cases{targets}, {intervals})")
    return fig


def consistency_plot(consistency, tags=None):
    """Per target, how much two seeds agree on the ranking of sources: Spearman ρ per seed pair as
    dots (when the table has one row per pair) and their mean as a diamond; reasoning targets in
    red, below a separating line. Rows with an undefined ρ (NaN) are left out."""
    require_columns(consistency, CONSISTENCY_COLUMNS, "consistency table")
    reasoning = reasoning_targets(tags)
    data = consistency.assign(target=consistency["target"].astype(str)).dropna(subset=["spearman"])
    if data.empty:
        raise IntertaskError("consistency table has no defined Spearman value; it needs at least two seeds per target")
    per_pair = data.duplicated("target", keep=False).any()
    means = data.groupby("target")["spearman"].mean()
    others = sorted((t for t in means.index if t not in reasoning), key=lambda t: -means[t])
    hard = sorted((t for t in means.index if t in reasoning), key=lambda t: -means[t])
    targets = others + hard
    fig = new_figure(8.5, 1.8 + 0.42 * len(targets))
    ax = fig.add_subplot()
    for i, target in enumerate(targets):
        color = REASONING_COLOR if target in reasoning else OTHER_COLOR
        if per_pair:
            values = data.loc[data["target"] == target, "spearman"].to_numpy(dtype=float)
            ax.scatter(values, np.full(values.size, i), s=18, color=color, alpha=0.5, linewidths=0)
        ax.scatter([means[target]], [i], marker="D", s=42, color=color, zorder=3)
    for group, color, name in ((others, OTHER_COLOR, "other targets"), (hard, REASONING_COLOR, "reasoning targets")):
        if group:
            value = float(means[group].mean())
            ax.axvline(value, color=color, linestyle=":", linewidth=1.2, label=f"mean, {name}: {value:.2f}")
    if others and hard:
        ax.axhline(len(others) - 0.5, color="black", linewidth=1)
    ax.axvline(0, color="#444444", linewidth=0.8)
    _target_ticks(ax, targets, reasoning, "y", width=28)
    ax.set_ylim(len(targets) - 0.5, -0.5)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman ρ between two seeds' source rankings (−1 … 1; 1 = identical ranking)")
    ax.set_ylabel("target task")
    detail = "dots: seed pairs, diamond: mean" if per_pair else "diamond: mean over seed pairs"
    ax.set_title(f"Is the ground truth consistent across seeds? ({detail})")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def snapshot_curve(curve, k: int | None = None):
    """Lines per prompt method of a metric versus the target prompt's training steps, with 95% CI bands."""
    require_columns(curve, CURVE_COLUMNS, "snapshot curve")
    metrics = list(dict.fromkeys(curve["metric"].astype(str)))
    fig = new_figure(2.8 + 4.6 * len(metrics), 4.2)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        part = curve[curve["metric"].astype(str) == metric]
        for i, (method, rows) in enumerate(part.groupby(part["method"].astype(str))):
            rows = rows.sort_values("target_steps")
            color = f"C{i % 10}"
            ax.plot(rows["target_steps"], rows["mean"], marker="o", markersize=4, color=color, label=method)
            ax.fill_between(rows["target_steps"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.15)
        ax.set_xlabel("target prompt training steps")
        ax.set_ylabel(metric_label(metric, k), fontsize=9)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="method", loc="outside right upper", fontsize=8, title_fontsize=8)
    fig.suptitle("Prompt-method quality vs how long the target prompt was trained (bands: 95% CI)")
    return fig


def reasoning_comparison(cases, tags, k: int | None = None):
    """Per method, NDCG and Regret@k on reasoning targets vs the other targets (mean and 95% CI
    over targets, `mean_ci`: Student-t below 15 targets, else a target bootstrap)."""
    require_columns(cases, CASES_COLUMNS, "evaluation cases")
    reasoning = reasoning_targets(tags)
    is_reasoning = cases["target"].astype(str).isin(reasoning)
    if not is_reasoning.any() or is_reasoning.all():
        raise IntertaskError(
            "reasoning comparison needs both targets tagged 'reasoning' and other targets in the cases"
        )
    methods = sorted(cases["method"].astype(str).unique())
    groups = (
        ("other targets", ~is_reasoning, OTHER_COLOR, -0.15),
        ("reasoning targets", is_reasoning, REASONING_COLOR, 0.15),
    )
    fig = new_figure(9.5, 1.8 + 0.42 * len(methods))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, metric in zip(axes, ("ndcg", "regret_at_k")):
        for name, mask, color, offset in groups:
            rows = [cases[mask & (cases["method"].astype(str) == m)] for m in methods]
            stats = [mean_ci(r[metric], r["target"]) for r in rows]
            mean = np.array([s[0] for s in stats])
            err = np.array([[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]]).clip(min=0)
            n_targets = cases.loc[mask, "target"].nunique()
            ax.errorbar(
                mean, np.arange(len(methods)) + offset, xerr=err, fmt="o", color=color, capsize=3,
                markersize=5, label=f"{name} ({n_targets} targets)",
            )
        ax.set_xlabel(metric_label(metric, k), fontsize=9)
        ax.xaxis.set_major_locator(_ticks())
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(methods)), methods, fontsize=9)
    axes[0].set_ylim(len(methods) - 0.5, -0.5)
    axes[0].set_ylabel("selection method")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    fig.suptitle(f"Selectors on reasoning targets vs the rest (mean and 95% CI {TARGET_INTERVAL_RULE})")
    return fig
