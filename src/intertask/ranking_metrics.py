"""Ranking metrics for one target: how well predicted source scores order the true transfer scores.

Every function takes the true values and the predicted scores of the same n sources in the same
order (`[n]` each, finite). `*_score` is higher-is-better, `regret_*` lower-is-better.

Ties in `predicted` are resolved by averaging over all orderings of the tied sources (as
scikit-learn's `ndcg_score` does): a constant predictor gets the expected value of a random
ranking. Where the truth itself cannot rank anything (all relevances 0 for NDCG, constant true
scores for correlations) the metric is undefined and returns NaN; aggregate with care.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from intertask.errors import IntertaskError

HIGHER_IS_BETTER = {
    "ndcg": True, "ndcg_gain": True, "regret_at_k": False, "top_k_score": True,
    "spearman": True, "kendall": True, "ndcg_rank": True, "regret_mean_at_k": False,
}


def _check_pair(true, predicted, true_name: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, value in ((true_name, true), ("predicted", predicted)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise IntertaskError(f"{name} must be numbers, got {value!r}") from None
        if array.ndim != 1 or array.size == 0:
            raise IntertaskError(f"{name} must be a non-empty 1-d array, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise IntertaskError(f"{name} must be finite, got {array.tolist()}")
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise IntertaskError(
            f"{true_name} and predicted must have one value per source each; got "
            f"{arrays[0].size} and {arrays[1].size}"
        )
    return arrays[0], arrays[1]


def check_k(k, parameter: str = "k") -> int:
    """`k` as an int; anything but an integer ≥ 1 is an `IntertaskError` naming `parameter`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise IntertaskError(f"{parameter} must be an integer >= 1, got {k!r}", parameter=parameter)
    return int(k)


def _tie_groups(predicted: np.ndarray) -> list[np.ndarray]:
    """Indices of sources grouped by equal predicted score, best group first."""
    values, inverse = np.unique(-predicted, return_inverse=True)
    return [np.flatnonzero(inverse == g) for g in range(len(values))]


def _dcg(gains: np.ndarray, predicted: np.ndarray) -> float:
    """Σ_i gains_i / log2(rank_i + 2), each tied group sharing the mean discount of its ranks."""
    total, position = 0.0, 0
    for group in _tie_groups(predicted):
        discounts = 1.0 / np.log2(np.arange(position, position + len(group)) + 2)
        total += gains[group].sum() * discounts.mean()
        position += len(group)
    return total


def _ndcg(gains: np.ndarray, predicted: np.ndarray) -> float:
    ideal = float(np.sum(np.sort(gains)[::-1] / np.log2(np.arange(len(gains)) + 2)))
    return float(_dcg(gains, predicted) / ideal) if ideal > 0 else float("nan")


def ndcg_score(relevance, predicted) -> float:
    """NDCG over all sources, as the paper computes it.

    DCG = Σ_i (2^rel_i − 1) / log2(i + 2) with i = 0, 1, … the rank of a source when sorted
    by `predicted` descending (no cutoff); NDCG = DCG / DCG of the ideal order (by relevance).
    With raw 0–100 transfer scores as relevance (the paper's choice, kept here), each point
    doubles the gain, so NDCG is decided almost entirely by whether the very best sources come
    first; see `ndcg_gain_score` for a variant on improvements. Relevance must be in [0, 1000]
    (2^1024 overflows float64). All-zero relevance: NaN.

    Parameters: relevance `[n]` (≥ 0), predicted `[n]`. Returns a float in [0, 1].

    >>> ndcg_score([1, 0], [0.9, 0.1])  # right order
    1.0
    >>> round(ndcg_score([1, 0], [0.1, 0.9]), 4)  # gains 1, 0: DCG = 1/log2(3)
    0.6309
    >>> round(ndcg_score([1, 0], [0.5, 0.5]), 4)  # a tie: mean of both orders
    0.8155
    """
    relevance, predicted = _check_pair(relevance, predicted, "relevance")
    if relevance.min() < 0 or relevance.max() > 1000:
        raise IntertaskError(
            f"relevance must lie in [0, 1000] for 2^rel gains, got range "
            f"[{relevance.min():g}, {relevance.max():g}]"
        )
    return _ndcg(np.exp2(relevance) - 1.0, predicted)


