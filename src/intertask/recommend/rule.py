"""How `recommend` orders sources: one rule, chosen on history targets held out one at a time.

Candidates (`candidates(members)`), each a score per source, higher = ranked higher:

- `mean_rank`: the equal-weight mean rank of the combined selectors, −combined(s)
  (`ranking.combined_scores`);
- `expected_gain`: the history's expected gain on similar targets (`ranking.expected_gains`);
  sources without history rank below every source with history;
- `learned`: ridge regression (`combination.fit`: scikit-learn `Ridge`, α by leave-one-target-out)
  of the standardised gain on the standardised features of `learned_features`: each selector's
  standardised rank, then the history signal — expected gain, P(negative), popularity, tag overlap;
- every selector alone: its mean rank over the target seeds.

History signal for a target (`history_signal`, from the history *without* that target):
`expected_gain(s)` and `p_negative(s)` as in `ranking.expected_gains`; `popularity(s)` = share of
history targets in whose top k (by mean gain over seeds, k = `ranking.top_k_for(S)`) the source is;
`tag_overlap(s)` = Jaccard index of the source's and the target's tags; `nearest_similarity` =
the largest text-embedding cosine of the target to a history target.

Choice (`choose_rule`): every candidate is scored leave-one-target-out over the given cases —
for each target u, a candidate sees only the other targets (its history signal and, for
`learned`, its training rows) — giving per target (mean over its seeds) its `DECISION_METRIC`.
The one-standard-error rule then picks the first candidate in `candidates` order whose mean
shortfall to the best candidate, paired over the targets both score, is at most one standard
error of that shortfall (sd/√G over G targets): a candidate that is not measurably worse than
the best is kept over one that won by noise. (Taking the plain best made the nested choice flip
between near-tied candidates from fold to fold and score below each of them: docs/findings.md §1h.)
The best selector-only candidate (`mean_rank` or a single selector) is kept as the `fallback`.
Called on every target but one, this is the inner loop of a nested leave-one-target-out
(`intertask.recommend.held_out`), so the held-out target's score is honest.

Graceful fallback (`order_scores`): a rule that reads the history (`expected_gain`, `learned`)
gives way to the fallback when the target resembles none of the history targets —
`nearest_similarity` < `min_similarity`, the smallest cosine between two history targets (the
target lies farther from every history target than the two least alike history targets lie from
each other) — or when no source has history.

The rule is plain JSON (`combination.json` in a library, checked on load by
`library_format.combination_problem`); `intertask.recommend.loto` adds `calibration`, how far the
printed expected gain and P(negative) were off on held-out history targets
(`intertask.recommend.calibration.risk_summary`), which `recommend` prints beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from intertask.ranking_metrics import ndcg_score, regret_at_k
from intertask.recommend import combination as comb
from intertask.recommend import ranking as rk

FORMAT = "intertask.rule/1"
MEAN_RANK = "mean_rank"
EXPECTED_GAIN = "expected_gain"
LEARNED = "learned"
HISTORY_RULES = (EXPECTED_GAIN, LEARNED)
SIGNAL_FEATURES = ("expected_gain", "p_negative", "popularity", "tag_overlap")
DECISION_METRIC = "ndcg"
REGRET_K = 3


@dataclass(frozen=True)
class HistorySignal:
    """What the history says about each source for one target (`[S]` each, NaN where a source
    has no history) and how close the target is to the history's targets (None: no history)."""

    expected_gain: np.ndarray
    p_negative: np.ndarray
    popularity: np.ndarray
    tag_overlap: np.ndarray
    nearest_similarity: float | None

    @property
    def empty(self) -> bool:
        return bool(np.isnan(self.expected_gain).all())


