"""Source libraries: built from a tiny study store, round-trip, and every broken library refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.recommend import build_library, load_library
from intertask.recommend.library import ESM_FILE, FILES, FINGERPRINT_FILE, vocabulary_counts
from intertask.selection.embedding_free import top_words
from intertask.study.export import transfer_matrix
from intertask.study.runner import run_study
from intertask.study.store import Store
from intertask.tasks.toy import toy_task
from intertask.training.artifacts import load_artifact

SOURCES = ["toy_sentiment_food", "toy_topic4", "toy_parity"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_study_toml):
    """A finished tiny study: its config path and store."""
    root = tmp_path_factory.mktemp("study")
    config = root / "tiny.toml"
    config.write_text(tiny_study_toml(sources=SOURCES, targets=["toy_topic2", "toy_sentiment_travel"],
                                      source_seeds=(0, 1), steps=8, target_steps=4, learning_rate=0.05,
                                      snapshot_steps=None, target_options='{ head_init = "probe" }'))
    run_study(config, root / "store", progress=False)
    return config, root / "store"


@pytest.fixture(scope="module")
def library(study, tmp_path_factory):
    return build_library(study[1], tmp_path_factory.mktemp("lib") / "tiny")


def _copy(library, tmp_path):
    return shutil.copytree(library, tmp_path / "copy")


def test_history_leaves_out_cases_whose_baseline_did_not_learn(tmp_path, tiny_study_toml):
    """Random heads at a tiny learning rate stay at the floor on some (target, seed) cases: their
    transfers measure nothing, so the library's history leaves them out."""
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_study_toml(sources=SOURCES[:2], targets=["toy_topic2", "toy_sentiment_travel"],
                                      steps=4, learning_rate=0.05, snapshot_steps=None))
    run_study(config, tmp_path / "store", progress=False)
    matrix = transfer_matrix(tmp_path / "store").frame
    assert 0 < (~matrix["baseline_learned"]).sum() < len(matrix)
    history = load_library(build_library(tmp_path / "store", tmp_path / "lib")).history.frame
    learned = matrix[matrix["baseline_learned"]]
    assert sorted(zip(history["target"], history["seed"], history["source"])) == \
        sorted(zip(learned["target"], learned["seed"], learned["source"]))
    assert history["learned"].notna().all() and (history["floor"] > 0).all()


