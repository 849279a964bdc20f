"""Selectors' scores from files against a transfer matrix, under two papers' metric definitions.

`predictions_from_files(matrix, named)` builds the predictions of `{method: target, source, predicted}`
(one score per pair, the same for every seed; pairs the matrix does not have are ignored), plus `random`,
a constant score whose tie-averaged metrics are the exact expected value of a uniformly random ranking.
`evaluate_matrix(matrix, predictions)` scores them on one setting of a `TransferMatrix`:

* **ours** (Lin et al. 2024, intertask's default everywhere): one case per target × seed, the one door
  `intertask.evaluation.evaluate.evaluate` on the seed's scores: NDCG with gain 2^score − 1, Regret@k = (best − best of
  the top k) / best × 100, top-k score, Spearman, Kendall; 95% CIs over whole targets (`stats.target_interval`).
* **TaskWeb's** (Kim et al. 2023): one case per target; each source's truth is its mean score over
  seeds, and the gold order is TaskWeb's transfer label (`intertask.matrix.taskweb.taskweb_label`) where
  the matrix has per-cell gains (published, or from baselines), else the mean score (`config["gold"]`
  says which); `ndcg_rank_score` (gain 2^(n − gold rank) − 1) and `regret_mean_at_k` (the mean score of
  the gold top k against that of the predicted top k, in % of the former); 95% CIs over targets: Student-t
  below 15 targets, else a bootstrap resampling targets (`stats.target_interval`, named in `interval`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from intertask.errors import IntertaskError
from intertask import ranking_metrics as ranking
from intertask.evaluation.evaluate import Evaluation, Predictions, evaluate, records, summarise
from intertask.matrix.taskweb import taskweb_label
from intertask.matrix.transfer import TransferMatrix

RANDOM = "random"
TASKWEB_METRICS = ("ndcg_rank", "regret_mean_at_k")


@dataclass
class MatrixEvaluation:
    """`ours`: the `Evaluation` of target × seed cases. `taskweb_cases`: one row per method × target:
    `method, target, n_sources, n_seeds, ndcg_rank, regret_mean_at_k`. `taskweb_summary`: per method ×
    metric as `evaluate.summarise` gives it (n = targets). `config`: setting, k, gold, n_boot, targets."""

    ours: Evaluation
    taskweb_cases: pd.DataFrame
    taskweb_summary: pd.DataFrame
    config: dict = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Both summaries in one table, `definitions` = "ours" or "taskweb" first."""
        return pd.concat([self.ours.summary.assign(definitions="ours"),
                          self.taskweb_summary.assign(definitions="taskweb")], ignore_index=True)[
            ["definitions", "method", "metric", "mean", "std", "ci_low", "ci_high", "n", "interval",
             "higher_is_better"]]

    def to_dict(self) -> dict:
        """JSON-able: config, ours (as `Evaluation.to_dict`), taskweb summary and cases."""
        return {"config": dict(self.config), "ours": self.ours.to_dict(),
                "taskweb": {"summary": records(self.taskweb_summary), "cases": records(self.taskweb_cases)}}


def _taskweb_case(frame: pd.DataFrame, k: int) -> dict:
    """TaskWeb's two metrics for one method and target; `frame` has one row per source."""
    frame = frame.sort_values("source")
    score, predicted, gold = (frame[c].to_numpy(float) for c in ("score", "predicted", "gold"))
    return {"n_sources": len(frame), "n_seeds": int(frame["n_seeds"].min()),
            "ndcg_rank": ranking.ndcg_rank_score(gold, predicted),
            "regret_mean_at_k": ranking.regret_mean_at_k(score, predicted, k, gold=gold)}


def predictions_from_files(matrix: TransferMatrix, named: dict[str, pd.DataFrame]) -> Predictions:
    """`random` (a constant score: its tie-averaged metrics are the exact expectation of a uniformly random
    ranking) and every method of `named` (`{method: target, source, predicted}`, e.g. from
    `intertask.matrix.predictions.read_predictions`), one score per pair for every seed; targets are tagged with
    their group (`intertask.evaluation.consistency.target_groups`)."""
    from intertask.evaluation.consistency import target_groups

    if RANDOM in named:
        raise IntertaskError(f"'{RANDOM}' is evaluated always; give your method another name")
    frame = matrix.frame
    methods = {RANDOM: frame[["target", "source"]].drop_duplicates().assign(predicted=0.0), **named}
    rows = pd.concat([scores[["target", "source", "predicted"]].assign(method=name)
                      for name, scores in methods.items()], ignore_index=True)
    tags = {t: (g,) for t, g in target_groups(matrix.targets).items()}
    return Predictions(rows, tags=tags, config={"backbone": "matrix"})


def evaluate_matrix(matrix: TransferMatrix, predictions: Predictions, k: int = 3, n_boot: int = 2000,
                    alpha: float = 0.05, seed: int = 0, top_k: int = 2) -> MatrixEvaluation:
    """`evaluate` (ours) and TaskWeb's definitions of seedless `predictions` (`predictions_from_files`)
    on `matrix` (one setting); see the module docstring. `k` is the k of both Regret@k definitions,
    `top_k` that of the top-k score. TaskWeb's cases are the targets `evaluate` kept (learned ones)."""
    ours = evaluate(matrix, predictions, k=k, top_k=top_k, n_boot=n_boot, alpha=alpha, seed=seed)
    kept = matrix.ground_truth().frame
    kept = kept[kept["target"].isin(set(ours.cases["target"]))]
    cells = kept.groupby(["target", "source"]).agg(
        score=("score", "mean"), n_seeds=("seed", "nunique"),
        mean_relative_gain=("mean_relative_gain", "first"), positive_share=("positive_share", "first"),
    ).reset_index()
    labelled = cells[["mean_relative_gain", "positive_share"]].notna().all(axis=None)
    cells["gold"] = taskweb_label(cells["mean_relative_gain"], cells["positive_share"]) if labelled else cells["score"]
    rows = []
    for method, scores in predictions.rows.groupby("method", sort=False):
        merged = cells.merge(scores[["target", "source", "predicted"]], on=["target", "source"], how="left")
        for target, frame in merged.groupby("target", sort=True):
            rows.append({"method": method, "target": target, **_taskweb_case(frame, int(k))})
    taskweb_cases = pd.DataFrame(rows)
    config = {"setting": matrix.settings[0], "k": int(k), "n_boot": n_boot, "alpha": alpha,
              "seed": seed, "gold": "taskweb_label" if labelled else "mean_score", "targets": sorted(cells["target"].unique())}
    summary = summarise(taskweb_cases, {"n_boot": n_boot, "alpha": alpha, "seed": seed}, ["method"], TASKWEB_METRICS)
    return MatrixEvaluation(ours, taskweb_cases, summary, config)
