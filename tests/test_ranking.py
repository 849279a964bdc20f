"""Ranking metrics on hand-computed cases, ties (checked against brute force over tie orderings),
constant scores, and k >= the number of sources."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from intertask.errors import IntertaskError
from intertask.ranking_metrics import (
    kendall_score,
    ndcg_gain_score,
    ndcg_score,
    regret_at_k,
    spearman_score,
    top_k_score,
)


def _orders_with_ties(predicted):
    """Every strict order of the indices consistent with `predicted` descending (ties permuted)."""
    predicted = np.asarray(predicted, float)
    groups = [list(np.flatnonzero(predicted == v)) for v in sorted(set(predicted), reverse=True)]
    for parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [i for part in parts for i in part]


def _strict_dcg(gains, order):
    return sum(gains[i] / math.log2(rank + 2) for rank, i in enumerate(order))


def _strict_ndcg(relevance, order):
    gains = [2.0**r - 1 for r in relevance]
    ideal = _strict_dcg(gains, sorted(range(len(gains)), key=lambda i: -gains[i]))
    return _strict_dcg(gains, order) / ideal


def test_ndcg_hand_computed():
    # order by predicted: c (rel 1), a (rel 3), b (rel 0)
    # DCG = 1/1 + 7/log2(3); ideal = 7/1 + 1/log2(3)
    expected = (1 + 7 / math.log2(3)) / (7 + 1 / math.log2(3))
    assert ndcg_score([3, 0, 1], [0.5, 0.1, 0.9]) == pytest.approx(expected)
    assert ndcg_score([3, 0, 1], [3, 1, 2]) == pytest.approx(1.0)


@pytest.mark.parametrize("predicted", [[1, 1, 0, 2], [5, 5, 5, 5], [0, 1, 1, 1], [2, 1, 2, 1]])
def test_ndcg_ties_average_over_orderings(predicted):
    relevance = [2.0, 0.5, 3.0, 1.0]
    brute = np.mean([_strict_ndcg(relevance, o) for o in _orders_with_ties(predicted)])
    assert ndcg_score(relevance, predicted) == pytest.approx(brute)


def test_ndcg_raw_scores_do_not_overflow_and_reward_the_top():
    scores = [62.0, 88.0, 87.0, 60.0]
    good = ndcg_score(scores, [0, 2, 1, 0])
    swapped_top = ndcg_score(scores, [0, 1, 2, 0])  # best source second
    assert np.isfinite(good) and good == pytest.approx(1.0)
    assert swapped_top < good


def test_ndcg_undefined_and_invalid():
    assert math.isnan(ndcg_score([0, 0], [1, 2]))
    with pytest.raises(IntertaskError, match=r"relevance must lie in \[0, 1000\]"):
        ndcg_score([-1, 2], [1, 2])
    with pytest.raises(IntertaskError, match=r"relevance must lie in \[0, 1000\]"):
        ndcg_score([1025, 2], [1, 2])
    with pytest.raises(IntertaskError, match="relevance and predicted must have one value per source"):
        ndcg_score([1, 2, 3], [1, 2])
    with pytest.raises(IntertaskError, match="predicted must be finite"):
        ndcg_score([1, 2], [1, np.nan])
    with pytest.raises(IntertaskError, match="relevance must be a non-empty 1-d array"):
        ndcg_score([], [])


def test_ndcg_gain_hand_computed_and_no_help():
    # gains over baseline 70: 2, 0 (hurts), 5; predicted order: a, b, c
    expected = (2 + 0 + 5 / 2) / (5 + 2 / math.log2(3))
    assert ndcg_gain_score([72, 65, 75], [3, 2, 1], baseline=70) == pytest.approx(expected)
    assert math.isnan(ndcg_gain_score([60, 65], [1, 2], baseline=70))
    with pytest.raises(IntertaskError, match="baseline must be one finite number"):
        ndcg_gain_score([60, 65], [1, 2], baseline=[1, 2])


def test_top_k_hand_computed_and_k_clamped():
    assert top_k_score([70, 80, 90, 60], [4, 3, 2, 1], k=2) == 75.0
    assert top_k_score([70, 80, 90, 60], [4, 3, 2, 1], k=10) == 75.0
    assert top_k_score([70, 80, 90, 60], [1, 1, 1, 1], k=2) == 75.0  # constant: the overall mean


def test_regret_hand_computed():
    assert regret_at_k([50, 80, 100], [3, 2, 1], k=1) == pytest.approx(50.0)
    assert regret_at_k([50, 80, 100], [3, 2, 1], k=2) == pytest.approx(20.0)
    assert regret_at_k([50, 80, 100], [1, 2, 3], k=1) == 0.0
    assert regret_at_k([50, 80, 100], [3, 2, 1], k=3) == 0.0
    assert regret_at_k([50, 80, 100], [3, 2, 1], k=7) == 0.0  # k >= n: every source picked
    assert regret_at_k([0, 0], [1, 2], k=1) == 0.0


@pytest.mark.parametrize("predicted", [[1, 1, 1, 1, 1], [3, 2, 2, 2, 1], [2, 2, 1, 1, 0], [0, 1, 1, 0, 1]])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_top_k_and_regret_ties_are_expectations_over_orderings(predicted, k):
    true = np.array([70.0, 90.0, 80.0, 60.0, 85.0])
    orders = list(_orders_with_ties(predicted))
    brute_top = np.mean([true[o[:k]].mean() for o in orders])
    brute_regret = np.mean([(true.max() - true[o[:k]].max()) / true.max() * 100 for o in orders])
    assert top_k_score(true, predicted, k) == pytest.approx(brute_top)
    assert regret_at_k(true, predicted, k) == pytest.approx(brute_regret)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3"])
def test_invalid_k(k):
    with pytest.raises(IntertaskError, match="k must be an integer >= 1"):
        regret_at_k([1, 2], [1, 2], k=k)
    with pytest.raises(IntertaskError, match="k must be an integer >= 1"):
        top_k_score([1, 2], [1, 2], k=k)


def test_regret_rejects_negative_scores():
    with pytest.raises(IntertaskError, match="true_scores must be >= 0"):
        regret_at_k([-1, 2], [1, 2])


def test_correlations_match_scipy_and_constants():
    rng = np.random.default_rng(0)
    true, pred = rng.normal(size=8), rng.normal(size=8)
    assert spearman_score(true, pred) == pytest.approx(stats.spearmanr(true, pred)[0])
    assert kendall_score(true, pred) == pytest.approx(stats.kendalltau(true, pred)[0])
    assert spearman_score([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman_score([1, 2, 3], [5, 5, 5]) == 0.0  # constant prediction: no ranking
    assert kendall_score([1, 2, 3], [5, 5, 5]) == 0.0
    assert math.isnan(spearman_score([4, 4, 4], [1, 2, 3]))  # constant truth: undefined
    assert math.isnan(kendall_score([4], [1]))
