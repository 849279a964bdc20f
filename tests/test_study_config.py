"""StudyConfig: TOML loading, validation errors, JSON round-trip; the shipped configs; the plan."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from intertask.errors import IntertaskError
from intertask.study.config import PhaseConfig, StudyConfig, TrainingConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

@pytest.fixture
def tiny(tiny_study_toml):
    """A valid tiny study's TOML text, for the tests to load and break."""
    return tiny_study_toml(targets=["toy_sentiment_travel"], pack_size=4)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_tiny_config_loads_with_values_and_defaults(tmp_path, tiny):
    config = StudyConfig.from_toml(write(tmp_path, tiny))
    assert config.sources == ("toy_sentiment_food", "toy_topic4")
    assert config.target_seeds == (0, 1)
    assert config.target_training.snapshot_steps == (4,)
    assert config.source_training.batch_size is None  # inherits [training]
    assert config.training.options == {}


def test_json_round_trip(tmp_path, tiny):
    config = StudyConfig.from_toml(write(tmp_path, tiny))
    again = StudyConfig.from_json(config.to_json())
    assert again == config
    assert again.to_json() == config.to_json()


@pytest.mark.parametrize(
    "edit, message",
    [
        (("sources = [", "sourcs = ["), r"unknown key 'sourcs' \(did you mean: sources, source_seeds\?\); allowed: name, "),
        (("eval_every = 4", "eval_evry = 4"), r"unknown key 'training.eval_evry' \(did you mean: eval_every\?\)"),
        (('sources = ["toy_sentiment_food", "toy_topic4"]', "sources = []"), r"'sources' is empty"),
        (("target_seeds = [0, 1]", "target_seeds = []"), r"'target_seeds' is empty"),
        (("target_seeds = [0, 1]", "target_seeds = [1, 1]"), r"'target_seeds' repeats a seed"),
        (("target_seeds = [0, 1]", 'target_seeds = ["a"]'), r"'target_seeds' must be a list of integers"),
        (('targets = ["toy_sentiment_travel"]', 'targets = ["toy_topic2", "toy_topic2"]'),
         r"'targets' lists toy_topic2 more than once"),
        (("pack_size = 4", "pack_size = 0"), r"'pack_size' must be an integer >= 1, got 0"),
        (('device = "cpu"', 'device = "gpu"'), r"'device' must be one of auto, cpu, cuda, cuda:N, mps, got 'gpu'"),
        (("snapshot_steps = [4]", "snapshot_steps = [40]"), r"'target_training.snapshot_steps' \[40\] exceed its 8"),
        (("learning_rate = 0.3\n\n[target", "learning_rate = -1\n\n[target"),
         r"'source_training.learning_rate' must be a number > 0"),
        (("learning_rate = 0.3\n\n[target", "\n[target"), r"'source_training.learning_rate' is missing"),
        (("eval_every = 4", "eval_every = 50"), r"evaluates every 50 steps but trains only 8"),
        (('name = "tiny"', 'name = "my study"'), r"'name' must be letters, digits, '_', '-' or '.', got 'my study'"),
        (('name = "tiny"\n', ""), r"missing required key 'name'"),
    ],
)
def test_validation_errors_name_the_key(tmp_path, edit, message, tiny):
    old, new = edit
    assert old in tiny
    with pytest.raises(IntertaskError, match=message):
        StudyConfig.from_toml(write(tmp_path, tiny.replace(old, new, 1)))


