"""Shared test helpers: the tiny study config that the study, library and evaluation tests run."""

from __future__ import annotations

import json

import pytest

TINY_SOURCES = ("toy_sentiment_food", "toy_topic4")
TINY_TARGETS = ("toy_sentiment_travel", "toy_topic2")


def tiny_study_toml(name: str = "tiny", sources=TINY_SOURCES, targets=TINY_TARGETS, source_seeds=(0,),
                    target_seeds=(0, 1), steps: int = 8, eval_every: int = 4, learning_rate: float = 0.3,
                    snapshot_steps=(4,), pack_size: int | None = None, target_steps: int | None = None,
                    target_options: str = "") -> str:
    """The TOML text of a study on toy tasks and `tiny-encoder` (prompt_length 4, max_length 32, batch_size 8).

    `steps` and `learning_rate` apply to source and target training alike; `target_steps` overrides the
    target's steps. `pack_size=None` or `snapshot_steps=None` leave the key out (the config's default).
    `target_options` is the TOML inline table of the target phase's `options`, e.g. '{ head_init = "probe" }'.
    """
    pack = "" if pack_size is None else f"pack_size = {pack_size}\n"
    snapshots = "" if snapshot_steps is None else f"snapshot_steps = {json.dumps(list(snapshot_steps))}\n"
    return f"""
name = "{name}"
backbone = "tiny-encoder"
device = "cpu"
sources = {json.dumps(list(sources))}
targets = {json.dumps(list(targets))}
source_seeds = {json.dumps(list(source_seeds))}
target_seeds = {json.dumps(list(target_seeds))}
{pack}
[training]
prompt_length = 4
max_length = 32
batch_size = 8
eval_every = {eval_every}

[source_training]
steps = {steps}
learning_rate = {learning_rate}

[target_training]
steps = {steps if target_steps is None else target_steps}
learning_rate = {learning_rate}
{snapshots}{f"options = {target_options}" if target_options else ""}
"""


@pytest.fixture(name="tiny_study_toml", scope="session")
def tiny_study_toml_fixture():
    """`tiny_study_toml`, the builder of a tiny study's TOML text."""
    return tiny_study_toml


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """A 1 source x 1 target x 1 seed tiny study config (2 steps): a study that runs in seconds."""
    path = tmp_path_factory.mktemp("tiny_config") / "tiny1.toml"
    path.write_text(tiny_study_toml(name="tiny1", sources=TINY_SOURCES[:1], targets=TINY_TARGETS[1:],
                                    target_seeds=(0,), steps=2, eval_every=2, snapshot_steps=None))
    return path


@pytest.fixture(scope="session")
def finished_store(tmp_path_factory, tiny_config):
    """A store holding the finished `tiny_config` study (do not modify it; copy it first)."""
    from intertask.study.runner import run_study

    store = tmp_path_factory.mktemp("finished") / "store"
    run_study(tiny_config, store, progress=False)
    return store


@pytest.fixture(scope="session")
def prompt_file(tmp_path_factory):
    """A prompt artifact trained for 1 step on the tiny encoder."""
    from intertask.training.single_run import train_one

    path = tmp_path_factory.mktemp("prompt") / "p.safetensors"
    train_one("toy_topic2", backbone="tiny-encoder", device="cpu", out=path, steps=1, prompt_length=4, max_length=32)
    return path
