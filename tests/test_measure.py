"""`library measure`: a library's history grows one target at a time, resumes, and never corrupts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend import build_library, load_library
from intertask.recommend.library_write import write_library
from intertask.recommend.measure import append_history, measure_target, plan_target

SOURCES = ["toy_sentiment_food", "toy_topic4", "toy_parity"]


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_study_toml):
    """A tiny library of 3 sources (2 seeds each) without history; its targets run 4 steps with a probe head."""
    root = tmp_path_factory.mktemp("measure")
    config = root / "tiny.toml"
    config.write_text(tiny_study_toml(sources=SOURCES, targets=["toy_topic2"], source_seeds=(0, 1), steps=8,
                                      target_steps=4, learning_rate=0.05, snapshot_steps=None,
                                      target_options='{ head_init = "probe" }'))
    return build_library(config, root / "lib", store_path=root / "store")


@pytest.fixture()
def fresh(library, tmp_path):
    return shutil.copytree(library, tmp_path / "lib")


def _cells(lib, target):
    rows = lib.history.frame[lib.history.frame["target"] == target]
    return sorted(zip(rows["source"], rows["seed"]))


def test_measure_appends_every_source_and_seed_then_has_nothing_left(fresh):
    done = measure_target(fresh, "toy_topic2", seeds=(0, 1), progress=False)
    lib = load_library(fresh)  # checksums verified
    assert done.trained == 2 + 3 * 2 and done.appended == 3 * 2 and not done.failed
    assert _cells(lib, "toy_topic2") == sorted((s, r) for s in SOURCES for r in (0, 1))
    rows = lib.history.frame[lib.history.frame["target"] == "toy_topic2"]
    assert (rows["gain"] - (rows["score"] - rows["baseline"])).abs().max() < 1e-9
    assert rows.groupby("seed")["baseline"].nunique().eq(1).all()  # one baseline per seed
    assert set(rows["source_seed"]) <= {0, 1} and (rows["n_test"] > 0).all() and (rows["floor"] > 0).all()
    assert {(s.name, s.best_seed) for s in lib.sources} == set(zip(rows["source"], rows["source_seed"]))
    assert "toy_topic2" in lib.target_embeddings
    assert all([step for step, _ in curve][:1] == [0] for curve in rows["validation_curve"])  # the probe, step 0
    again = measure_target(fresh, "toy_topic2", seeds=(0, 1), progress=False)
    assert again.trained == 0 and again.appended == 0
    # a third seed measures only its own cells, reusing nothing it should not
    third = measure_target(fresh, "toy_topic2", seeds=(0, 1, 2), progress=False)
    assert third.trained == 1 + 3 and len(load_library(fresh).history) == 3 * 3


def test_a_new_source_measures_only_its_column(fresh):
    measure_target(fresh, "toy_topic2", seeds=(0,), progress=False)
    lib = load_library(fresh)
    before = lib.history
    removed = lib.history.frame[lib.history.frame["source"] == "toy_parity"]
    lib.history = TransferMatrix(lib.history.frame[lib.history.frame["source"] != "toy_parity"].reset_index(drop=True))
    write_library(lib, fresh)  # as if toy_parity had joined the library after the measurement
    assert [(r.kind, r.source_task) for r in plan_target(load_library(fresh), "toy_topic2", "toy_topic2", None, (0,))] \
        == [("transfer", "toy_parity")]
    done = measure_target(fresh, "toy_topic2", seeds=(0,), progress=False)
    assert done.trained == 1
    after = load_library(fresh).history.frame
    row = after[after["source"] == "toy_parity"].iloc[0]
    assert row["baseline"] == before.frame["baseline"].iloc[0]  # the recorded baseline, not a new run
    assert row["score"] == pytest.approx(removed["score"].iloc[0], abs=1e-6)


def test_a_baseline_at_its_floor_is_recorded_and_left_out_of_expected_gains(fresh):
    lib = load_library(fresh)
    lib.training = {**lib.training, "head_init": "random", "head_lr": 1e-9, "prompt_lr": 1e-9}
    write_library(lib, fresh)
    done = measure_target(fresh, "toy_topic2", seeds=(0,), progress=False)
    assert done.baseline_learned == {0: False}
    lib = load_library(fresh)
    assert len(lib.history) == 3 and not lib.history.frame["baseline_learned"].any()
    assert len(lib.history.learned_only()) == 0


def test_refusals(fresh, capsys):
    with pytest.raises(IntertaskError, match="is a source of library"):
        measure_target(fresh, "toy_topic4", progress=False)
    with pytest.raises(IntertaskError, match="unknown task"):
        measure_target(fresh, "no_such_task", progress=False)
    assert run(["library", "measure", str(fresh), "--target", "toy_topic2", "--seeds", "0"]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert load_library(fresh).history.empty


def test_concurrent_appends_lose_nothing(fresh):
    """Two writers appending at once (two `library measure` processes) wait for each other."""
    row = {"target": "t", "score": 60.0, "baseline": 50.0, "gain": 10.0, "floor": 40.0, "learned": True,
           "baseline_learned": True, "source_seed": 0, "n_test": 10}

    def writer(seeds):
        for seed in seeds:
            append_history(fresh, [{**row, "source": "toy_topic4", "seed": seed}], "t", None)

    threads = [threading.Thread(target=writer, args=(range(i, 16, 2),)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(load_library(fresh).history.frame["seed"]) == list(range(16))


def test_kill_9_then_rerun_finishes_the_work(fresh):
    """A measurement killed with SIGKILL leaves a loadable library with whole rows; the rerun trains
    only what is missing and ends with every cell."""
    command = [sys.executable, "-m", "intertask", "library", "measure", str(fresh), "--target", "toy_topic2",
               "--seeds", "3", "--pack-size", "1", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = (fresh / "manifest.json").stat().st_ino
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and (fresh / "manifest.json").stat().st_ino == first:
        time.sleep(0.01)  # the manifest is a new file once the first rows are appended
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = _cells(load_library(fresh), "toy_topic2")
    done = measure_target(fresh, "toy_topic2", seeds=(0, 1, 2), progress=False)
    assert done.trained == 3 * 3 + 3 - len(kept) - len({seed for _, seed in kept})
    assert _cells(load_library(fresh), "toy_topic2") == sorted((s, r) for s in SOURCES for r in (0, 1, 2))


def test_disk_full_while_appending_is_one_line_and_changes_nothing(fresh, capsys, monkeypatch):
    import errno
    import pathlib

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = {p.name: p.read_bytes() for p in fresh.iterdir()}
    monkeypatch.setattr(pathlib.Path, "write_text", full)
    assert run(["library", "measure", str(fresh), "--target", "toy_topic2", "--seeds", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err  # the progress bar, then one error line
    errors = [line for line in err.splitlines() if "error" in line or "Traceback" in line]
    assert len(errors) == 1 and errors[0].startswith("error: library '") and "No space left on device" in errors[0], err
    assert {p.name: p.read_bytes() for p in fresh.iterdir()} == before
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["lib"]  # no temporary folder left beside it


def test_recommend_verify_records_into_the_history_as_measure_would(fresh):
    from intertask.recommend import recommend

    rec = recommend("toy_topic2", library_dir=fresh, methods=["max_pairwise", "data_size"], budget_steps=2, seeds=2,
                    verify_k=2, verify_seeds=2, progress=False, device="cpu", record=True)
    verified = rec.verify["source"].tolist()
    assert sorted(_cells(load_library(fresh), "toy_topic2")) == sorted((s, r) for s in verified for r in (0, 1))
    rest = measure_target(fresh, "toy_topic2", seeds=(0, 1), progress=False)
    assert rest.trained == 2  # the one unverified source on both seeds; the baselines are recorded
    with pytest.raises(IntertaskError, match="explicit library_dir"):
        recommend("toy_topic2", methods=["data_size"], budget_steps=1, seeds=1, verify_k=1, record=True, progress=False)


def test_a_rebuild_that_adds_a_source_keeps_the_measured_history(library, fresh, tmp_path, tiny_study_toml):
    measure_target(fresh, "toy_topic2", seeds=(0,), progress=False)
    measured = load_library(fresh).history
    store = shutil.copytree(library.parent / "store", tmp_path / "store")
    config = tmp_path / "more.toml"
    config.write_text(tiny_study_toml(sources=SOURCES + ["toy_sentiment_travel"], targets=["toy_topic2"],
                                      source_seeds=(0, 1), steps=8, target_steps=4, learning_rate=0.05,
                                      snapshot_steps=None, target_options='{ head_init = "probe" }'))
    build_library(config, fresh, store_path=store)
    rebuilt = load_library(fresh)
    assert len(rebuilt.sources) == 4 and rebuilt.history.frame.equals(measured.frame)
    assert [r.source_task for r in plan_target(rebuilt, "toy_topic2", "toy_topic2", None, (0,))] == ["toy_sentiment_travel"]


def test_a_target_that_copies_a_source_is_refused_unless_allowed(fresh, tmp_path):
    """The leak check: a target whose texts are a source's (here toy_topic4's, renamed) measures nothing."""
    from intertask.tasks.toy import toy_task

    rows = [{"text": ex.text, "label": ex.label} for ex in toy_task("toy_topic4").train]
    copy = tmp_path / "copied.csv"
    pd.DataFrame(rows).to_csv(copy, index=False)
    with pytest.raises(IntertaskError, match="is a copy of a library source: .*toy_topic4"):
        measure_target(fresh, str(copy), seeds=(0,), progress=False)
    assert measure_target(fresh, str(copy), seeds=(0,), progress=False, allow_overlap=True).trained == 1 + 3


def test_two_measure_processes_on_one_library_both_finish_and_lose_nothing(fresh):
    """Two `library measure` commands on one library at once: each waits for the other's appends."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    commands = [[sys.executable, "-m", "intertask", "library", "measure", str(fresh), "--target", target,
                 "--seeds", "2", "--pack-size", "2", "--device", "cpu"] for target in ("toy_topic2", "toy_sentiment_travel")]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands]
    assert [p.wait(timeout=600) for p in processes] == [0, 0]
    lib = load_library(fresh)
    for target in ("toy_topic2", "toy_sentiment_travel"):
        assert _cells(lib, target) == sorted((s, r) for s in SOURCES for r in (0, 1))
