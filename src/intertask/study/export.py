"""Read a study out of its store: the transfer matrix (the ground truth of task selection) and all runs.

`transfer_matrix(store)` is the study's `intertask.matrix.transfer.TransferMatrix` (`from_study`): one row
per finished transfer, setting `"default"`, with the baseline of its target and seed, the source prompt's
seed, the test floor, test size, binomial standard error and whether transfer and baseline learned (the
schema: `intertask.matrix.table`). Runs from stores written before floors were recorded have a NaN floor
and count as not learned. Only finished runs (done, artifact intact) enter; failed runs are listed by
`study_status`.

`read_study(store, study)` reads a study once: its run rows, each artifact's checksum verified
once, its task options and (on first use) its transfer matrix. Evaluation, the report and the
library build take that `StudyView` instead of reading the store again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from intertask.errors import IntertaskError
from intertask.matrix.transfer import TransferMatrix
from intertask.study.store import Store


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
    def matrix(self) -> TransferMatrix:
        return TransferMatrix.from_study(self)

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
    store = store if isinstance(store, Store) else Store(store)
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


def transfer_matrix(store: Store | str | Path, study: str | None = None) -> TransferMatrix:
    """The transfer matrix of `study` (default: the latest); see the module docstring."""
    return read_study(store, study).matrix


def export_study(store: Store | str | Path, out: str | Path, study: str | None = None) -> Path:
    """Write the transfer matrix to `out` in the format of its suffix (.csv, .parquet, .json or .jsonl;
    `TransferMatrix.write`), complete or untouched; `TransferMatrix.read` reads it back."""
    return transfer_matrix(store, study).write(out)
