"""A whole study on toy tasks and the tiny encoder: results, resume, damaged artifacts, failures, CLI."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.study.config import StudyConfig
from intertask.matrix.table import COLUMNS
from intertask.matrix.transfer import TransferMatrix
from intertask.study.export import read_study, run_table, transfer_matrix
from intertask.study.plan import plan_study
from intertask.study.runner import run_study, study_status
from intertask.study.store import Store

SOURCES = ["toy_sentiment_food", "toy_topic4"]
TARGETS = ["toy_sentiment_travel", "toy_topic2"]


@pytest.fixture(scope="module")
def tiny(tiny_study_toml):
    """`tiny(directory, sources=..., targets=...)` writes the tiny study's config there and returns its path."""

    def write(directory, sources=SOURCES, targets=TARGETS):
        path = directory / "tiny.toml"
        path.write_text(tiny_study_toml(sources=sources, targets=targets, steps=16, eval_every=8,
                                        snapshot_steps=(0, 8), pack_size=4))
        return path

    return write


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny):
    """One finished tiny study: (config path, store path, summary)."""
    tmp = tmp_path_factory.mktemp("study")
    config = tiny(tmp)
    summary = run_study(config, tmp / "store", progress=False)
    return config, tmp / "store", summary


def test_study_trains_every_run_and_the_matrix_is_consistent(finished):
    config_path, store, summary = finished
    config = StudyConfig.from_toml(config_path)
    assert summary["done"] == summary["total"] == 2 + 4 + 8 and summary["trained"] == 14
    assert summary["by_kind"]["transfer"] == {"total": 8, "done": 8, "failed": 0, "pending": 0}

    matrix = transfer_matrix(store).frame
    assert list(matrix.columns) == list(COLUMNS)
    assert len(matrix) == len(config.sources) * len(config.targets) * len(config.target_seeds)
    runs = run_table(store)
    baselines = runs[runs["kind"] == "baseline"].set_index(["task", "seed"])["test_score"]
    for row in matrix.itertuples():
        assert row.baseline == baselines[(row.target, row.seed)]
        assert row.gain == pytest.approx(row.score - row.baseline)
        assert row.relative_gain == pytest.approx((row.score - row.baseline) / row.baseline * 100)
        assert 0 <= row.score <= 100

    rows = runs.set_index("run_id")
    for planned in plan_study(config):  # every row is the planned run, with its provenance
        stored = rows.loc[planned.run_id]
        assert (stored.kind, stored.task, stored.seed) == (planned.kind, planned.task, planned.seed)
        assert json.loads(stored.config_json) == planned.train
        assert stored.started_at <= stored.finished_at and stored.code_version.startswith("intertask")
    baseline_id = rows.index[rows["kind"] == "baseline"][0]
    assert json.loads(rows.loc[baseline_id].metrics_json)["snapshot_steps"] == [0, 8]
    artifact = read_study(store).artifact(baseline_id)
    assert sorted(artifact.snapshots) == [0, 8] and tuple(artifact.prompt.shape) == (4, 32)
    with pytest.raises(IntertaskError, match=r"run 000000000000 is not finished in study .*; run `intertask study run`"):
        read_study(store).artifact("0" * 64)


def test_matrix_records_each_runs_floor(finished):
    matrix = transfer_matrix(finished[1]).frame
    for row in matrix.itertuples():  # toy targets are balanced binary / 2-topic tasks: floors near 50
        assert 40 <= row.floor <= 70 and row.n_test > 0
        assert row.learned == (row.score >= row.floor + 5) and row.score_se > 0


