"""Aggregates with their uncertainty: mean ± std, bootstrap intervals, paired comparisons, and
how consistent the ground truth is across seeds.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from intertask.errors import IntertaskError


def _values(values, name: str = "values") -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise IntertaskError(f"{name} is empty; nothing to aggregate")
    if not np.all(np.isfinite(array)):
        raise IntertaskError(f"{name} must be finite; drop undefined (NaN) cases first")
    return array


def mean_std(values) -> tuple[float, float]:
    """(mean, sample standard deviation with ddof=1); the std of a single value is NaN.

    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    array = _values(values)
    std = float(np.std(array, ddof=1)) if array.size > 1 else float("nan")
    return float(array.mean()), std


def bootstrap_ci(values, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0,
                 groups=None) -> tuple[float, float]:
    """Percentile bootstrap (1 − alpha) interval of the mean of `values`.

    Draws `n_boot` resamples of the n values with replacement and returns the alpha/2 and
    1 − alpha/2 quantiles of their means. With `groups` (one label per value, e.g. the target)
    whole groups are resampled (cluster bootstrap: the cases of one target are not independent)
    and each resample's mean is over all values of the drawn groups. One value (or one group)
    gives a zero-width interval: report n next to it.

    >>> bootstrap_ci([5.0, 5.0, 5.0])
    (5.0, 5.0)
    """
    array = _values(values)
    if not (isinstance(n_boot, int) and n_boot >= 1):
        raise IntertaskError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise IntertaskError(f"alpha must lie in (0, 1), got {alpha!r}")
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = rng.integers(0, array.size, size=(n_boot, array.size))
        means = array[draws].mean(axis=1)
    else:
        labels = np.asarray(groups)
        if labels.shape != array.shape:
            raise IntertaskError(f"groups must give one label per value ({array.size}), got {labels.shape}")
        _, index = np.unique(labels, return_inverse=True)
        sums = np.bincount(index, weights=array)
        counts = np.bincount(index).astype(np.float64)
        draws = rng.integers(0, len(sums), size=(n_boot, len(sums)))
        means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def t_interval(values, alpha: float = 0.05) -> tuple[float, float]:
    """Student-t (1 − alpha) interval of the mean: x̄ ± t_{n−1, 1−alpha/2} · s / √n.

    Honest for small n when the values are roughly normal (e.g. paired seed differences), where a
    bootstrap over 3 values undercovers. Fewer than two values: (NaN, NaN), too few for any
    interval.

    >>> [round(v, 3) for v in t_interval([1.0, 2.0, 3.0])]  # 2 ± 4.303 · 1 / √3
    [-0.484, 4.484]
    """
    array = _values(values)
    if not 0 < alpha < 1:
        raise IntertaskError(f"alpha must lie in (0, 1), got {alpha!r}")
    if array.size < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(1 - alpha / 2, array.size - 1) * np.std(array, ddof=1) / np.sqrt(array.size)
    return float(array.mean() - half), float(array.mean() + half)


def paired_comparison(a, b, higher_is_better: bool = True, n_boot: int = 2000,
                      alpha: float = 0.05, seed: int = 0, groups=None) -> dict:
    """Compare two methods on the same cases (`a[i]` and `b[i]` measured on case i).

    Returns `win_rate` (share of cases where a is better than b, ties counting one half; "better"
    follows `higher_is_better`), `mean_diff` = mean(a − b) with its bootstrap interval
    `ci_low`, `ci_high` (resampling whole `groups`, e.g. targets, when given, else cases), `n`
    cases and `n_groups` (the number of groups the interval rests on; `n` without groups).

    >>> paired_comparison([3, 2, 1], [1, 2, 3])["win_rate"]
    0.5
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise IntertaskError(f"a and b must be paired (same length), got {a.size} and {b.size}")
    diff = a - b
    better = diff > 0 if higher_is_better else diff < 0
    win_rate = float(np.mean(better + 0.5 * (diff == 0)))
    low, high = bootstrap_ci(diff, n_boot=n_boot, alpha=alpha, seed=seed, groups=groups)
    n_groups = int(a.size) if groups is None else len(set(np.asarray(groups).tolist()))
    return {"win_rate": win_rate, "mean_diff": float(diff.mean()), "ci_low": low, "ci_high": high,
            "n": int(a.size), "n_groups": n_groups}


def _spearman_per_group(x: pd.Series, y: pd.Series, groups) -> pd.Series:
    """Spearman's ρ between `x` and `y` within each group: Pearson's r of their average ranks in the group,
    ρ = Σ dx·dy / √(Σ dx² · Σ dy²) with d the rank minus the group's mean rank (as `scipy.stats.spearmanr`,
    ties included); NaN where a side is constant in the group (or holds one value)."""
    ranks = pd.DataFrame({"x": x.groupby(groups).rank().to_numpy(), "y": y.groupby(groups).rank().to_numpy()})
    centred = ranks - ranks.groupby(np.asarray(groups)).transform("mean")
    sums = pd.DataFrame({"xy": centred["x"] * centred["y"], "xx": centred["x"] ** 2,
                         "yy": centred["y"] ** 2}).groupby(np.asarray(groups)).sum()
    spread = np.sqrt(sums["xx"] * sums["yy"])
    return (sums["xy"] / spread).where(spread > 0)


def seed_consistency(matrix: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """How well the ground truth agrees with itself across seeds, per target.

    For each target and each pair of seeds, Spearman's ρ between the two seeds' `value` of the
    sources both seeds have (pairs with < 2 common sources or a constant side are skipped).
    Returns one row per target: `target`, `spearman` (mean over seed pairs; NaN if none),
    `n_seeds`, `n_pairs`. Computed for all targets at once per seed pair (no loop over targets: a
    matrix of a thousand targets takes about as long as one of ten).

    `matrix` has columns `target, source, seed` and `value` (one row per transfer).
    """
    needed = {"target", "source", "seed", value}
    missing = needed - set(matrix.columns)
    if missing:
        raise IntertaskError(f"matrix lacks column(s) {sorted(missing)}; expected {sorted(needed)}")
    n_seeds = matrix.groupby("target", sort=True)["seed"].nunique()
    wide = matrix.pivot_table(index=["target", "source"], columns="seed", values=value, aggfunc="mean")
    rhos = pd.DataFrame(index=n_seeds.index)
    for s1, s2 in itertools.combinations(wide.columns, 2):
        pair = wide[[s1, s2]].dropna()
        rhos[(s1, s2)] = _spearman_per_group(pair[s1], pair[s2], pair.index.get_level_values("target"))
    return pd.DataFrame({"target": n_seeds.index, "spearman": rhos.mean(axis=1).to_numpy(float),
                         "n_seeds": n_seeds.to_numpy(int), "n_pairs": rhos.notna().sum(axis=1).to_numpy(int)})
