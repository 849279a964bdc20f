"""`recommend`'s learned combination, fitted on a library's history and stored in it (combination.json).

`add_combination(library_dir)`: the library's leave-one-target-out predictions
(`intertask.recommend.loto.predictions_from_library`) → the one evaluation door (`evaluate_library`), whose
fallback rule decides whether `recommend` may use the combination → the model fitted on every target
(`fit_combination`) → written into the library (`save_combination`), checked like every library file.
"""

from __future__ import annotations

import json
from pathlib import Path

from intertask.errors import IntertaskError
from intertask.evaluation import Evaluation
from intertask.recommend import combination as comb
from intertask.recommend.library import COMBINATION_FILE, load_library
from intertask.recommend.library_format import combination_problem
from intertask.recommend.library_write import add_library_file
from intertask.recommend.loto import LibraryPredictions, evaluate_library, predictions_from_library


def fit_combination(built: LibraryPredictions, evaluation: Evaluation) -> dict:
    """The learned combination for `recommend`: the decision of `evaluation` (of `built`, by
    `evaluate_library`) and the model fitted on every target of the history (`combination.fit_all`)."""
    decision = dict(evaluation.config["combination"])
    decision.update(model=comb.fit_all(built.cases, built.history, built.members), members=built.members,
                    budget_steps=built.predictions.config["budget_steps"],
                    target_runs=built.predictions.config["target_runs"],
                    n_targets=len(built.truth.targets))
    return decision


def save_combination(library_dir, combination: dict) -> Path:
    """Write `combination` (from `fit_combination`) into the library at `library_dir` as combination.json
    (checked like every library file, `library_format.combination_problem`); returns its path."""
    problem = combination_problem(combination)
    if problem:
        raise IntertaskError(f"not a combination to save: {problem}")
    return add_library_file(library_dir, COMBINATION_FILE,
                            lambda tmp: tmp.write_text(json.dumps(combination, indent=1, sort_keys=True)))


def add_combination(library_dir, methods=None, budget_steps: int | None = None, runs: int = 3, k: int = 3,
                    top_k: int = 2, n_boot: int = 2000, device: str = "cpu", progress=None) -> tuple[Path, Evaluation]:
    """Learn `recommend`'s combination from the history of the library at `library_dir` and store it there:
    `predictions_from_library` → `evaluate_library` (the decision) → `fit_combination` → `save_combination`.
    Returns the file written and the evaluation the decision rests on."""
    library = load_library(library_dir)
    built = predictions_from_library(library, methods, budget_steps, runs, device, progress)
    evaluation = evaluate_library(built, k=k, top_k=top_k, n_boot=n_boot)
    return save_combination(library_dir, fit_combination(built, evaluation)), evaluation
