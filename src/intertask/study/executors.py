"""Executors: train the study's pending runs in packs and hand each pack's results to the store.

Both executors share one scheduling rule: a run is *ready* when every run it depends on (a
transfer's source run) is finished; a pack is up to `pack_size` ready runs with the same step
budget, batch size and length, taken in plan order (sources first, so transfers unblock early).
A run whose dependency failed is skipped (reported, not recorded; the next `study run` retries
the dependency and then the run).

* `LocalExecutor` trains packs one after another with `train_packed` on this machine.
* `RayExecutor` keeps one pack in flight per Ray worker (an actor holding the frozen backbone,
  `num_gpus=1` when the cluster has GPUs). Workers only train; results (prompts, heads and
  scores as CPU tensors) flow back to the driver, the single writer of the store.

Results are written as soon as their pack finishes, so a crash loses at most the packs in flight.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from intertask.backbones import resolve_device
from intertask.paths import utc_now
from intertask.study.plan import PlannedRun
from intertask.study.store import Store, code_version, git_hash
from intertask.tasks.registry import load_task


@dataclass
class PackItem:
    """What a worker needs to train one run (plain, picklable data)."""

    run_id: str
    task: str
    task_options: dict | None
    train: dict
    init_prompt: object | None = None  # np.ndarray [P, H] for transfers


class Reporter:
    """Progress hooks an executor calls; this base class ignores them."""

    def pack_started(self, pack: list[PlannedRun]) -> None: ...

    def step(self, event: str, done: int, total: int) -> None: ...

    def pack_finished(self, pack: list[PlannedRun], failed: dict[str, str]) -> None: ...

    def skipped(self, run: PlannedRun, reason: str) -> None: ...


def _pack_key(run: PlannedRun) -> tuple:
    return (run.train["steps"], run.train["batch_size"], run.train["max_length"])


def next_pack(waiting: list[PlannedRun], finished: set[str], busy: set[str], pack_size: int) -> list[PlannedRun]:
    """The next pack: up to `pack_size` ready, idle runs sharing the first ready run's pack key."""
    ready = [r for r in waiting if r.run_id not in busy and all(d in finished for d in r.depends_on)]
    if not ready:
        return []
    key = _pack_key(ready[0])
    return [r for r in ready if _pack_key(r) == key][:pack_size]


def train_pack(items: list[PackItem], backbone, device: str, tasks: dict, progress=None):
    """Train `items` together; returns `(results, failures)` with failures `{run_id: error}`.

    A task that fails to load fails only its own runs; an error in training fails the pack.
    `tasks` caches loaded tasks by (name, options) across calls.
    """
    from intertask.training import RunSpec, TrainConfig, train_packed

    specs, failures = [], {}
    for item in items:
        key = (item.task, json.dumps(item.task_options, sort_keys=True))
        try:
            if key not in tasks:
                tasks[key] = load_task(item.task, item.task_options)
            specs.append(RunSpec(item.run_id, tasks[key], TrainConfig.from_dict(item.train), item.init_prompt))
        except Exception as err:  # recorded as this run's failure, never as a score
            failures[item.run_id] = f"{type(err).__name__}: {err}"
    try:
        results = train_packed(specs, backbone, device, progress) if specs else []
    except Exception as err:
        failures.update({s.run_id: f"{type(err).__name__}: {err}" for s in specs})
        results = []
    return results, failures


class StoreDriver:
    """The driver side of either executor for a study: which runs still wait, the pack items built
    from the store, and each pack's results written back.

    A driver is what an executor's `drive` needs: `reporter`, `waiting` (runs not finished, plan
    order), `next_pack(busy, pack_size)`, `items(pack)` and `write(pack, results, failures, started)`.
    Here `finished` and `failed` are run-id sets that `write` and `next_pack` keep up to date.
    (`intertask.recommend.measure.HistoryDriver` is the other driver: it writes a library's history.)
    """

    def __init__(self, runs: list[PlannedRun], store: Store, reporter: Reporter):
        self.store, self.reporter = store, reporter
        self.git_hash, self.code_version = git_hash(), code_version()
        self.finished = store.finished_ids()
        self.failed: set[str] = set()
        self.waiting = [r for r in runs if r.run_id not in self.finished]

    def next_pack(self, busy: set[str], pack_size: int) -> list[PlannedRun]:
        """Skip the runs whose source failed, then the next pack of ready runs not in `busy` ([] if none)."""
        self.waiting = _skip_blocked(self.waiting, self.failed, self.reporter)
        return next_pack(self.waiting, self.finished, busy, pack_size)

    def items(self, pack: list[PlannedRun]) -> list[PackItem]:
        from intertask.training.artifacts import load_artifact

        prompts = {source: load_artifact(self.store.artifact_path(source)).prompt.numpy()
                   for source in {run.source_run_id for run in pack if run.source_run_id}}
        return [PackItem(run.run_id, run.task, run.task_options, run.train, prompts.get(run.source_run_id))
                for run in pack]

    def write(self, pack: list[PlannedRun], results, failures: dict[str, str], started: str) -> set[str]:
        """Store every result and failure of `pack`, take the pack off `waiting`; return the ids that finished."""
        from intertask.training.artifacts import save_artifact

        finished_at = utc_now()
        by_id = {r.run_id: r for r in results}
        done = set()
        for run in pack:
            base = {**run.row(), "started_at": started, "finished_at": finished_at,
                    "code_version": self.code_version, "git_hash": self.git_hash}
            result = by_id.get(run.run_id)
            if result is None:
                self.store.put_failed(base, failures.get(run.run_id, "no result returned"))
                continue
            metrics = {"test_metrics": result.test_metrics, "history": [list(h) for h in result.history],
                       "snapshot_steps": sorted(int(s) for s in result.snapshots),
                       "test_floor": result.test_floor, "test_examples": result.test_examples}
            row = {**base, "metrics_json": json.dumps(metrics, sort_keys=True),
                   "validation_score": result.validation_score, "test_score": result.test_score,
                   "best_step": result.best_step, "steps": result.steps, "train_seconds": result.seconds}
            self.store.put_done(row, lambda path, r=result: save_artifact(path, r, run.backbone, "store"))
            done.add(run.run_id)
        self.reporter.pack_finished(pack, {k: v for k, v in failures.items() if k not in done})
        ids = {r.run_id for r in pack}
        self.finished |= done
        self.failed |= ids - done
        self.waiting = [r for r in self.waiting if r.run_id not in ids]
        return done


