"""How recommend trains on the target: the `TrainConfig` of its short ranking runs and of the
verification transfers, both with the library's training settings (`Library.training`: those of the
target phase of the study the library was built from, `intertask.recommend.build`)."""

from __future__ import annotations

from intertask.recommend.library import Library
from intertask.training import TrainConfig

# The shipped library's target protocol (configs/library.toml): a probe head, then 16 steps; with
# a snapshot at 8 steps, as in the library's history.
DEFAULT_BUDGET_STEPS = 16
MAX_EVAL_EXAMPLES = 100  # validation/test examples per evaluation of a short run


def target_config(library: Library, budget_steps: int, seed: int) -> TrainConfig:
    """The `TrainConfig` of a short target run (and of the verification runs): the library's
    training settings (max length, batch size, learning rates, optimiser) with `budget_steps`."""
    inherited = {"max_length": 64, **library.training}
    return TrainConfig(**inherited, backbone=library.backbone["name"],
                       prompt_length=int(library.backbone["prompt_length"]), steps=budget_steps,
                       eval_every=max(1, budget_steps // 2), seed=seed, max_eval_examples=MAX_EVAL_EXAMPLES,
                       snapshot_steps=(budget_steps // 2, budget_steps))
