"""Scoring `recommend`'s own answer beside every selector, one target held out at a time.

`recommend` ranks a library's sources by the rule its library stores (`intertask.recommend.rule`).
Here that procedure is scored against ground truth with leave-one-target-out (LOTO): for each
target, only what `recommend` would know is used (its selector scores, and the history of the
*other* targets). Both are prediction builders for the one evaluation door,
`intertask.evaluation.evaluate`, which gives every row NDCG, Regret@k, the top-1 source's gain over
the no-transfer baseline and over a uniformly random source, with intervals over targets
(Student-t below 15 targets).

- Over a study store (`recommender_predictions`): each (target, seed) case's selector scores are
  those `intertask.evaluation.from_store.predictions_from_store` computed (the target baseline's early
  prompt snapshot, its texts); the history is the store's other targets. Rows added beside the
  selectors, as over a library: `recommend` (the nested choice) and the candidates.
- Over a library's history (`predictions_from_library`): each historical target is run through
  `recommend`'s own steps 2-3 (`library_target_runs`: short target runs, every selector against the
  library's other sources; `library_cases` keeps them in a runs file); the truth is the history's
  transfers to it. A single selector's prediction is its mean rank over the short runs (how
  `recommend` would rank by it alone). `recommend` itself is scored as a user runs it, its rule
  chosen without the held-out target (nested LOTO, `intertask.recommend.held_out`), beside each
  candidate rule under plain LOTO (`recommend_mean_rank`, `recommend_learned`, `expected_gain`).
  `LibraryPredictions.rule` is the rule chosen on every target with its measured risk calibration
  (`intertask.recommend.calibration.risk_summary`): what `library add-combination` stores
  (`intertask.recommend.add_combination`); an evaluation only reports it (`config["combination"]`, and
  `config["held_out_rules"]`: the rule each held-out target got).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.evaluation import Predictions
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend import rule as rl
from intertask.recommend.calibration import risk_summary
from intertask.recommend.held_out import (CANDIDATE_METHODS, RECOMMEND, HeldOut, candidate_rows, held_out, members_of,
                                          method_rows)
from intertask.recommend.library import Library
from intertask.recommend.library_cases import TargetRuns, collect_target_runs, load_target_runs, save_target_runs
from intertask.recommend.recommend import applicable_methods, library_methods
from intertask.recommend.target_runs import DEFAULT_BUDGET_STEPS
from intertask.tasks.registry import get_task


def check_targets(targets, where: str) -> None:
    if len(set(targets)) < 2:
        raise IntertaskError(f"{where} has {len(set(targets))} target(s); leave-one-target-out needs at least 2 "
                             "(and about 10 for intervals worth reading)")


def recommender_predictions(predictions: Predictions, matrix: TransferMatrix) -> Predictions:
    """`predictions` (a store's selectors, with the targets' text embeddings and tags) with `recommend`'s rows
    added, leave-one-target-out against the ground truth `matrix` they were made for: `recommend` (the rule
    chosen without the target, `rule.choose_rule`, ordering its sources as `recommend` would,
    `rule.order_scores`) and the candidates (`held_out.candidate_rows`). The config adds `members`, the
    rule chosen on every target (`combination`) and each target's (`held_out_rules`). A combination costs
    the sum of its selectors' seconds and the most target steps any needs (the expected gain costs nothing)."""
    truth = matrix.ground_truth().frame
    scores = predictions.rows
    members = members_of(scores["method"].unique())
    check_targets(truth["target"], "the study")
    if not members:
        raise IntertaskError("the recommender rows combine selectors; evaluate at least one besides random")
    cases = []
    for (target, seed), frame in scores[scores["method"].isin(members)].groupby(["target", "seed"]):
        wide = frame.pivot(index="source", columns="method", values="predicted").sort_index()
        known = truth[(truth["target"] == target) & (truth["seed"] == seed)].set_index("source").loc[wide.index]
        cases.append(rl.Case(target, int(seed), list(wide.index),
                             {m: wide[m].to_numpy(np.float64)[None] for m in members},
                             known["score"].to_numpy(np.float64), known["gain"].to_numpy(np.float64)))
    signals = rl.SignalSource(truth, predictions.embeddings, predictions.embeddings, predictions.tags,
                              predictions.tags)
    frames, rules = candidate_rows(cases, signals, members), {}
    for target in sorted({c.target for c in cases}):
        rules[target] = rl.choose_rule(cases, signals, members, leave_out=frozenset({target}))
        for case in (c for c in cases if c.target == target):
            signal = signals.signal(target, case.sources, frozenset({target}))
            frames.append(method_rows(RECOMMEND, case, rl.order_scores(rules[target], case.scores, signal)[0]))
    rows = pd.concat(frames, ignore_index=True)
    if {"cost_seconds", "target_steps"} <= set(scores.columns):  # a combination runs all its selectors
        per_case = scores[scores["method"].isin(members)].groupby(["target", "seed", "method"]).first()
        cost = per_case.groupby(["target", "seed"]).agg(cost_seconds=("cost_seconds", "sum"),
                                                        target_steps=("target_steps", "max"))
        rows = rows.join(cost, on=["target", "seed"])
        rows.loc[rows["method"] == CANDIDATE_METHODS[rl.EXPECTED_GAIN], ["cost_seconds", "target_steps"]] = 0.0
    config = dict(predictions.config, recommender=True, members=members,
                  combination=rl.choose_rule(cases, signals, members),
                  held_out_rules={t: r["rule"] for t, r in rules.items()})
    return Predictions(pd.concat([scores, rows], ignore_index=True), predictions.tags, predictions.embeddings, config)


