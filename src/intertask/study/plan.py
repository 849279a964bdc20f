"""The study's run list: source prompts, no-transfer baselines and every transfer, with dependencies.

For a `StudyConfig` with sources S, targets T, source seeds A and target seeds B:

* source runs      S × A      train a prompt on the source (source_training settings);
* baseline runs    T × B      train on the target from the usual initialisation, keeping
                              `snapshot_steps` prompts (target_training settings);
* transfer runs    S × A × T × B   train on the target starting from the source run's best
                              prompt (target_training settings, no snapshots); each depends on
                              its source run. With `transfer_source = "best_seed"` only S × T × B:
                              from each source's seed with the best validation score, known once
                              the source runs have finished (`best_source_seeds`).

A run's identity is `sha256` of the canonical JSON of everything that determines its result:
kind, task, seed, backbone, the resolved `TrainConfig` (defaults filled in), the source run's id
for transfers, the task's loading options, and `IDENTITY_VERSION` with the intertask version. Equal runs in two studies share
one id, so a store never trains the same run twice; changing any setting gives a new id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from intertask import __version__
from intertask.study.config import PhaseConfig, StudyConfig, resolve_train_config

IDENTITY_VERSION = 1
RUN_KINDS = ("source", "baseline", "transfer")


@dataclass(frozen=True)
class PlannedRun:
    """One run of the grid. `train` is the resolved `TrainConfig` as plain data."""

    run_id: str
    kind: str
    task: str
    seed: int
    backbone: str
    train: dict
    source_task: str | None = None
    source_seed: int | None = None
    source_run_id: str | None = None
    task_options: dict | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.source_run_id,) if self.source_run_id else ()

    def row(self) -> dict:
        """The run's plan fields as a store row (`config_json` is the resolved TrainConfig)."""
        return {
            "run_id": self.run_id, "kind": self.kind, "task": self.task, "seed": self.seed,
            "backbone": self.backbone, "source_task": self.source_task, "source_seed": self.source_seed,
            "source_run_id": self.source_run_id, "config_json": json.dumps(self.train, sort_keys=True),
        }


def run_identity(kind: str, task: str, seed: int, backbone: str, train: dict,
                 source_run_id: str | None = None, task_options: dict | None = None) -> str:
    """sha256 hex of the canonical JSON of what determines a run (see module docstring)."""
    payload = {
        "identity_version": IDENTITY_VERSION, "intertask": __version__, "kind": kind, "task": task,
        "seed": seed, "backbone": backbone, "train": train, "source_run_id": source_run_id,
        "task_options": task_options or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _planned(config: StudyConfig, kind: str, task: str, seed: int, phase: PhaseConfig,
             source: PlannedRun | None = None) -> PlannedRun:
    train = resolve_train_config(config, phase, seed, snapshots=kind == "baseline").to_dict()
    source_run_id = source.run_id if source else None
    options = config.task_options.get(task) or None
    return PlannedRun(
        run_id=run_identity(kind, task, seed, config.backbone, train, source_run_id, options),
        kind=kind, task=task, seed=seed, backbone=config.backbone, train=train,
        source_task=source.task if source else None, source_seed=source.seed if source else None,
        source_run_id=source_run_id, task_options=options,
    )


def plan_study(config: StudyConfig, best_seeds: dict[str, int] | None = None) -> list[PlannedRun]:
    """All runs of the study in a dependency-respecting order: sources, baselines, transfers.

    Transfers of one (target, source) are adjacent, so a pack shares their initial prompts. With
    `transfer_source = "best_seed"`, transfers come only from `best_seeds[source]`, and none are
    planned until `best_seeds` is given.
    """
    sources = [_planned(config, "source", s, a, config.source_training)
               for s in config.sources for a in config.source_seeds]
    baselines = [_planned(config, "baseline", t, b, config.target_training)
                 for t in config.targets for b in config.target_seeds]
    if config.transfer_source == "best_seed":
        transferred = [src for src in sources if best_seeds and best_seeds.get(src.task) == src.seed]
    else:
        transferred = sources
    transfers = [_planned(config, "transfer", t, b, config.target_training, source=src)
                 for t in config.targets for src in transferred for b in config.target_seeds]
    return sources + baselines + transfers


def best_source_seeds(sources: list[PlannedRun], rows: dict[str, dict]) -> dict[str, int] | None:
    """`{source task: seed}` of the finished source run with the best validation score (lowest seed
    on ties), or None while any source run in `sources` has no finished row in `rows`."""
    best: dict[str, tuple[float, int]] = {}
    for run in sources:
        row = rows.get(run.run_id)
        if row is None or row.get("status") != "done":
            return None
        key = (-float(row["validation_score"]), run.seed)
        if run.task not in best or key < best[run.task]:
            best[run.task] = key
    return {task: seed for task, (_, seed) in best.items()}

