"""Scoring `recommend`'s own answer: its combinations beside every selector, one target held out at a time.

`recommend` ranks a library's sources by combining selectors (`intertask.recommend.combination`).
Here that procedure is scored against ground truth with leave-one-target-out (LOTO): for each
target, only what `recommend` would know is used (its selector scores, and the history of the
*other* targets for expected gains and for fitting the learned combination).

- Over a study store (`recommender_predictions`, behind `evaluate_store(..., recommender=True)`):
  each (target, seed) case's selector scores are those `evaluate_store` computed (the target
  baseline's early prompt snapshot, its texts); the history is the store's other targets.
- Over a library's history (`evaluate_library`): each historical target is run through
  `recommend`'s own steps 2-3 (`recommend.target_scores`: short target runs, every selector against
  the library's other sources; `library_cases`, optionally kept in a file); the truth is the
  history's transfers to it. A single selector's prediction is its mean rank over the short runs
  (how `recommend` would rank by it alone). `recommend` itself is scored as a user runs it, its
  ranking rule chosen without the held-out target (nested LOTO, `held_out`), beside each
  candidate rule under plain LOTO (`recommend_mean_rank`, `recommend_learned`, `expected_gain`).

Over a store, the rows added beside the selectors are `recommend` (the equal-weight mean rank),
`recommend_learned` and `expected_gain` (the other targets' history alone). Every row gets NDCG,
Regret@k, the top-1 source's gain over the no-transfer baseline and over a uniformly random
source, with intervals that resample targets (`evaluate_predictions`). `config["combination"]`
holds, over a store, the fallback rule's decision (`combination.choose`); over a library, the
rule chosen on every target (`recommend.rule.choose_rule`) with its measured risk calibration,
which `save_combination` writes into the library for `recommend`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.recommend import combination as comb
from intertask.recommend import ranking as rk
from intertask.selection import REFERENCE_METHODS

HISTORY_COLUMNS = ["target", "source", "seed", "gain"]


def _members(methods) -> list[str]:
    """The selectors a combination combines: not the reference `random`, not snapshot variants."""
    return [m for m in dict.fromkeys(methods) if "@" not in m and m not in REFERENCE_METHODS]


def check_targets(targets, where: str) -> None:
    if len(set(targets)) < 2:
        raise IntertaskError(f"{where} has {len(set(targets))} target(s); leave-one-target-out needs at least 2 "
                             "(and about 10 for intervals worth reading)")


def recommender_predictions(predictions: pd.DataFrame, matrix: pd.DataFrame,
                            embeddings: dict[str, np.ndarray]) -> tuple[pd.DataFrame, list[str]]:
    """LOTO rows of the combinations from the selectors' `predictions` (`method, target, seed,
    source, predicted`, as `evaluate_predictions` takes them) and the ground truth `matrix`.
    Returns `(rows, members)`: the new prediction rows and the selectors they combine. With
    `cost_seconds`/`target_steps` in `predictions`, a combination costs the sum of its selectors'
    seconds and the most target steps any needs (the expected gain costs nothing)."""
    members = _members(predictions["method"].unique())
    check_targets(matrix["target"], "the study")
    if not members:
        raise IntertaskError("the recommender rows combine selectors; evaluate at least one besides random")
    truth = matrix.set_index(["target", "seed", "source"])["gain"]
    cases = []
    for (target, seed), frame in predictions[predictions["method"].isin(members)].groupby(["target", "seed"]):
        wide = frame.pivot(index="source", columns="method", values="predicted").sort_index()
        cases.append({"target": target, "seed": seed, "sources": list(wide.index),
                      "scores": {m: wide[m].to_numpy(np.float64)[None] for m in members},
                      "gain": truth.loc[[(target, seed, s) for s in wide.index]].to_numpy(np.float64)})
    history = comb.History(matrix[HISTORY_COLUMNS], embeddings)
    rows = comb.loto_rankings(cases, history, members)
    if {"cost_seconds", "target_steps"} <= set(predictions.columns):  # a combination runs all its selectors
        per_case = predictions[predictions["method"].isin(members)].groupby(["target", "seed", "method"]).first()
        cost = per_case.groupby(["target", "seed"]).agg(cost_seconds=("cost_seconds", "sum"),
                                                        target_steps=("target_steps", "max"))
        rows = rows.join(cost, on=["target", "seed"])
        rows.loc[rows["method"] == comb.EXPECTED_GAIN, ["cost_seconds", "target_steps"]] = 0.0
    return rows, members


def decide(evaluation, members: list[str]) -> dict:
    """The fallback rule on an evaluation holding the LOTO rows: `{use, reason, metric}`."""
    use, reason = comb.choose(evaluation.summary, members + [comb.EXPECTED_GAIN])
    return {"use": bool(use), "reason": reason, "metric": comb.DECISION_METRIC}


def library_setup(library_dir=None, methods=None, budget_steps: int | None = None, runs: int = 3):
    """What a LOTO evaluation of `recommend` on a library's history starts from: `(library, history,
    tasks, methods, budget)` — the library at `library_dir` (default: the shipped one), its history
    rows that have a score, baseline and gain, every historical target's `Task` (loaded before any
    training), `recommend`'s methods that every historical target can use, and the short runs'
    steps. Raises `IntertaskError` for a library without a usable history."""
    from intertask.recommend.library import default_library_dir, load_library
    from intertask.recommend.recommend import applicable_methods, library_methods
    from intertask.recommend.target_runs import DEFAULT_BUDGET_STEPS
    from intertask.tasks.registry import get_task

    library = load_library(library_dir or default_library_dir())
    history = library.history.dropna(subset=["score", "baseline", "gain"])
    if history.empty:
        raise IntertaskError(f"library {str(library.path)!r} has no history of transfers to evaluate against; "
                             "build it with `intertask library build CONFIG --with-history`")
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
    return library, history, tasks, chosen, budget


def library_target_runs(library_dir=None, methods=None, budget_steps: int | None = None, runs: int = 3,
                        device: str = "cpu", progress=None, backbone=None, runs_file=None):
    """`(library, history, tasks, target runs)`: `library_setup`, then `recommend`'s short runs on
    every historical target (`library_cases.collect_target_runs`). `runs_file` (optional JSON)
    keeps them: targets already there (same methods, steps, runs and sources) are not rerun, each
    new one is saved as soon as it is done."""
    from intertask.backbones import load_backbone
    from intertask.evaluation.library_cases import collect_target_runs, load_target_runs, save_target_runs

    library, history, tasks, chosen, budget = library_setup(library_dir, methods, budget_steps, runs)
    done = load_target_runs(runs_file)[0] if runs_file is not None and Path(runs_file).is_file() else []
    save = None if runs_file is None else (lambda so_far: save_target_runs(runs_file, so_far, library.path))
    if backbone is None and len({r.target for r in done} & set(tasks)) < len(tasks):
        backbone = load_backbone(library.backbone["name"], device=device)
    collected = collect_target_runs(library, tasks, chosen, budget, runs, backbone, device, progress, done, save)
    return library, history, tasks, collected


def evaluate_library(library_dir=None, methods=None, budget_steps: int | None = None, runs: int = 3,
                     k: int = 3, top_k: int = 2, n_boot: int = 2000, device: str = "cpu", progress=None,
                     backbone=None, runs_file=None):
    """LOTO evaluation of `recommend` on the history of the library at `library_dir` (default: the
    shipped one); see the module docstring. `methods` (default: `recommend`'s, those every
    historical target can use), `budget_steps` and `runs` (short target runs per target) are
    `recommend`'s. `progress(event, done, total)` is called per target and passed to training;
    `runs_file` keeps the short runs (`library_target_runs`).
    Returns an `Evaluation`; its `config["combination"]` carries the rule chosen on every target."""
    library, history, tasks, collected = library_target_runs(library_dir, methods, budget_steps, runs, device,
                                                             progress, backbone, runs_file)
    return evaluate_target_runs(library, history, tasks, collected, k=k, top_k=top_k, n_boot=n_boot)


def evaluate_target_runs(library, history, tasks, collected, k: int = 3, top_k: int = 2, n_boot: int = 2000):
    """The LOTO evaluation from `recommend`'s short runs on every historical target (`collected`,
    `library_cases.collect_target_runs`); the cheap half of `evaluate_library`. `recommend` is
    scored as a user runs it, its rule chosen without the held-out target (`held_out.held_out`)."""
    from intertask.evaluation.held_out import held_out

    return evaluate_held_out(library, tasks, collected, held_out(library, history, tasks, collected), k, top_k, n_boot)


def evaluate_held_out(library, tasks, collected, result, k: int = 3, top_k: int = 2, n_boot: int = 2000):
    """The `Evaluation` of a nested leave-one-target-out run (`held_out.HeldOut`), its config
    carrying the rule chosen on every target (`combination`) and per held-out target."""
    from intertask.evaluation.calibration import risk_summary
    from intertask.evaluation.evaluate import evaluate_predictions

    evaluation = evaluate_predictions(result.matrix, result.predictions, k=k, top_k=top_k, n_boot=n_boot,
                                      tags={t: tuple(task.tags) for t, task in tasks.items()})
    decision = dict(result.final_rule, budget_steps=collected[0].budget_steps,
                    target_runs=len(collected[0].runs),
                    calibration=risk_summary(result, library.history.dropna(subset=["gain"])))
    evaluation.config.update(library=str(library.path), backbone=library.backbone["name"],
                             methods=collected[0].methods, study=f"library history ({library.path.name})",
                             recommender=True, combination=decision,
                             held_out_rules={t: r["rule"] for t, r in result.rules.items()})
    return evaluation


def save_combination(library_dir, evaluation) -> Path:
    """Write `evaluation.config["combination"]` (from `evaluate_library` on that library) into the
    library as combination.json; returns its path."""
    import json

    from intertask.recommend.library import COMBINATION_FILE, add_library_file

    decision = evaluation.config.get("combination")
    if not decision or "model" not in decision or Path(evaluation.config.get("library", "")) != Path(library_dir):
        raise IntertaskError("only an evaluation of this library's own history (evaluate_library) can give it a "
                             "learned combination")
    return add_library_file(library_dir, COMBINATION_FILE,
                            lambda tmp: tmp.write_text(json.dumps(decision, indent=1, sort_keys=True)))
