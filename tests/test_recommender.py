"""recommend's own answer scored leave-one-target-out: its rule is chosen and learns without seeing the
held-out target, over a study's selectors and over a library's history; the library's combination.json,
`evaluate --library` and `library add-combination`."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.evaluation import Predictions, evaluate
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend.add_combination import save_combination
from intertask.recommend.loto import predictions_from_library, recommender_predictions

SOURCES = [f"s{i}" for i in range(10)]


def _study(n_targets=12, seed=0):
    """Ground truth where gain = a + b per source, and three selectors: `sees_a` (a + noise),
    `sees_b` (b + noise) and `backwards` (−gain). Combining the first two beats either alone; the
    equal-weight mean rank is dragged down by `backwards`."""
    rng = np.random.default_rng(seed)
    truth, predictions = [], []
    for t in range(n_targets):
        a, b = rng.normal(size=10), rng.normal(size=10)
        gain = 3 * (a + b)
        baseline = 60.0 + rng.normal()
        truth.append(pd.DataFrame({"target": f"t{t}", "source": SOURCES, "seed": 0, "score": baseline + gain,
                                   "baseline": baseline, "gain": gain}))
        for method, values in (("sees_a", a + 0.3 * rng.normal(size=10)), ("sees_b", b + 0.3 * rng.normal(size=10)),
                               ("backwards", -gain), ("random", rng.normal(size=10))):
            predictions.append(pd.DataFrame({"method": method, "target": f"t{t}", "seed": 0, "source": SOURCES,
                                             "predicted": values}))
    return pd.concat(truth, ignore_index=True), pd.concat(predictions, ignore_index=True)


def _evaluate(matrix, predictions):
    matrix = TransferMatrix.from_frame(matrix)
    built = recommender_predictions(Predictions(predictions), matrix)
    return evaluate(matrix, built, n_boot=300), built


def test_recommend_learns_to_combine_its_parts():
    matrix, predictions = _study()
    evaluation, built = _evaluate(matrix, predictions)
    assert built.config["members"] == ["sees_a", "sees_b", "backwards"]
    assert set(built.config["held_out_rules"].values()) == {"learned"}  # chosen on the other targets each time
    assert built.config["combination"]["rule"] == "learned" and built.config["combination"]["n_targets"] == 12
    means = evaluation.summary[evaluation.summary.metric == "spearman"].set_index("method")["mean"]
    assert means["recommend"] > max(means["sees_a"], means["sees_b"]) + 0.1
    assert means["recommend"] > means["recommend_mean_rank"] + 0.3  # the mean rank is dragged by backwards
    top1 = evaluation.summary.set_index(["method", "metric"])
    assert top1.loc[("recommend", "top1_gain_over_random"), "mean"] > 0
    assert top1.loc[("recommend", "top1_gain"), "n_targets"] == 12


def test_held_out_target_is_never_seen():
    matrix, predictions = _study(n_targets=6)
    rows = _evaluate(matrix, predictions)[1].rows
    changed = matrix.copy()
    mask = changed.target == "t3"
    changed.loc[mask, "gain"] = np.random.default_rng(9).permutation(changed.loc[mask, "gain"].to_numpy())
    changed.loc[mask, "score"] = changed.loc[mask, "baseline"] + changed.loc[mask, "gain"]
    again = _evaluate(changed, predictions)[1].rows
    t3 = (rows.target == "t3").to_numpy()
    np.testing.assert_allclose(again.predicted[t3], rows.predicted[t3])  # its own truth plays no part
    assert not np.allclose(again.predicted[~t3], rows.predicted[~t3])  # it trains the other folds


def test_one_target_is_too_few():
    matrix, predictions = _study(n_targets=1)
    with pytest.raises(IntertaskError, match="has 1 target\\(s\\); leave-one-target-out needs at least 2"):
        recommender_predictions(Predictions(predictions), TransferMatrix.from_frame(matrix))


# ---- a library's history, end to end on the tiny backbone ----------------------------------
@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_study_toml):
    from intertask.recommend import build_library

    root = tmp_path_factory.mktemp("study")
    (root / "tiny.toml").write_text(tiny_study_toml(
        name="tiny-loto", sources=["toy_sentiment_food", "toy_topic4", "toy_sentiment_travel"],
        targets=["toy_topic2", "toy_parity", "toy_sentiment_travel"], target_seeds=(0,), steps=6,
        snapshot_steps=None, target_options='{ head_init = "probe" }'))
    return build_library(root / "tiny.toml", root / "lib", with_history=True, progress=False)


def test_evaluate_library_saves_a_combination_recommend_reads(library, tmp_path):
    from intertask.recommend import load_library, recommend

    copy = shutil.copytree(library, tmp_path / "lib")
    built = predictions_from_library(load_library(copy), ["max_pairwise", "text_embedding", "data_size", "random"],
                                     budget_steps=4, runs=2)
    evaluation = evaluate(built.truth, built.predictions, n_boot=100)
    methods = set(evaluation.cases.method)
    assert {"recommend", "recommend_learned", "expected_gain", "max_pairwise", "random"} <= methods
    assert set(evaluation.cases.target) == {"toy_topic2", "toy_parity", "toy_sentiment_travel"}
    own = evaluation.cases[evaluation.cases.target == "toy_sentiment_travel"]
    assert (own.n_sources == 2).all()  # the target is never its own source
    assert {"recommend_mean_rank", "recommend_learned"} <= methods
    decision = evaluation.config["combination"]
    assert decision == built.rule and not (copy / "combination.json").exists()  # evaluating stores nothing
    assert decision["rule"] in {"mean_rank", "expected_gain", "learned", "max_pairwise", "text_embedding", "data_size"}
    assert decision["fallback"] in {"mean_rank", "max_pairwise", "text_embedding", "data_size"}
    assert decision["n_targets"] == 3 and decision["members"] == ["max_pairwise", "text_embedding", "data_size"]
    assert decision["budget_steps"] == 4 and decision["target_runs"] == 2 and decision["calibration"]["n_targets"] == 3
    assert set(evaluation.config["held_out_rules"]) == {"toy_topic2", "toy_parity", "toy_sentiment_travel"}
    save_combination(copy, decision)
    stored = load_library(copy).combination
    assert stored["rule"] == decision["rule"] and stored["candidates"] == json.loads(json.dumps(decision["candidates"]))
    rec = recommend("toy_topic2", library_dir=copy, methods=["max_pairwise", "text_embedding", "data_size"],
                    budget_steps=4, seeds=1, progress=False)
    assert rec.stats["rule"] in {decision["rule"], decision["fallback"]}
    assert rec.verdict.ranked_by == rec.stats["combination"] and rec.verdict.ranked_by
    with pytest.raises(IntertaskError, match="not a ranking rule to save: field 'fallback' must not read the history"):
        save_combination(library, {**decision, "fallback": "expected_gain"})
    assert not (library / "combination.json").exists()


def test_cli_evaluate_library_and_add_combination(library, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    copy = shutil.copytree(library, tmp_path / "lib")
    options = ["--methods", "text_embedding,data_size,random", "--budget-steps", "3", "--target-runs", "1"]
    assert run(["evaluate", "--library", str(copy), *options]) == 0
    out = capsys.readouterr().out
    assert "recommend vs each selector, leave-one-target-out over 3 targets" in out
    assert "rule chosen with each target held out (inner folds only)" in out
    assert not (copy / "combination.json").exists()  # evaluating stores nothing
    assert run(["library", "add-combination", str(copy), *options, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "leave-one-target-out over 3 targets" in out and "ranking rule written to" in out
    assert (copy / "combination.json").is_file()
    assert run(["library", "show", str(copy)]) == 0
    assert "ranking rule: " in capsys.readouterr().out
    assert run(["evaluate", "--library", str(copy), "--store", str(copy)]) == 2
    assert "give exactly one of --store" in capsys.readouterr().err
    assert run(["evaluate", "--store", str(copy), "--budget-steps", "3"]) == 2
    assert "--budget-steps goes with --library, not --store" in capsys.readouterr().err
    assert run(["evaluate", "--store", str(copy), "--runs-file", str(tmp_path / "runs.json")]) == 2
    assert "--runs-file goes with --library, not --store" in capsys.readouterr().err


def test_evaluate_library_keeps_its_short_runs(library, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    runs = tmp_path / "runs.json"
    args = ["evaluate", "--library", str(library), "--methods", "text_embedding,data_size,random",
            "--budget-steps", "3", "--target-runs", "1", "--runs-file", str(runs)]
    assert run(args) == 0 and runs.is_file()
    first = capsys.readouterr().out

    def no_training(*args, **kwargs):
        raise AssertionError("the short runs were kept; nothing should train")

    monkeypatch.setattr(sys.modules["intertask.recommend.recommend"], "train_packed", no_training)
    assert run(args) == 0
    assert capsys.readouterr().out == first
    copy = shutil.copytree(library, tmp_path / "lib")  # add-combination reads the same runs file
    assert run(["library", "add-combination", str(copy), *args[3:], "--device", "cpu"]) == 0
    assert "ranking rule written to" in capsys.readouterr().out and (copy / "combination.json").is_file()
    assert run(args[:-2] + ["--runs-file", str(tmp_path / "runs.csv")]) == 2
    assert f"--runs-file {tmp_path / 'runs.csv'} must end in .json" in capsys.readouterr().err
    assert run(args[:-2] + ["--runs-file", str(tmp_path / "no" / "runs.json")]) == 2
    assert "does not exist; create it or choose another --runs-file" in capsys.readouterr().err
    (tmp_path / "other.json").write_text("{}")
    assert run(args[:-2] + ["--runs-file", str(tmp_path / "other.json")]) == 2
    assert "is not a file of target runs" in capsys.readouterr().err
    assert (tmp_path / "other.json").read_text() == "{}"


def test_a_runs_file_of_other_steps_runs_again(library, tmp_path, capsys):
    runs = tmp_path / "runs.json"
    args = ["evaluate", "--library", str(library), "--methods", "data_size,text_embedding,random", "--target-runs",
            "1", "--runs-file", str(runs), "--json"]
    assert run(args + ["--budget-steps", "2"]) == 0
    assert run(args + ["--budget-steps", "3"]) == 0  # the kept runs do not fit: trained again, with a backbone
    assert {t["budget_steps"] for t in json.loads(runs.read_text())["targets"]} == {3}
