"""Predictions from a study store through the one door, `intertask evaluate` / `intertask report`, on a tiny
study store made here."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.evaluation import ndcg_score, quality_by_steps
from intertask.evaluation.compare import paired_table
from intertask.evaluation import evaluate
from intertask.evaluation.from_store import parse_methods, predictions_from_store
from intertask.recommend.loto import recommender_predictions
from intertask.selection import SELECTORS
from intertask.selection.prompt_similarity import prompt_similarity
from intertask.study.export import read_study, run_table
from intertask.study.runner import run_study

SOURCES = ["toy_sentiment_food", "toy_topic4", "toy_sentiment_travel"]
TARGETS = ["toy_topic2", "toy_parity"]  # toy_parity is tagged reasoning
PROMPT = ("feature_mean", "flatten", "unigram", "bigram", "max_pairwise")


def evaluate_store(store, methods=None, seeds=None, recommender=False, k=3, n_boot=2000, study=None, **options):
    """What `intertask evaluate --store` does: predictions from the store's runs → `evaluate`."""
    view = read_study(store, study)
    matrix = view.matrix.select(seeds=seeds) if seeds else view.matrix
    predictions = predictions_from_store(view, matrix, methods, **{"progress": False, **options})
    if recommender:
        predictions = recommender_predictions(predictions, matrix)
    return evaluate(matrix, predictions, k=k, n_boot=n_boot)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_study_toml):
    root = tmp_path_factory.mktemp("study")
    (root / "tiny.toml").write_text(tiny_study_toml(name="tiny-eval", sources=SOURCES, targets=TARGETS,
                                                    snapshot_steps=(0, 4), target_options='{ head_init = "probe" }'))
    run_study(root / "tiny.toml", root / "store", progress=False)
    return root / "store"


@pytest.fixture(scope="module")
def evaluation(store):
    return evaluate_store(store, k=1, progress=False, n_boot=200)


def test_every_method_is_evaluated_on_every_case(evaluation, store):
    methods = list(evaluation.summary["method"].unique())
    assert methods[:len(SELECTORS)] == list(SELECTORS)
    # the other snapshot step (0) and the final prompt (step 8) are evaluated besides the default (4)
    best = {int(s) for s in run_table(store).query("kind == 'baseline'")["steps"]} - {0, 4}
    assert best == {8} and set(methods[len(SELECTORS):]) == {f"{m}@{s}" for m in PROMPT for s in (0, 8)}
    counts = evaluation.cases.groupby("method").size()
    # a case whose baseline did not clear its floor measures no transfer: left out, and named
    floored = [tuple(c) for c in evaluation.config["not_learned_cases"]]
    assert all(target == "toy_parity" for target, _ in floored)  # topics are linearly separable, parity is not
    assert (counts == len(TARGETS) * 2 - len(floored)).all()
    cases = evaluation.cases
    assert ((cases["ndcg"] >= 0) & (cases["ndcg"] <= 1 + 1e-9)).all()
    assert (cases["regret_at_k"] >= -1e-9).all() and (cases["n_sources"] == len(SOURCES)).all()
    spearman = cases["spearman"].dropna()
    assert ((spearman >= -1 - 1e-9) & (spearman <= 1 + 1e-9)).all()
    ndcg = evaluation.summary[evaluation.summary.metric == "ndcg"]
    assert (ndcg["ci_low"] <= ndcg["mean"] + 1e-9).all() and (ndcg["mean"] <= ndcg["ci_high"] + 1e-9).all()


def test_costs_steps_tags_and_curve(evaluation):
    table = evaluation.summary[evaluation.summary.metric == "ndcg"].set_index("method")
    assert (table.loc[list(PROMPT), "target_steps"] == 4).all()
    assert (table.loc[["random", "data_size", "text_embedding", "logme"], "target_steps"] == 0).all()
    assert (table["cost_seconds"] >= 0).all()
    assert table.at["text_embedding", "cost_seconds"] > table.at["data_size", "cost_seconds"]
    assert evaluation.tags["toy_parity"] == ("reasoning",)
    assert set(evaluation.by_tag["group"]) == {"reasoning", "other"}
    curve = quality_by_steps(evaluation, "ndcg")
    steps = set(curve[curve["family"] == "max_pairwise"]["target_steps"])
    assert {0, 4} <= steps and len(steps) >= 2
    assert set(evaluation.consistency["target"]) == set(TARGETS)