def ndcg_gain_score(scores, predicted, baseline) -> float:
    """NDCG with relevance = improvement over the no-transfer baseline, linear gains.

    rel_i = max(0, scores_i − baseline) (points gained by transferring from source i), gain =
    rel_i, discount log2(i + 2), no cutoff, normalised by the ideal order. Sources that hurt or do
    not help all count 0. When no source helps (all rel = 0) the ranking cannot matter: NaN.

    >>> # gains in predicted order 1, 0, 4: DCG = 1 + 4/2 = 3; ideal = 4 + 1/log2(3)
    >>> round(ndcg_gain_score([72, 70, 75], [3, 2, 1], baseline=71), 4)
    0.6478
    """
    scores, predicted = _check_pair(scores, predicted, "scores")
    baseline = np.asarray(baseline, dtype=np.float64)
    if baseline.ndim != 0 or not np.isfinite(baseline):
        raise IntertaskError(f"baseline must be one finite number, got {baseline!r}")
    return _ndcg(np.maximum(scores - float(baseline), 0.0), predicted)


def _top_k(true: np.ndarray, predicted: np.ndarray, k: int):
    """The fully included values and (values, slots) of the tie group cut by the top-k line."""
    taken: list[np.ndarray] = []
    left = min(k, len(true))
    for group in _tie_groups(predicted):
        if len(group) <= left:
            taken.append(true[group])
            left -= len(group)
            if left == 0:
                return np.concatenate(taken), np.empty(0), 0
        else:
            full = np.concatenate(taken) if taken else np.empty(0)
            return full, true[group], left
    return np.concatenate(taken), np.empty(0), 0


def top_k_score(true_scores, predicted, k: int = 3) -> float:
    """Mean true score of the k sources ranked highest by `predicted` (k ≥ n: all sources).

    A tie group cut by the top-k line contributes its mean value to each remaining slot (the
    expectation over orderings of the tie).

    >>> top_k_score([70, 80, 90], [3, 2, 1], k=2)
    75.0
    >>> top_k_score([70, 80, 90], [1, 1, 1], k=1)
    80.0
    """
    true, predicted = _check_pair(true_scores, predicted, "true_scores")
    k = min(check_k(k), len(true))
    full, cut, slots = _top_k(true, predicted, k)
    total = full.sum() + (slots * cut.mean() if slots else 0.0)
    return float(total / k)


def regret_at_k(true_scores, predicted, k: int = 3) -> float:
    """Regret@k = (best over all − best among the top-k predicted) / best × 100; lower is better.

    k ≥ n means every source is picked: regret 0. A tie group cut by the top-k line is handled
    by the expectation over its orderings: with m of its g values drawn at random, the best drawn
    is its j-th smallest with probability C(j−1, m−1) / C(g, m). True scores must be ≥ 0 (the
    0–100 scale); if the best is 0 every source is 0 and regret is 0.

    >>> regret_at_k([50, 80, 100], [3, 2, 1], k=2)
    20.0
    >>> regret_at_k([50, 80, 100], [3, 2, 1], k=3)
    0.0
    >>> round(regret_at_k([50, 100], [1, 1], k=1), 2)  # a coin flip: expected best drawn = 75
    25.0
    """
    true, predicted = _check_pair(true_scores, predicted, "true_scores")
    k = check_k(k)
    if true.min() < 0:
        raise IntertaskError(f"true_scores must be >= 0 (scores on 0-100), got min {true.min():g}")
    best = true.max()
    if best == 0:
        return 0.0
    full, cut, slots = _top_k(true, predicted, k)
    floor = full.max() if full.size else -np.inf
    if slots:
        values = np.sort(cut)
        g = len(values)
        j = np.arange(slots, g + 1)  # the best drawn is the j-th smallest (1-based)
        log_p = special.gammaln(j) - special.gammaln(slots) - special.gammaln(j - slots + 1)
        log_p -= special.gammaln(g + 1) - special.gammaln(slots + 1) - special.gammaln(g - slots + 1)
        picked = float(np.sum(np.exp(log_p) * np.maximum(floor, values[j - 1])))
    else:
        picked = float(floor)
    return float((best - picked) / best * 100.0)