def test_best_seed_sources_transfer_and_the_others_are_kept(tmp_path, tiny_study_toml):
    """transfer_source = best_seed: every source seed trains; only the seed best on validation
    (lowest on ties) transfers, planned once the source runs have finished."""
    config = tmp_path / "best.toml"
    config.write_text(tiny_study_toml(sources=SOURCES, targets=TARGETS[:1], source_seeds=(0, 1, 2), steps=8,
                                      target_steps=4, snapshot_steps=None).replace(
                                          'device = "cpu"', 'device = "cpu"\ntransfer_source = "best_seed"'))
    study = StudyConfig.from_toml(config)
    assert [r.kind for r in plan_study(study)].count("transfer") == 0  # not before the sources are known
    summary = run_study(config, tmp_path / "store", progress=False)
    assert summary["by_kind"]["source"]["done"] == 6 and summary["by_kind"]["transfer"]["done"] == 2 * 2
    assert summary["trained"] == 6 + 2 + 4
    runs = run_table(tmp_path / "store")
    sources = runs[runs["kind"] == "source"]
    for source, group in sources.groupby("task"):
        best = group.sort_values(["validation_score", "seed"], ascending=[False, True]).iloc[0]
        assert set(transfer_matrix(tmp_path / "store").frame.query("source == @source")["source_seed"]) == {best.seed}
    assert run_study(config, tmp_path / "store", progress=False)["trained"] == 0  # resumes to the same plan


def test_run_ids_hash_everything_that_determines_a_run(tmp_path, tiny):
    base = StudyConfig.from_toml(tiny(tmp_path))
    ids = {r.run_id for r in plan_study(base)}
    assert len(ids) == 14 and {r.run_id for r in plan_study(base)} == ids  # unique and stable
    changed = StudyConfig.from_dict({**base.to_dict(), "target_training": {"steps": 16, "learning_rate": 0.5}})
    again = plan_study(changed)
    assert {r.run_id for r in again if r.kind == "source"} <= ids
    assert not {r.run_id for r in again if r.kind != "source"} & ids
    transfer = next(r for r in plan_study(base) if r.kind == "transfer")
    assert transfer.depends_on == (transfer.source_run_id,)


def test_finished_runs_are_never_redone(finished, tmp_path):
    config, store, _ = finished
    before = run_table(store)
    again = run_study(config, store, progress=False)
    assert again["trained"] == 0 and again["done"] == 14
    pd.testing.assert_frame_equal(run_table(store), before)


def test_damaged_artifacts_are_detected_and_rerun_with_the_same_results(tmp_path, tiny):
    config = tiny(tmp_path)
    run_study(config, tmp_path / "store", progress=False)
    store = Store(tmp_path / "store")
    before = transfer_matrix(store).frame
    runs = run_table(store)
    source_id = runs[runs["kind"] == "source"].iloc[0].run_id
    transfer_id = runs[runs["kind"] == "transfer"].iloc[-1].run_id
    store.artifact_path(source_id).unlink()
    data = bytearray(store.artifact_path(transfer_id).read_bytes())
    data[-1] ^= 0xFF
    store.artifact_path(transfer_id).write_bytes(bytes(data))

    status = study_status(store.path)
    assert (status["damaged_artifacts"], status["pending"], status["done"]) == (2, 2, 12)
    assert len(transfer_matrix(store).frame) == len(before) - 1  # the damaged transfer is not a result

    again = run_study(config, store.path, progress=False)
    assert again["trained"] == 2 and again["done"] == 14
    assert len(store.rows()) == 14
    pd.testing.assert_frame_equal(transfer_matrix(store).frame, before, atol=1e-6)


def test_a_failing_task_is_recorded_as_failed_not_scored(tmp_path, tiny):
    bad = tmp_path / "one_label.csv"
    bad.write_text("text,label\n" + "".join(f"sentence {i},yes\n" for i in range(40)))
    summary = run_study(tiny(tmp_path, targets=["toy_topic2", str(bad)]), tmp_path / "store", progress=False)
    # the bad target's 2 baselines and 4 transfers fail; the good target's runs are unaffected
    assert (summary["done"], summary["failed"], summary["pending"]) == (8, 6, 0)
    store = Store(tmp_path / "store")
    failed = [r for r in store.rows() if r["status"] == "failed"]
    assert {r["task"] for r in failed} == {str(bad)}
    assert all(r["test_score"] is None and "single label" in r["error"] for r in failed)
    matrix = transfer_matrix(store).frame
    assert set(matrix["target"]) == {"toy_topic2"} and not matrix["score"].isna().any()


def test_a_failed_source_skips_its_transfers(tmp_path, tiny):
    bad = tmp_path / "one_label.csv"
    bad.write_text("text,label\n" + "".join(f"sentence {i},yes\n" for i in range(40)))
    summary = run_study(tiny(tmp_path, sources=["toy_topic4", str(bad)]), tmp_path / "store", progress=False)
    assert summary["by_kind"]["source"]["failed"] == 1
    assert summary["by_kind"]["transfer"] == {"total": 8, "done": 4, "failed": 0, "pending": 4}


