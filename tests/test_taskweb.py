"""TaskWeb's published layout, written here in miniature: import, evaluation under both definitions, the
commands end to end, and the refusal of a pickle that would run code."""

import itertools
import json
import math
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.evaluation.from_matrix import evaluate_matrix as evaluate_files
from intertask.evaluation.from_matrix import predictions_from_files
from intertask.matrix.transfer import TransferMatrix
from intertask.ranking_metrics import ndcg_rank_score, ndcg_score
from intertask.matrix.taskweb import read_taskweb, taskweb_label

TARGETS = ("rte", "cb", "copa")
SOURCES = ("rte", "cb", "copa", "boolq")
SEEDS = (10, 15, 20)
SETTINGS = {"t5l": ("finetune", "t5l", "e5-lr1e4-b16"), "t5b-bitfit": ("bitfit", "t5b", "e20-lr3e4-b32")}


def _score(setting, target, source, seed):
    """A transfer score on 0–1: source order depends on the target, plus a little seed noise."""
    base = {"rte": 0.70, "cb": 0.80, "copa": 0.60}[target] + 0.03 * SOURCES.index(source) * (1 if target != "cb" else -1)
    return round(base + 0.004 * (seed % 7) + (0.01 if setting == "t5l" else 0.0), 4)


def _results(target, value):
    """eval_results.json as TaskWeb writes them: percentages, fractions, one-element lists, extra keys."""
    if target == "rte":
        return {"eval_accuracy": 100 * value, "eval_loss": 0.3}
    if target == "cb":
        return {"eval_accuracy": value, "eval_f1": value - 0.1}
    return {"eval_accuracy": [100 * value]}


def write_clone(root):
    """A TaskWeb clone in miniature; returns the expected seed-mean scores {(setting, target, source): mean}."""
    results = root / "data" / "taskweb" / "results"
    expected = {}
    for setting, (_, _, hyper) in SETTINGS.items():
        for target in TARGETS:
            for source in (s for s in SOURCES if s != target):
                values = []
                for seed in SEEDS:
                    value = _score(setting, target, source, seed)
                    run_dir = results / target / source / f"{setting}-{hyper}-s{seed}"
                    run_dir.mkdir(parents=True)
                    if (setting, target, source, seed) == ("t5b-bitfit", "copa", "cb", 20):
                        (run_dir / "eval_results.json").write_text('{"eval_accuracy": NaN}')  # a failed run
                        continue
                    (run_dir / "eval_results.json").write_text(json.dumps(_results(target, value)))
                    values.append(100 * (value - 0.05 if target == "cb" else value))
                expected[(setting, target, source)] = float(np.mean(values))
    # copa under t5l was also run with another batch size; TaskWeb's config names the one it uses
    for seed in SEEDS:
        run_dir = results / "copa" / "rte" / f"t5l-e5-lr1e4-b8-s{seed}"
        run_dir.mkdir(parents=True)
        (run_dir / "eval_results.json").write_text(json.dumps({"eval_accuracy": 1.0}))
    (root / "configs").mkdir()
    config = {t: {"epochs": 5, "learning_rate": 1e-4, "batch_size": 16} for t in TARGETS}
    (root / "configs" / "t5l_finetune.json").write_text(json.dumps(config))
    labels = {}
    for target in TARGETS:
        for source in (s for s in SOURCES if s != target):
            per_setting = {(a, m): (np.float64(0.01 * SOURCES.index(source) - 0.015), np.float64(SOURCES.index(source) / 3))
                           for a, m, _ in SETTINGS.values()}
            labels[(target, source)] = (np.array([0.0, 0.5]), per_setting)
    (root / "data" / "taskweb" / "taskweb.p").write_bytes(pickle.dumps(labels, protocol=4))
    return expected


@pytest.fixture(name="clone")
def clone_fixture(tmp_path):
    root = tmp_path / "TaskWeb"
    write_clone(root)
    return root


