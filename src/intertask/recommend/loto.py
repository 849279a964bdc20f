"""Scoring `recommend`'s own answer: its combinations beside every selector, one target held out at a time.

`recommend` ranks a library's sources by combining selectors (`intertask.recommend.combination`).
Here that procedure is scored against ground truth with leave-one-target-out (LOTO): for each
target, only what `recommend` would know is used (its selector scores, and the history of the
*other* targets for expected gains and for fitting the learned combination). Both are prediction
builders for the one evaluation door, `intertask.evaluation.evaluate`:

- Over a study store (`recommender_predictions`): each (target, seed) case's selector scores are
  those `intertask.evaluation.from_store.predictions_from_store` computed (the target baseline's early
  prompt snapshot, its texts); the history is the store's other targets.
- Over a library's history (`predictions_from_library`): each historical target is run through
  `recommend`'s own steps 2-3 (`recommend.target_scores`: short target runs, every selector against
  the library's other sources); the truth is the history's transfers to it. A single selector's
  prediction is its mean rank over the short runs (how `recommend` would rank by it alone).

Rows added beside the selectors: `recommend` (the equal-weight mean rank, today's default),
`recommend_learned` and `expected_gain` (the other targets' history alone). Every row gets NDCG,
Regret@k, the top-1 source's gain over the no-transfer baseline and over a uniformly random
source, with intervals over targets (`intertask.evaluation.evaluate`: Student-t below 15 targets).
`decide` holds the fallback rule's decision (`combination.choose`); `intertask.recommend.add_combination`
fits the model on every target of a library's history and writes it into the library for `recommend`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.evaluation import Evaluation, Predictions, evaluate
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend import combination as comb
from intertask.recommend import ranking as rk
from intertask.recommend.library import Library
from intertask.recommend.recommend import applicable_methods, library_methods, target_scores
from intertask.recommend.target_runs import DEFAULT_BUDGET_STEPS
from intertask.selection import REFERENCE_METHODS
from intertask.tasks.registry import get_task



def _members(methods) -> list[str]:
    """The selectors a combination combines: not the reference `random`, not snapshot variants."""
    return [m for m in dict.fromkeys(methods) if "@" not in m and m not in REFERENCE_METHODS]


def check_targets(targets, where: str) -> None:
    if len(set(targets)) < 2:
        raise IntertaskError(f"{where} has {len(set(targets))} target(s); leave-one-target-out needs at least 2 "
                             "(and about 10 for intervals worth reading)")


def recommender_predictions(predictions: Predictions, matrix: TransferMatrix) -> tuple[pd.DataFrame, list[str]]:
    """LOTO rows of the combinations from the selectors' `predictions` (a store's, with the targets'
    text embeddings) and the ground truth `matrix` they were made for (the rows `evaluate` scores:
    one source seed, learned cases). Returns `(rows, members)`: the new prediction rows and the
    selectors they combine. With `cost_seconds`/`target_steps`, a combination costs the sum of its
    selectors' seconds and the most target steps any needs (the expected gain costs nothing)."""
    truth = matrix.one_source_seed().learned_only().frame
    scores = predictions.rows
    members = _members(scores["method"].unique())
    check_targets(truth["target"], "the study")
    if not members:
        raise IntertaskError("the recommender rows combine selectors; evaluate at least one besides random")
    gains = truth.set_index(["target", "seed", "source"])["gain"]
    cases = []
    for (target, seed), frame in scores[scores["method"].isin(members)].groupby(["target", "seed"]):
        wide = frame.pivot(index="source", columns="method", values="predicted").sort_index()
        cases.append({"target": target, "seed": seed, "sources": list(wide.index),
                      "scores": {m: wide[m].to_numpy(np.float64)[None] for m in members},
                      "gain": gains.loc[[(target, seed, s) for s in wide.index]].to_numpy(np.float64)})
    history = comb.History(truth, predictions.embeddings)
    rows = comb.loto_rankings(cases, history, members)
    if {"cost_seconds", "target_steps"} <= set(scores.columns):  # a combination runs all its selectors
        per_case = scores[scores["method"].isin(members)].groupby(["target", "seed", "method"]).first()
        cost = per_case.groupby(["target", "seed"]).agg(cost_seconds=("cost_seconds", "sum"),
                                                        target_steps=("target_steps", "max"))
        rows = rows.join(cost, on=["target", "seed"])
        rows.loc[rows["method"] == comb.EXPECTED_GAIN, ["cost_seconds", "target_steps"]] = 0.0
    return rows, members


