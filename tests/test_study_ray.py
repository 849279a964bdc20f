"""The Ray executor on a local Ray instance (CPU): the same matrix as the local executor."""

from __future__ import annotations

import pandas as pd
import ray

from intertask.study.executors import LocalExecutor, RayExecutor
from intertask.study.export import run_table, transfer_matrix
from intertask.study.runner import run_study


def test_ray_executor_matches_local(tmp_path, tiny_study_toml):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_study_toml(name="tiny-ray", steps=16, eval_every=8, snapshot_steps=(8,), pack_size=3))
    local = run_study(config, tmp_path / "local", executor=LocalExecutor(device="cpu"), progress=False)
    assert local["done"] == 14

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_study(config, tmp_path / "ray", executor=RayExecutor(num_workers=2), progress=False)
        assert ray.is_initialized()  # an instance the caller started is left running
        again = run_study(config, tmp_path / "ray", executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert (remote["done"], remote["failed"], remote["trained"]) == (14, 0, 14)
    assert again["trained"] == 0  # finished runs are skipped on Ray too

    pd.testing.assert_frame_equal(transfer_matrix(tmp_path / "ray").frame, transfer_matrix(tmp_path / "local").frame, atol=1e-6)
    columns = ["run_id", "kind", "task", "seed", "source_task", "validation_score", "test_score", "best_step"]
    pd.testing.assert_frame_equal(run_table(tmp_path / "ray")[columns], run_table(tmp_path / "local")[columns],
                                  atol=1e-6)
