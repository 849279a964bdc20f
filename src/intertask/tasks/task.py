"""The task: examples with splits, a label set or per-example choices, metrics and tags.

A task is plain data. Loaders (`intertask.tasks.loaders`, `intertask.tasks.suite`) build it,
`Task.validate()` checks it, and the engine, the selectors and the study read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from intertask.errors import IntertaskError


class TaskKind(str, Enum):
    CLASSIFICATION = "classification"  # a fixed label set, `Example.label` indexes `Task.labels`
    MULTIPLE_CHOICE = "multiple_choice"  # per-example `choices`, `label` indexes them
    REGRESSION = "regression"  # `label` is a float


SPLITS = ("train", "validation", "test")


def _is_index(label, n: int) -> bool:
    """True when `label` is a whole number in [0, n) (Python or NumPy integers)."""
    try:
        return int(label) == label and 0 <= int(label) < n
    except (TypeError, ValueError, OverflowError):
        return False


@dataclass(frozen=True)
class Example:
    """One example: `text` (and `text_pair` for pair tasks) and its gold `label`."""

    text: str
    label: int | float
    text_pair: str | None = None
    choices: tuple[str, ...] | None = None


@dataclass
class Task:
    """A named task with train / validation / test splits.

    `metrics` lists metric names from `intertask.tasks.metrics`; the first is the main score
    (0-100, higher is better) used to pick checkpoints and to rank transfers.
    """

    name: str
    kind: TaskKind
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    labels: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ("accuracy",)
    tags: tuple[str, ...] = ()
    source: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> list[Example]:
        if name not in SPLITS:
            raise IntertaskError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}

    def _why_empty(self) -> str:
        """Why a split made by stratified splitting came out empty: labels that each occur once, or too few rows."""
        total = sum(self.sizes().values())
        if self.kind is TaskKind.CLASSIFICATION and total > 1 and len(self.labels) == total:
            return (f": each of its {total} examples has a label of its own, so no label has examples to spare for "
                    "validation and test; is the label column really the label?")
        return f" ({total} examples in all; give more rows or a file per split)"

    def validate(self) -> "Task":
        """Check the task is trainable; raise `IntertaskError` naming the first problem."""
        for split in SPLITS:
            if not self.split(split):
                raise IntertaskError(f"task {self.name!r}: the {split} split is empty{self._why_empty()}")
        if not any(ex.text.strip() for ex in self.train):
            raise IntertaskError(f"task {self.name!r} has no usable text (every train text is empty); "
                                 "pick another text column")
        if self.kind is TaskKind.CLASSIFICATION:
            if self.labels:
                for split in SPLITS:
                    for i, ex in enumerate(self.split(split)):
                        if not _is_index(ex.label, len(self.labels)):
                            raise IntertaskError(
                                f"task {self.name!r}: {split} example {i} has label {ex.label!r}, "
                                f"not an index into its {len(self.labels)} labels"
                            )
            seen = {ex.label for ex in self.train}
            if len(seen) < 2:
                only = self.labels[next(iter(seen))] if seen and self.labels else "?"
                raise IntertaskError(
                    f"task {self.name!r}: the train split has a single label ({only!r}); "
                    "a classifier needs at least two"
                )
            for split in ("validation", "test"):
                unseen = sorted({ex.label for ex in self.split(split)} - seen)
                if unseen:
                    names = ", ".join(repr(self.labels[i]) for i in unseen[:5])
                    raise IntertaskError(
                        f"task {self.name!r}: label(s) {names} appear in {split} but never in train"
                    )
        if self.kind is TaskKind.MULTIPLE_CHOICE:
            for split in SPLITS:
                for i, ex in enumerate(self.split(split)):
                    if not ex.choices or not 0 <= int(ex.label) < len(ex.choices):
                        raise IntertaskError(
                            f"task {self.name!r}: {split} example {i} has no valid answer among its choices"
                        )
        return self
