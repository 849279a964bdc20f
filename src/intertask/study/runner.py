"""Run a study and report on it: `run_study(config, store_path)`, `study_status(store_path)`.

`run_study` plans the grid, records the plan in the store, and trains every run the store does
not already hold (finished runs are never redone; a run with a missing or altered artifact
is). Run it again after any interruption to finish the study; the results are the same.
"""

from __future__ import annotations

import time
from pathlib import Path

from intertask.errors import IntertaskError
from intertask.study.config import StudyConfig
from intertask.backbones import load_backbone, resolve_device
from intertask.study.executors import LocalExecutor, RayExecutor, Reporter
from intertask.study.plan import RUN_KINDS, PlannedRun, best_source_seeds, plan_study
from intertask.study.store import Store

EXECUTORS = ("local", "ray")


class RichReporter(Reporter):
    """Progress on stderr: runs done / total with ETA, and the current pack's training step."""

    def __init__(self, total: int, already: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True),
        )
        self.runs = self.progress.add_task("runs", total=total, completed=already)
        self.pack = self.progress.add_task("pack", total=1, visible=False)
        self.n_packs, self.failed = 0, 0

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def pack_started(self, pack: list[PlannedRun]) -> None:
        self.n_packs += 1
        kinds = sorted({r.kind for r in pack})
        self.progress.update(self.pack, description=f"pack {self.n_packs}: {len(pack)} {'+'.join(kinds)} runs, step",
                             completed=0, total=max(r.train["steps"] for r in pack), visible=True)

    def step(self, event: str, done: int, total: int) -> None:
        if event == "train":
            self.progress.update(self.pack, completed=done, total=total)

    def pack_finished(self, pack: list[PlannedRun], failed: dict[str, str]) -> None:
        self.failed += len(failed)
        self.progress.advance(self.runs, len(pack))
        for run_id, error in failed.items():
            self.progress.console.print(f"[red]failed[/red] {run_id[:12]}: {error.splitlines()[0][:200]}")

    def skipped(self, run: PlannedRun, reason: str) -> None:
        self.progress.advance(self.runs, 1)
        self.progress.console.print(f"[yellow]skipped[/yellow] {run.kind} {run.task}: {reason}")


def make_executor(executor, device: str, ray_address: str | None, backbone=None):
    """The executor object for a name ("local" | "ray"); an executor object is returned as it is."""
    if not isinstance(executor, str):
        return executor
    if executor == "local":
        return LocalExecutor(device=device, backbone=backbone)
    if executor == "ray":
        return RayExecutor(address=ray_address, device=device)
    raise IntertaskError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")


def _prepare_suite_tasks(config: StudyConfig, progress: bool) -> None:
    """Convert the offline-suite tasks the study names (a one-time, cached step) before training."""
    from intertask.tasks.suite import SUITE, is_prepared, prepare_suite

    todo = [n for n in dict.fromkeys(config.sources + config.targets) if n in SUITE and not is_prepared(n)]
    if todo:
        prepare_suite(todo, progress=progress)


def run_study(config: StudyConfig | str | Path, store_path: str | Path, executor="local",
              progress: bool = True, ray_address: str | None = None) -> dict:
    """Train every unfinished run of `config` into the store at `store_path`; return `study_status`.

    `executor`: "local", "ray", or an executor object (`LocalExecutor(...)`, `RayExecutor(...)`);
    `ray_address` picks the Ray cluster for "ray" (default `$RAY_ADDRESS`, else a local instance).
    The summary adds `seconds` (this call's wall time) and `trained` (runs written by this call).
    """
    start = time.perf_counter()
    where = "study config" if isinstance(config, StudyConfig) else str(config)
    if not isinstance(config, StudyConfig):
        config = StudyConfig.from_toml(config)
    # Everything that can be checked is checked before the store is touched: a failed start
    # leaves no store behind on a fresh store and the recorded plan unchanged on an old one.
    config.check_tasks()
    local = isinstance(executor, str) and executor == "local"
    device = resolve_device(config.device) if local else "cpu"
    try:
        runs = plan_study(config)
    except IntertaskError as err:
        raise IntertaskError(f"{where}: {err}") from None
    _prepare_suite_tasks(config, progress)
    backbone = load_backbone(config.backbone, device=device)
    for prompt_length, max_length in sorted({(r.train["prompt_length"], r.train["max_length"]) for r in runs}):
        backbone.check_fits(prompt_length, max_length, where=f"{where}: ")
    runner = make_executor(executor, config.device, ray_address, backbone if local else None)
    store = Store(store_path)
    if progress:
        from rich.console import Console

        for warning in config.warnings():
            Console(stderr=True).print(f"[yellow]note[/yellow]: {warning}")

    def train(runs: list[PlannedRun]) -> None:
        """Record `runs` as the study's plan and train the unfinished ones."""
        store.save_study(config.name, config.to_json(), [r.row() for r in runs])
        if progress:
            finished = store.finished_ids([r.run_id for r in runs])
            with RichReporter(total=len(runs), already=len(finished)) as reporter:
                runner.run(runs, store, config.pack_size, reporter)
        else:
            runner.run(runs, store, config.pack_size, Reporter())

    with store.writer():
        before = store.finished_ids()
        train(runs)
        if config.transfer_source == "best_seed":  # transfers wait for every source seed's result
            sources = [r for r in runs if r.kind == "source"]
            best = best_source_seeds(sources, {r["run_id"]: r for r in store.rows(
                sorted(store.finished_ids([r.run_id for r in sources])))})
            if best is not None:
                train(plan_study(config, best))
    summary = study_status(store_path, study=config.name)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["trained"] = len(store.finished_ids([p["run_id"] for p in store.plan(config.name)]) - before)
    return summary


def study_status(store_path: str | Path, study: str | None = None) -> dict:
    """Counts of the study's runs (default: the latest study in the store) by kind and state.

    States: `done` (row done and artifact intact), `failed` (row failed), `pending` (no row, or
    a done row whose artifact is missing or altered: it will be re-run).
    """
    store = Store(store_path)
    plan = store.plan(study)
    rows = {r["run_id"]: r for r in store.rows([p["run_id"] for p in plan])}
    counts = {kind: {"total": 0, "done": 0, "failed": 0, "pending": 0} for kind in RUN_KINDS}
    failed_runs, damaged, seconds = [], 0, 0.0
    for entry in plan:
        row = rows.get(entry["run_id"])
        bucket = counts[entry["kind"]]
        bucket["total"] += 1
        if row and store.artifact_ok(row):
            bucket["done"] += 1
            seconds += row["train_seconds"] or 0.0
        elif row and row["status"] == "failed":
            bucket["failed"] += 1
            failed_runs.append({"run_id": row["run_id"], "kind": row["kind"], "task": row["task"],
                                "source_task": row["source_task"], "seed": row["seed"], "error": row["error"]})
        else:
            bucket["pending"] += 1
            damaged += row is not None
    return {
        "study": plan[0]["study"], "store": str(store.path),
        **{k: sum(c[k] for c in counts.values()) for k in ("total", "done", "failed", "pending")},
        "by_kind": counts, "damaged_artifacts": damaged, "train_seconds": round(seconds, 2),
        "failed_runs": failed_runs,
    }
