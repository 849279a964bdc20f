"""Configuration and results of prompt-tuning runs: `TrainConfig`, `RunSpec`, `RunResult`.

`TrainConfig` is a PEFT-style dataclass: every field has help text, choices are `str` Enums,
`__post_init__` rejects bad values naming the field, and `to_dict` / `from_dict` round-trip
through JSON. A `RunSpec` is one run to train (a task, a config, optionally an initial prompt
for transfer); `train_packed` turns a list of them into `RunResult`s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from enum import Enum

from intertask.checks import is_number
from intertask.errors import IntertaskError

MAX_SEED = 2**32 - 1  # seeds feed numpy, torch and Python's RNGs; this range is valid for all three


class PromptInit(str, Enum):
    VOCAB = "vocab"  # rows of the embedding matrix of P tokens sampled from the vocabulary
    RANDOM = "random"  # N(0, std of the embedding matrix)


class HeadInit(str, Enum):
    RANDOM = "random"  # N(0, 0.02) weights, zero bias
    PROBE = "probe"  # a linear probe (logistic / ridge regression) on the frozen features through the initial prompt


class OptimizerName(str, Enum):
    ADAMW = "adamw"
    ADAFACTOR = "adafactor"  # as in the paper (Lester et al. 2021), fixed learning rate, no relative step


@dataclass
class TrainConfig:
    """Everything that determines one prompt-tuning run besides its task and initial prompt."""

    backbone: str = field(default="minilm", metadata={"help": "Backbone name (see intertask.backbones)."})
    prompt_length: int = field(default=20, metadata={"help": "Soft-prompt tokens P (the paper: 100; 20 is fast on CPU)."})
    init: PromptInit = field(default=PromptInit.VOCAB, metadata={
        "help": "Prompt initialisation when no init_prompt is given: vocab | random."})
    head_init: HeadInit = field(default=HeadInit.RANDOM, metadata={
        "help": "Task-head initialisation (encoders): random | probe (fit on the train split's frozen features, "
                "then evaluated at step 0 like any checkpoint)."})
    class_weights: bool = field(default=False, metadata={
        "help": "Weight the classification loss (and the probe) by inverse class frequency in the train split."})
    steps: int = field(default=300, metadata={"help": "Optimiser steps (upper bound with early stopping)."})
    batch_size: int = field(default=16, metadata={"help": "Training examples per step and run."})
    prompt_lr: float = field(default=0.03, metadata={"help": "Learning rate of the soft prompt."})
    head_lr: float = field(default=0.01, metadata={"help": "Learning rate of the task head (encoders)."})
    optimizer: OptimizerName = field(default=OptimizerName.ADAMW, metadata={"help": "adamw | adafactor."})
    weight_decay: float = field(default=0.0, metadata={"help": "Decoupled weight decay of prompt and head."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up steps; then linear decay to 0."})
    eval_every: int = field(default=50, metadata={"help": "Evaluate on the validation split every N steps (and at the end)."})
    max_eval_examples: int = field(default=500, metadata={
        "help": "Evaluate on at most this many validation/test examples (the first ones)."})
    snapshot_steps: tuple[int, ...] = field(default=(), metadata={
        "help": "Steps at which to keep a copy of the prompt (0 = the initial prompt)."})
    max_length: int = field(default=128, metadata={"help": "Maximum text tokens per example (the prompt comes on top)."})
    patience: int | None = field(default=None, metadata={
        "help": "Stop after this many evaluations without improvement; None = never."})
    seed: int = field(default=0, metadata={"help": "Seed of the prompt/head init and of the example order."})
    grad_clip: float | None = field(default=1.0, metadata={"help": "Clip this run's gradient norm; None = off."})

    def __post_init__(self) -> None:
        self.init = _enum(PromptInit, self.init, "init")
        self.optimizer = _enum(OptimizerName, self.optimizer, "optimizer")
        self.head_init = _enum(HeadInit, self.head_init, "head_init")
        self.snapshot_steps = tuple(sorted({int(s) for s in self.snapshot_steps}))
        if not isinstance(self.class_weights, bool):  # "yes", 5 or [1.0, 2.0] would all read as true
            raise IntertaskError(f"TrainConfig.class_weights must be true or false, got {self.class_weights!r}")
        if not isinstance(self.backbone, str) or not self.backbone:
            raise IntertaskError(f"TrainConfig.backbone must be a backbone name, got {self.backbone!r}")
        for name in ("prompt_length", "steps", "batch_size", "eval_every", "max_eval_examples", "max_length"):
            value = getattr(self, name)
            if not is_number(value, integer=True) or value < 1:
                raise IntertaskError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("prompt_lr", "head_lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise IntertaskError(f"TrainConfig.{name} must be a positive number, got {value!r}")
        for name, kind in (("weight_decay", "a number"), ("grad_clip", "a number or None"),
                           ("warmup_steps", "an integer"), ("patience", "an integer or None"), ("seed", "an integer")):
            value = getattr(self, name)
            integer = kind.startswith("an integer")
            if not (value is None and kind.endswith("None")) and not is_number(value, integer):
                raise IntertaskError(f"TrainConfig.{name} must be {kind}, got {value!r}")
        if not 0 <= self.seed <= MAX_SEED:
            raise IntertaskError(f"TrainConfig.seed must be in [0, {MAX_SEED}], got {self.seed!r}")
        if not 0 <= self.weight_decay < 1:
            raise IntertaskError(f"TrainConfig.weight_decay must be in [0, 1), got {self.weight_decay!r}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise IntertaskError(f"TrainConfig.warmup_steps must be in [0, steps={self.steps}], got {self.warmup_steps!r}")
        if self.patience is not None and self.patience < 1:
            raise IntertaskError(f"TrainConfig.patience must be >= 1 or None, got {self.patience!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise IntertaskError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip!r}")
        bad = [s for s in self.snapshot_steps if not 0 <= s <= self.steps]
        if bad:
            raise IntertaskError(f"TrainConfig.snapshot_steps {bad} lie outside [0, steps={self.steps}]")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (Enums as strings, tuples as lists)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, Enum) else list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Inverse of `to_dict`; unknown keys raise `IntertaskError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise IntertaskError(f"unknown TrainConfig field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        if "snapshot_steps" in values:
            values["snapshot_steps"] = tuple(values["snapshot_steps"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return cls.from_dict(json.loads(text))


def _enum(kind: type[Enum], value, name: str):
    try:
        return kind(value.value if isinstance(value, Enum) else value)
    except ValueError:
        choices = " | ".join(m.value for m in kind)
        raise IntertaskError(f"TrainConfig.{name} must be one of {choices}, got {value!r}") from None


@dataclass
class RunSpec:
    """One run: train a prompt for `task` with `config`; `init_prompt` (`[P, H]`) makes it a transfer."""

    run_id: str
    task: object  # intertask.tasks.task.Task
    config: TrainConfig
    init_prompt: object | None = None  # torch.Tensor or np.ndarray [P, H]


@dataclass
class RunResult:
    """The outcome of one run. Scores are the task's main metric (0-100, higher is better).

    `validation_score` is the best validation score (at `best_step`); `test_score` and
    `test_metrics` are measured with the prompt and head of `best_step`. `prompt` is that
    prompt `[P, H]`, `head` its head tensors, `snapshots` `{step: [P, H]}`, `history`
    `[(step, validation_score)]`, `steps` the steps trained, `seconds` the wall time until the
    run finished (shared with the runs packed alongside it). `test_floor` is the main metric of
    the best constant prediction on the same test examples (`intertask.tasks.metrics.floor_score`)
    and `test_examples` their number; a run that did not clear its floor learned nothing.
    """

    run_id: str
    task_name: str
    seed: int
    config: TrainConfig
    best_step: int
    validation_score: float
    test_score: float
    test_metrics: dict[str, float]
    steps: int
    seconds: float
    prompt: object  # torch.Tensor [P, H], float32, cpu
    head: dict = field(default_factory=dict)  # name -> torch.Tensor
    snapshots: dict = field(default_factory=dict)  # step -> torch.Tensor [P, H]
    history: list = field(default_factory=list)  # [(step, validation_score)]
    test_floor: float = float("nan")
    test_examples: int = 0

    def to_row(self) -> dict:
        """Scalars only: ids, scores, timings, `test_<metric>` and the config as JSON."""
        row = {
            "run_id": self.run_id, "task_name": self.task_name, "seed": int(self.seed),
            "best_step": int(self.best_step), "validation_score": float(self.validation_score),
            "test_score": float(self.test_score), "steps": int(self.steps), "seconds": float(self.seconds),
            "config": self.config.to_json(),
        }
        row.update({f"test_{name}": float(value) for name, value in self.test_metrics.items()})
        return row