def decide(evaluation, members: list[str]) -> dict:
    """The fallback rule on an evaluation holding the LOTO rows: `{use, reason, metric}`."""
    use, reason = comb.choose(evaluation.summary, members + [comb.EXPECTED_GAIN])
    return {"use": bool(use), "reason": reason, "metric": comb.DECISION_METRIC}


@dataclass
class LibraryPredictions:
    """What `predictions_from_library` builds: the `truth` (the history's transfers to each target from
    the library's other sources), the `predictions` (selectors and LOTO combinations), and what fitting
    the combination on every target needs: the per-case selector scores `cases`, the `history` of
    expected gains and the combined selectors `members`."""

    truth: TransferMatrix
    predictions: Predictions
    cases: list[dict]
    history: comb.History
    members: list[str]


def predictions_from_library(library: Library, methods=None, budget_steps: int | None = None, runs: int = 3,
                             device: str = "cpu", progress=None, backbone=None) -> LibraryPredictions:
    """LOTO predictions of `recommend` on the history of `library`; see the module docstring. `methods`
    (default: `recommend`'s, those every historical target can use), `budget_steps` and `runs` (short
    target runs per target) are `recommend`'s. `progress(event, done, total)` is called per target and
    passed to training."""
    history = library.history.learned_only().one_source_seed().frame
    if history.empty:
        raise IntertaskError(f"library {str(library.path)!r} has no history of transfers to evaluate against; "
                             "build it from a whole study (library build CONFIG with history)")
    targets = sorted(history["target"].unique())
    check_targets(targets, f"the history of library {str(library.path)!r}")
    budget = DEFAULT_BUDGET_STEPS if budget_steps is None else int(budget_steps)
    if budget < 1 or runs < 1:
        raise IntertaskError(f"budget steps and target runs must be >= 1, got {budget} and {runs}")
    tasks = {}
    for name in targets:  # every target's data before any training
        try:
            tasks[name] = get_task(name, progress=False)
        except IntertaskError as err:
            raise IntertaskError(f"historical target {name!r} cannot be loaded ({err}); the evaluation needs "
                                 "every target's data") from None
    wanted = [set(applicable_methods(task, methods)) for task in tasks.values()]
    chosen = library_methods(library, [m for m in applicable_methods(tasks[targets[0]], methods)
                                       if all(m in w for w in wanted)], explicit=bool(methods))
    if backbone is None:
        from intertask.backbones import load_backbone

        backbone = load_backbone(library.backbone["name"], device=device)
    frames, cases, truth = [], [], []
    for i, target in enumerate(targets):
        if progress:
            progress("historical targets", i, len(targets))
        pool = dataclasses.replace(library, sources=[s for s in library.sources if s.name != target])
        scores, _, _ = target_scores(tasks[target], pool, chosen, budget, runs, backbone, device, progress)
        for seed, rows in history[history["target"] == target].groupby("seed"):
            rows = rows[rows["source"].isin(pool.source_names)]
            index = [pool.source_names.index(s) for s in rows["source"]]
            case = {m: v[:, index] for m, v in scores.items()}
            for method, values in case.items():
                frames.append(pd.DataFrame({"method": method, "target": target, "seed": seed,
                                            "source": rows["source"].tolist(),
                                            "predicted": -rk.ranks_of(values).mean(axis=0)}))
            cases.append({"target": target, "seed": seed, "sources": rows["source"].tolist(), "scores": case,
                          "gain": rows["gain"].to_numpy(np.float64)})
            truth.append(rows)
    if progress:
        progress("historical targets", len(targets), len(targets))
    matrix = TransferMatrix(pd.concat(truth, ignore_index=True))
    members = _members(chosen)
    memory = comb.History(matrix.frame, library.target_embeddings)
    rows = pd.concat(frames + [comb.loto_rankings(cases, memory, members)], ignore_index=True)
    config = dict(library=str(library.path), backbone=library.backbone["name"], methods=chosen,
                  study=f"library history ({library.path.name})", recommender=True, members=members,
                  budget_steps=budget, target_runs=runs)
    predictions = Predictions(rows, tags={t: tuple(task.tags) for t, task in tasks.items()}, config=config)
    return LibraryPredictions(matrix, predictions, cases, memory, members)


def evaluate_library(built: LibraryPredictions, k: int = 3, top_k: int = 2, n_boot: int = 2000) -> Evaluation:
    """`evaluate` the LOTO predictions of a library (`predictions_from_library`); `config["combination"]`
    holds the fallback rule's decision."""
    evaluation = evaluate(built.truth, built.predictions, k=k, top_k=top_k, n_boot=n_boot)
    evaluation.config["combination"] = decide(evaluation, built.members)
    return evaluation
