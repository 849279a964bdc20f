"""Evaluation of selection methods: ranking metrics (`ranking`), aggregates with uncertainty
(`statistics`), and the per-method table against a study's ground truth (`evaluate`)."""

from intertask.evaluation.evaluate import (
    HIGHER_IS_BETTER,
    METRICS,
    Evaluation,
    evaluate_predictions,
    paired_table,
    prediction_rows,
    quality_by_steps,
)
from intertask.evaluation.ranking import (
    kendall_score,
    ndcg_gain_score,
    ndcg_score,
    regret_at_k,
    spearman_score,
    top_k_score,
)
from intertask.evaluation.statistics import (bootstrap_ci, mean_std, paired_comparison, seed_consistency,
                                             target_interval)

__all__ = [
    "METRICS", "HIGHER_IS_BETTER", "Evaluation", "evaluate_predictions", "paired_table",
    "quality_by_steps", "prediction_rows", "ndcg_score", "ndcg_gain_score", "regret_at_k", "top_k_score",
    "spearman_score", "kendall_score", "mean_std", "bootstrap_ci", "paired_comparison",
    "seed_consistency", "target_interval",
]
