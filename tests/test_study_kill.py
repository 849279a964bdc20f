"""`kill -9` in the middle of `intertask study run`, then run again: same results, no duplicate or partial rows."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import torch

from intertask.study.export import run_table, transfer_matrix
from intertask.study.runner import study_status
from intertask.study.store import Store
from intertask.training.artifacts import load_artifact

TOTAL = 2 + 4 + 8


def study_run(config, store) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "intertask", "study", "run", str(config), "--store", str(store), "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def done_rows(store) -> int:
    db = store / "study.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # the writer is still creating the schema
        return 0


def test_kill_9_then_resume_gives_the_uninterrupted_results(tmp_path, tiny_study_toml):
    config = tmp_path / "killme.toml"  # read by the `intertask study run` subprocesses
    config.write_text(tiny_study_toml(name="killme", steps=40, eval_every=10, snapshot_steps=(10,), pack_size=2))
    killed, reference = tmp_path / "killed", tmp_path / "reference"

    # --- a run killed with SIGKILL once at least one pack is committed --------------------------
    proc = study_run(config, killed)
    deadline = time.time() + 60
    while done_rows(killed) == 0:
        assert proc.poll() is None, f"study finished or failed before the kill: {proc.communicate()}"
        assert time.time() < deadline, "no pack was committed within 60 s"
        time.sleep(0.02)
    status = study_status(killed)  # a reader works while the writer runs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= status["done"] < TOTAL

    store = Store(killed)
    rows = store.rows()
    assert 0 < len(rows) < TOTAL, "the kill must land in the middle of the study"
    assert all(r["status"] == "done" and store.artifact_ok(r) for r in rows)  # no partial rows

    # --- resume, and an uninterrupted run for comparison -----------------------------------------
    for path in (killed, reference):
        out, err = study_run(config, path).communicate(timeout=120)
        assert "trained" in out, err
    resumed, clean = run_table(killed), run_table(reference)
    assert len(resumed) == TOTAL and resumed["run_id"].is_unique and resumed["finished"].all()
    assert set(resumed["run_id"]) == set(clean["run_id"])
    assert not list(store.artifacts_dir.glob("*.tmp*"))

    pd.testing.assert_frame_equal(transfer_matrix(killed).frame, transfer_matrix(reference).frame, atol=1e-6)
    for run_id in clean["run_id"]:
        a = load_artifact(Store(killed).artifact_path(run_id))
        b = load_artifact(Store(reference).artifact_path(run_id))
        assert torch.allclose(a.prompt, b.prompt, atol=1e-5)
        assert sorted(a.snapshots) == sorted(b.snapshots)
    assert json.loads(resumed.iloc[0].config_json) == json.loads(clean.iloc[0].config_json)
