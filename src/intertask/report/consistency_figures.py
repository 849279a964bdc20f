"""The consistency of a transfer matrix at a glance, from `intertask.evaluation.consistency.Consistency`."""

from __future__ import annotations

import numpy as np

from intertask.report._common import new_figure, require_columns

BY_TARGET_COLUMNS = ("setting", "target", "group", "sign_agreement", "seed_spearman")
BETWEEN_COLUMNS = ("setting_a", "setting_b", "spearman")
MAX_TARGETS = 60  # rows of the per-target heatmaps


def _heatmap(fig, ax, values, rows, columns, title, vmin, label) -> None:
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=vmin, vmax=1, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            text, color = ("n/a", "#555555") if not np.isfinite(value) else (f"{value:.2f}", "white" if value < 0.5 * (1 + vmin) else "black")
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=color)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, pad=0.01).set_label(label, fontsize=8)


def _least_consistent(by_target, shown: int):
    """The rows of the `shown` targets with the lowest seed ρ (mean over settings; undefined ρ last)."""
    order = by_target.groupby("target")["seed_spearman"].mean().sort_values(na_position="last")
    return by_target[by_target["target"].isin(order.index[:shown])]


def consistency_figure(result):
    """Three heatmaps: per target (rows, grouped, least consistent group first) and setting (columns), the
    share of sources whose seeds agree on the sign of the transfer and Spearman's ρ between seeds; then ρ
    between settings, mean over targets (setting × setting). Of more than `MAX_TARGETS` targets only the
    `MAX_TARGETS` least consistent get a row (a row per target of a thousand would make a figure some
    30,000 pixels tall); the report's table lists them all."""
    by_target = require_columns(result.by_target, BY_TARGET_COLUMNS, "consistency by target")
    n_targets = by_target["target"].nunique()
    by_target = _least_consistent(by_target, MAX_TARGETS) if n_targets > MAX_TARGETS else by_target
    cells = by_target.set_index(["group", "target", "setting"])  # one row each: unstack keeps undefined ρ as n/a
    wide_rho = cells["seed_spearman"].unstack("setting")
    order = by_target.groupby("group")["seed_spearman"].mean().sort_values().index
    wide_rho = wide_rho.reindex([key for group in order for key in wide_rho.index if key[0] == group])
    wide_sign = cells["sign_agreement"].unstack("setting").reindex(index=wide_rho.index, columns=wide_rho.columns)
    rows = [f"{target} ({group})" for group, target in wide_rho.index]
    settings = [str(s) for s in wide_rho.columns]
    between = require_columns(result.between_settings, BETWEEN_COLUMNS, "consistency between settings", allow_empty=True)
    pairs = np.full((len(settings), len(settings)), np.nan)
    np.fill_diagonal(pairs, 1.0)
    index = {s: i for i, s in enumerate(settings)}
    for row in between.itertuples():
        i, j = index.get(str(row.setting_a)), index.get(str(row.setting_b))
        if i is not None and j is not None:
            pairs[i, j] = pairs[j, i] = row.spearman

    width = 3.0 + 0.55 * len(settings)
    fig = new_figure(3 * width, max(4.0, 1.5 + 0.3 * len(rows)))
    axes = fig.subplots(1, 3)
    _heatmap(fig, axes[0], wide_sign.to_numpy(float), rows, settings,
             "seeds agree on the sign of the transfer\n(share of sources)", 0.0, "share of sources")
    _heatmap(fig, axes[1], wide_rho.to_numpy(float), rows, settings,
             "Spearman ρ between seeds' source rankings\n(mean over seed pairs)", -1.0, "ρ")
    if n_targets > MAX_TARGETS:
        fig.suptitle(f"the {MAX_TARGETS} least consistent of {n_targets} targets (lowest ρ between seeds)", fontsize=10)
    _heatmap(fig, axes[2], pairs, settings, settings,
             "Spearman ρ between settings' rankings\n(seed-mean scores, mean over targets)", -1.0, "ρ")
    return fig
