"""Task metrics on a 0-100 scale, higher is better.

`compute_metrics(names, gold, predicted)` returns `{name: score}` for the metric names in
`METRICS`. Gold and predicted are sequences of the same length N: class indices for
classification and multiple choice, floats for regression.

- accuracy = 100 * mean(gold == predicted)
- macro_f1 = 100 * mean over classes c present in gold or predicted of
  F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)
- matthews = 100 * MCC, the multi-class Matthews correlation (Gorodkin 2004) from the
  confusion matrix C: (c*s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)),
  c = trace(C), s = N, p_k / t_k = predicted / true counts of class k; 0 when undefined.
- pearson, spearman = 100 * correlation coefficient; 0 when a side is constant.

Example (hand-checked): gold [0, 0, 1, 1], predicted [0, 1, 1, 1] gives accuracy 75,
macro_f1 = 100 * (2/3 + 4/5) / 2 = 73.33, matthews = 100 * (3*4 - (1*2 + 3*2)) /
sqrt((16 - 10)(16 - 8)) = 100 * 4 / sqrt(48) = 57.74.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from intertask.errors import IntertaskError, did_you_mean


@dataclass(frozen=True)
class Metric:
    """A metric: `fn(gold, predicted) -> float` on 0-100; `higher_is_better` for ranking."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    regression: bool = False


def _accuracy(gold: np.ndarray, pred: np.ndarray) -> float:
    return 100.0 * float(np.mean(gold == pred))


def _macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    scores = []
    for c in np.union1d(gold, pred):
        tp = np.sum((pred == c) & (gold == c))
        fp = np.sum((pred == c) & (gold != c))
        fn = np.sum((pred != c) & (gold == c))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return 100.0 * float(np.mean(scores))


def _matthews(gold: np.ndarray, pred: np.ndarray) -> float:
    classes = np.union1d(gold, pred)
    t = np.array([np.sum(gold == c) for c in classes], dtype=float)
    p = np.array([np.sum(pred == c) for c in classes], dtype=float)
    s = float(len(gold))
    c = float(np.sum(gold == pred))
    denom = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return 0.0 if denom == 0 else 100.0 * float((c * s - p @ t) / denom)


def _correlation(gold: np.ndarray, pred: np.ndarray) -> float:
    gold, pred = gold.astype(float), pred.astype(float)
    if np.std(gold) == 0 or np.std(pred) == 0:
        return 0.0
    return 100.0 * float(np.corrcoef(gold, pred)[0, 1])


def _rank(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x.astype(float))


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", _accuracy),
    "macro_f1": Metric("macro_f1", _macro_f1),
    "matthews": Metric("matthews", _matthews),
    "pearson": Metric("pearson", _correlation, regression=True),
    "spearman": Metric("spearman", lambda g, p: _correlation(_rank(g), _rank(p)), regression=True),
}


def get_metric(name: str) -> Metric:
    """The metric called `name`; unknown names raise `IntertaskError` with close matches."""
    if name not in METRICS:
        raise IntertaskError(
            f"unknown metric {name!r}{did_you_mean(name, METRICS)}; known: {', '.join(METRICS)}"
        )
    return METRICS[name]


def compute_metrics(names: Sequence[str], gold: Sequence, predicted: Sequence) -> dict[str, float]:
    """Scores `{name: 0-100}` of `predicted` against `gold` (both length N, N >= 1)."""
    metrics = [get_metric(n) for n in names]
    gold_a, pred_a = np.asarray(gold), np.asarray(predicted)
    if gold_a.shape != pred_a.shape or gold_a.ndim != 1:
        raise IntertaskError(
            f"gold and predicted must be 1-D of equal length, got shapes {gold_a.shape} and {pred_a.shape}"
        )
    if len(gold_a) == 0:
        raise IntertaskError("cannot compute metrics on zero examples")
    return {m.name: m.fn(gold_a, pred_a) for m in metrics}


LEARNED_MARGIN = 5.0  # points above the floor a score must reach to count as learned
LEARNED_TOLERANCE = 1e-9  # points: float rounding of a difference of two scores, far below one example


def floor_score(name: str, gold: Sequence, choices: int | None = None) -> float:
    """The metric `name` of the best constant prediction on `gold` (0-100): what learning nothing scores.

    Classification and multiple choice: max over c in 0..choices-1 of metric(gold, [c] * N)
    (`choices` defaults to max(gold) + 1), e.g. the majority-class rate for accuracy and
    100 * (2 p / (1 + p)) / K for macro-F1 with majority share p over K present classes.
    Regression metrics (correlations) score 0 for a constant.

    Example: floor_score("accuracy", [0, 0, 1]) = 66.67; floor_score("macro_f1", [0, 0, 1]) = 40.0.
    """
    metric = get_metric(name)
    gold_a = np.asarray(gold)
    if len(gold_a) == 0:
        raise IntertaskError("cannot compute a floor on zero examples")
    if metric.regression:
        return 0.0
    n_choices = int(choices if choices is not None else gold_a.max() + 1)
    return max(metric.fn(gold_a, np.full_like(gold_a, c)) for c in range(n_choices))


def learned(score: float, floor: float, margin: float = LEARNED_MARGIN) -> bool:
    """True when `score` clears `floor` by at least `margin` points (NaN on either side: False).

    Compared with a tolerance of `LEARNED_TOLERANCE` points: scores on the 100·i/N grid that are
    exactly `margin` apart can differ by 4.999999999999999 in floating point (e.g. 100·41/500 and
    100·16/500), and such a baseline has learned.
    """
    return bool(score - floor >= margin - LEARNED_TOLERANCE)


def binomial_se(score: float, n: int) -> float:
    """Binomial standard error (points) of an accuracy-like `score` (0-100) on `n` examples:
    100 * sqrt(p (1 - p) / n) with p = score / 100; NaN when n < 1."""
    if n < 1:
        return float("nan")
    p = min(max(score / 100.0, 0.0), 1.0)
    return 100.0 * float(np.sqrt(p * (1 - p) / n))
