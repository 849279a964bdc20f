"""Methods side by side within one `Evaluation`: every pair on the same cases (`paired_table`), and each
method family's quality against the target prompt's training steps (`quality_by_steps`)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.evaluation.evaluate import HIGHER_IS_BETTER, METRICS, Evaluation, mean_interval
from intertask.stats import paired_comparison


def paired_table(evaluation: Evaluation, metric: str = "ndcg") -> pd.DataFrame:
    """Every ordered pair of methods (a, b) compared on the cases both have defined:
    `method_a, method_b, win_rate` (share of target × seed cases where a is better, ties ½),
    `mean_diff` = mean(a − b) and its `ci_low, ci_high` (over targets, `target_interval`), `n` cases,
    `n_targets` and `interval`."""
    if metric not in METRICS:
        raise IntertaskError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")
    wide = evaluation.cases.pivot_table(index=["target", "seed"], columns="method", values=metric,
                                        aggfunc="first", dropna=False)
    rows = []
    for a, b in itertools.permutations(wide.columns, 2):
        pair = wide[[a, b]].dropna().reset_index()
        row = {"method_a": a, "method_b": b}
        if len(pair):
            row.update(paired_comparison(
                pair[a].to_numpy(), pair[b].to_numpy(), pair["target"].to_numpy(), HIGHER_IS_BETTER[metric],
                evaluation.config.get("n_boot", 2000), evaluation.config.get("alpha", 0.05),
                evaluation.config.get("seed", 0)))
        else:
            row.update(win_rate=np.nan, mean_diff=np.nan, ci_low=np.nan, ci_high=np.nan, n=0, n_targets=0,
                       interval=None)
        rows.append(row)
    return pd.DataFrame(rows, columns=["method_a", "method_b", "win_rate", "mean_diff", "ci_low",
                                       "ci_high", "n", "n_targets", "interval"])


def quality_by_steps(evaluation: Evaluation, metric: str = "ndcg") -> pd.DataFrame:
    """Mean `metric` per method family and target prompt training steps (the snapshots).

    The family is the method name before an `@` (e.g. `max_pairwise@500` → `max_pairwise`), so
    one method per snapshot step can be evaluated side by side. Rows: `family, target_steps,
    mean, ci_low, ci_high, n, n_targets, interval` for cases with known `target_steps` (the
    interval is over targets, `target_interval`).
    """
    if metric not in METRICS:
        raise IntertaskError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")
    cases = evaluation.cases.dropna(subset=["target_steps", metric])
    cases = cases.assign(family=cases["method"].astype(str).str.split("@").str[0])
    rows = []
    for (family, steps), frame in cases.groupby(["family", "target_steps"], sort=True):
        values = frame[metric].to_numpy(float)
        low, high, interval = mean_interval(values, frame, evaluation.config)
        rows.append({"family": family, "target_steps": int(steps), "mean": float(values.mean()),
                     "ci_low": low, "ci_high": high, "n": len(values), "n_targets": int(frame["target"].nunique()),
                     "interval": interval})
    return pd.DataFrame(rows, columns=["family", "target_steps", "mean", "ci_low", "ci_high", "n", "n_targets",
                                       "interval"])