def test_read_taskweb_scores_settings_hyperparameters_labels_and_holes(tmp_path):
    root = tmp_path / "TaskWeb"
    expected = write_clone(root)
    matrix = read_taskweb(root)
    assert sorted(matrix["setting"].unique()) == ["t5b-bitfit", "t5l"]
    means = matrix.groupby(["setting", "target", "source"])["score"].mean()
    for key, value in expected.items():
        assert means[key] == pytest.approx(value), key  # the b8 copa runs (score 100) were not taken
    assert matrix["baseline"].isna().all()  # TaskWeb does not publish its baselines
    cell = matrix[(matrix.setting == "t5l") & (matrix.target == "rte") & (matrix.source == "copa")].iloc[0]
    assert cell["mean_relative_gain"] == pytest.approx(100 * (0.01 * 2 - 0.015))
    assert cell["positive_share"] == pytest.approx(2 / 3)
    holes = TransferMatrix(matrix).holes()
    assert holes.to_dict("records") == [{"setting": "t5b-bitfit", "target": "copa", "source": "cb", "seed": 20}]


def test_malformed_clones_fail_with_one_line_naming_the_path(tmp_path, clone):
    with pytest.raises(IntertaskError, match="no TaskWeb results under .*give the root of a clone"):
        read_taskweb(tmp_path / "elsewhere")
    (clone / "data/taskweb/results/rte/cb/t5l-final").mkdir()
    with pytest.raises(IntertaskError, match=r"results/rte/cb/t5l-final: not a TaskWeb run folder"):
        read_taskweb(clone)
    (clone / "data/taskweb/results/rte/cb/t5l-final").rmdir()
    bad = clone / "data/taskweb/results/cb/rte/t5l-e5-lr1e4-b16-s10/eval_results.json"
    bad.write_text("{not json")
    with pytest.raises(IntertaskError, match=r"cb/rte/t5l-e5-lr1e4-b16-s10/eval_results.json: not a readable JSON"):
        read_taskweb(clone)
    bad.write_text(json.dumps({"eval_loss": 0.1}))
    with pytest.raises(IntertaskError, match=r"s10/eval_results.json: has none of eval_accuracy, eval_f1"):
        read_taskweb(clone)
    bad.write_text(json.dumps({"eval_accuracy": 0.8}))
    (clone / "data/taskweb/taskweb.p").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(IntertaskError, match="taskweb.p: expected"):
        read_taskweb(clone)
    (clone / "configs" / "t5l_finetune.json").unlink()
    with pytest.raises(IntertaskError, match=r"results/copa/rte: setting 't5l' was run with e5-lr1e4-b16, "
                                             r"e5-lr1e4-b8 and no configs/ file of the clone says which"):
        read_taskweb(clone)


def evaluate_matrix(frame, named, **options):
    """`evaluate_matrix` of the one-setting `frame` with the file-like predictions `named`."""
    matrix = TransferMatrix(frame)
    return evaluate_files(matrix, predictions_from_files(matrix, named), **options)


def _evaluate(clone, predictions, k=2):
    matrix = TransferMatrix.from_taskweb(clone).select("t5l").frame
    return matrix, evaluate_matrix(matrix, predictions, k=k, n_boot=200)


def test_both_definitions_oracle_random_and_label_gold(clone):
    matrix = TransferMatrix.from_taskweb(clone).select("t5l").frame
    cells = matrix.groupby(["target", "source"]).agg(score=("score", "mean"), mrg=("mean_relative_gain", "first"),
                                                     share=("positive_share", "first")).reset_index()
    label = cells.assign(predicted=taskweb_label(cells["mrg"], cells["share"]))[["target", "source", "predicted"]]
    oracle = matrix.groupby(["target", "source"])["score"].mean().rename("predicted").reset_index()
    _, ev = _evaluate(clone, {"label": label, "oracle": oracle})
    assert ev.config["gold"] == "taskweb_label"
    per = ev.taskweb_cases.set_index(["method", "target"])
    assert (per.loc["label", "ndcg_rank"] == 1.0).all() and (per.loc["label", "regret_mean_at_k"] == 0.0).all()
    # random = the exact mean over every ranking of the sources, for both definitions
    for target, part in cells.groupby("target"):
        gold = taskweb_label(part["mrg"], part["share"])
        orders = [ndcg_rank_score(gold, p) for p in itertools.permutations(range(len(part)))]
        assert per.loc[("random", target), "ndcg_rank"] == pytest.approx(np.mean(orders))
    ours = ev.ours.cases.set_index(["method", "target", "seed"]).sort_index()
    assert (ours.loc["oracle", "ndcg"] > 0.999).all()  # the seed mean orders each seed's sources right here
    case = matrix[(matrix.target == "rte") & (matrix.seed == 15)].sort_values("source")
    orders = [ndcg_score(case["score"].to_numpy(), p) for p in itertools.permutations(range(len(case)))]
    assert ours.loc[("random", "rte", 15), "ndcg"] == pytest.approx(np.mean(orders))
    summary = ev.summary
    assert set(summary["definitions"]) == {"ours", "taskweb"} and summary["n"].max() == 9  # 3 targets × 3 seeds


