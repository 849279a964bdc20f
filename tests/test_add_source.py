"""A library grown source by source (`library create`, `library add-source`): the source protocol,
one atomic write per source, resuming, bad input, and a user's own folder of datasets end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.recommend import build_library, load_library
from intertask.recommend import add_source as add_source_module
from intertask.recommend.add_source import DEFAULT_TARGET_TRAINING, add_sources, create_library
from intertask.recommend.build import source_protocol
from intertask.recommend.library_format import DEFAULT_SOURCE_TRAINING, TRAINING_FIELDS
from intertask.study.config import StudyConfig
from intertask.study.plan import resolve_train_config
from intertask.tasks.toy import toy_task

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["toy_sentiment_food", "toy_topic4"]


@pytest.fixture(scope="module")
def protocol(tmp_path_factory, tiny_study_toml):
    """A tiny study config: its source phase (2 seeds, 8 steps, patience 2) is the library's protocol."""
    path = tmp_path_factory.mktemp("protocol") / "tiny.toml"
    path.write_text(tiny_study_toml(sources=SOURCES, targets=["toy_topic2"], source_seeds=(0, 1), steps=8,
                                    learning_rate=0.3, snapshot_steps=None,
                                    target_options='{ head_init = "probe" }').replace(
        "[source_training]\n", "[source_training]\noptions = { patience = 2 }\n"))
    return path


@pytest.fixture(scope="module")
def grown(protocol, tmp_path_factory):
    """A library created empty and grown by `add_sources` with both SOURCES."""
    out = create_library(tmp_path_factory.mktemp("grown") / "lib", study_config=protocol)
    add_sources(out, SOURCES)
    return out


def test_defaults_are_the_shipped_librarys_protocol():
    config = StudyConfig.from_toml(ROOT / "configs" / "library.toml")
    assert source_protocol(config) == DEFAULT_SOURCE_TRAINING
    target = resolve_train_config(config, config.target_training, seed=0, snapshots=False).to_dict()
    assert {k: target[k] for k in TRAINING_FIELDS} == DEFAULT_TARGET_TRAINING
    shipped = load_library(ROOT / "src" / "intertask" / "library" / "minilm-offline-suite")
    assert shipped.source_training == DEFAULT_SOURCE_TRAINING and shipped.training == DEFAULT_TARGET_TRAINING


def test_add_source_trains_like_a_study_under_the_protocol(grown, protocol, tmp_path):
    """The sources a study trains with the same protocol are the sources add-source trains."""
    built = load_library(build_library(protocol, tmp_path / "built", progress=False))
    lib = load_library(grown)
    assert lib.source_names == SOURCES and lib.history.empty
    assert lib.source_training == built.source_training == source_protocol(StudyConfig.from_toml(protocol))
    assert lib.training == built.training and lib.backbone == built.backbone
    for name in SOURCES:
        ours, theirs = lib.source(name), built.source(name)
        assert sorted(ours.prompts) == [0, 1] and ours.best_seed == theirs.best_seed
        assert ours.scores == pytest.approx(theirs.scores)
        for seed in (0, 1):
            np.testing.assert_allclose(ours.prompts[seed], theirs.prompts[seed], atol=1e-5)
        np.testing.assert_allclose(ours.text_embedding, theirs.text_embedding, atol=1e-5)
        np.testing.assert_allclose(ours.esm_map, theirs.esm_map, atol=1e-4)
        np.testing.assert_array_equal(ours.fingerprints, theirs.fingerprints)
        assert ours.vocabulary == theirs.vocabulary and ours.n_train == len(toy_task(name).train)


