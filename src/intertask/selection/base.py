"""What a selector sees (`TaskProfile`) and what every selector does (`Selector`).

A selector is estimator-like: parameters in `__init__`, `fit(sources)` remembers the pool of
source tasks and precomputes what it can, `score(target)` returns one number per source,
higher = predicted more helpful, in the order of `source_names_`. After `score`, `cost_` says
what the prediction cost: `{"seconds": float, "target_steps": int}` (target training steps the
method needed, e.g. the step of the target prompt snapshot it compared against).

Example
-------
>>> import numpy as np
>>> from intertask.selection import make_selector
>>> pool = [TaskProfile("big", 5000, ["a b"]), TaskProfile("small", 40, ["c"])]
>>> make_selector("data_size").fit(pool).score(TaskProfile("t", 10, ["x"])).tolist()
[5000.0, 40.0]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from intertask.errors import IntertaskError
from intertask.tasks.task import TaskKind

# What `TaskProfile` field a requirement names, and how to say it in an error.
_NEEDS = {
    "texts": "training texts",
    "labels": "labels",
    "prompt": "prompt",
    "text_embedding": "text_embedding",
    "features": "features callable",
}


@dataclass
class TaskProfile:
    """Everything any selector may read about one task.

    Attributes
    ----------
    name : task name.
    n_train : number of training examples.
    texts : training texts (for vocabulary overlap).
    labels : `[N]` training labels aligned with what `features` returns (LogME).
    tags : task tags, e.g. `("reasoning",)`.
    prompt : `[P, H]` a source's trained prompt, or a target's briefly trained prompt.
    text_embedding : `[D]` mean sentence embedding of the task's examples.
    features : `features(prompt)` with `prompt` a `[P, H]` source prompt (or None) returns
        `[N, F]` features of this task's training examples read through that prompt (LogME).
    snapshots : `{step: [P, H]}` the target prompt at earlier training steps.
    prompt_steps : training steps behind `prompt` when it is a target snapshot (reported as
        `cost_["target_steps"]`); None when unknown or not applicable.
    esm_map : `[H + 1, H]` a source's embedding space map (ESM-LogME), when precomputed.
    """

    name: str
    n_train: int
    texts: list[str] = field(default_factory=list)
    labels: np.ndarray | None = None
    tags: tuple[str, ...] = ()
    prompt: np.ndarray | None = None  # [P, H]
    text_embedding: np.ndarray | None = None  # [D]
    features: Callable[[np.ndarray | None], np.ndarray] | None = None  # prompt -> [N, F]
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    prompt_steps: int | None = None
    esm_map: np.ndarray | None = None  # [H + 1, H]


class Selector:
    """Base class: subclasses set `name`, `needs_source`, `needs_target`, and implement
    `_fit(sources)` (optional) and `_score(target) -> np.ndarray [n_sources]`.

    `task_kinds` are the kinds of target the method can score (default: all); `reference` marks
    a yardstick (random) that is reported beside the others but never aggregated with them.
    """

    name: str = ""
    needs_source: tuple[str, ...] = ()
    needs_target: tuple[str, ...] = ()
    task_kinds: tuple[TaskKind, ...] = tuple(TaskKind)
    reference: bool = False

    def fit(self, sources: list[TaskProfile]) -> "Selector":
        """Remember the pool of sources (`sources_`, `source_names_`); returns self."""
        sources = list(sources)
        if not sources:
            raise IntertaskError(f"method '{self.name}' needs at least one source task; got none")
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise IntertaskError(f"source names must be unique; repeated: {', '.join(dupes)}")
        for source in sources:
            self._check(source, self.needs_source, "source")
        self.sources_ = sources
        self.source_names_ = names
        self._fit(sources)
        return self

    def score(self, target: TaskProfile) -> np.ndarray:
        """Scores `[n_sources]` for `target` (higher = predicted more helpful); sets `cost_`."""
        if not hasattr(self, "sources_"):
            raise IntertaskError(f"method '{self.name}': call fit(sources) before score(target)")
        self._check(target, self.needs_target, "target")
        start = time.perf_counter()
        scores = np.asarray(self._score(target), dtype=np.float64)
        seconds = time.perf_counter() - start
        if scores.shape != (len(self.sources_),) or not np.all(np.isfinite(scores)):
            raise RuntimeError(f"method '{self.name}' produced invalid scores {scores!r}")
        self.cost_ = {"seconds": seconds, "target_steps": int(self._target_steps(target))}
        return scores

    def _check(self, profile: TaskProfile, needs: tuple[str, ...], role: str) -> None:
        for attr in needs:
            value = getattr(profile, attr)
            if value is None or (attr == "texts" and len(value) == 0):
                raise IntertaskError(
                    f"method '{self.name}' needs a {role} {_NEEDS[attr]}; "
                    f"{role} '{profile.name}' has none"
                )

    def _fit(self, sources: list[TaskProfile]) -> None:
        return None

    def _score(self, target: TaskProfile) -> np.ndarray:
        raise NotImplementedError

    def _target_steps(self, target: TaskProfile) -> int:
        return 0

    def get_params(self) -> dict:
        """The parameters given to `__init__` (those stored under the same name)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names if hasattr(self, n)}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