def library_setup(library: Library, methods=None, budget_steps: int | None = None,
                  runs: int = 3) -> tuple[pd.DataFrame, dict, list[str], int]:
    """What a LOTO evaluation of `recommend` on `library`'s history starts from: `(history, tasks, methods,
    budget)` — the history's transfers where they measure one (`learned_only`, one source seed), every
    historical target's `Task` (loaded before any training), `recommend`'s methods that every historical
    target can use (default: `recommend`'s), and the short runs' steps. Raises `IntertaskError` for a
    library without a usable history."""
    history = library.history.ground_truth().frame
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
    return history, tasks, chosen, budget


def library_target_runs(library: Library, methods=None, budget_steps: int | None = None, runs: int = 3,
                        device: str = "cpu", progress=None, backbone=None,
                        runs_file=None) -> tuple[pd.DataFrame, dict, list[TargetRuns]]:
    """`(history, tasks, target runs)`: `library_setup`, then `recommend`'s short runs on every historical
    target (`library_cases.collect_target_runs`; `progress(event, done, total)` per target and in training).
    `runs_file` (optional JSON) keeps them: targets already there (same methods, steps, runs and sources)
    are not rerun, each new one is saved as soon as it is done."""
    history, tasks, chosen, budget = library_setup(library, methods, budget_steps, runs)
    done = load_target_runs(runs_file)[0] if runs_file is not None and Path(runs_file).is_file() else []
    save = None if runs_file is None else (lambda so_far: save_target_runs(runs_file, so_far, library.path))
    collected = collect_target_runs(library, tasks, chosen, budget, runs, backbone, device, progress, done, save)
    return history, tasks, collected


@dataclass
class LibraryPredictions:
    """What `predictions_from_library` builds: the `truth` (the history's transfers to each target from
    the library's other sources), the `predictions` (selectors, candidate rules under LOTO, and `recommend`
    under nested LOTO), the nested run itself (`held_out`: per target what recommend showed and the rule it
    used) and `rule`: the rule chosen on every target, with `budget_steps`, `target_runs` and its measured
    `calibration` — what a library stores as combination.json."""

    truth: TransferMatrix
    predictions: Predictions
    held_out: HeldOut
    rule: dict


def library_predictions(library: Library, history: pd.DataFrame, tasks: dict,
                        collected: list[TargetRuns]) -> LibraryPredictions:
    """The cheap half of `predictions_from_library`: from `recommend`'s short runs on every historical
    target (`library_target_runs`), the nested LOTO (`held_out`) as predictions and the rule to store."""
    result = held_out(library, history, tasks, collected)
    budget, runs = collected[0].budget_steps, len(collected[0].runs)
    rule = dict(result.final_rule, budget_steps=budget, target_runs=runs, calibration=risk_summary(result, history))
    config = dict(library=str(library.path), backbone=library.backbone["name"], methods=collected[0].methods,
                  study=f"library history ({library.path.name})", recommender=True, members=result.members,
                  budget_steps=budget, target_runs=runs, combination=rule,
                  held_out_rules={t: r["rule"] for t, r in result.rules.items()})
    predictions = Predictions(result.predictions, tags={t: tuple(task.tags) for t, task in tasks.items()},
                              config=config)
    return LibraryPredictions(TransferMatrix(result.matrix), predictions, result, rule)


def predictions_from_library(library: Library, methods=None, budget_steps: int | None = None, runs: int = 3,
                             device: str = "cpu", progress=None, backbone=None, runs_file=None) -> LibraryPredictions:
    """LOTO predictions of `recommend` on the history of `library`; see the module docstring. `methods`,
    `budget_steps` and `runs` (short target runs per target) are `recommend`'s; `runs_file` keeps the short
    runs (`library_target_runs`)."""
    return library_predictions(library, *library_target_runs(library, methods, budget_steps, runs, device,
                                                             progress, backbone, runs_file))
