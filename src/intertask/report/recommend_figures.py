"""Figures of a recommendation for one target, each a `matplotlib.figure.Figure`.

Inputs (one row per source):
- `ranking`: `source, combined_rank, score_<method>..., stability, expected_gain, p_negative`
  (`combined_rank` 1 = best; `expected_gain` in accuracy points and `p_negative` in [0, 1] may be NaN
  when the library holds no transfer history).
- `verify`: `source, mean_gain, ci_low, ci_high, n_seeds` (gain over the no-transfer baseline in
  accuracy points, 95% CI); the baseline itself is the 0 line.
"""

from __future__ import annotations

import numpy as np

from intertask.errors import IntertaskError
from intertask.report._common import OTHER_COLOR, REASONING_COLOR, new_figure, require_columns

RANKING_COLUMNS = ("source", "combined_rank", "stability", "expected_gain", "p_negative")
VERIFY_COLUMNS = ("source", "mean_gain", "ci_low", "ci_high", "n_seeds")


def score_columns(ranking) -> list[str]:
    """The `score_<method>` columns of a ranking; at least one is required."""
    columns = [c for c in ranking.columns if str(c).startswith("score_")]
    if not columns:
        raise IntertaskError("ranking has no 'score_<method>' column; it needs one per selection method")
    return columns


def ordered_ranking(ranking):
    """Check a ranking's columns and sort it by `combined_rank` (1 first)."""
    require_columns(ranking, RANKING_COLUMNS, "ranking")
    return ranking.sort_values("combined_rank", kind="stable").reset_index(drop=True)


def ranking_figure(ranking, target_name: str = "target"):
    """Three aligned panels, sources in combined-rank order (best on top):
    (1) each method's rank of the source (1 = that method's top pick; colour darker = better),
    (2) stability (how steadily the source stays near the top across target seeds, 0–1),
    (3) expected gain with the chance of negative transfer, when the library holds history."""
    from matplotlib import colormaps

    ranked = ordered_ranking(ranking)
    columns = score_columns(ranked)
    methods = [c[len("score_"):] for c in columns]
    sources = ranked["source"].astype(str).tolist()
    ranks = ranked[columns].rank(ascending=False, method="min").to_numpy(dtype=float)
    has_history = ranked["expected_gain"].notna().any()
    ratios = [max(2.0, 0.75 * len(methods)), 2.2] + ([2.6] if has_history else [])
    fig = new_figure(3.0 + sum(ratios) * 1.05, 1.9 + 0.38 * len(sources))
    axes = fig.subplots(1, len(ratios), sharey=True, width_ratios=ratios)

    heat = axes[0]
    cmap = colormaps["YlGnBu_r"].with_extremes(bad="#dddddd")
    heat.imshow(np.ma.masked_invalid(ranks), cmap=cmap, vmin=1, vmax=max(len(sources), 2), aspect="auto")
    for i in range(len(sources)):
        for j in range(len(methods)):
            if np.isfinite(ranks[i, j]):
                color = "white" if ranks[i, j] <= len(sources) / 3 else "black"
                heat.text(j, i, f"{ranks[i, j]:.0f}", ha="center", va="center", fontsize=8, color=color)
    heat.set_xticks(range(len(methods)), methods, rotation=35, ha="right", fontsize=8)
    labels = [f"{r:.0f}. {s}" for r, s in zip(ranked["combined_rank"], sources)]
    heat.set_yticks(range(len(sources)), labels, fontsize=9)
    heat.set_xlabel("selection method (cell = its rank of the source, 1 = top)", fontsize=9)
    heat.set_ylabel("source, in combined-rank order")

    stable = axes[1]
    stability = ranked["stability"].to_numpy(dtype=float)
    stable.barh(range(len(sources)), stability, color=OTHER_COLOR, height=0.6)
    stable.set_xlabel("stability (0–1; 1 = stays on top\nacross all target seeds)", fontsize=9)
    upper = max(1.0, float(np.nanmax(stability)) if np.isfinite(stability).any() else 1.0)
    stable.set_xlim(min(0.0, float(np.nanmin(stability)) if np.isfinite(stability).any() else 0.0), upper)
    stable.grid(axis="x", alpha=0.3)

    if has_history:
        gain_ax = axes[2]
        gain = ranked["expected_gain"].to_numpy(dtype=float)
        colors = [OTHER_COLOR if g >= 0 else REASONING_COLOR for g in np.nan_to_num(gain)]
        gain_ax.barh(range(len(sources)), np.nan_to_num(gain), color=colors, height=0.6)
        gain_ax.axvline(0, color="black", linewidth=0.8)
        for i, (g, p) in enumerate(zip(gain, ranked["p_negative"].to_numpy(dtype=float))):
            text = "no history" if not np.isfinite(g) else (f"P(<0) {p:.0%}" if np.isfinite(p) else "")
            x = max(float(g), 0.0) if np.isfinite(g) else 0.0
            gain_ax.annotate(text, (x, i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
        gain_ax.margins(x=0.35)
        gain_ax.set_xlabel("expected gain (accuracy points)\nlabel: chance of negative transfer", fontsize=9)
        gain_ax.grid(axis="x", alpha=0.3)
    heat.set_ylim(len(sources) - 0.5, -0.5)
    fig.suptitle(f"Ranked intermediate tasks for {target_name}")
    return fig


def verify_figure(verify, target_name: str = "target"):
    """Measured gain of each verified source over the no-transfer baseline (0 line), mean over
    seeds with its 95% t-interval (none for one seed); green when the CI is above 0, red when below, grey when it spans 0."""
    require_columns(verify, VERIFY_COLUMNS, "verify table")
    rows = verify.sort_values("mean_gain", ascending=False).reset_index(drop=True)
    fig = new_figure(8.5, 1.8 + 0.45 * len(rows))
    ax = fig.add_subplot()
    for i, row in rows.iterrows():
        low, high, mean = float(row["ci_low"]), float(row["ci_high"]), float(row["mean_gain"])
        color = "#2e8b57" if low > 0 else (REASONING_COLOR if high < 0 else "#777777")
        interval = np.isfinite(low) and np.isfinite(high)  # one seed: too few for an interval
        xerr = [[max(mean - low, 0)], [max(high - mean, 0)]] if interval else None
        ax.errorbar([mean], [i], xerr=xerr, fmt="o", color=color, capsize=4, markersize=6)
        note = f"n={int(row['n_seeds'])} seeds" + ("" if interval else ": too few for an interval")
        ax.annotate(note, (high if interval else mean, i),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.axvline(0, color="black", linestyle="--", linewidth=1, label="no-transfer baseline (gain 0)")
    ax.set_yticks(range(len(rows)), rows["source"].astype(str), fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.margins(x=0.25)
    ax.set_xlabel("gain over the no-transfer baseline (accuracy points; mean and 95% CI over seeds)")
    ax.set_ylabel("verified source")
    ax.set_title(f"Verified transfers to {target_name}")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", frameon=False)
    return fig