def test_a_killed_run_keeps_what_it_added_and_a_rerun_adds_the_rest(protocol, tmp_path, monkeypatch):
    out = create_library(tmp_path / "lib", study_config=protocol)
    real, trained = add_source_module.train_source, []

    def dies_on_the_second(task, *args, **kwargs):
        if trained:
            raise KeyboardInterrupt  # killed while training the second source
        trained.append(task.name)
        return real(task, *args, **kwargs)

    monkeypatch.setattr(add_source_module, "train_source", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        add_sources(out, SOURCES)
    assert load_library(out).source_names == SOURCES[:1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib"]  # no temporary folder left beside it
    monkeypatch.setattr(add_source_module, "train_source", lambda task, *a, **k: trained.append(task.name) or real(task, *a, **k))
    report = add_sources(out, SOURCES)
    assert report.skipped == SOURCES[:1] and report.added == SOURCES[1:] and trained == SOURCES
    assert load_library(out).source_names == SOURCES


def test_bad_input_costs_no_training_and_changes_nothing(grown, protocol, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in grown.iterdir()}
    with pytest.raises(IntertaskError, match="unknown task 'toy_topc2'"):
        add_sources(grown, ["toy_topic2", "toy_topc2"])
    assert run(["library", "add-source", str(grown), "missing.csv"]) == 2
    assert "file not found: missing.csv" in capsys.readouterr().err
    single = tmp_path / "one_label.csv"
    single.write_text("text,label\n" + "".join(f"text {i},a\n" for i in range(30)))
    with pytest.raises(IntertaskError, match="single label"):
        add_sources(grown, [str(single)])
    (tmp_path / "b").mkdir()
    twin = tmp_path / "b" / "one_label.csv"
    twin.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(30)))
    single.write_text(twin.read_text())
    with pytest.raises(IntertaskError, match="two sources would be named 'one_label'"):
        add_sources(grown, [str(single), str(twin)])
    assert {p.name: p.read_bytes() for p in grown.iterdir()} == before
    with pytest.raises(IntertaskError, match="already holds a library"):
        create_library(grown, study_config=protocol)
    assert run(["library", "create", str(tmp_path / "x"), "--backbone", "no-such-model"]) == 2
    assert not (tmp_path / "x").exists()


def test_a_bad_source_protocol_is_refused(grown, tmp_path):
    import shutil

    copy = Path(shutil.copytree(grown, tmp_path / "copy"))
    manifest = json.loads((copy / "manifest.json").read_text())
    for bad, message in (({"seeds": [], "train": {}}, "field 'source_training' must be an object of seeds"),
                         ({"seeds": [0], "train": {"steps": 0}}, "source_training.train' holds a bad value"),
                         ({"seeds": [0], "train": {"seed": 3}}, "sets seed, backbone or prompt_length")):
        (copy / "manifest.json").write_text(json.dumps({**manifest, "source_training": bad}))
        with pytest.raises(IntertaskError, match=message):
            load_library(copy)


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def _rows(name: str, text: str = "text", label: str = "label") -> list[dict]:
    task = toy_task(name)
    return [{text: ex.text, label: task.labels[ex.label]} for split in ("train", "validation", "test")
            for ex in getattr(task, split)]


def test_bring_your_own_sources_end_to_end(protocol, tmp_path, capsys):
    """A folder of CSV/JSONL datasets becomes a library; a target gets recommendations from it."""
    folder = tmp_path / "candidates"
    folder.mkdir()
    files = [_write(folder / "reviews.csv", _rows("toy_sentiment_food", "sentence", "stars")),
             _write(folder / "news.jsonl", _rows("toy_topic4", "sentence", "stars"))]
    target = _write(tmp_path / "mine.csv", _rows("toy_sentiment_travel", "sentence", "stars"))
    lib = tmp_path / "lib"
    assert run(["library", "create", str(lib), "--protocol", str(protocol)]) == 0
    assert run(["library", "add-source", str(lib), *map(str, files), "--text-column", "sentence",
                "--label-column", "stars"]) == 0
    assert "added 2 source(s)" in capsys.readouterr().out
    assert run(["library", "show", str(lib), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in shown["sources"]] == ["reviews", "news"] and shown["fingerprints"]
    past = _write(folder.parent / "past.csv", _rows("toy_topic2", "sentence", "stars"))  # a target measured before
    assert run(["library", "measure", str(lib), "--target", str(past), "--text-column", "sentence",
                "--label-column", "stars", "--seeds", "2"]) == 0
    history = load_library(lib).history.frame
    assert sorted(set(zip(history["source"], history["seed"]))) == [(s, r) for s in ("news", "reviews") for r in (0, 1)]
    assert set(history["target"]) == {"past"} and "past: " in capsys.readouterr().out
    assert run(["recommend", "--library", str(lib), "--target", str(target), "--text-column", "sentence",
                "--label-column", "stars", "--seeds", "2", "--budget-steps", "4", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["target"] == "mine" and {r["source"] for r in rec["ranking"]} == {"reviews", "news"}
    assert rec["stats"]["leak_check"] and rec["stats"]["leaks"] == []
    assert all(r["leak_share"] == 0.0 for r in rec["ranking"])
    assert rec["stats"]["history_targets"] == ["past"]
    assert all(r["expected_gain"] is not None for r in rec["ranking"])  # from the measured history
