"""Combining selector scores into one ranking, and the numbers that say how far to trust it.

Notation: `S` library sources, `R` target seeds; `scores[m]` is `[R, S]` for a method that reads
the target prompt (one row per target seed) and `[1, S]` for one that does not.

- **rank**: `rank_m,r(s)` = 1 for the highest score of method `m` at seed `r`, ties share the mean
  rank (`scipy.stats.rankdata` of the negated scores).
- **rank aggregation** (Borda-style mean rank): `method_rank_m(s) = mean_r rank_m,r(s)`, then
  `combined(s) = mean_m method_rank_m(s)` (each method weighs the same, however many seeds it
  has); `combined_rank` is the position of `combined(s)`, lowest first, ties by name.
- **method agreement**: mean over pairs of methods of the Spearman correlation of their
  seed-averaged scores; per source, the share of methods that put it in their top k
  (`k = top_k_for(S)`: 3, or S // 3 for libraries of fewer than 9 sources).
- **stability**: mean over prompt methods and over pairs of seeds of the Spearman correlation of
  that method's scores at the two seeds; per source, the share of seeds whose per-seed combined
  ranking (mean rank over methods at that seed) puts it in the top k.
- **expected gain** (needs history): with `e_t` the text-embedding centroid of historical target
  `t` and `e` the new target's, `w_t = max(0, cos(e_t, e))` (uniform when every weight is 0 or no
  centroid is known); `expected_gain(s) = sum_t w_t g(s, t) / sum_t w_t` with `g(s, t)` the mean
  gain over seeds of transfer `s -> t`; `p_negative(s) = sum_t w_t n(s, t) / sum_t w_t` with
  `n(s, t)` the share of seeds whose gain is below 0.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

TOP_K = 3


def top_k_for(n_sources: int) -> int:
    """The k of the top-k statistics: 3, or a third of a small library (at least 1), so that
    "in the top k" still separates sources when there are few of them."""
    return max(1, min(TOP_K, n_sources // 3))


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """Ranks, 1 = highest score, ties averaged: `[S]` -> `[S]`; `[R, S]` -> `[R, S]` row-wise.

    >>> ranks_of(np.array([0.1, 0.9, 0.5])).tolist()
    [3.0, 1.0, 2.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return rankdata(-scores)
    return np.vstack([rankdata(-row) for row in scores])


def method_ranks(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per method, the mean rank over its seed rows: `{m: [R_m, S]}` -> `{m: [S]}`."""
    return {m: ranks_of(s).mean(axis=0) for m, s in scores.items()}


def combined_scores(scores: dict[str, np.ndarray]) -> np.ndarray:
    """`combined(s)` = mean over methods of the method's mean rank (lower is better): `[S]`."""
    return np.mean(np.vstack(list(method_ranks(scores).values())), axis=0)


def order(combined: np.ndarray, names: list[str]) -> list[int]:
    """Source indices from best (lowest combined rank) to worst, ties by name."""
    return sorted(range(len(names)), key=lambda i: (combined[i], names[i]))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two score vectors; 0 when either is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def mean_pairwise_spearman(vectors: list[np.ndarray]) -> float | None:
    """Mean Spearman over all pairs of `vectors`; None with fewer than two."""
    pairs = list(itertools.combinations(vectors, 2))
    if not pairs:
        return None
    return float(np.mean([spearman(a, b) for a, b in pairs]))


def top_k_sets(scores: dict[str, np.ndarray], k: int = TOP_K) -> dict[str, set[int]]:
    """Per method, the indices of its top `k` sources by seed-averaged rank."""
    return {m: set(np.argsort(r, kind="stable")[:k].tolist()) for m, r in method_ranks(scores).items()}


def top_k_agreement(scores: dict[str, np.ndarray], k: int = TOP_K) -> float | None:
    """Mean over method pairs of |top_k(a) ∩ top_k(b)| / k; None with fewer than two methods."""
    sets = list(top_k_sets(scores, k).values())
    pairs = list(itertools.combinations(sets, 2))
    if not pairs:
        return None
    return float(np.mean([len(a & b) / k for a, b in pairs]))


def random_top_k_agreement(n_methods: int, n_sources: int, k: int = TOP_K, draws: int = 2000,
                           quantile: float = 0.95, seed: int = 0) -> float:
    """The `quantile` of `top_k_agreement` when `n_methods` rank `n_sources` uniformly at random."""
    rng = np.random.default_rng(seed)
    k = min(k, n_sources)
    values = []
    for _ in range(draws):
        sets = [set(rng.permutation(n_sources)[:k].tolist()) for _ in range(n_methods)]
        values.append(np.mean([len(a & b) / k for a, b in itertools.combinations(sets, 2)]))
    return float(np.quantile(values, quantile))


def per_seed_top_k_share(scores: dict[str, np.ndarray], n_seeds: int, k: int = TOP_K) -> np.ndarray:
    """Per source, the share of seeds whose per-seed combined ranking puts it in the top `k`."""
    n_sources = next(iter(scores.values())).shape[-1]
    hits = np.zeros(n_sources)
    for r in range(n_seeds):
        per_seed = {m: np.atleast_2d(s)[min(r, np.atleast_2d(s).shape[0] - 1)][None] for m, s in scores.items()}
        combined = combined_scores(per_seed)
        hits[np.argsort(combined, kind="stable")[:k]] += 1
    return hits / max(n_seeds, 1)


def seed_stability(scores: dict[str, np.ndarray]) -> float | None:
    """Mean over methods with ≥ 2 seed rows of their mean pairwise Spearman between seeds."""
    values = [mean_pairwise_spearman(list(np.atleast_2d(s))) for s in scores.values()
              if np.atleast_2d(s).shape[0] >= 2]
    return float(np.mean(values)) if values else None


def cosine(a, b) -> float:
    """Cosine similarity of two vectors; 0 when either is all zeros."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0


def history_weights(target_embedding: np.ndarray | None, centroids: dict[str, np.ndarray],
                    targets: list[str]) -> dict[str, float]:
    """`w_t = max(0, cos(e_t, e))` per historical target; uniform when none is positive."""
    weights = {}
    for name in targets:
        centroid = centroids.get(name)
        if target_embedding is None or centroid is None:
            weights[name] = 0.0
            continue
        weights[name] = max(0.0, cosine(centroid, target_embedding))
    if sum(weights.values()) <= 0:
        weights = {name: 1.0 for name in targets}
    return weights


def expected_gains(history: pd.DataFrame, sources: list[str], target_embedding: np.ndarray | None,
                   centroids: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """`(expected_gain [S], p_negative [S])` from history rows `target, source, seed, gain`.

    Sources without history get NaN.
    """
    gain = np.full(len(sources), np.nan)
    p_neg = np.full(len(sources), np.nan)
    if history is None or history.empty:
        return gain, p_neg
    per_pair = history.groupby(["source", "target"])["gain"].agg(
        mean="mean", neg=lambda g: float(np.mean(np.asarray(g) < 0))
    ).reset_index()
    weights = history_weights(target_embedding, centroids, sorted(history["target"].unique()))
    for i, source in enumerate(sources):
        rows = per_pair[per_pair["source"] == source]
        if rows.empty:
            continue
        w = rows["target"].map(weights).to_numpy(dtype=np.float64)
        if w.sum() <= 0:
            w = np.ones(len(rows))
        gain[i] = float(np.sum(w * rows["mean"]) / w.sum())
        p_neg[i] = float(np.sum(w * rows["neg"]) / w.sum())
    return gain, p_neg


def history_noise(history: pd.DataFrame, target_embedding: np.ndarray | None,
                  centroids: dict[str, np.ndarray]) -> float | None:
    """Seed noise of the history: weighted mean over targets of the baseline's std over seeds."""
    if history is None or history.empty or "baseline" not in history:
        return None
    base = history.drop_duplicates(["target", "seed"]).groupby("target")["baseline"].std(ddof=1).dropna()
    if base.empty:
        return None
    weights = history_weights(target_embedding, centroids, list(base.index))
    w = np.array([weights[t] for t in base.index])
    return float(np.sum(w * base.to_numpy()) / w.sum())