def _skip_blocked(waiting: list[PlannedRun], failed: set[str], reporter: Reporter) -> list[PlannedRun]:
    keep = []
    for run in waiting:
        bad = [d for d in run.depends_on if d in failed]
        if bad:
            failed.add(run.run_id)
            reporter.skipped(run, f"its source run {bad[0][:12]} failed")
        else:
            keep.append(run)
    return keep


class LocalExecutor:
    """Train packs one after another on this machine (`device`: auto | cpu | cuda[:N] | mps)."""

    def __init__(self, device: str = "auto", backbone=None):
        self.device, self.backbone = device, backbone  # `backbone`: already loaded on `device`, reused

    def run(self, runs: list[PlannedRun], store: Store, pack_size: int, reporter: Reporter | None = None) -> None:
        """Train every run of `runs` not finished in `store` (runs must be in plan order)."""
        self.drive(StoreDriver(runs, store, reporter or Reporter()), pack_size)

    def drive(self, driver, pack_size: int) -> None:
        """Train the driver's waiting runs pack after pack, handing each pack's results to `driver.write`."""
        from intertask.backbones import load_backbone

        reporter = driver.reporter
        if not driver.waiting:
            return
        device = resolve_device(self.device)
        backbone = self.backbone
        if backbone is None or backbone.name != driver.waiting[0].backbone:
            backbone = load_backbone(driver.waiting[0].backbone, device=device)
        tasks: dict = {}
        while pack := driver.next_pack(set(), pack_size):
            reporter.pack_started(pack)
            started = utc_now()
            results, failures = train_pack(driver.items(pack), backbone, device, tasks, reporter.step)
            driver.write(pack, results, failures, started)


class _RayWorker:
    """A Ray actor: loads the backbone once, then trains packs sent to it."""

    def __init__(self, backbone_name: str, device: str):
        from intertask.backbones import load_backbone

        self.device = resolve_device(device)
        self.backbone = load_backbone(backbone_name, device=self.device)
        self.tasks: dict = {}

    def train(self, items: list[PackItem]):
        return train_pack(items, self.backbone, self.device, self.tasks)


class RayExecutor:
    """Train packs on Ray workers, one pack in flight per worker; the driver writes the store.

    `address`: a running cluster (`"auto"`, `"ray://host:10001"`; default `$RAY_ADDRESS`), or
    None to start a local instance with `num_cpus` (default: this machine's). A Ray instance
    the caller already started is used as it is and left running. `num_workers` defaults to the cluster's
    GPU count, or half its CPUs (at least 1) without GPUs.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 num_workers: int | None = None, device: str = "auto"):
        self.address, self.num_cpus, self.num_workers, self.device = address, num_cpus, num_workers, device

    def _start(self):
        try:
            import ray
        except ImportError:
            from intertask.errors import IntertaskError

            raise IntertaskError("the ray executor needs Ray; install it with `pip install 'intertask[ray]'`") from None
        started_here = not ray.is_initialized()
        if started_here:
            address = self.address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        return ray, started_here

    def run(self, runs: list[PlannedRun], store: Store, pack_size: int, reporter: Reporter | None = None) -> None:
        """Train every run of `runs` not finished in `store` on Ray workers."""
        self.drive(StoreDriver(runs, store, reporter or Reporter()), pack_size)

    def drive(self, driver, pack_size: int) -> None:
        """Train the driver's waiting runs on Ray workers; the driver writes each pack's results."""
        reporter = driver.reporter
        if not driver.waiting:
            return
        ray, started_here = self._start()
        try:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            n_workers = self.num_workers or gpus or max(1, int(ray.cluster_resources().get("CPU", 1)) // 2)
            worker_cls = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1)(_RayWorker)
            backbone_name = driver.waiting[0].backbone
            idle = [worker_cls.remote(backbone_name, self.device) for _ in range(n_workers)]
            inflight: dict = {}  # ref -> (worker, pack, started)
            while driver.waiting or inflight:
                busy = {r.run_id for _, pack, _ in inflight.values() for r in pack}
                while idle:
                    pack = driver.next_pack(busy, pack_size)
                    if not pack:
                        break
                    worker = idle.pop()
                    reporter.pack_started(pack)
                    inflight[worker.train.remote(driver.items(pack))] = (worker, pack, utc_now())
                    busy |= {r.run_id for r in pack}
                if not inflight:
                    break
                (ref,), _ = ray.wait(list(inflight), num_returns=1)
                worker, pack, started = inflight.pop(ref)
                try:
                    results, failures = ray.get(ref)
                    idle.append(worker)
                except ray.exceptions.RayError as err:  # a lost worker: replace it, fail its pack
                    results, failures = [], {r.run_id: f"{type(err).__name__}: {err}" for r in pack}
                    idle.append(worker_cls.remote(backbone_name, self.device))
                driver.write(pack, results, failures, started)
        finally:
            if started_here:
                ray.shutdown()