def test_gold_falls_back_to_mean_score_and_missing_predictions_are_named(clone):
    matrix = TransferMatrix.from_taskweb(clone).select("t5l").frame.assign(mean_relative_gain=np.nan,
                                                                          positive_share=np.nan)
    oracle = matrix.groupby(["target", "source"])["score"].mean().rename("predicted").reset_index()
    ev = evaluate_matrix(matrix, {"oracle": oracle}, k=2, n_boot=100)
    assert ev.config["gold"] == "mean_score"
    assert (ev.taskweb_cases.set_index("method").loc["oracle", "ndcg_rank"] == 1.0).all()
    with pytest.raises(IntertaskError, match="method 'partial' has no score for source '.*' → target 'cb'"):
        evaluate_matrix(matrix, {"partial": oracle[oracle.target != "cb"]})
    with pytest.raises(IntertaskError, match="'random' is evaluated always"):
        evaluate_matrix(matrix, {"random": oracle})


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_commands_end_to_end(tmp_path, clone, capsys):
    out = tmp_path / "taskweb.parquet"
    assert run(["import", "taskweb", str(clone), "--out", str(out), "--missing", str(tmp_path / "missing.csv")]) == 0
    printed = capsys.readouterr().out
    assert "2 setting(s) (t5b-bitfit, t5l)" in printed and "missing 1: cb→copa seed 20" in printed
    assert pd.read_csv(tmp_path / "missing.csv").shape == (1, 4)
    assert len(TransferMatrix.read(out)) == 2 * 9 * 3 - 1

    scores = tmp_path / "roe.p"
    scores.write_bytes(pickle.dumps({t: {s: np.float64(SOURCES.index(s)) for s in SOURCES if s != t} for t in TARGETS}))
    assert run(["evaluate", "--matrix", str(out), "--setting", "t5l", "--k", "2", "--predictions", f"roe={scores}",
                "--out", str(tmp_path / "ev.json")]) == 0
    printed = capsys.readouterr().out
    assert "under TaskWeb's definitions" in printed and "transfer label" in printed and "roe" in printed
    saved = json.loads((tmp_path / "ev.json").read_text())
    assert {r["method"] for r in saved["taskweb"]["summary"]} == {"random", "roe"}

    assert run(["consistency", "--matrix", str(out), "--n-boot", "100"]) == 0
    assert "seeds agree on sign" in capsys.readouterr().out
    assert run(["report", "--matrix", str(out), "--out", str(tmp_path / "report"), "--setting", "t5l",
                "--predictions", f"roe={scores}", "--k", "2"]) == 0
    html = (tmp_path / "report" / "report.html").read_text()
    assert "consistency_matrix" in html and "TaskWeb's: one case per target" in html
    assert run(["report", "--matrix", str(out), "--out", str(tmp_path / "r2"), "--predictions", f"roe={scores}"]) == 2
    assert "--setting is needed: the matrix has 2 settings" in capsys.readouterr().err

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.p"
    evil.write_bytes(pickle.dumps({"rte": {"cb": _RunsCode(marker)}}))
    capsys.readouterr()
    assert run(["evaluate", "--matrix", str(out), "--setting", "t5l", "--predictions", f"evil={evil}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: refusing to unpickle") and "system" in err[0]
    assert not marker.exists()
    assert run(["evaluate", "--matrix", str(out)]) == 2
    assert "--setting is needed: the matrix has 2 settings" in capsys.readouterr().err
    assert run(["evaluate", "--matrix", str(out), "--store", str(tmp_path)]) == 2
    assert "exactly one of --store" in capsys.readouterr().err
    assert not math.isnan(saved["taskweb"]["summary"][0]["mean"])
