"""Evaluate selection methods against a transfer matrix, per target and seed, then aggregate.

The one door is `evaluate(matrix, predictions)`: `matrix` a `TransferMatrix` (one setting), `predictions`
a `Predictions` from any builder (a study store's runs, `intertask.evaluation.from_store`; a library's short
runs and a store's recommend rows, `intertask.recommend.loto`; files, `intertask.evaluation.from_matrix`).
The ground truth is the matrix's (`TransferMatrix.ground_truth`: one source prompt per source, the
(target, seed) cases whose baseline did not learn left out and listed in `config["not_learned_cases"]`).

`predictions.rows`: one row per method × target × seed × source with `method, target, seed, source,
predicted` (higher = predicted more helpful), optionally `cost_seconds` (seconds the method spent on that
target and seed, the same on each of its rows) and `target_steps`. A builder whose scores do not depend on
the seed may leave `seed` out: its one score per pair is used for every seed (pairs the matrix does not
have are ignored).

A case is one (method, target, seed). Every method must score exactly the sources the matrix
has for every (target, seed) it has. Per case the metrics of `intertask.ranking_metrics` and
the top-ranked source's gains (`top1_gain` over the baseline, `top1_gain_over_random` over the
mean of all sources) are computed (`k` for Regret@k, `top_k` for the top-k score: the paper's script
uses 3 and 2), then averaged over cases with an interval over whole targets by default (the seeds of one
target share its difficulty, so they are not independent cases): `stats.target_interval`, a Student-t
interval below 15 targets and a target bootstrap from there on, named in each row's `interval`. NDCG and
Regret need scores ≥ 0: a case with a negative score (regression targets score Pearson × 100) gets NaN for
them and is counted in `n_undefined`, never an abort. Methods compared pairwise and by target steps:
`intertask.evaluation.compare`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask import ranking_metrics as ranking
from intertask.formatting import show
from intertask.matrix.transfer import TransferMatrix
from intertask.stats import seed_consistency, target_interval, target_interval_kind

METRICS = ("ndcg", "ndcg_gain", "regret_at_k", "top_k_score", "spearman", "kendall", "top1_gain",
           "top1_gain_over_random")
# top1_gain: the top-ranked source's score − the no-transfer baseline; top1_gain_over_random: its
# score − the mean score of all sources (what a uniformly random pick scores on average); points.
HIGHER_IS_BETTER = {**ranking.HIGHER_IS_BETTER, "top1_gain": True, "top1_gain_over_random": True}
KEYS = ["target", "seed", "source"]
PREDICTION_COLUMNS = ("method", "target", "source", "predicted")  # and `seed`, unless seedless
COST_COLUMNS = ("cost_seconds", "target_steps")


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


@dataclass
class Evaluation:
    """Per-case metrics and their aggregates.

    cases: one row per method × target × seed: `method, target, seed, n_sources`, the METRICS,
        `cost_seconds`, `target_steps` (NaN when not given).
    summary: one row per method × metric: `mean, std, ci_low, ci_high, n` (over the cases where
        the metric is defined), `n_targets` (the targets those cases cover: the interval rests on
        them), `interval` (`"t"` or `"bootstrap"`, `stats.INTERVALS`), `n_undefined` (cases where it is NaN),
        `higher_is_better`, and the method's mean `cost_seconds` and `target_steps` per case.
    by_tag: like summary with a leading `group` column: `<tag>` targets vs `other`.
    consistency: the ground truth's own seed-to-seed agreement per target (`seed_consistency`).
    config: k, top_k, n_boot, alpha, seed, tag.
    tags: each target's tags, as given.
    """

    cases: pd.DataFrame
    summary: pd.DataFrame
    by_tag: pd.DataFrame
    consistency: pd.DataFrame
    config: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able: config, summary, by_tag, consistency and cases as lists of records
        (NaN becomes null)."""
        return {"config": dict(self.config), "summary": records(self.summary),
                "by_tag": records(self.by_tag), "consistency": records(self.consistency),
                "cases": records(self.cases), "tags": {t: list(v) for t, v in self.tags.items()}}


def prediction_rows(selector, target, seed, method: str | None = None) -> pd.DataFrame:
    """Score `target` (a `TaskProfile`) with a fitted selector: one row per source with
    `method, target, seed, source, predicted, cost_seconds, target_steps`, ready to concatenate
    into the `rows` of `Predictions`. `method` defaults to `selector.name`."""
    scores = selector.score(target)
    return pd.DataFrame({
        "method": method or selector.name, "target": target.name, "seed": seed,
        "source": list(selector.source_names_), "predicted": scores,
        "cost_seconds": float(selector.cost_["seconds"]),
        "target_steps": int(selector.cost_["target_steps"]),
    })