def test_round_trip_from_store(study, library):
    store = Store(study[1])
    lib = load_library(library, backbone_name="tiny-encoder")
    assert lib.source_names == sorted(SOURCES)
    assert lib.backbone == {"name": "tiny-encoder", "hidden_size": 32, "prompt_length": 4}
    # recommend's target runs reuse the study's target phase, probe head included
    assert lib.training["max_length"] == 32 and lib.training["prompt_lr"] == 0.05 and lib.training["head_init"] == "probe"
    rows = {(r["task"], r["seed"]): r for r in store.rows() if r["kind"] == "source"}
    for source in lib.sources:
        assert sorted(source.prompts) == [0, 1] and source.n_train == len(toy_task(source.name).train)
        for seed, prompt in source.prompts.items():
            expected = load_artifact(store.artifact_path(rows[(source.name, seed)]["run_id"])).prompt.numpy()
            np.testing.assert_array_equal(prompt, expected)
            assert source.scores[seed] == rows[(source.name, seed)]["validation_score"]
        assert source.text_embedding.shape == (32,)
        # the stored word counts give the selector the same vocabulary as the real texts
        texts = [ex.text for ex in toy_task(source.name).train]
        assert top_words(source.profile().texts, 50) == top_words(texts, 50)
    matrix = transfer_matrix(store).frame
    assert matrix["baseline_learned"].all()  # probe heads: every toy baseline clears its floor
    assert len(lib.history) == len(matrix) == 3 * 2 * 2 * 2
    np.testing.assert_allclose(sorted(lib.history.frame["gain"]), sorted(matrix["gain"]))
    assert set(lib.target_embeddings) == {"toy_topic2", "toy_sentiment_travel"}
    manifest = json.loads((library / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and set(manifest["files"]) == set(FILES) | {ESM_FILE, FINGERPRINT_FILE}
    assert manifest["history_targets"] == ["toy_sentiment_travel", "toy_topic2"]


def _without_esm(library, tmp_path):
    """A copy of `library` as a build before ESM-LogME wrote it, plus a manifest entry this
    intertask does not know (which adding a file must keep)."""
    copy = _copy(library, tmp_path)
    (copy / ESM_FILE).unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"][ESM_FILE]
    manifest["unknown_entry"] = {"kept": True}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_esm_maps_built_and_added_to_an_old_library(library, tmp_path):
    from intertask.backbones import load_backbone
    from intertask.recommend.esm_maps import add_esm_maps, source_esm_map

    built = load_library(library)
    backbone = load_backbone("tiny-encoder")
    for source in built.sources:
        assert source.esm_map.shape == (33, 32) and source.profile().esm_map is source.esm_map
        np.testing.assert_allclose(source.esm_map, source_esm_map(toy_task(source.name), backbone, source.prompt),
                                   atol=1e-5)
    old = _without_esm(library, tmp_path)
    assert all(s.esm_map is None for s in load_library(old).sources)
    assert run(["library", "show", str(old)]) == 0
    add_esm_maps(old, backbone=backbone)
    added = load_library(old)
    for a, b in zip(added.sources, built.sources):
        np.testing.assert_allclose(a.esm_map, b.esm_map, atol=1e-5)
    manifest = json.loads((old / "manifest.json").read_text())
    assert manifest["unknown_entry"] == {"kept": True} and ESM_FILE in manifest["files"]
    assert sorted(p.name for p in old.iterdir()) == sorted(set(FILES) | {ESM_FILE, FINGERPRINT_FILE, "manifest.json"})


def test_corrupted_or_missing_esm_maps_are_refused(library, tmp_path):
    copy = _copy(library, tmp_path)
    data = bytearray((copy / ESM_FILE).read_bytes())
    data[-1] ^= 0xFF
    (copy / ESM_FILE).write_bytes(bytes(data))
    with pytest.raises(IntertaskError, match=f"is corrupted: {ESM_FILE} does not match its checksum"):
        load_library(copy)
    (copy / ESM_FILE).unlink()
    with pytest.raises(IntertaskError, match=f"is incomplete: {ESM_FILE} is missing"):
        load_library(copy)


def test_build_from_config_runs_sources_only(study, tmp_path):
    out = build_library(study[0], tmp_path / "lib", progress=False)
    lib = load_library(out)
    assert lib.source_names == sorted(SOURCES) and len(lib.history) == 0 and lib.target_embeddings == {}
    kinds = {r["kind"] for r in Store(out / ".store").rows()}
    assert kinds == {"source"}
    again = build_library(study[0], out, progress=False)  # rebuilt in place, the store is kept and reused
    assert (again / ".store" / "study.sqlite").is_file() and load_library(again).source_names == lib.source_names


def test_corrupted_file(library, tmp_path):
    copy = _copy(library, tmp_path)
    data = bytearray((copy / "prompts.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "prompts.safetensors").write_bytes(bytes(data))
    with pytest.raises(IntertaskError, match="is corrupted: prompts.safetensors does not match its checksum"):
        load_library(copy)


def test_edited_manifest(library, tmp_path):
    copy = _copy(library, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["sources"][0]["seeds"] = [0, 7]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntertaskError, match="manifest.json does not match the library's files"):
        load_library(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(IntertaskError, match="manifest.json is unreadable"):
        load_library(copy)


@pytest.mark.parametrize("name", FILES)
def test_missing_file(library, tmp_path, name):
    copy = _copy(library, tmp_path)
    (copy / name).unlink()
    with pytest.raises(IntertaskError, match=f"is incomplete: {name} is missing"):
        load_library(copy)


def test_not_a_library_and_other_backbone(library, tmp_path):
    with pytest.raises(IntertaskError, match="no source library at .* \\(no manifest.json\\)"):
        load_library(tmp_path)
    with pytest.raises(IntertaskError, match="built for backbone 'tiny-encoder', not 'minilm'"):
        load_library(library, backbone_name="minilm")


def test_write_refuses_a_foreign_directory(study, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(IntertaskError, match="exists and is not a library"):
        build_library(study[1], tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left behind


def test_a_bad_out_is_refused_before_any_training(study, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "mine", "exists and is not a library"),
                         (tmp_path / "file" / "lib", "a file stands where its folder should be")):
        with pytest.raises(IntertaskError, match=message):
            build_library(study[0], out, store_path=tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists()  # the config's study never started


def test_store_without_sources(tmp_path):
    with pytest.raises(IntertaskError, match="'.*nowhere' is neither a study config \\(.toml\\) nor a study store"):
        build_library(tmp_path / "nowhere", tmp_path / "lib")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IntertaskError, match="no study store at"):
        build_library(tmp_path / "empty", tmp_path / "lib")
    assert not (tmp_path / "lib").exists()


def test_vocabulary_counts():
    assert vocabulary_counts(["The cat", "the dog", "a Dog"], 2) == [("dog", 2), ("the", 2)]


def test_cli_build_and_show(study, tmp_path, capsys):
    out = tmp_path / "cli-lib"
    assert run(["library", "build", "--store", str(study[1]), "--out", str(out), "--device", "cpu"]) == 0
    assert "3 sources" in capsys.readouterr().out
    assert run(["library", "show", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in info["sources"]] == sorted(SOURCES) and info["history_rows"] == 24
    assert run(["library", "show", str(out)]) == 0
    assert "checksums OK" in capsys.readouterr().out
    (out / "history.json").unlink()
    assert run(["library", "show", str(out)]) == 2
    assert "history.json is missing" in capsys.readouterr().err
    assert run(["library", "build", "--out", str(out)]) == 2
    assert "give a study CONFIG" in capsys.readouterr().err


def test_recommend_reads_a_built_library(library):
    from intertask.recommend import recommend

    rec = recommend("toy_topic2", library_dir=library, budget_steps=4, seeds=2, progress=False,
                    methods=["max_pairwise", "text_embedding", "logme"])
    assert sorted(rec.ranking["source"]) == sorted(SOURCES)
    # toy_topic2 is a historical target: every source has a measured expected gain and risk
    assert rec.ranking["expected_gain"].notna().all() and rec.ranking["p_negative"].between(0, 1).all()
    assert rec.stats["history_targets"] == ["toy_sentiment_travel", "toy_topic2"]


def test_append_history_keeps_every_row_once_and_the_manifest_in_step(library, tmp_path):
    """Rows of a case whose baseline did not learn are kept (a measurement must know it was done) and
    left out where transfer is read; a row given again keeps the first one."""
    from intertask.recommend import append_history

    copy = _copy(library, tmp_path)
    before = load_library(copy).history
    rows = [{"target": "toy_parity", "source": "toy_topic4", "seed": seed, "score": 70.0, "baseline": 60.0,
             "baseline_learned": learned} for seed, learned in ((0, True), (1, False))]
    append_history(copy, rows, "toy_parity", None)
    after = load_library(copy).history  # checksums verified: every file and manifest.json moved together
    assert len(after) == len(before) + 2 and len(after.learned_only()) == len(before.learned_only()) + 1
    assert json.loads((copy / "manifest.json").read_text())["history_targets"] == after.targets
    append_history(copy, [{**rows[0], "score": 10.0}], "toy_parity", None)
    again = load_library(copy).history.frame
    assert again[again["target"] == "toy_parity"]["score"].tolist() == [70.0, 70.0]
