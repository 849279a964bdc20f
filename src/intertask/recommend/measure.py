"""`measure_target`: grow a library's history by one target, without a study store.

The library's source prompts are the sources. For target T and each target seed r: the
no-transfer baseline and one transfer per library source (the target prompt initialised with the
source's best-seed prompt), all under the library's history protocol (`target_runs.history_config`:
probe head + 16 steps, checkpoint chosen on validation, the full test split, floor recorded).
A transfer's row is `target, source, seed, score, baseline, gain = score − baseline, floor,
learned, baseline_learned, source_seed, n_test, validation_curve` (the run's validation score at
each evaluated step, for short-versus-converged comparisons); a (target, seed) whose baseline did not clear its
floor is recorded with `baseline_learned = false` and left out of expected gains and evaluation
(`TransferMatrix.learned_only`).

Only the missing cells are trained: a (source, seed) with a row is never redone, and a seed's
baseline is read back from its rows. So a killed measurement resumes where it stopped, and a source
added to the library later measures only its own column. Rows are appended as each pack of runs
finishes (`append_history`): the library is re-read, merged and rewritten atomically
(`write_library`) under an exclusive lock on its parent folder, so two measurements on one library
wait for each other's appends and never lose or corrupt rows. Packs train on the study executors
(`LocalExecutor`, or `RayExecutor` for a cluster) through `HistoryDriver`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.matrix.table import KEY
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend.leakage import refuse_copied_target
from intertask.recommend.library import Library, load_library
from intertask.recommend.library_write import write_library
from intertask.recommend.target_runs import history_config
from intertask.study.executors import PackItem, Reporter, next_pack
from intertask.study.plan import PlannedRun
from intertask.tasks.metrics import learned

HISTORY_SEEDS = (0, 1, 2)
BASELINE = "(no transfer)"  # the `source_task` of a baseline run


@contextlib.contextmanager
def library_lock(path: Path):
    """Hold an exclusive `flock` on the library's parent folder (the library folder itself is
    replaced by each write, so it cannot carry the lock); waits for another holder."""
    fd = os.open(path.resolve().parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append_history(path: Path, rows: list[dict], target: str, centroid: np.ndarray | None) -> Library:
    """Append `rows` to the history of the library at `path` and record `target`'s text-embedding
    centroid, in one atomic rewrite under `library_lock`; a (target, source, seed) already in
    the history keeps its row. Returns the library as written."""
    with library_lock(path):
        library = load_library(path)
        new = TransferMatrix.from_frame(pd.DataFrame(rows), where="measured transfers").frame
        history = pd.concat([library.history.frame, new], ignore_index=True) if len(library.history) else new
        library.history = TransferMatrix(history.drop_duplicates(list(KEY)).reset_index(drop=True))
        if centroid is not None and target not in library.target_embeddings:
            library.target_embeddings[target] = centroid
        write_library(library, path, what="library")
    return library


def recorded_baselines(library: Library, target: str) -> dict[int, tuple[float, bool]]:
    """`{seed: (baseline score, baseline learned)}` as the history of `target` records them (a
    null `baseline_learned` in an older library means learned)."""
    rows = library.history.frame[library.history.frame["target"] == target]
    return {int(seed): (float(group["baseline"].iloc[0]),
                        bool(True if pd.isna(group["baseline_learned"].iloc[0]) else group["baseline_learned"].iloc[0]))
            for seed, group in rows.groupby("seed")}


def plan_target(library: Library, target: str, spec: str, task_options: dict | None, seeds) -> list[PlannedRun]:
    """The runs still missing for `target` (loaded from `spec` with `task_options`): per seed the
    baseline, unless the history records it, then one transfer per library source and seed
    without a row. A source's seeds are adjacent, so a pack shares their identical work (probe
    features, step-0 evaluation)."""
    rows = library.history.frame[library.history.frame["target"] == target]
    measured = set(zip(rows["source"], rows["seed"].astype(int)))
    recorded = recorded_baselines(library, target)

    def run(seed: int, source=None) -> PlannedRun:
        train = history_config(library, seed).to_dict()
        return PlannedRun(run_id=f"{target}/{source.name if source else 'baseline'}/{seed}",
                          kind="transfer" if source else "baseline", task=spec, seed=seed,
                          backbone=library.backbone["name"], train=train,
                          source_task=source.name if source else BASELINE,
                          source_seed=source.best_seed if source else None, task_options=task_options)

    runs = [run(seed) for seed in seeds if seed not in recorded]
    runs += [run(seed, source) for source in library.sources for seed in seeds
             if (source.name, seed) not in measured]
    return runs


def history_row(target: str, source: str, source_seed: int, result, baseline: float, baseline_learned: bool) -> dict:
    """The history row of one transfer run's `RunResult` against its seed's baseline test score."""
    return {"target": target, "source": source, "seed": result.seed, "score": result.test_score,
            "baseline": baseline, "gain": result.test_score - baseline, "floor": result.test_floor,
            "learned": learned(result.test_score, result.test_floor), "baseline_learned": baseline_learned,
            "source_seed": source_seed, "n_test": result.test_examples,
            "validation_curve": [list(h) for h in result.history]}


@dataclass
class HistoryDriver:
    """The executor driver of `library measure` (see `study.executors.StoreDriver` for the
    protocol): packs of the target's missing runs in, history rows out as soon as a seed's
    baseline is known."""

    library: Library
    target: str  # the history's name for the target (the task's name)
    runs: list[PlannedRun]
    centroid: np.ndarray | None
    reporter: Reporter = field(default_factory=Reporter)
    finished: set = field(default_factory=set)
    failed: dict = field(default_factory=dict)  # run id -> error
    results: dict = field(default_factory=dict)  # run id -> RunResult, transfers not yet appended
    appended: int = 0

    def __post_init__(self):
        self.waiting = list(self.runs)
        self.baselines = recorded_baselines(self.library, self.target)  # seed -> (score, learned)

    def next_pack(self, busy: set[str], pack_size: int) -> list[PlannedRun]:
        return next_pack(self.waiting, self.finished, busy, pack_size)

    def items(self, pack: list[PlannedRun]) -> list[PackItem]:
        prompts = {s.name: s.prompt for s in self.library.sources}
        return [PackItem(run.run_id, run.task, run.task_options, run.train,
                         prompts.get(run.source_task) if run.kind == "transfer" else None) for run in pack]

    def write(self, pack: list[PlannedRun], results, failures: dict[str, str], started: str) -> None:
        by_id = {r.run_id: r for r in results}
        for run in pack:
            result = by_id.get(run.run_id)
            if result is None:
                self.failed[run.run_id] = failures.get(run.run_id, "no result returned")
            elif run.kind == "baseline":
                self.baselines[run.seed] = (result.test_score, learned(result.test_score, result.test_floor))
            else:
                self.results[run.run_id] = (run, result)
        self.reporter.pack_finished(pack, {k: v for k, v in failures.items() if k not in by_id})
        ids = {r.run_id for r in pack}
        self.finished |= ids & set(by_id)
        self.waiting = [r for r in self.waiting if r.run_id not in ids]
        ready = [(run, result) for run, result in self.results.values() if run.seed in self.baselines]
        if ready:
            append_history(self.library.path, [self._row(run, result) for run, result in ready],
                           self.target, self.centroid)
            self.appended += len(ready)
            for run, _ in ready:
                del self.results[run.run_id]

    def _row(self, run: PlannedRun, result) -> dict:
        baseline, baseline_learned = self.baselines[run.seed]
        return history_row(self.target, run.source_task, run.source_seed, result, baseline, baseline_learned)


@dataclass
class Measurement:
    """What one `measure_target` call did: runs trained and failed, rows appended, and per seed
    whether the baseline cleared its floor (None: not measured)."""

    target: str
    trained: int
    appended: int
    failed: dict
    baseline_learned: dict


def measure_target(library_path, target: str, seeds=HISTORY_SEEDS, task_options: dict | None = None,
                   executor="local", ray_address: str | None = None, pack_size: int = 12, device: str = "cpu",
                   allow_overlap: bool = False, progress: bool = True, backbone=None) -> Measurement:
    """Measure the history's missing cells for `target` (a suite name or a data file with
    `task_options`, e.g. `{"text_column": "text"}`) on the library at `library_path`.

    `executor`: "local" (this machine's `device`), "ray" (the cluster at `ray_address`, default
    `$RAY_ADDRESS`, else a local instance), or an executor object.
    A target that shares its name with a library source, or whose texts copy one
    (`leakage.refuse_copied_target`), is refused unless `allow_overlap`.
    """
    from intertask.backbones import load_backbone
    from intertask.recommend.build import text_centroid
    from intertask.study.runner import RichReporter, make_executor
    from intertask.tasks.registry import get_task

    path = Path(library_path)
    library = load_library(path)
    seeds = sorted({int(s) for s in seeds})
    if not seeds or min(seeds) < 0:
        raise IntertaskError(f"seeds must be non-negative integers, got {seeds}", "seeds")
    if not library.sources:
        raise IntertaskError(f"library {str(path)!r} has no sources to measure transfers from")
    task = get_task(target, progress=progress, **(task_options or {}))
    spec = str(Path(target).resolve()) if Path(target).exists() else target  # workers load it by this spec
    if task.name in library.source_names and not allow_overlap:
        raise IntertaskError(f"target {task.name!r} is a source of library {str(path)!r}: a transfer from a "
                             "task to itself measures nothing; measure another target, or allow the overlap")
    refuse_copied_target(library, task, allow_copy=allow_overlap)
    runs = plan_target(library, task.name, spec, task_options, seeds)
    if not runs:
        return Measurement(task.name, 0, 0, {}, _baseline_flags(library, task.name))
    if backbone is None:
        backbone = load_backbone(library.backbone["name"], device=device)
    backbone.check_fits(int(library.backbone["prompt_length"]), int(runs[0].train["max_length"]))
    centroid = None if task.name in library.target_embeddings else text_centroid(task, backbone)
    executor = make_executor(executor, device, ray_address, backbone)
    reporting = RichReporter(total=len(runs), already=0) if progress else contextlib.nullcontext(Reporter())
    with reporting as reporter:
        driver = HistoryDriver(library, task.name, runs, centroid, reporter)
        executor.drive(driver, pack_size)
    for run_id in driver.results:  # transfers whose seed's baseline failed: nothing to compare them with
        driver.failed.setdefault(run_id, "its seed's baseline run failed")
    return Measurement(task.name, len(driver.finished), driver.appended, driver.failed,
                       _baseline_flags(load_library(path), task.name))


def _baseline_flags(library: Library, target: str) -> dict[int, bool]:
    return {seed: flag for seed, (_, flag) in recorded_baselines(library, target).items()}