def history_signal(history: pd.DataFrame, sources: list[str], target_embedding, centroids: dict,
                   source_tags: dict | None = None, target_tags=()) -> HistorySignal:
    """The `HistorySignal` of a target from history rows `target, source, seed, gain` (which must
    not hold the target itself when it is scored leave-one-target-out); see the module docstring."""
    gain, p_neg = rk.expected_gains(history, sources, target_embedding, centroids)
    popularity = np.full(len(sources), np.nan)
    nearest = None
    if history is not None and not history.empty:
        means = history.groupby(["target", "source"])["gain"].mean().unstack("source")
        k = rk.top_k_for(means.shape[1])
        top = means.apply(lambda row: row.rank(ascending=False, method="first") <= k, axis=1)
        popularity = np.array([float(top[s].mean()) if s in top else np.nan for s in sources])
        known = [centroids[t] for t in means.index if t in centroids]
        if target_embedding is not None and known:
            nearest = max(rk.cosine(c, target_embedding) for c in known)
    own = set(target_tags)
    tags = source_tags or {}
    overlap = np.array([len(own & set(tags.get(s, ()))) / max(1, len(own | set(tags.get(s, ())))) for s in sources])
    return HistorySignal(gain, p_neg, popularity, overlap, nearest)


def min_similarity(centroids: dict, targets) -> float | None:
    """The smallest cosine between two of the `targets`' centroids (None with < 2)."""
    known = [t for t in targets if t in centroids]
    if len(known) < 2:
        return None
    return min(rk.cosine(centroids[a], centroids[b]) for i, a in enumerate(known) for b in known[i + 1:])


def candidates(members: list[str]) -> list[str]:
    """The rules `choose_rule` compares, in the order it prefers them: expected gain (the history
    alone, no short-run noise), the equal-weight mean rank, learned (fitted), then each selector alone."""
    return [EXPECTED_GAIN, MEAN_RANK, LEARNED, *members]


def learned_features(members: list[str]) -> list[str]:
    return [*members, *SIGNAL_FEATURES]


def _features(scores: dict[str, np.ndarray], signal: HistorySignal, names: list[str]) -> np.ndarray:
    """`[S, F]`: standardised ranks of the selectors, standardised history signals (0 where NaN)."""
    columns = []
    for name in names:
        if name in SIGNAL_FEATURES:
            columns.append(comb.standardise(getattr(signal, name)))
        elif name in scores:
            columns.append(comb.standardised_rank(scores[name]))
        else:  # a selector left out here (the floor rule): no information
            columns.append(np.zeros(len(signal.expected_gain)))
    return np.column_stack(columns)


def _selector_scores(rule: str, scores: dict[str, np.ndarray]) -> np.ndarray:
    if rule == MEAN_RANK:
        return -rk.combined_scores(scores)
    return -rk.ranks_of(np.atleast_2d(scores[rule])).mean(axis=0)


def rule_scores(rule: dict, scores: dict[str, np.ndarray], signal: HistorySignal) -> np.ndarray:
    """The scores `[S]` of rule `rule["rule"]` (with its `model` when learned), no fallback."""
    name = rule["rule"]
    if name == EXPECTED_GAIN:
        gain = signal.expected_gain
        return np.where(np.isnan(gain), np.nanmin(gain) - 1.0, gain)
    if name == LEARNED:
        model = rule["model"]
        return _features(scores, signal, model["features"]) @ np.asarray(model["weights"]) + model["intercept"]
    return _selector_scores(name, scores)


def order_scores(rule: dict | None, scores: dict[str, np.ndarray], signal: HistorySignal) -> tuple[np.ndarray, str, str]:
    """`(scores [S], the rule that ranked, why)` for `recommend`: the library's rule, its fallback
    when the history cannot speak for this target, or the equal-weight mean rank when the library
    has no rule or the rule needs a selector that did not run here."""
    if rule is None:
        return _selector_scores(MEAN_RANK, scores), MEAN_RANK, "equal-weight mean rank (the library has no rule)"
    name, why = rule["rule"], rule["reason"]
    if name in HISTORY_RULES:
        threshold = rule.get("min_similarity")
        if signal.empty:
            name, why = rule["fallback"], f"{rule['fallback']}: no source has history, so {name} cannot rank"
        elif threshold is not None and (signal.nearest_similarity or 0.0) < threshold:
            name, why = rule["fallback"], (
                f"{rule['fallback']}: the target resembles none of the history targets (nearest cosine "
                f"{signal.nearest_similarity or 0.0:.2f} < {threshold:.2f}), so {rule['rule']} is not used")
    needed = rule["model"]["features"] if name == LEARNED else [] if name in HISTORY_RULES + (MEAN_RANK,) else [name]
    missing = [f for f in needed if f not in SIGNAL_FEATURES and f not in scores]
    if missing:
        return (_selector_scores(MEAN_RANK, scores), MEAN_RANK,
                f"equal-weight mean rank: the rule {name} needs {', '.join(missing)}, which did not run here "
                "or was left out")
    return rule_scores({**rule, "rule": name}, scores, signal), name, why


