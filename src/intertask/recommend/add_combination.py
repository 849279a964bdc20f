"""`recommend`'s ranking rule, chosen on a library's history and stored in it (combination.json).

`add_combination(library_dir)`: `recommend`'s short runs on every history target
(`intertask.recommend.loto.library_target_runs`, optionally kept in a runs file) → the nested
leave-one-target-out (`loto.library_predictions`), which also chooses the rule on every target
(`rule.choose_rule`) and measures how far its printed risk was off (`calibration.risk_summary`) → the
one evaluation door (`intertask.evaluation.evaluate`), whose table says how that rule did on held-out targets →
the rule written into the library (`save_combination`), checked like every library file
(`library_format.combination_problem`, format `rule.FORMAT`).
"""

from __future__ import annotations

import json
from pathlib import Path

from intertask.errors import IntertaskError
from intertask.evaluation import Evaluation, evaluate
from intertask.recommend.library import COMBINATION_FILE, load_library
from intertask.recommend.library_format import combination_problem
from intertask.recommend.library_write import add_library_file
from intertask.recommend.loto import predictions_from_library


def save_combination(library_dir, rule: dict) -> Path:
    """Write `rule` (`loto.LibraryPredictions.rule`) into the library at `library_dir` as combination.json
    (checked like every library file, `library_format.combination_problem`); returns its path."""
    problem = combination_problem(rule)
    if problem:
        raise IntertaskError(f"not a ranking rule to save: {problem}")
    return add_library_file(library_dir, COMBINATION_FILE,
                            lambda tmp: tmp.write_text(json.dumps(rule, indent=1, sort_keys=True)))


def add_combination(library_dir, methods=None, budget_steps: int | None = None, runs: int = 3, k: int = 3,
                    top_k: int = 2, n_boot: int = 2000, device: str = "cpu", progress=None,
                    runs_file=None) -> tuple[Path, Evaluation]:
    """Choose `recommend`'s ranking rule on the history of the library at `library_dir` and store it there:
    `predictions_from_library` → `evaluate` → `save_combination`. `runs_file` keeps the short runs
    (a rerun reuses them, a killed one resumes). Returns the file written and the evaluation of the rule on
    held-out targets."""
    library = load_library(library_dir)
    built = predictions_from_library(library, methods, budget_steps, runs, device, progress, runs_file=runs_file)
    evaluation = evaluate(built.truth, built.predictions, k=k, top_k=top_k, n_boot=n_boot)
    return save_combination(library_dir, built.rule), evaluation
