"""One ranking from many selectors: the equal-weight mean rank, or a combination learned from history.

Features of source s for one target (what `recommend` knows there; `scores[m]` is `[R, S]`, one
row per target seed, as in `intertask.recommend.ranking`):

- per selector m: its standardised rank, f_m(s) = mean_r −(rank_m,r(s) − mean rank) / std of the
  ranks (0 when the selector cannot tell the sources apart); higher = nearer the top;
- `expected_gain`: the source's expected gain on similar targets from the history of *other*
  targets (`ranking.expected_gains`), standardised the same way over the sources that have one
  (0 for the rest).

Model: ridge regression (scikit-learn `Ridge`) of the standardised gain of each source on the
target, g_z(s) = (gain(s) − mean gain) / std, on those features, pooled over the training
targets; its strength α is chosen by leave-one-target-out over `ALPHAS`. Why this model: the
history holds ~10 targets × ~12 sources, far too few queries for LambdaMART or boosted trees;
a linear score on standardised ranks contains the equal-weight combination as a special case,
shrinks towards each selector's own correlation with the gains as α grows, needs no new
dependency beyond scikit-learn, and stores as a handful of numbers (`to_dict`, plain JSON).

The learned combination is evaluated leave-one-target-out (`loto_rankings`): for each held-out
target the model is fitted on the other targets only, and its expected-gain feature uses the
history of the other targets only; `choose` says whether, under that protocol, its mean
`DECISION_METRIC` beats both the equal-weight combination and the best single selector (what
`evaluate --store --recommender` reports). What `recommend` itself ranks by is the rule its library
stores (`intertask.recommend.rule`, whose `learned` candidate is this model with history features).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from intertask.recommend import ranking as rk

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
DECISION_METRIC = "ndcg"
EXPECTED_GAIN = "expected_gain"
EQUAL = "recommend"  # the equal-weight mean rank, recommend's default
LEARNED = "recommend_learned"


def _standardise(values: np.ndarray) -> np.ndarray:
    """(v − mean) / std over the finite entries; NaN and constant vectors give 0."""
    values = np.asarray(values, np.float64)
    out = np.zeros_like(values)
    ok = np.isfinite(values)
    if ok.sum() >= 2 and np.std(values[ok]) > 0:
        out[ok] = (values[ok] - values[ok].mean()) / np.std(values[ok])
    return out


def features(scores: dict[str, np.ndarray], expected_gain: np.ndarray | None, names: list[str]) -> np.ndarray:
    """The `[S, F]` feature matrix in the order of `names` (selectors, then `EXPECTED_GAIN`);
    a selector missing from `scores` is an error, a missing expected gain a column of zeros."""
    columns = []
    for name in names:
        if name == EXPECTED_GAIN:
            n = next(iter(scores.values())).shape[-1]
            columns.append(np.zeros(n) if expected_gain is None else _standardise(expected_gain))
        else:
            ranks = rk.ranks_of(np.atleast_2d(scores[name]))
            columns.append(np.mean([-_standardise(row) for row in ranks], axis=0))
    return np.column_stack(columns)


def equal_weight_scores(scores: dict[str, np.ndarray]) -> np.ndarray:
    """`recommend`'s default combination as a score (higher = better): −mean rank over methods."""
    return -rk.combined_scores(scores)


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list[str]) -> dict:
    """Ridge of `y` on `x` (`[n, F]`), α by leave-one-group-out over `ALPHAS` when there are ≥ 3
    groups (else α = 1); returns the model as plain data (`features, weights, intercept, alpha`)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

    alpha = 1.0
    if len(set(groups.tolist())) >= 3:
        search = GridSearchCV(Ridge(), {"alpha": list(ALPHAS)}, cv=LeaveOneGroupOut())
        alpha = float(search.fit(x, y, groups=groups).best_params_["alpha"])
    model = Ridge(alpha=alpha).fit(x, y)
    return {"features": list(names), "weights": [float(w) for w in model.coef_],
            "intercept": float(model.intercept_), "alpha": alpha}


def predict(model: dict, scores: dict[str, np.ndarray], expected_gain: np.ndarray | None) -> np.ndarray:
    """The learned score `[S]` (higher = better) of a model from `fit`."""
    x = features(scores, expected_gain, model["features"])
    return x @ np.asarray(model["weights"], np.float64) + float(model["intercept"])


class History:
    """Expected gains from a ground-truth history, leaving chosen targets out.

    `matrix`: rows `target, source, seed, gain`; `embeddings`: target name -> `[D]` centroid.
    """

    def __init__(self, matrix: pd.DataFrame, embeddings: dict[str, np.ndarray]):
        self.matrix = matrix
        self.embeddings = embeddings
        self._cache: dict = {}

    def expected_gain(self, target: str, sources: list[str], leave_out: frozenset[str]) -> np.ndarray | None:
        """`[S]` expected gains for `target` from the history without the targets in `leave_out`
        (NaN for sources without history); None when nothing is left."""
        key = (target, tuple(sources), leave_out)
        if key not in self._cache:
            rest = self.matrix[~self.matrix["target"].isin(leave_out)]
            gain = None
            if len(rest):
                gain, _ = rk.expected_gains(rest, sources, self.embeddings.get(target), self.embeddings)
            self._cache[key] = gain
        return self._cache[key]


def _training_rows(cases: list[dict], history: History, names: list[str], held_out: frozenset[str]):
    x, y, groups = [], [], []
    for case in cases:
        if case["target"] in held_out:
            continue
        gain = history.expected_gain(case["target"], case["sources"], held_out | {case["target"]})
        x.append(features(case["scores"], gain, names))
        y.append(_standardise(case["gain"]))
        groups += [case["target"]] * len(case["sources"])
    return np.vstack(x), np.concatenate(y), np.asarray(groups)


def feature_names(members: list[str]) -> list[str]:
    """The learned model's features: the combined selectors (`members`, no reference methods
    such as random), then the expected gain."""
    return list(members) + [EXPECTED_GAIN]


def loto_rankings(cases: list[dict], history: History, members: list[str]) -> pd.DataFrame:
    """Leave-one-target-out predictions of the combinations, as `evaluate_predictions` rows.

    `cases`: one dict per (target, seed) with `target, seed, sources` (`[S]` names), `scores`
    (method -> `[R, S]`) and `gain` (`[S]` true gains, the training labels). Returns rows
    `method, target, seed, source, predicted` for `EQUAL` (equal-weight mean rank of the
    selectors in `members`), `LEARNED` (fitted without the case's target) and `EXPECTED_GAIN`
    (the history of the other targets alone; 0 where a source has none).
    """
    names = feature_names(members)
    rows = []
    for target in sorted({c["target"] for c in cases}):
        held_out = frozenset({target})
        x, y, groups = _training_rows(cases, history, names, held_out)
        model = fit(x, y, groups, names)
        for case in (c for c in cases if c["target"] == target):
            gain = history.expected_gain(target, case["sources"], held_out)
            predicted = {
                EQUAL: equal_weight_scores({m: case["scores"][m] for m in members}),
                LEARNED: predict(model, case["scores"], gain),
                EXPECTED_GAIN: np.zeros(len(case["sources"])) if gain is None else np.nan_to_num(gain, nan=0.0),
            }
            for method, values in predicted.items():
                rows.append(pd.DataFrame({"method": method, "target": target, "seed": case["seed"],
                                          "source": case["sources"], "predicted": values}))
    return pd.concat(rows, ignore_index=True)


def choose(summary: pd.DataFrame, single_methods: list[str], metric: str = DECISION_METRIC) -> tuple[bool, str]:
    """Whether `recommend` should use the learned combination, and why, from an evaluation
    summary (`method, metric, mean, ci_low, ci_high, n_targets`) of the leave-one-target-out
    rankings: only if its mean `metric` is above both the equal-weight combination's and the best
    single selector's (among `single_methods`)."""
    rows = summary[summary["metric"] == metric].set_index("method")
    learned, equal = rows.loc[LEARNED], rows.loc[EQUAL]
    singles = rows.loc[[m for m in single_methods if m in rows.index]].dropna(subset=["mean"])
    best = singles["mean"].idxmax()
    n = int(learned["n_targets"])

    def show(name, row):
        return f"{name} {row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"

    numbers = (f"leave-one-target-out {metric} over {n} targets: {show('learned', learned)}, "
               f"{show('equal-weight', equal)}, {show(f'best single ({best})', singles.loc[best])}")
    if not np.isfinite(learned["mean"]):
        return False, f"the learned combination has no defined {metric} under leave-one-target-out"
    beats_equal = learned["mean"] > equal["mean"]
    beats_best = learned["mean"] > singles.loc[best, "mean"]
    if beats_equal and beats_best:
        return True, f"it beats the equal-weight combination and every single selector ({numbers})"
    loser = "the equal-weight combination" if not beats_equal else f"the best single selector, {best}"
    return False, f"it does not beat {loser} ({numbers}); recommend keeps the equal-weight mean rank"
