"""Evaluation of selection methods: the one door `evaluate(matrix, predictions)` (`evaluate`) that every
prediction builder feeds: a study store's runs (`from_store`), files (`from_matrix`), a library's short runs
(`intertask.recommend.loto`); methods compared within an evaluation (`compare`). The per-target ranking
metrics (`intertask.ranking_metrics`, re-exported here) and the aggregates with uncertainty
(`intertask.stats`) live one floor down, where `recommend` reads them too."""

from intertask.evaluation.compare import paired_table, quality_by_steps
from intertask.evaluation.evaluate import HIGHER_IS_BETTER, METRICS, Evaluation, Predictions, evaluate, prediction_rows
from intertask.ranking_metrics import (
    kendall_score,
    ndcg_gain_score,
    ndcg_score,
    regret_at_k,
    spearman_score,
    top_k_score,
)

__all__ = [
    "METRICS", "HIGHER_IS_BETTER", "Evaluation", "Predictions", "evaluate", "paired_table", "quality_by_steps",
    "prediction_rows", "ndcg_score", "ndcg_gain_score", "regret_at_k", "top_k_score", "spearman_score",
    "kendall_score",
]
