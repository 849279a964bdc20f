"""Does `recommend` mean what it prints? Its risk numbers and verdicts against what happened.

Everything here reads a nested leave-one-target-out run (`intertask.recommend.held_out.HeldOut`):
for each history target t, what `recommend` printed before t's transfers were known, and t's
measured transfers.

- `risk_rows`: one row per (target, source, seed) with the printed `p_negative` and
  `expected_gain`, the measured `gain` and `negative` (gain < 0), and two reference predictions
  that ignore similarity, also from the other targets only: `base_rate` (their share of negative
  transfers) and `other_mean` (the source's mean gain over them).
- `reliability_table`: predicted P(negative) in bins against the observed negative share, with
  the number of transfers and targets in each bin.
- `brier_table`: Brier score B = mean (p − y)² of the printed P(negative) and of the constant
  base rate, and their difference, each averaged per target first, with an interval over targets
  (`intertask.stats.target_interval`); likewise the absolute error |expected gain − mean measured
  gain| of the printed expected gain and of `other_mean` (per target × source, gains averaged
  over seeds).
- `verdict_table`: per target, the verdict's advice (`verdict.ADVICE`), the top source's gain over
  no transfer on each seed, its mean and Student-t interval over seeds, the outcome the interval
  shows (`helps` above 0, `hurts` below 0, else `unclear`) and whether the advice was right:
  `transfer` is right when the mean gain is > 0, `target alone` when it is ≤ 0, `weak evidence`
  when the interval holds 0.
- `top_choice_table`: per target, recommend's top source against the best source by mean gain:
  the top choice counts as good when its mean gain is within one baseline seed SD of the best;
- `risk_summary`: the numbers a library keeps beside its rule so that `recommend` prints its risk
  only as precisely as it measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from intertask.recommend.verdict import TARGET_ALONE, TRANSFER, WEAK
from intertask.stats import t_interval, target_interval, target_interval_kind

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def risk_rows(result, history: pd.DataFrame) -> pd.DataFrame:
    """Printed risk against measured transfers; see the module docstring."""
    rows = []
    for target, rec in result.recommendations.items():
        others = history[history["target"] != target]
        base_rate = float((others["gain"] < 0).mean())
        other_mean = others.groupby(["source", "target"])["gain"].mean().groupby("source").mean()
        printed = rec.ranking.set_index("source")
        measured = result.matrix[result.matrix["target"] == target]
        for row in measured.itertuples():
            rows.append({"target": target, "source": row.source, "seed": row.seed,
                         "p_negative": printed.at[row.source, "p_negative"],
                         "expected_gain": printed.at[row.source, "expected_gain"],
                         "gain": row.gain, "negative": float(row.gain < 0), "base_rate": base_rate,
                         "other_mean": other_mean.get(row.source, np.nan)})
    return pd.DataFrame(rows).dropna(subset=["p_negative", "expected_gain"])


def reliability_table(rows: pd.DataFrame, bins=BINS) -> pd.DataFrame:
    """`bin, n, n_targets, predicted (mean P(negative)), observed (share negative)` per bin."""
    labels = [f"[{a:.1f}, {b:.1f}{']' if b == bins[-1] else ')'}" for a, b in zip(bins[:-1], bins[1:])]
    binned = rows.assign(bin=pd.cut(rows["p_negative"], bins, labels=labels, right=False, include_lowest=True))
    binned.loc[rows["p_negative"] >= bins[-1], "bin"] = labels[-1]
    table = binned.groupby("bin", observed=False).agg(n=("negative", "size"), n_targets=("target", "nunique"),
                                                      predicted=("p_negative", "mean"), observed=("negative", "mean"))
    return table.reset_index()


def _per_target_mean(rows, column):
    return rows.groupby("target")[column].mean()


def _with_ci(values: pd.Series, n_boot: int) -> dict:
    """Mean of per-target `values` with its interval over targets (`stats.target_interval`, named)."""
    low, high = target_interval(values.to_numpy(float), values.index.to_numpy(), n_boot=n_boot) \
        if len(values) else (np.nan, np.nan)
    return {"mean": float(values.mean()), "ci_low": low, "ci_high": high, "n_targets": int(len(values)),
            "interval": target_interval_kind(len(values))}


def brier_table(rows: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """`quantity, mean, ci_low, ci_high, n_targets, interval` for the Brier scores, the absolute errors of
    the expected gain and the differences printed − reference (negative = the printed number is better);
    per-target means, interval over targets (`stats.target_interval`: Student-t below 15 targets)."""
    scored = rows.assign(brier=(rows["p_negative"] - rows["negative"]) ** 2,
                         brier_base=(rows["base_rate"] - rows["negative"]) ** 2)
    pairs = rows.groupby(["target", "source"]).agg(expected=("expected_gain", "first"), other=("other_mean", "first"),
                                                   gain=("gain", "mean"))
    pairs = pairs.assign(error=(pairs["expected"] - pairs["gain"]).abs(), error_other=(pairs["other"] - pairs["gain"]).abs())
    pairs = pairs.reset_index()
    quantities = {
        "Brier of the printed P(negative)": _per_target_mean(scored, "brier"),
        "Brier of the base rate (other targets' negative share)": _per_target_mean(scored, "brier_base"),
        "Brier: printed − base rate": _per_target_mean(scored, "brier") - _per_target_mean(scored, "brier_base"),
        "|expected gain − measured| (points)": _per_target_mean(pairs, "error"),
        "|other targets' mean − measured| (points)": _per_target_mean(pairs, "error_other"),
        "error: expected gain − other targets' mean": _per_target_mean(pairs, "error")
        - _per_target_mean(pairs, "error_other"),
    }
    return pd.DataFrame([{"quantity": name, **_with_ci(values, n_boot)} for name, values in quantities.items()])


def _outcome(low: float, high: float) -> str:
    if np.isfinite(low) and low > 0:
        return "helps"
    if np.isfinite(high) and high < 0:
        return "hurts"
    return "unclear"


def verdict_table(result) -> pd.DataFrame:
    """Per target: `target, advice, top_source, rule, gains (per seed), mean_gain, ci_low, ci_high,
    outcome, right`; see the module docstring."""
    rows = []
    for target, rec in result.recommendations.items():
        top = rec.top_source
        measured = result.matrix[(result.matrix["target"] == target) & (result.matrix["source"] == top)]
        gains = measured.sort_values("seed")["gain"].to_numpy(float)
        low, high = t_interval(gains) if len(gains) >= 2 else (np.nan, np.nan)
        mean = float(gains.mean())
        outcome = _outcome(low, high)
        advice = rec.verdict.advice
        right = {TRANSFER: mean > 0, TARGET_ALONE: mean <= 0, WEAK: outcome == "unclear"}[advice]
        rows.append({"target": target, "advice": advice, "top_source": top, "rule": rec.stats.get("rule"),
                     "gains": gains.round(2).tolist(), "mean_gain": mean, "ci_low": low, "ci_high": high,
                     "outcome": outcome, "right": bool(right), "headline": rec.verdict.headline})
    return pd.DataFrame(rows)


def top_choice_table(result) -> pd.DataFrame:
    """Per target: `target, top_source, top_gain, best_source, best_gain, baseline_sd, within`
    (mean gains over seeds; `within`: top_gain ≥ best_gain − baseline_sd)."""
    rows = []
    for target, rec in result.recommendations.items():
        measured = result.matrix[result.matrix["target"] == target]
        means = measured.groupby("source")["gain"].mean()
        sd = float(measured.drop_duplicates("seed")["baseline"].std(ddof=1))
        best = str(means.idxmax())
        top_gain = float(means[rec.top_source])
        rows.append({"target": target, "top_source": rec.top_source, "top_gain": top_gain, "best_source": best,
                     "best_gain": float(means[best]), "baseline_sd": sd,
                     "within": bool(top_gain >= float(means[best]) - (sd if np.isfinite(sd) else 0.0))})
    return pd.DataFrame(rows)


def risk_summary(result, history: pd.DataFrame) -> dict:
    """`{expected_gain_error, other_mean_error, brier, brier_base, n_targets}`: the mean over
    held-out targets of |expected gain − measured mean gain| (points) and of the same for the other
    targets' plain mean, and the Brier scores of the printed P(negative) and of the base rate."""
    rows = risk_rows(result, history)
    if rows.empty:
        return {}
    table = brier_table(rows, n_boot=1).set_index("quantity")["mean"]
    return {"expected_gain_error": float(table["|expected gain − measured| (points)"]),
            "other_mean_error": float(table["|other targets' mean − measured| (points)"]),
            "brier": float(table["Brier of the printed P(negative)"]),
            "brier_base": float(table["Brier of the base rate (other targets' negative share)"]),
            "n_targets": int(rows["target"].nunique())}