# ---- choosing the rule ----------------------------------------------------------------------
@dataclass
class Case:
    """One (target, seed) of the history as `recommend` saw it: its selectors' `scores` (method ->
    `[R, S]`, the combined selectors only), the true `score` and `gain` per source (`[S]`)."""

    target: str
    seed: int
    sources: list[str]
    scores: dict[str, np.ndarray]
    score: np.ndarray
    gain: np.ndarray


def case_metrics(score: np.ndarray, predicted: np.ndarray, k: int = REGRET_K) -> dict[str, float]:
    """NDCG and Regret@k of one case (`intertask.ranking_metrics`)."""
    return {"ndcg": ndcg_score(score, predicted), "regret_at_k": regret_at_k(score, predicted, min(k, len(score)))}


class SignalSource:
    """History signals of targets with chosen targets left out, cached.

    `history`: rows `target, source, seed, gain`; `embeddings`: target -> `[D]` (the targets'
    own, as `recommend` computes them); `centroids`: the library's history-target centroids.
    """

    def __init__(self, history: pd.DataFrame, embeddings: dict, centroids: dict, source_tags: dict,
                 target_tags: dict):
        self.history, self.embeddings, self.centroids = history, embeddings, centroids
        self.source_tags, self.target_tags = source_tags, target_tags
        self._cache: dict = {}

    def signal(self, target: str, sources: list[str], leave_out: frozenset[str]) -> HistorySignal:
        key = (target, tuple(sources), leave_out | {target})
        if key not in self._cache:
            rest = self.history[~self.history["target"].isin(key[2])]
            self._cache[key] = history_signal(rest, sources, self.embeddings.get(target), self.centroids,
                                              self.source_tags, self.target_tags.get(target, ()))
        return self._cache[key]


def fit_learned(cases: list[Case], signals: SignalSource, members: list[str], leave_out: frozenset[str]) -> dict:
    """The ridge model on every case whose target is not in `leave_out`; each case's history
    signal leaves out its own target and `leave_out`."""
    names = learned_features(members)
    x, y, groups = [], [], []
    for case in cases:
        if case.target in leave_out:
            continue
        x.append(_features(case.scores, signals.signal(case.target, case.sources, leave_out), names))
        y.append(comb.standardise(case.gain))
        groups += [case.target] * len(case.sources)
    return comb.fit(np.vstack(x), np.concatenate(y), np.asarray(groups), names)


def loto_predictions(cases: list[Case], signals: SignalSource, members: list[str],
                     leave_out: frozenset[str] = frozenset()):
    """Every candidate's prediction, leave-one-target-out over the cases whose target is not in
    `leave_out`: yields `(rule, case, predicted [S])`; a candidate that cannot rank a case (a
    selector left out there, no history) is skipped."""
    targets = sorted({c.target for c in cases} - leave_out)
    for target in targets:
        held = leave_out | {target}
        model = fit_learned(cases, signals, members, held) if len(targets) >= 2 else None
        for case in (c for c in cases if c.target == target):
            signal = signals.signal(target, case.sources, held)
            for name in candidates(members):
                usable = {LEARNED: model is not None, EXPECTED_GAIN: not signal.empty,
                          MEAN_RANK: True}.get(name, name in case.scores)
                if usable:
                    yield name, case, rule_scores({"rule": name, "model": model}, case.scores, signal)


def loto_scores(cases: list[Case], signals: SignalSource, members: list[str],
                leave_out: frozenset[str] = frozenset()) -> pd.DataFrame:
    """`loto_predictions` scored: rows `rule, target, seed, ndcg, regret_at_k`."""
    rows = [{"rule": name, "target": case.target, "seed": case.seed, **case_metrics(case.score, predicted)}
            for name, case, predicted in loto_predictions(cases, signals, members, leave_out)]
    return pd.DataFrame(rows, columns=["rule", "target", "seed", "ndcg", "regret_at_k"])


