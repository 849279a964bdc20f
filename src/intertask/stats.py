"""Aggregates with their uncertainty: bootstrap and t intervals of a mean, the interval over
targets (`target_interval`: Student-t below `MIN_TARGETS_FOR_BOOTSTRAP` targets, else a target
bootstrap), paired comparisons, and how consistent the ground truth is across seeds.
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


def _group_sums(array: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    """(sum, count) of `array`'s values per group (one label per value), groups in sorted order."""
    labels = np.asarray(groups)
    if labels.shape != array.shape:
        raise IntertaskError(f"groups must give one label per value ({array.size}), got {labels.shape}")
    _, index = np.unique(labels, return_inverse=True)
    return np.bincount(index, weights=array), np.bincount(index).astype(np.float64)


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
        sums, counts = _group_sums(array, groups)
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


MIN_TARGETS_FOR_BOOTSTRAP = 15  # below this many targets the cluster bootstrap undercovers
INTERVALS = {"t": "Student-t over per-target means", "bootstrap": "bootstrap resampling targets"}
TARGET_INTERVAL_RULE = (f"over targets: Student-t on per-target means below {MIN_TARGETS_FOR_BOOTSTRAP} targets, "
                        "else bootstrap resampling targets")


def interval_names(kinds) -> str:
    """What a table's intervals are, from its `interval` column (kinds of `INTERVALS`; None skipped).

    >>> interval_names(["t", "bootstrap", "t", None])
    'Student-t over per-target means / bootstrap resampling targets'
    """
    return " / ".join(INTERVALS[k] for k in dict.fromkeys(kinds) if isinstance(k, str)) or "none"


def target_interval_kind(n_targets: int) -> str:
    """Which interval `target_interval` uses over `n_targets` targets: `"t"` below
    `MIN_TARGETS_FOR_BOOTSTRAP`, else `"bootstrap"` (`INTERVALS` names them for tables).

    >>> target_interval_kind(6), target_interval_kind(20)
    ('t', 'bootstrap')
    """
    return "t" if n_targets < MIN_TARGETS_FOR_BOOTSTRAP else "bootstrap"


def target_interval(values, groups, n_boot: int = 2000, alpha: float = 0.05,
                    seed: int = 0) -> tuple[float, float]:
    """(1 − alpha) interval of the mean of `values` (cases) when the random units are the G
    targets in `groups` (one label per value), chosen by G (`target_interval_kind`).

    G < `MIN_TARGETS_FOR_BOOTSTRAP`: a Student-t interval over targets. With S_g and C_g the sum
    and count of target g's values and x̄ = Σ S_g / Σ C_g the mean of all values,

        x̄ ± t_{G−1, 1−alpha/2} · SE,   SE² = G / (G − 1) · Σ_g (S_g − x̄ C_g)² / (Σ_g C_g)²,

    which is exactly the t-interval on the G per-target means when every target has as many
    cases (seeds), and is centred on x̄ otherwise. Fewer than two targets: (NaN, NaN).
    G ≥ the threshold: `bootstrap_ci` resampling whole targets.

    Why: in a simulation of the project's studies (shared/reports/numerics-2026-12-04.md §4) the
    percentile cluster bootstrap covered 82–87% at 6 targets and 92–94% at 20 (a bootstrap over
    few clusters shrinks the variance by (G − 1)/G), while the t-interval on per-target means
    covered 95%. Report G beside every interval.

    >>> [round(v, 3) for v in target_interval([1.0, 1.0, 2.0, 2.0, 3.0, 3.0], list("aabbcc"))]
    [-0.484, 4.484]
    """
    array = _values(values)
    sums, counts = _group_sums(array, groups)
    g = len(sums)
    if target_interval_kind(g) == "bootstrap":
        return bootstrap_ci(array, n_boot=n_boot, alpha=alpha, seed=seed, groups=groups)
    if not 0 < alpha < 1:
        raise IntertaskError(f"alpha must lie in (0, 1), got {alpha!r}")
    if g < 2:
        return float("nan"), float("nan")
    mean = sums.sum() / counts.sum()
    se = np.sqrt(g / (g - 1) * np.sum((sums - mean * counts) ** 2)) / counts.sum()
    half = stats.t.ppf(1 - alpha / 2, g - 1) * se
    return float(mean - half), float(mean + half)


def paired_comparison(a, b, groups, higher_is_better: bool = True, n_boot: int = 2000, alpha: float = 0.05,
                      seed: int = 0) -> dict:
    """Compare two methods on the same cases (`a[i]` and `b[i]` measured on case i, of group `groups[i]`,
    e.g. its target).

    Returns `win_rate` (share of cases where a is better than b, ties counting one half; "better"
    follows `higher_is_better`), `mean_diff` = mean(a − b) with its interval `ci_low`, `ci_high` over
    whole groups (`target_interval`), `n` cases, `n_targets` (the groups the interval rests on) and
    `interval` (`"t"` or `"bootstrap"`).

    >>> paired_comparison([3, 2, 1], [1, 2, 3], ["x", "y", "z"])["win_rate"]
    0.5
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise IntertaskError(f"a and b must be paired (same length), got {a.size} and {b.size}")
    diff = a - b
    better = diff > 0 if higher_is_better else diff < 0
    low, high = target_interval(diff, groups, n_boot=n_boot, alpha=alpha, seed=seed)
    n_targets = len(set(np.asarray(groups).tolist()))
    return {"win_rate": float(np.mean(better + 0.5 * (diff == 0))), "mean_diff": float(diff.mean()),
            "ci_low": low, "ci_high": high, "n": int(a.size), "n_targets": n_targets,
            "interval": target_interval_kind(n_targets)}


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
