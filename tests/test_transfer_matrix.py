"""One TransferMatrix wherever it comes from: a study with two source seeds per source, exported in every
format and read back, evaluated from its store and from its matrix file with the same answer."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.evaluation.from_store import predictions_from_store
from intertask.matrix.table import FORMATS
from intertask.matrix.transfer import TransferMatrix
from intertask.study.export import read_study, transfer_matrix
from intertask.study.runner import run_study

SOURCES = ["toy_sentiment_food", "toy_topic4"]
TARGETS = ["toy_topic2", "toy_sentiment_travel"]
FLOORED = ("toy_topic2", 0)  # its baseline's floor is raised below: a case that measures no transfer


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_study_toml):
    """A study with transfer_source = "each_seed" (the default) and two source seeds, one of whose
    (target, seed) cases has a baseline that did not clear its floor."""
    root = tmp_path_factory.mktemp("each_seed")
    (root / "s.toml").write_text(tiny_study_toml(name="each-seed", sources=SOURCES, targets=TARGETS,
                                                 source_seeds=(0, 1), target_seeds=(0, 1), steps=8,
                                                 target_options='{ head_init = "probe" }'))
    run_study(root / "s.toml", root / "store", progress=False)
    with sqlite3.connect(root / "store" / "study.sqlite") as db:
        (metrics,) = db.execute("SELECT metrics_json FROM runs WHERE kind = 'baseline' AND task = ? AND seed = ?",
                                FLOORED).fetchone()
        raised = json.dumps({**json.loads(metrics), "test_floor": 100.0})
        db.execute("UPDATE runs SET metrics_json = ? WHERE kind = 'baseline' AND task = ? AND seed = ?",
                   (raised, *FLOORED))
    return root / "store"


def test_the_study_matrix_keeps_both_source_seeds(store):
    matrix = transfer_matrix(store)
    frame = matrix.frame
    assert set(frame["source_seed"]) == {0, 1} and len(matrix) == len(TARGETS) * len(SOURCES) * 2 * 2
    assert matrix.not_learned() == [("default", *FLOORED)]
    assert len(matrix.one_source_seed()) == len(matrix) // 2
    kept = matrix.learned_only().frame
    assert FLOORED not in set(zip(kept["target"], kept["seed"])) and len(kept) == len(matrix) - 2 * len(SOURCES)


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_export_in_each_format_reads_back_as_the_same_matrix(store, tmp_path, suffix, capsys):
    out = tmp_path / f"m{suffix}"
    assert run(["study", "export", "--store", str(store), "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(TransferMatrix.read(out).frame, transfer_matrix(store).frame)
    capsys.readouterr()
    assert run(["consistency", "--matrix", str(out), "--json"]) == 0
    assert "default" in {r["setting"] for r in json.loads(capsys.readouterr().out)["by_setting"]}


def test_export_refuses_an_unknown_suffix(store, tmp_path, capsys):
    assert run(["study", "export", "--store", str(store), "--out", str(tmp_path / "m.xlsx")]) == 2
    assert "must end in .parquet, .csv, .json, .jsonl" in capsys.readouterr().err
    assert not (tmp_path / "m.xlsx").exists()


def test_store_and_matrix_give_the_same_evaluation(store, tmp_path, capsys):
    view = read_study(store)
    rows = predictions_from_store(view, methods=["data_size"], progress=False).rows
    scores = tmp_path / "data_size.csv"  # data_size does not depend on the seed: one score per pair
    rows.drop_duplicates(["target", "source"])[["target", "source", "predicted"]].to_csv(scores, index=False)
    matrix = tmp_path / "m.json"
    assert run(["study", "export", "--store", str(store), "--out", str(matrix)]) == 0
    capsys.readouterr()
    assert run(["evaluate", "--store", str(store), "--methods", "data_size", "--k", "1", "--json"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert run(["evaluate", "--matrix", str(matrix), "--predictions", f"data_size={scores}", "--k", "1",
                "--json"]) == 0
    from_matrix = json.loads(capsys.readouterr().out)["ours"]
    for evaluation in (from_store, from_matrix):
        assert evaluation["config"]["not_learned_cases"] == [list(FLOORED)]
    columns = ["metric", "mean", "ci_low", "ci_high", "n", "n_targets", "n_undefined"]
    summaries = [pd.DataFrame(e["summary"]).query("method == 'data_size'")[columns].reset_index(drop=True)
                 for e in (from_store, from_matrix)]
    pd.testing.assert_frame_equal(*summaries)
    assert summaries[0].set_index("metric").at["ndcg", "n"] == len(TARGETS) * 2 - 1


def test_the_door_refuses_what_it_cannot_score(store):
    from intertask.evaluation import Predictions, evaluate

    matrix = transfer_matrix(store)
    two = TransferMatrix(pd.concat([matrix.frame, matrix.frame.assign(setting="other")], ignore_index=True))
    rows = pd.DataFrame({"method": "m", "target": "toy_topic2", "source": SOURCES, "predicted": [1.0, 2.0]})
    with pytest.raises(IntertaskError, match="evaluate one setting at a time"):
        evaluate(two, Predictions(rows))
    with pytest.raises(IntertaskError, match="method 'm' has no score for source .* → target 'toy_sentiment_travel'"):
        evaluate(matrix, Predictions(rows))
    with pytest.raises(IntertaskError, match="must be a TransferMatrix"):
        evaluate(matrix.frame, Predictions(rows))


def test_a_history_mixing_rows_with_and_without_source_seeds_keeps_every_target():
    """The shipped history's shape: targets from the study build carry no source seed, targets added by
    `library measure` carry the source's best seed; ground truth keeps both (it once dropped the former)."""
    rows = [{"target": target, "source": source, "seed": 0, "score": 60.0, "baseline": 55.0, "gain": 5.0,
             "floor": 30.0, "source_seed": source_seed}
            for target, source_seed in (("built", None), ("measured", 1)) for source in ("a", "b")]
    rows.append({**rows[-1], "source_seed": 0, "score": 50.0, "gain": -5.0})  # a second prompt of b for "measured"
    truth = TransferMatrix.from_frame(pd.DataFrame(rows)).ground_truth().frame
    assert sorted(zip(truth["target"], truth["source"])) == [("built", "a"), ("built", "b"),
                                                             ("measured", "a"), ("measured", "b")]
    assert truth.set_index(["target", "source"]).loc[("measured", "b"), "source_seed"] == 0