def _correlation(fn, true_scores, predicted) -> float:
    true, predicted = _check_pair(true_scores, predicted, "true_scores")
    if len(true) < 2 or np.ptp(true) == 0:
        return float("nan")
    if np.ptp(predicted) == 0:
        return 0.0
    return float(fn(true, predicted)[0])


def spearman_score(true_scores, predicted) -> float:
    """Spearman's ρ between true and predicted scores (ties get average ranks).

    Constant `predicted` carries no ranking: 0 (a random ranking's expectation); constant
    `true_scores` (or n < 2): NaN.

    >>> spearman_score([1, 2, 3], [10, 30, 20])
    0.5
    """
    return _correlation(stats.spearmanr, true_scores, predicted)


def kendall_score(true_scores, predicted) -> float:
    """Kendall's τ-b between true and predicted scores; constants as in `spearman_score`.

    >>> round(kendall_score([1, 2, 3], [10, 30, 20]), 4)
    0.3333
    """
    return _correlation(stats.kendalltau, true_scores, predicted)


def ndcg_rank_score(gold, predicted) -> float:
    """NDCG with gains from the gold rank, as TaskWeb (Kim et al., EMNLP 2023) computes it.

    Sort the n sources by `gold` descending (ties keep their input order); the source at gold rank
    r = 0, 1, … has relevance n − r and gain 2^(n − r) − 1. DCG = Σ_i gain_i / log2(i + 2) over the
    order of `predicted`, NDCG = DCG / DCG of the gold order. Only the gold order matters, not how far
    apart the gold values are; ties in `predicted` are averaged as in `ndcg_score`. n ≤ 1000.

    Reference: TaskWeb: Selecting Better Source Tasks for Multi-task NLP, https://arxiv.org/abs/2305.13256.

    >>> # gains 7, 3, 1 met in reverse: (1 + 3/log2(3) + 7/2) / (7 + 3/log2(3) + 1/2)
    >>> round(ndcg_rank_score([3, 2, 1], [1, 2, 3]), 4)
    0.6806
    """
    gold, predicted = _check_pair(gold, predicted, "gold")
    n = len(gold)
    if n > 1000:
        raise IntertaskError(f"rank gains 2^n overflow beyond 1000 sources, got {n}")
    gains = np.empty(n)
    gains[np.argsort(-gold, kind="stable")] = np.exp2(np.arange(n, 0, -1)) - 1.0
    return _ndcg(gains, predicted)


def regret_mean_at_k(true_scores, predicted, k: int = 5, gold=None) -> float:
    """Regret@k over the mean of the top k, as TaskWeb computes it; lower is better.

    (mean true score of the k best sources − mean true score of the k ranked highest by `predicted`)
    / the former × 100. The k best are the k highest by `gold` (default: `true_scores` itself, so the
    regret is ≥ 0); TaskWeb picks them by its transfer label and values them by the mean score, so
    its regret can be negative. Top-k ties are handled as in `top_k_score`. A negative true score has
    no relative loss: NaN.

    >>> round(regret_mean_at_k([70, 80, 90], [3, 2, 1], k=2), 4)  # (85 − 75) / 85 × 100
    11.7647
    """
    true, predicted = _check_pair(true_scores, predicted, "true_scores")
    gold = true if gold is None else _check_pair(gold, predicted, "gold")[0]
    if true.min() < 0:
        return float("nan")
    best = top_k_score(true, gold, k)
    if best == 0:  # every score 0: nothing lost; else the gold top k alone scored 0: undefined
        return 0.0 if true.max() == 0 else float("nan")
    return float((best - top_k_score(true, predicted, k)) / best * 100.0)
