"""`recommend` on history targets it never saw: nested leave-one-target-out, as a user runs it.

Input: a library, its history, and `recommend`'s own short runs and selector scores on every
historical target (`library_cases.TargetRuns`). For each historical target t:

1. **the rule** is chosen on the other targets only: `rule.choose_rule(..., leave_out={t})`, which
   itself holds each of the other targets out in turn (the inner folds) — t's transfers are never
   read, so scrambling them changes nothing about t's prediction;
2. **recommend's own assembly** (`recommend._assemble`) runs on t with a library that lacks t's
   history and t as a source, and carries that rule: the ranking, expected gains, P(negative),
   verdict and the rule that ranked are exactly what a user would have been shown for t before
   t's transfers were measured.

`held_out` returns these per target, and the prediction rows that the one evaluation door
(`intertask.evaluation.evaluate`, via `intertask.recommend.loto`) scores against t's measured
transfers: every selector alone (its mean rank over the short runs), `random`, each combination candidate under plain leave-one-target-out (`recommend_mean_rank`,
`recommend_learned`, `expected_gain`: each fitted and fed by the other targets only) and
`recommend` itself (the nested choice).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from intertask.matrix.transfer import TransferMatrix
from intertask.recommend import ranking as rk
from intertask.recommend import rule as rl
from intertask.recommend.recommend import _assemble, combined_methods
from intertask.selection import REFERENCE_METHODS
from intertask.tasks.metrics import learned

RECOMMEND = "recommend"
CANDIDATE_METHODS = {rl.MEAN_RANK: "recommend_mean_rank", rl.LEARNED: "recommend_learned",
                     rl.EXPECTED_GAIN: "expected_gain"}


@dataclass
class HeldOut:
    """Per held-out target: `recommendations` (target -> `Recommendation`) and `rules` (target ->
    the rule chosen without it); `matrix`: the measured transfers (`target, source, seed, score,
    baseline, gain`); `predictions`: rows `method, target, seed, source, predicted`; `members`:
    the combined selectors; `final_rule`: the rule chosen on every target (what a library stores)."""

    recommendations: dict
    rules: dict
    matrix: pd.DataFrame
    predictions: pd.DataFrame
    members: list[str]
    final_rule: dict


def _aggregated(runs) -> dict[str, np.ndarray]:
    """The scores recommend combines on this target (`recommend.combined_methods`: the floor rule)."""
    learned_seeds = sum(learned(r.test_score, r.test_floor) for r in runs.runs)
    return combined_methods(runs.scores, learned_seeds)


def rule_cases(collected, history: pd.DataFrame) -> tuple[list[rl.Case], pd.DataFrame]:
    """One `rule.Case` per (target, seed) of the history, with the scores `recommend` combined
    there, and the matching transfer rows."""
    cases, truth = [], []
    for runs in collected:
        scores = _aggregated(runs)
        for seed, rows in history[history["target"] == runs.target].groupby("seed"):
            rows = rows[rows["source"].isin(runs.sources)].drop_duplicates("source")
            index = [runs.sources.index(s) for s in rows["source"]]
            cases.append(rl.Case(runs.target, int(seed), rows["source"].tolist(),
                                 {m: v[:, index] for m, v in scores.items()},
                                 rows["score"].to_numpy(np.float64), rows["gain"].to_numpy(np.float64)))
            truth.append(rows)
    return cases, pd.concat(truth, ignore_index=True)


def members_of(methods) -> list[str]:
    """The selectors a combination combines: not the reference `random`, not snapshot variants."""
    return [m for m in dict.fromkeys(methods) if "@" not in m and m not in REFERENCE_METHODS]


def method_rows(method: str, case: rl.Case, predicted) -> pd.DataFrame:
    """Prediction rows `method, target, seed, source, predicted` of one case."""
    return pd.DataFrame({"method": method, "target": case.target, "seed": case.seed, "source": case.sources,
                         "predicted": np.asarray(predicted, np.float64)})


def candidate_rows(cases: list[rl.Case], signals: rl.SignalSource, members: list[str]) -> list[pd.DataFrame]:
    """Each combination candidate under plain leave-one-target-out (`rule.loto_predictions`), as the rows
    of `CANDIDATE_METHODS`."""
    return [method_rows(CANDIDATE_METHODS[name], case, predicted)
            for name, case, predicted in rl.loto_predictions(cases, signals, members) if name in CANDIDATE_METHODS]


def held_out(library, history: pd.DataFrame, tasks: dict, collected) -> HeldOut:
    """Nested leave-one-target-out of `recommend` over the library's history; see the module docstring.
    `history`: the library's transfers where they measure one (a `TransferMatrix` frame, `learned_only`)."""
    cases, matrix = rule_cases(collected, history)
    members = members_of(m for runs in collected for m in runs.methods)
    signals = rl.SignalSource(history, {r.target: r.text_embedding for r in collected}, library.target_embeddings,
                              {s.name: s.tags for s in library.sources}, {t: tuple(k.tags) for t, k in tasks.items()})
    frames, recommendations, rules = [], {}, {}
    for runs in collected:
        t = runs.target
        chosen = rl.choose_rule(cases, signals, members, leave_out=frozenset({t}))
        pool = dataclasses.replace(library, sources=[s for s in library.sources if s.name != t],
                                   history=TransferMatrix(history[history["target"] != t].reset_index(drop=True)),
                                   combination=chosen)
        rec = _assemble(tasks[t], pool, runs.methods, list(range(len(runs.runs))), runs.budget_steps, runs.scores,
                        SimpleNamespace(text_embedding=runs.text_embedding), runs.runs)
        recommendations[t], rules[t] = rec, chosen
        position = {s: -i for i, s in enumerate(rec.ranking["source"])}
        for case in (c for c in cases if c.target == t):
            frames.append(method_rows(RECOMMEND, case, [position[s] for s in case.sources]))
            index = [runs.sources.index(s) for s in case.sources]
            frames += [method_rows(method, case, -rk.ranks_of(values[:, index]).mean(axis=0))
                       for method, values in runs.scores.items()]
    frames += candidate_rows(cases, signals, members)
    return HeldOut(recommendations, rules, matrix, pd.concat(frames, ignore_index=True), members,
                   rl.choose_rule(cases, signals, members))