def _check_predictions(rows: pd.DataFrame) -> None:
    """`rows` is a frame with `PREDICTION_COLUMNS` and finite scores (and costs, where given)."""
    if not isinstance(rows, pd.DataFrame):
        raise IntertaskError(f"predictions must be a pandas DataFrame, got {type(rows).__name__}")
    missing = [c for c in PREDICTION_COLUMNS if c not in rows.columns]
    if missing:
        raise IntertaskError(f"predictions lacks column(s) {missing}; it needs {list(PREDICTION_COLUMNS)}")
    if rows.empty:
        raise IntertaskError("predictions has no rows")
    for column in ("predicted", *(c for c in COST_COLUMNS if c in rows.columns)):
        bad = ~np.isfinite(pd.to_numeric(rows[column], errors="coerce").to_numpy(np.float64))
        if bad.any():
            row = rows[bad].iloc[0]
            where = ", ".join(f"{c}={show(row[c])}" for c in ("method", "target", "seed", "source") if c in rows)
            raise IntertaskError(f"predictions: column '{column}' must be finite numbers; got {show(row[column])} at "
                                 f"{where}")


def _check_unique(rows: pd.DataFrame) -> None:
    keys = ["method"] + KEYS
    dupes = rows[rows.duplicated(keys, keep=False)]
    if len(dupes):
        row = dupes.iloc[0]
        raise IntertaskError("predictions has more than one row for " + ", ".join(f"{c}={show(row[c])}" for c in keys))


def _match(method: str, pred: pd.DataFrame, matrix: pd.DataFrame) -> pd.DataFrame:
    try:
        merged = pred.drop(columns="method").merge(matrix, on=KEYS, how="outer", indicator=True)
    except ValueError as err:  # e.g. seeds as numbers on one side and text on the other
        raise IntertaskError(f"cannot match predictions to the matrix on {KEYS}: {err}") from None
    bad = merged[merged["_merge"] != "both"]
    if len(bad):
        row = bad.iloc[0]
        side = "has no prediction" if row["_merge"] == "right_only" else "is not in the matrix"
        raise IntertaskError(
            f"method '{method}', target '{row['target']}', seed {show(row['seed'])}: source "
            f"'{row['source']}' {side}; predictions must cover exactly the matrix's sources "
            f"for every target and seed"
        )
    return merged.drop(columns="_merge")


def _case_metrics(frame: pd.DataFrame, k: int, top_k: int) -> dict:
    """The metrics of one case; NDCG and Regret are NaN when a score is negative (undefined)."""
    frame = frame.sort_values("source")
    score, predicted = frame["score"].to_numpy(float), frame["predicted"].to_numpy(float)
    baseline = float(frame["baseline"].iloc[0])
    defined = score.min() >= 0
    top1 = ranking.top_k_score(score, predicted, 1)  # ties at the top: their mean
    return {
        "n_sources": len(frame),
        "ndcg": ranking.ndcg_score(score, predicted) if defined else np.nan,
        "ndcg_gain": ranking.ndcg_gain_score(score, predicted, baseline) if np.isfinite(baseline) else np.nan,
        "regret_at_k": ranking.regret_at_k(score, predicted, k) if defined else np.nan,
        "top_k_score": ranking.top_k_score(score, predicted, top_k),
        "spearman": ranking.spearman_score(score, predicted),
        "kendall": ranking.kendall_score(score, predicted),
        "top1_gain": top1 - baseline,  # NaN without a baseline
        "top1_gain_over_random": top1 - float(score.mean()),
        "cost_seconds": float(frame["cost_seconds"].max()) if "cost_seconds" in frame else np.nan,
        "target_steps": float(frame["target_steps"].max()) if "target_steps" in frame else np.nan,
    }


def mean_interval(values: np.ndarray, cases: pd.DataFrame, config: dict) -> tuple[float, float, str]:
    """(low, high, kind) of the mean of `values`, one per row of `cases`, over their targets (`target_interval`)."""
    targets = cases["target"].to_numpy()
    low, high = target_interval(values, targets, config.get("n_boot", 2000), config.get("alpha", 0.05),
                                config.get("seed", 0))
    return low, high, target_interval_kind(len(set(targets.tolist())))


def summarise(cases: pd.DataFrame, config: dict, by: list[str], metrics=METRICS) -> pd.DataFrame:
    """Per group of `cases` (columns `by`) and metric: `mean, std, ci_low, ci_high` (`mean_interval`), `n`,
    `n_targets`, `interval`, `n_undefined` (NaN cases), `higher_is_better` and the mean cost and steps."""
    rows = []
    for key, frame in cases.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            ok = frame[np.isfinite(frame[metric].to_numpy(float))]
            values = ok[metric].to_numpy(float)
            row = dict(zip(by, key), metric=metric, n=len(values), n_targets=int(ok["target"].nunique()),
                       n_undefined=len(frame) - len(values), higher_is_better=HIGHER_IS_BETTER[metric])
            if len(values):
                low, high, row["interval"] = mean_interval(values, ok, config)
                std = float(np.std(values, ddof=1)) if len(values) > 1 else np.nan
                row.update(mean=float(values.mean()), std=std, ci_low=low, ci_high=high)
            else:
                row.update(mean=np.nan, std=np.nan, ci_low=np.nan, ci_high=np.nan, interval=None)
            for column in COST_COLUMNS:
                row[column] = float(frame[column].mean()) if column in frame else np.nan
            rows.append(row)
    columns = by + ["metric", "mean", "std", "ci_low", "ci_high", "n", "n_targets", "interval", "n_undefined",
                    "higher_is_better", "cost_seconds", "target_steps"]
    return pd.DataFrame(rows, columns=columns)


