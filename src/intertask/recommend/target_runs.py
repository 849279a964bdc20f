"""How a library trains on a target: the `TrainConfig` of recommend's short ranking runs, of the
`--verify` transfers and of the history's measured transfers (`library measure`), all inherited
from the target phase of the study that built the library (`Library.training`)."""

from __future__ import annotations

import dataclasses

from intertask.recommend.library import Library
from intertask.training import TrainConfig

# The shipped library's target protocol (configs/library.toml): a probe head, then 16 steps; with
# a snapshot at 8 steps, as in the library's history.
DEFAULT_BUDGET_STEPS = 16
MAX_EVAL_EXAMPLES = 100  # validation/test examples per evaluation of a short run
HISTORY_EVAL_EXAMPLES = 1000  # the history's runs: validation and test on up to this many (the full split)


def target_config(library: Library, budget_steps: int, seed: int) -> TrainConfig:
    """The `TrainConfig` of a short target run (and of the verification runs): the library's
    training settings (max length, batch size, learning rates, optimiser) with `budget_steps`."""
    inherited = {"max_length": 64, **library.training}
    return TrainConfig(**inherited, backbone=library.backbone["name"],
                       prompt_length=int(library.backbone["prompt_length"]), steps=budget_steps,
                       eval_every=max(1, budget_steps // 2), seed=seed, max_eval_examples=MAX_EVAL_EXAMPLES,
                       snapshot_steps=(budget_steps // 2, budget_steps))


def history_config(library: Library, seed: int) -> TrainConfig:
    """The `TrainConfig` of one measured history run (baseline or transfer): the short runs'
    protocol at `DEFAULT_BUDGET_STEPS`, evaluated on up to `HISTORY_EVAL_EXAMPLES` validation and
    test examples, without snapshots (configs/library.toml's `[target_training]`)."""
    return dataclasses.replace(target_config(library, DEFAULT_BUDGET_STEPS, seed), snapshot_steps=(),
                               max_eval_examples=HISTORY_EVAL_EXAMPLES)