def _in_code(**changes):
    values = dict(name="coded", sources=("toy_topic4",), targets=("toy_topic2",),
                  source_training=PhaseConfig(steps=8, learning_rate=0.3),
                  target_training=PhaseConfig(steps=8, learning_rate=0.3), training=TrainingConfig(eval_every=4))
    return StudyConfig(**{**values, **changes})


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: _in_code(source_training=PhaseConfig(steps=-5, learning_rate=0.3)), r"^'steps' must be an integer >= 1, got -5"),
        (lambda: _in_code(pack_size=0), r"^'pack_size' must be an integer >= 1, got 0"),
        (lambda: _in_code(device="gpu9"), r"^'device' must be one of auto, cpu, cuda, cuda:N, mps, got 'gpu9'"),
        (lambda: _in_code(sources=()), r"^'sources' is empty"),
        (lambda: _in_code(target_seeds=(0, 0)), r"^'target_seeds' repeats a seed: 0$"),
        (lambda: _in_code(training=TrainingConfig(eval_every=50)), r"^'source_training' evaluates every 50 steps"),
        (lambda: _in_code(task_options={"toy_topic9": {}}), r"^'task_options' has options for 'toy_topic9'"),
        (lambda: TrainingConfig(max_length=0), r"^'max_length' must be an integer >= 1, got 0"),
    ],
)
def test_configs_built_in_code_check_their_values(build, message):
    with pytest.raises(IntertaskError, match=message):
        build()


def test_config_built_in_code_normalises_and_allows_a_sources_only_study():
    config = _in_code(targets=(), sources=["toy_topic4"], target_training=PhaseConfig(8, 1, snapshot_steps=[4, 2, 4]))
    assert config.sources == ("toy_topic4",) and config.targets == ()
    assert config.target_training.snapshot_steps == (2, 4) and config.target_training.learning_rate == 1.0
    assert StudyConfig.from_json(config.to_json()) == config


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(IntertaskError, match="does not exist"):
        StudyConfig.from_toml(tmp_path / "nope.toml")
    with pytest.raises(IntertaskError, match="is not valid TOML"):
        StudyConfig.from_toml(write(tmp_path, "name = [unclosed"))


def test_unknown_task_suggests_close_names(tmp_path, tiny):
    config = StudyConfig.from_toml(write(tmp_path, tiny.replace("toy_topic4", "toy_topc4")))
    with pytest.raises(IntertaskError, match=r"unknown task 'toy_topc4' in 'sources' \(did you mean: toy_topic4"):
        config.check_tasks()


def test_source_listed_as_target_is_allowed_but_flagged(tmp_path, tiny):
    config = StudyConfig.from_toml(write(tmp_path, tiny.replace('"toy_sentiment_travel"]', '"toy_topic4"]')))
    config.check_tasks()
    assert any("toy_topic4 listed as both source and target" in w for w in config.warnings())


@pytest.mark.parametrize("name, n_runs", [("quickstart", 3 + 4 + 12), ("offline-suite", 24 + 39 + 468),
                                           ("library", 24 + 18 + 216), ("library-large", 66 + 60 + 1980),
                                           ("paper", 433)])
def test_shipped_configs_load_and_plan(name, n_runs):
    """Every run the config plans, best-seed transfers counted once their sources are known."""
    from intertask.study.plan import plan_study

    config = StudyConfig.from_toml(CONFIGS / f"{name}.toml")
    assert config.name == name
    config.check_tasks()  # paper.toml's hub specs are resolved only when the study runs
    best = {source: config.source_seeds[0] for source in config.sources}
    assert len(plan_study(config, best)) == n_runs


def test_offline_suite_config_is_the_design_grid():
    config = StudyConfig.from_toml(CONFIGS / "offline-suite.toml")
    assert (len(config.sources), len(config.targets), len(config.target_seeds)) == (12, 13, 3)
    paper = StudyConfig.from_toml(CONFIGS / "paper.toml")
    assert (len(paper.sources), len(paper.targets)) == (13, 10)
    assert all(name.startswith("hf:") for name in paper.sources + paper.targets)


@pytest.mark.parametrize(
    "options, message",
    [
        ('{ optimiser = "adamw" }', r"unknown TrainConfig field\(s\) optimiser"),
        ("{ steps = 5 }", r"training options set 'steps', which the study sets itself"),
        ('{ optimizer = "sgd" }', r"TrainConfig.optimizer must be one of adamw \| adafactor"),
    ],
)
def test_bad_training_options_fail_when_planning(tmp_path, options, message, tiny):
    from intertask.study.plan import plan_study

    text = tiny.replace("eval_every = 4\n", f"eval_every = 4\noptions = {options}\n", 1)
    with pytest.raises(IntertaskError, match=message):
        plan_study(StudyConfig.from_toml(write(tmp_path, text)))