def one_standard_error_choice(by_target: pd.DataFrame, order: list[str]) -> tuple[str, str, dict]:
    """`(chosen, best, shortfall)` from `by_target` (target × rule, higher is better): `best` has the highest
    mean over targets (ties: earlier in `order`); `shortfall[name]` = (mean, standard error) over the targets
    both score of best − name; `chosen` is the first of `order` whose mean shortfall ≤ its standard error."""
    means = by_target[order].mean()
    best = max(order, key=lambda name: (means[name], -order.index(name)))
    shortfall = {}
    for name in order:
        diff = (by_target[best] - by_target[name]).dropna()
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        shortfall[name] = (float(diff.mean()) if len(diff) else 0.0, se)
    chosen = next(name for name in order if shortfall[name][0] <= shortfall[name][1])
    return chosen, best, shortfall


def _per_target(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per rule and target, then mean over targets per rule (each target weighs
    the same): `rule -> ndcg, regret_at_k, n_targets`."""
    by_target = scores.groupby(["rule", "target"])[["ndcg", "regret_at_k"]].mean()
    table = by_target.groupby("rule").mean()
    table["n_targets"] = by_target.groupby("rule").size()
    return table


def choose_rule(cases: list[Case], signals: SignalSource, members: list[str],
                leave_out: frozenset[str] = frozenset()) -> dict:
    """The rule for `recommend` from the cases whose target is not in `leave_out` (see the module
    docstring): `{format, rule, fallback, model, members, min_similarity, metric, candidates,
    n_targets, reason}`, plain JSON."""
    targets = sorted({c.target for c in cases} - leave_out)
    scores = loto_scores(cases, signals, members, leave_out)
    table = _per_target(scores) if len(scores) else pd.DataFrame(columns=["ndcg", "regret_at_k", "n_targets"])
    order = [name for name in candidates(members) if name in table.index and np.isfinite(table.at[name, DECISION_METRIC])]
    selector_only = [name for name in order if name not in HISTORY_RULES]
    if not order:
        chosen, fallback = MEAN_RANK, MEAN_RANK
    else:
        by_target = scores.groupby(["rule", "target"])[DECISION_METRIC].mean().unstack("rule")
        chosen, best, behind = one_standard_error_choice(by_target, order)
        fallback = max(selector_only, key=lambda n: (table.at[n, DECISION_METRIC], -order.index(n))) \
            if selector_only else MEAN_RANK
    model = fit_learned(cases, signals, members, leave_out) if chosen == LEARNED else None

    def show(name):
        row = table.loc[name]
        return f"{name} NDCG {row['ndcg']:.3f}, Regret@{REGRET_K} {row['regret_at_k']:.2f}"

    if not order:
        reason = "too few history targets to compare rules; the equal-weight mean rank"
    elif chosen == best:
        runner_up = max((n for n in order if n != best), key=lambda n: table.at[n, DECISION_METRIC], default=None)
        reason = (f"{best} had the highest mean {DECISION_METRIC} when each of {len(targets)} history targets "
                  f"was held out ({show(best)}" + (f"; next {show(runner_up)}" if runner_up else "") + ")")
    else:
        reason = (f"{chosen} came within one standard error of the best mean {DECISION_METRIC} when each of "
                  f"{len(targets)} history targets was held out ({show(chosen)}; best {show(best)}, "
                  f"{behind[chosen][0]:.3f} ahead ± {behind[chosen][1]:.3f}) and is preferred to it")
    history_targets = sorted(signals.history.loc[~signals.history["target"].isin(leave_out), "target"].unique())
    return {"format": FORMAT, "rule": chosen, "fallback": fallback, "model": model, "members": list(members),
            "min_similarity": min_similarity(signals.centroids, history_targets), "metric": DECISION_METRIC,
            "candidates": {name: {"ndcg": float(table.at[name, "ndcg"]),
                                  "regret_at_k": float(table.at[name, "regret_at_k"]),
                                  "n_targets": int(table.at[name, "n_targets"]),
                                  "shortfall": behind[name][0], "shortfall_se": behind[name][1]} for name in order},
            "n_targets": len(targets), "reason": reason}
