"""The ridge pieces of `recommend`'s `learned` rule (`intertask.recommend.rule`): standardised features and
the fit.

Features of source s for one target: per selector m its standardised rank (`standardised_rank`),
f_m(s) = mean_r −(rank_m,r(s) − mean rank) / std of the ranks over the target seeds r (`scores[m]` is
`[R, S]`, as in `intertask.recommend.ranking`; 0 when the selector cannot tell the sources apart), higher =
nearer the top; the history signals standardised the same way (`standardise`).

Model (`fit`): ridge regression (scikit-learn `Ridge`) of the standardised gain of each source on the
target, g_z(s) = (gain(s) − mean gain) / std, on those features, pooled over the training targets; its
strength α is chosen by leave-one-target-out over `ALPHAS`. Why this model: the history holds ~10 targets ×
~12 sources, far too few queries for LambdaMART or boosted trees; a linear score on standardised ranks
contains the equal-weight mean rank as a special case, shrinks towards each selector's own correlation with
the gains as α grows, needs no new dependency beyond scikit-learn, and stores as a handful of numbers
(plain JSON).
"""

from __future__ import annotations

import numpy as np

from intertask.recommend import ranking as rk

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def standardise(values: np.ndarray) -> np.ndarray:
    """(v − mean) / std over the finite entries; NaN and constant vectors give 0.

    >>> standardise(np.array([1.0, 2.0, 3.0, np.nan])).round(3).tolist()
    [-1.225, 0.0, 1.225, 0.0]
    """
    values = np.asarray(values, np.float64)
    out = np.zeros_like(values)
    ok = np.isfinite(values)
    if ok.sum() >= 2 and np.std(values[ok]) > 0:
        out[ok] = (values[ok] - values[ok].mean()) / np.std(values[ok])
    return out


def standardised_rank(scores: np.ndarray) -> np.ndarray:
    """`[S]`: the mean over rows of −standardise(rank) of a selector's `[R, S]` (or `[S]`) scores."""
    return np.mean([-standardise(row) for row in rk.ranks_of(np.atleast_2d(scores))], axis=0)


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
