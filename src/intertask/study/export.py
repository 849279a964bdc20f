"""Read a study out of its store: the transfer matrix (the ground truth of task selection) and all runs.

`transfer_matrix(store)` has one row per finished transfer:

    target, source, seed, score, baseline, gain, relative_gain, source_seed,
    floor, n_test, score_se, learned, baseline_learned

* `score`    test main metric (0-100) of the target after transfer from `source`;
* `baseline` test main metric of the no-transfer run on the same target and (target) `seed`;
* `gain = score - baseline` (points); `relative_gain = gain / baseline * 100` (%, NaN when the
  baseline is missing or 0);
* `source_seed` the seed of the source prompt (constant when the study has one source seed);
* `floor`    the test score of the best constant prediction on the same test examples
  (`intertask.tasks.metrics.floor_score`), `n_test` their number, `score_se` the binomial
  standard error of `score` (points);
* `learned` / `baseline_learned`: the transfer / the baseline cleared `floor` by
  `LEARNED_MARGIN` points. A case whose baseline did not learn measures no transfer: evaluation
  leaves it out and counts it. Runs from stores written before floors were recorded have a NaN
  floor and count as not learned.

Only finished runs (done, artifact intact) enter; failed runs are listed by `study_status`.

`read_study(store, study)` reads a study once: its run rows, each artifact's checksum verified
once, its task options and (on first use) its transfer matrix. Evaluation, the report and the
library build take that `StudyView` instead of reading the store again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from intertask.errors import IntertaskError
from intertask.paths import write_table
from intertask.study.store import Store
from intertask.tasks.metrics import binomial_se, learned

MATRIX_COLUMNS = ("target", "source", "seed", "score", "baseline", "gain", "relative_gain", "source_seed",
                  "floor", "n_test", "score_se", "learned", "baseline_learned")
FORMATS = ("csv", "parquet", "json")


def _store(store: Store | str | Path) -> Store:
    return store if isinstance(store, Store) else Store(store)


@dataclass
class StudyView:
    """One study of a store, read once (`read_study`).

    `runs`: every run row of the study in plan order, `RUN_COLUMNS` plus `finished` (done, and
    the artifact's sha256 verified when the view was read); `task_options`: the study's per-task
    loading options; `matrix`: its transfer matrix (module docstring), computed on first use.
    """

    store: Store
    name: str
    runs: pd.DataFrame
    task_options: dict

    @cached_property
    def matrix(self) -> pd.DataFrame:
        return _matrix(self.runs)

    @cached_property
    def finished_ids(self) -> frozenset[str]:
        return frozenset(self.runs.loc[self.runs["finished"], "run_id"]) if len(self.runs) else frozenset()

    def artifact(self, run_id: str):
        """The prompt artifact of a finished run: `.prompt` `[P, H]`, `.snapshots` `{step: [P, H]}`
        (its file checksum was verified by `read_study`; `load_artifact` checks the tensors).

        Source runs give the trained source prompts; baselines give the early target prompts
        (`snapshot_steps`) that prompt-similarity selectors need.
        """
        from intertask.training.artifacts import load_artifact  # here: reading tables needs no torch

        if run_id not in self.finished_ids:
            raise IntertaskError(f"run {run_id[:12]} is not finished in study {self.name!r} of store "
                                 f"{str(self.store.path)!r}; run `intertask study run` to finish it")
        return load_artifact(self.store.artifact_path(run_id))


def read_study(store: Store | str | Path, study: str | None = None) -> StudyView:
    """Read `study` (default: the latest) of `store` once; see `StudyView`."""
    store = _store(store)
    if not store.exists():
        raise IntertaskError(f"no study store at {str(store.path)!r}; run `intertask study run CONFIG "
                             f"--store {store.path}` first")
    name = study or store.latest_study()
    plan = store.plan(name)
    rows = store.rows([p["run_id"] for p in plan])
    order = {p["run_id"]: i for i, p in enumerate(plan)}
    rows.sort(key=lambda r: order[r["run_id"]])
    runs = pd.DataFrame(rows, columns=list(rows[0]) if rows else None)
    runs["finished"] = [store.artifact_ok(r) for r in rows]
    config = next((s["config_json"] for s in store.studies() if s["name"] == name), "{}")
    try:
        options = json.loads(config).get("task_options") or {}
    except (json.JSONDecodeError, AttributeError):
        options = {}
    return StudyView(store, name, runs, options)


def run_table(store: Store | str | Path, study: str | None = None) -> pd.DataFrame:
    """Every run row of `study` (default: the latest) with a `finished` column (`StudyView.runs`)."""
    return read_study(store, study).runs


def transfer_matrix(store: Store | str | Path, study: str | None = None) -> pd.DataFrame:
    """The transfer matrix of `study` (default: the latest) as a long table; see the module docstring."""
    return read_study(store, study).matrix


def _matrix(runs: pd.DataFrame) -> pd.DataFrame:
    if runs.empty:
        return pd.DataFrame(columns=list(MATRIX_COLUMNS))
    runs = runs[runs["finished"]]
    floors = {r.run_id: run_floor(r.metrics_json) for r in runs.itertuples()}
    baselines = {(r.task, r.seed): (r.test_score, floors[r.run_id][0])
                 for r in runs[runs["kind"] == "baseline"].itertuples()}
    records = []
    for r in runs[runs["kind"] == "transfer"].itertuples():
        baseline, baseline_floor = baselines.get((r.task, r.seed), (math.nan, math.nan))
        floor, n_test = floors[r.run_id]
        gain = r.test_score - baseline
        relative = gain / baseline * 100 if baseline and not math.isnan(baseline) else math.nan
        records.append((r.task, r.source_task, int(r.seed), float(r.test_score), baseline, gain, relative,
                        int(r.source_seed), floor, n_test, binomial_se(r.test_score, n_test),
                        learned(r.test_score, floor), learned(baseline, baseline_floor)))
    matrix = pd.DataFrame(records, columns=list(MATRIX_COLUMNS))
    return matrix.sort_values(["target", "seed", "source", "source_seed"], ignore_index=True)


def run_floor(metrics_json: str | None) -> tuple[float, int]:
    """(test floor, test examples) recorded in a run's `metrics_json`; (NaN, 0) when absent."""
    try:
        metrics = json.loads(metrics_json or "{}")
        return float(metrics.get("test_floor", math.nan)), int(metrics.get("test_examples", 0))
    except (TypeError, ValueError, AttributeError):
        return math.nan, 0


def export_study(store: Store | str | Path, out: str | Path, format: str | None = None,
                 study: str | None = None) -> Path:
    """Write the transfer matrix to `out` as csv, parquet or json (default: from the suffix).

    Written to a temporary file and renamed, so `out` is either complete or untouched.
    """
    out = Path(out)
    format = format or out.suffix.lstrip(".").lower()
    if format not in FORMATS:
        raise IntertaskError(f"unknown export format {format!r}; use --format {' | '.join(FORMATS)} or a "
                             ".csv/.parquet/.json file name")
    return write_table(transfer_matrix(store, study), out, format)