def test_cli_run_status_export(tmp_path, capsys, tiny):
    config, store = tiny(tmp_path, targets=["toy_topic2"]), tmp_path / "store"
    assert run(["study", "run", str(config), "--store", str(store), "--quiet"]) == 0
    assert "trained 8 runs" in capsys.readouterr().out
    assert run(["study", "status", "--store", str(store), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["study"], status["done"], status["pending"]) == ("tiny", 8, 0)
    expected = transfer_matrix(store).frame
    for fmt in ("csv", "parquet", "json", "jsonl"):
        out = tmp_path / f"matrix.{fmt}"
        assert run(["study", "export", "--store", str(store), "--out", str(out)]) == 0
        pd.testing.assert_frame_equal(TransferMatrix.read(out).frame, expected)
    assert run(["study", "export", "--store", str(store), "--out", str(tmp_path / "m.txt")]) == 2
    assert "must end in .parquet, .csv, .json, .jsonl" in capsys.readouterr().err
    assert not (tmp_path / "m.txt").exists()


def test_cli_user_errors_are_one_line(tmp_path, capsys, tiny):
    assert run(["study", "status", "--store", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: no study store at")
    config = tiny(tmp_path, targets=["toy_topic22"])
    assert run(["study", "run", str(config), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'toy_topic22' in 'targets' (did you mean: toy_topic2" in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()  # nothing written on a config error


def test_an_unavailable_device_is_a_user_error(tmp_path, capsys, tiny):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    config = tmp_path / "cuda.toml"
    config.write_text(tiny(tmp_path).read_text().replace('device = "cpu"', 'device = "cuda"'))
    assert run(["study", "run", str(config), "--store", str(tmp_path / "s")]) == 2
    assert "device 'cuda' is not available here (no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_second_writer_is_refused(tmp_path, capsys, tiny):
    config, store = tiny(tmp_path), tmp_path / "store"
    with Store(store).writer(command="intertask study run other.toml"):
        assert run(["study", "run", str(config), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"in use by another writer (pid {os.getpid()}" in err and "other.toml" in err


def test_missing_baseline_gives_nan_gain_not_zero(finished, tmp_path):
    _, source, _ = finished
    shutil.copytree(source, tmp_path / "copy")
    store = Store(tmp_path / "copy")
    baseline = next(r for r in store.rows() if r["kind"] == "baseline")
    store.artifact_path(baseline["run_id"]).unlink()
    matrix = transfer_matrix(store).frame
    lost = (matrix["target"] == baseline["task"]) & (matrix["seed"] == baseline["seed"])
    assert lost.sum() == 2 and matrix.loc[lost, ["baseline", "gain", "relative_gain"]].isna().all().all()
    assert not matrix.loc[~lost, "relative_gain"].isna().any()
    with pytest.raises(IntertaskError, match="has no study 'other'"):
        transfer_matrix(store, study="other").frame


@pytest.mark.slow
def test_a_small_real_study_on_minilm_and_the_offline_suite(tmp_path):
    config = tmp_path / "real.toml"
    config.write_text("""
name = "real"
backbone = "minilm"
device = "cpu"
sources = ["mr_polarity"]
targets = ["trec_coarse"]
source_seeds = [0]
target_seeds = [0]
pack_size = 4

[training]
prompt_length = 4
max_length = 24
batch_size = 4
eval_every = 4
options = { max_eval_examples = 16 }

[source_training]
steps = 4
learning_rate = 0.1

[target_training]
steps = 4
learning_rate = 0.1
snapshot_steps = [0]
""")
    summary = run_study(config, tmp_path / "store", progress=False)
    assert (summary["done"], summary["failed"]) == (3, 0)
    matrix = transfer_matrix(tmp_path / "store").frame
    assert matrix[["target", "source", "seed"]].values.tolist() == [["trec_coarse", "mr_polarity", 0]]
    assert 0 <= matrix["score"][0] <= 100 and 0 < matrix["baseline"][0] <= 100