def _score(truth: pd.DataFrame, predictions: pd.DataFrame, config: dict, tags: dict) -> Evaluation:
    """Every method's cases and their aggregates against the ground-truth frame `truth`."""
    k, top_k, tag = config["k"], config["top_k"], config["tag"]
    rows = []
    for method, pred in predictions.groupby("method", sort=False):
        merged = _match(str(method), pred, truth)
        for (target, case_seed), frame in merged.groupby(["target", "seed"], sort=True):
            rows.append({"method": method, "target": target, "seed": case_seed,
                         **_case_metrics(frame, k, top_k)})
    cases = pd.DataFrame(rows)
    summary = summarise(cases, config, ["method"])
    groups = cases["target"].map(lambda t: tag if tag in tags.get(t, ()) else "other")
    by_tag = summarise(cases.assign(group=groups), config, ["group", "method"])
    return Evaluation(cases=cases, summary=summary, by_tag=by_tag,
                      consistency=seed_consistency(truth), config=config, tags=dict(tags))


@dataclass
class Predictions:
    """What a prediction builder hands to `evaluate`: `rows` (`method, target, [seed,] source, predicted`
    and optionally `cost_seconds`, `target_steps`; see the module docstring), each target's `tags`, the
    targets' text-embedding centroids `embeddings` (`[D]`, for builders of history-based rows), and
    `config` notes on where the predictions came from, recorded in the evaluation's config."""

    rows: pd.DataFrame
    tags: dict = field(default_factory=dict)
    embeddings: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


def _per_seed(rows: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """`rows` with a `seed` column: seedless rows (one score per pair) repeated on every seed of the pair's
    target in `truth`; a pair of `truth` a method does not score is an error."""
    if "seed" in rows.columns:
        return rows
    frames = []
    for method, scores in rows.groupby("method", sort=False):
        pairs = truth[["target", "seed", "source"]].merge(scores.drop(columns="method"), on=["target", "source"],
                                                          how="left")
        absent = pairs[pairs["predicted"].isna()]
        if len(absent):
            row = absent.iloc[0]
            raise IntertaskError(f"method '{method}' has no score for source {row['source']!r} → target "
                                 f"{row['target']!r}; it must score every source of every target evaluated")
        frames.append(pairs.assign(method=method))
    return pd.concat(frames, ignore_index=True)


def evaluate(matrix: TransferMatrix, predictions: Predictions | pd.DataFrame, k: int = 3, top_k: int = 2,
             n_boot: int = 2000, alpha: float = 0.05, seed: int = 0, tag: str = "reasoning") -> Evaluation:
    """Score `predictions` against `matrix` (one setting): the one evaluation of intertask (module docstring).

    `k`: Regret@k (k ≥ number of sources means all: regret 0); `top_k`: the top-k score; `tag`: the summary
    is also split into targets with this tag (`predictions.tags`) and `other` (`by_tag`). Intervals are over
    whole targets, all seeds of a target together (`stats.target_interval`: Student-t below 15 targets, else a
    cluster bootstrap; a bootstrap over target × seed cases would be too narrow, as seeds of a target agree).
    The result's config holds these, `setting`, `not_learned_cases` ([target, seed] pairs) and `predictions.config`.
    """
    if not isinstance(matrix, TransferMatrix):
        raise IntertaskError(f"matrix must be a TransferMatrix, got {type(matrix).__name__}", parameter="matrix")
    if isinstance(predictions, pd.DataFrame):  # rows alone: no tags, no notes
        predictions = Predictions(predictions)
    ranking.check_k(k)
    ranking.check_k(top_k, "top_k")
    if len(matrix) == 0:
        raise IntertaskError("the matrix has no transfers to evaluate against")
    if len(matrix.settings) != 1:
        raise IntertaskError(f"evaluate one setting at a time; the matrix has {', '.join(matrix.settings)}")
    truth = matrix.ground_truth().frame
    floored = [(t, s) for _, t, s in matrix.not_learned()]
    _check_predictions(predictions.rows)
    rows = _per_seed(predictions.rows, truth)
    _check_unique(rows)
    if floored:
        left_out = pd.MultiIndex.from_tuples(floored, names=["target", "seed"])
        rows = rows[~pd.MultiIndex.from_frame(rows[["target", "seed"]]).isin(left_out)]
    config = {"k": int(k), "top_k": int(top_k), "n_boot": n_boot, "alpha": alpha, "seed": seed, "tag": tag}
    evaluation = _score(truth, rows.reset_index(drop=True), config, predictions.tags)
    evaluation.config.update(predictions.config, setting=matrix.settings[0],
                             not_learned_cases=[[t, s] for t, s in floored])
    return evaluation