def test_max_pairwise_case_matches_a_direct_computation(evaluation, store):
    view = read_study(store)
    runs, matrix = view.runs, view.matrix.frame
    target, seed = "toy_topic2", 1
    truth = matrix[(matrix["target"] == target) & (matrix["seed"] == seed)].sort_values("source")
    sources = runs[runs["kind"] == "source"].set_index("task")["run_id"]
    baseline = runs[(runs["kind"] == "baseline") & (runs["task"] == target) & (runs["seed"] == seed)].iloc[0]
    prompts = np.stack([view.artifact(sources[s]).prompt.numpy() for s in truth["source"]])
    snapshot = view.artifact(baseline["run_id"]).snapshots[4].numpy()
    predicted = prompt_similarity(prompts, snapshot, "max_pairwise")
    expected = ndcg_score(truth["score"].to_numpy(), predicted)
    case = evaluation.cases.query("method == 'max_pairwise' and target == @target and seed == @seed").iloc[0]
    assert case["ndcg"] == pytest.approx(expected)


def test_cli_json_table_and_out(store, tmp_path, capsys):
    assert run(["evaluate", "--store", str(store), "--methods", "random,max_pairwise", "--k", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    best = {int(s) for s in run_table(store).query("kind == 'baseline'")["steps"]} - {0, 4}
    assert {r["method"] for r in data["summary"]} == {"random", "max_pairwise"} | {
        f"max_pairwise@{s}" for s in {0} | best}
    assert data["config"]["k"] == 1 and data["tags"]["toy_parity"] == ["reasoning"]
    out = tmp_path / "eval.json"
    assert run(["evaluate", "--store", str(store), "--methods", "data_size,logme", "--k", "2",
                "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for text in ("data_size", "logme", "Regret@2", "95% CI", "reasoning targets", "other targets", "toy_parity"):
        assert text in printed
    assert {r["method"] for r in json.loads(out.read_text())["summary"]} == {"data_size", "logme"}
    csv = tmp_path / "summary.csv"
    assert run(["evaluate", "--store", str(store), "--methods", "vocab_overlap", "--seeds", "1", "--json",
                "--out", str(csv)]) == 0
    summary = pd.read_csv(csv)
    assert set(summary["method"]) == {"vocab_overlap"} and (summary["n"] <= len(TARGETS)).all()
    assert {c["seed"] for c in json.loads(capsys.readouterr().out)["cases"]} == {1}


def test_cli_pairs_every_method_with_another(store, capsys):
    assert run(["evaluate", "--store", str(store), "--methods", "random,data_size,logme", "--k", "1"]) == 0
    printed = capsys.readouterr().out
    assert "each method against random" in printed
    evaluation = evaluate_store(store, methods=["random", "data_size", "logme"], k=1, progress=False)
    pairs = paired_table(evaluation, "ndcg").query("method_b == 'random' and method_a == 'data_size'").iloc[0]
    assert f"{pairs['mean_diff']:+.3f} [{pairs['ci_low']:.3f}, {pairs['ci_high']:.3f}]" in printed
    assert run(["evaluate", "--store", str(store), "--methods", "data_size,logme", "--against", "logme"]) == 0
    assert "each method against logme" in capsys.readouterr().out
    out = store.parent / "never.json"
    assert run(["evaluate", "--store", str(store), "--methods", "data_size", "--against", "radnom",
                "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "--against 'radnom' is not among the evaluated methods" in captured.err
    assert "selection methods on" not in captured.out and not out.exists()  # checked before printing or writing


def test_bad_inputs(store, tmp_path, capsys):
    with pytest.raises(IntertaskError, match=r"unknown selection method 'maxpairwise' \(did you mean: max_pairwise"):
        parse_methods("random,maxpairwise")
    with pytest.raises(IntertaskError, match="only prompt methods .* take @<snapshot step>"):
        parse_methods("logme@4")
    assert run(["evaluate", "--store", str(store), "--methods", "maxpairwise"]) == 2
    assert "did you mean: max_pairwise" in capsys.readouterr().err
    with pytest.raises(IntertaskError, match="no study store at"):
        evaluate_store(tmp_path / "nowhere", progress=False)
    with pytest.raises(IntertaskError, match="has snapshots at \\[0, 4.*not 3"):
        evaluate_store(store, methods=["max_pairwise@3"], progress=False, n_boot=10)
    with pytest.raises(IntertaskError, match=r"seeds name 7, which the matrix does not have; it has \[0, 1\]"):
        evaluate_store(store, seeds=[7], progress=False)
    out = tmp_path / "eval.txt"
    assert run(["evaluate", "--store", str(store), "--out", str(out)]) == 2
    assert "must end in .json or .csv" in capsys.readouterr().err and not out.exists()
    out.write_text("mine")  # an --out below a file: refused before anything runs, the file untouched
    assert run(["evaluate", "--store", str(store), "--out", str(out / "eval.json")]) == 2
    err = capsys.readouterr().err
    assert "error: --out" in err and "eval.txt is a file, not a folder" in err and out.read_text() == "mine"

    bare = tmp_path / "bare"
    shutil.copytree(store, bare)
    with sqlite3.connect(bare / "study.sqlite") as db:
        db.execute("DELETE FROM runs WHERE kind = 'transfer'")
    assert run(["evaluate", "--store", str(bare)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no finished transfer runs to evaluate against" in err

    no_baseline = tmp_path / "no_baseline"
    shutil.copytree(store, no_baseline)
    with sqlite3.connect(no_baseline / "study.sqlite") as db:
        db.execute("DELETE FROM runs WHERE kind = 'baseline' AND task = 'toy_topic2' AND seed = 0")
    with pytest.raises(IntertaskError, match="target 'toy_topic2' seed 0 has transfers but no finished baseline"):
        evaluate_store(no_baseline, progress=False)


def test_report_end_to_end(store, tmp_path, capsys):
    out = tmp_path / "report"
    assert run(["report", "--store", str(store), "--out", str(out), "--k", "1"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    pngs = {p.stem for p in out.glob("*.png")}
    assert {"gain_heatmap", "selector_comparison", "snapshot_curve", "reasoning_comparison"} <= pngs
    assert all((out / f"{name}.png").stat().st_size > 1000 for name in pngs)
    assert "max_pairwise" in page and "data:image/png;base64," in page


def test_a_later_study_without_transfers_needs_study(store, tmp_path, capsys):
    import dataclasses

    from intertask.study.config import StudyConfig

    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    config = StudyConfig.from_toml(store.parent / "tiny.toml")
    run_study(dataclasses.replace(config, name="tiny-eval-sources", targets=()), copy, progress=False)
    assert run(["evaluate", "--store", str(copy), "--methods", "data_size", "--json"]) == 2
    err = capsys.readouterr().err
    assert "study 'tiny-eval-sources'" in err and "choose another study" in err and "tiny-eval" in err
    assert run(["evaluate", "--store", str(copy), "--study", "tiny-eval", "--methods", "data_size", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["study"] == "tiny-eval"
    assert run(["report", "--store", str(copy), "--study", "tiny-eval", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()


def test_recommender_rows_leave_one_target_out(store, capsys):
    evaluation = evaluate_store(store, methods=["random", "data_size", "text_embedding", "max_pairwise"], k=1,
                                progress=False, n_boot=100, recommender=True)
    cases = evaluation.cases
    assert {"recommend", "recommend_mean_rank", "recommend_learned", "expected_gain"} <= set(cases.method)
    assert (cases.groupby("method").size() == len(TARGETS) * 2 - len(evaluation.config["not_learned_cases"])).all()
    summary = evaluation.summary.set_index(["method", "metric"])
    assert summary.loc[("recommend", "top1_gain"), "n_targets"] == cases["target"].nunique() == len(TARGETS)
    decision = evaluation.config["combination"]  # the rule chosen on every target, as a library stores it
    assert decision["n_targets"] == len(TARGETS) and decision["members"] == ["data_size", "text_embedding",
                                                                             "max_pairwise"]
    assert set(evaluation.config["held_out_rules"]) == set(TARGETS)
    assert run(["evaluate", "--store", str(store), "--methods", "data_size,text_embedding,random", "--k", "1",
                "--recommender", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"recommend", "recommend_learned"} <= {r["method"] for r in data["summary"]}
    assert data["config"]["combination"]["metric"] == "ndcg"
