"""TaskWeb's metric definitions (rank-gain NDCG, Regret@k over the mean of the top k) against a direct
transcription of their formulas, hand-checked values, ties and undefined cases."""

import itertools
import math

import numpy as np
import pytest

from intertask.errors import IntertaskError
from intertask.ranking_metrics import HIGHER_IS_BETTER, ndcg_rank_score, regret_mean_at_k, top_k_score


def _taskweb_ndcg(gold, predicted):
    """TaskWeb's formula as written: relevance n − gold rank, gain 2^rel − 1, discount log2(position + 2)."""
    names = list(range(len(gold)))
    gold_order = sorted(names, key=lambda i: gold[i], reverse=True)
    pred_order = sorted(names, key=lambda i: predicted[i], reverse=True)
    rank = {name: r for r, name in enumerate(gold_order)}

    def dcg(order):
        return sum((2 ** (len(names) - rank[name]) - 1) / math.log2(i + 2) for i, name in enumerate(order))

    return dcg(pred_order) / dcg(gold_order)


def test_ndcg_rank_matches_taskweb_formula_on_random_rankings():
    rng = np.random.default_rng(0)
    for n in (2, 5, 21):
        for _ in range(20):
            gold, predicted = rng.normal(size=n), rng.normal(size=n)
            assert ndcg_rank_score(gold, predicted) == pytest.approx(_taskweb_ndcg(gold, predicted), rel=1e-12)


def test_ndcg_rank_uses_only_the_gold_order_and_averages_predicted_ties():
    assert ndcg_rank_score([3, 2, 1], [3, 2, 1]) == 1.0
    assert ndcg_rank_score([3, 2, 1], [1, 2, 3]) == pytest.approx((1 + 3 / math.log2(3) + 7 / 2) / (7 + 3 / math.log2(3) + 1 / 2))
    assert ndcg_rank_score([100, 2, 1], [1, 2, 3]) == ndcg_rank_score([3, 2, 1], [1, 2, 3])  # gaps do not matter
    orders = [_taskweb_ndcg([4, 3, 2, 1], p) for p in itertools.permutations(range(4))]
    assert ndcg_rank_score([4, 3, 2, 1], [0, 0, 0, 0]) == pytest.approx(np.mean(orders))  # a random ranking's mean
    with pytest.raises(IntertaskError, match="gold and predicted must have one value per source"):
        ndcg_rank_score([1, 2], [1, 2, 3])


def test_regret_mean_at_k_hand_checked_with_gold_and_undefined_cases():
    assert regret_mean_at_k([70, 80, 90], [3, 2, 1], k=2) == pytest.approx(10 / 85 * 100)
    assert regret_mean_at_k([70, 80, 90], [1, 2, 3], k=2) == 0.0
    # TaskWeb picks the gold top k by its label and values it by the score: the regret can be negative
    assert regret_mean_at_k([70, 80, 90], [1, 2, 3], k=1, gold=[0.3, 0.2, 0.1]) == pytest.approx((70 - 90) / 70 * 100)
    tied = regret_mean_at_k([70, 80, 90], [0, 0, 0], k=1)
    assert tied == pytest.approx((90 - top_k_score([70, 80, 90], [0, 0, 0], k=1)) / 90 * 100)
    assert regret_mean_at_k([0, 0, 0], [1, 2, 3], k=2) == 0.0
    assert math.isnan(regret_mean_at_k([-5, 80, 90], [1, 2, 3], k=2))
    assert math.isnan(regret_mean_at_k([0, 0, 10], [1, 2, 3], k=1, gold=[3, 2, 1]))
    assert not HIGHER_IS_BETTER["regret_mean_at_k"] and HIGHER_IS_BETTER["ndcg_rank"]
