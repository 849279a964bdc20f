"""`recommend`'s own short runs on every historical target of a library, kept as plain data.

Scoring `recommend` leave-one-target-out on a library's history (`intertask.recommend.loto`)
needs, per historical target, what `recommend` itself would compute there: its short target runs
and every selector's scores of the library's other sources (`recommend.target_scores`). That is
the only expensive step (minutes of CPU per target); everything after it (the combinations, the
rule choice, calibration, verdicts) is cheap arithmetic on its output. `collect_target_runs` runs
it and returns one `TargetRuns` per target; `save_target_runs` / `load_target_runs` keep them as
JSON so that the cheap analyses can be redone without rerunning the short runs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from intertask.errors import IntertaskError

FORMAT = "intertask.library_target_runs/1"


@dataclass
class ShortRun:
    """One short target run's numbers that `recommend` reads (`RunResult`'s names)."""

    validation_score: float
    test_score: float
    test_floor: float


@dataclass
class TargetRuns:
    """`recommend`'s steps 2-3 on one historical target.

    `sources`: the library's sources other than the target, in library order; `scores`: method ->
    `[R, S]` (one row per target seed for prompt methods, one row for the others) in that order;
    `runs`: the R short runs; `text_embedding`: the target profile's `[D]` centroid (what
    `recommend` weighs the history with); `tags`: the task's tags.
    """

    target: str
    sources: list[str]
    scores: dict[str, np.ndarray]
    runs: list[ShortRun]
    text_embedding: np.ndarray
    tags: tuple[str, ...] = ()
    budget_steps: int = 0
    methods: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"target": self.target, "sources": list(self.sources), "tags": list(self.tags),
                "budget_steps": int(self.budget_steps), "methods": list(self.methods),
                "scores": {m: np.asarray(v, np.float64).tolist() for m, v in self.scores.items()},
                "runs": [dataclasses.asdict(r) for r in self.runs],
                "text_embedding": np.asarray(self.text_embedding, np.float64).tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "TargetRuns":
        return cls(target=str(data["target"]), sources=[str(s) for s in data["sources"]],
                   scores={m: np.asarray(v, np.float64).reshape(-1, len(data["sources"]))
                           for m, v in data["scores"].items()},
                   runs=[ShortRun(**{k: float(v) for k, v in r.items()}) for r in data["runs"]],
                   text_embedding=np.asarray(data["text_embedding"], np.float64), tags=tuple(data.get("tags", ())),
                   budget_steps=int(data.get("budget_steps", 0)), methods=list(data.get("methods", [])))


def collect_target_runs(library, tasks: dict, methods: list[str], budget: int, runs: int, backbone, device,
                        progress=None, done=(), on_target=None) -> list[TargetRuns]:
    """Run `recommend`'s short target runs and scores on every task of `tasks` (name -> `Task`),
    each against the library's sources other than itself. `progress(event, done, total)` is
    called per target and passed to training. Targets in `done` (earlier `TargetRuns` of the same
    methods, steps and runs) are kept, not rerun; `on_target(collected so far)` is called after
    each new target (to save it: a killed evaluation resumes where it stopped). `backbone` None: the
    library's, loaded when the first target has to run."""
    from intertask.recommend.recommend import target_scores

    kept = {r.target: r for r in done if r.methods == list(methods) and r.budget_steps == budget
            and len(r.runs) == runs and r.target in tasks
            and r.sources == [s.name for s in library.sources if s.name != r.target]}
    collected = []
    names = sorted(tasks)
    for i, target in enumerate(names):
        if progress:
            progress("historical targets", i, len(names))
        if target in kept:
            collected.append(kept[target])
            continue
        if backbone is None:
            from intertask.backbones import load_backbone

            backbone = load_backbone(library.backbone["name"], device=device)
        pool = dataclasses.replace(library, sources=[s for s in library.sources if s.name != target])
        scores, profiles, results = target_scores(tasks[target], pool, methods, budget, runs, backbone, device,
                                                  progress)
        collected.append(TargetRuns(
            target=target, sources=pool.source_names, scores=scores,
            runs=[ShortRun(float(r.validation_score), float(r.test_score), float(r.test_floor)) for r in results],
            text_embedding=np.asarray(profiles[0].text_embedding, np.float64), tags=tuple(tasks[target].tags),
            budget_steps=budget, methods=list(methods)))
        if on_target:
            on_target(collected)
    if progress:
        progress("historical targets", len(names), len(names))
    return collected


def save_target_runs(path, collected: list[TargetRuns], library_path) -> Path:
    """Write `collected` as JSON (atomically) with the name of the library it belongs to."""
    from intertask.paths import atomic_output

    path = Path(path)
    with atomic_output(path, "runs_file") as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "library": Path(library_path).name,
                                   "targets": [c.to_dict() for c in collected]}))
    return path


def load_target_runs(path) -> tuple[list[TargetRuns], str]:
    """`(target runs, library name)` from a file of `save_target_runs`; a file that is not one
    raises `IntertaskError`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise IntertaskError(f"cannot read target runs from {str(path)!r}: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise IntertaskError(f"{str(path)!r} is not a file of target runs ({FORMAT})")
    try:
        return [TargetRuns.from_dict(t) for t in data["targets"]], str(data["library"])
    except (KeyError, TypeError, ValueError) as err:
        raise IntertaskError(f"{str(path)!r} holds malformed target runs ({err}); delete it to rerun them") from None
