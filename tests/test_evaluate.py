"""The evaluation table on a small synthetic study: per-case metrics equal the ranking functions,
an oracle beats a reversed predictor, aggregates, tags, pairs, steps, JSON, and input checks."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from intertask.errors import IntertaskError
from intertask.evaluation import (
    METRICS,
    Predictions,
    evaluate,
    ndcg_gain_score,
    ndcg_score,
    paired_table,
    prediction_rows,
    quality_by_steps,
    regret_at_k,
)
from intertask.stats import bootstrap_ci

from intertask.matrix.transfer import TransferMatrix

SOURCES = ["a", "b", "c", "d"]


def evaluate_frames(matrix, predictions, tags=None, **options):
    """`evaluate` of a plain long table and prediction rows."""
    return evaluate(TransferMatrix.from_frame(matrix, "matrix"), Predictions(predictions, tags=tags or {}), **options)


def _matrix(seed=0, targets=("t1", "t2", "t3"), seeds=(0, 1)):
    rng = np.random.default_rng(seed)
    rows = []
    for target in targets:
        for s in seeds:
            baseline = 60 + rng.normal()
            for source in SOURCES:
                score = baseline + 3 * rng.normal()
                rows.append({"target": target, "source": source, "seed": s, "score": score,
                             "baseline": baseline, "gain": score - baseline,
                             "relative_gain": (score - baseline) / baseline})
    return pd.DataFrame(rows)


def _predictions(matrix, methods=("oracle", "reversed", "constant")):
    frames = []
    for method in methods:
        predicted = {"oracle": matrix["score"], "reversed": -matrix["score"], "constant": 0.0}[method]
        frames.append(matrix[["target", "seed", "source"]].assign(
            method=method, predicted=predicted, cost_seconds=0.5, target_steps=100))
    return pd.concat(frames, ignore_index=True)


def test_cases_match_ranking_functions_and_oracle_wins():
    matrix = _matrix()
    ev = evaluate_frames(matrix, _predictions(matrix), k=2)
    assert len(ev.cases) == 3 * 3 * 2 and set(METRICS) <= set(ev.cases.columns)
    row = ev.cases[(ev.cases.method == "reversed") & (ev.cases.target == "t2") & (ev.cases.seed == 1)].iloc[0]
    truth = matrix[(matrix.target == "t2") & (matrix.seed == 1)]
    assert row["ndcg"] == pytest.approx(ndcg_score(truth.score, -truth.score))
    expected_gain = ndcg_gain_score(truth.score, -truth.score, truth.baseline.iloc[0])
    assert row["ndcg_gain"] == pytest.approx(expected_gain, nan_ok=True)
    assert row["regret_at_k"] == pytest.approx(regret_at_k(truth.score, -truth.score, 2))
    oracle = ev.cases[ev.cases.method == "oracle"]
    assert np.allclose(oracle.ndcg, 1.0) and np.allclose(oracle.regret_at_k, 0.0)
    assert np.allclose(oracle.spearman, 1.0)
    means = ev.summary.set_index(["method", "metric"])["mean"]
    assert means["oracle", "ndcg"] > means["constant", "ndcg"] > means["reversed", "ndcg"]
    assert means["oracle", "regret_at_k"] < means["constant", "regret_at_k"] < means["reversed", "regret_at_k"]
    assert means["constant", "spearman"] == 0.0


def test_summary_statistics():
    matrix = _matrix()
    ev = evaluate_frames(matrix, _predictions(matrix), k=3, n_boot=500)
    row = ev.summary.set_index(["method", "metric"]).loc[("reversed", "ndcg")]
    values = ev.cases[ev.cases.method == "reversed"].ndcg
    assert row["mean"] == pytest.approx(values.mean())
    assert row["std"] == pytest.approx(values.std(ddof=1))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["n"] == 6
    assert row["cost_seconds"] == 0.5 and row["target_steps"] == 100
    assert list(ev.summary.method.unique()) == ["oracle", "reversed", "constant"]
    assert row["n_targets"] == 3 and row["n_undefined"] == 0
    assert set(ev.summary.n_targets) == {3} and set(ev.summary.interval) == {"t"}  # 3 targets: Student-t


def _clustered(n_targets=10, n_seeds=3, target_sd=0.1, seed_sd=0.01, seed=0):
    """A study whose oracle-vs-reversed difference varies mostly by target: each target has its own
    score spread, shared by its seeds."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_targets):
        spread = max(0.5 + 30 * target_sd * rng.normal(), 0.1)
        for s in range(n_seeds):
            noise = spread * (1 + 30 * seed_sd * rng.normal(size=len(SOURCES)))
            for source, score in zip(SOURCES, 60 + noise * np.arange(len(SOURCES))):
                rows.append({"target": f"t{t}", "source": source, "seed": s, "score": score,
                             "baseline": 60.0, "gain": score - 60})
    return pd.DataFrame(rows)


def test_intervals_over_targets_are_wider_than_a_case_bootstrap_on_clustered_data():
    matrix = _clustered()
    ev = evaluate_frames(matrix, _predictions(matrix, ("reversed", "oracle")), n_boot=1000)
    row = ev.summary.set_index(["method", "metric"]).loc[("reversed", "top_k_score")]
    assert row["n"] == 30 and row["n_targets"] == 10
    cases = ev.cases[ev.cases.method == "reversed"]
    case_low, case_high = bootstrap_ci(cases.top_k_score.to_numpy(), n_boot=1000)  # as if the 30 cases were independent
    assert row["ci_high"] - row["ci_low"] > 1.3 * (case_high - case_low)  # seeds of a target nearly agree: ~√3 wider
    pair = paired_table(ev, "top_k_score").set_index(["method_a", "method_b"]).loc[("oracle", "reversed")]
    wide = ev.cases.pivot_table(index=["target", "seed"], columns="method", values="top_k_score")
    case_low, case_high = bootstrap_ci((wide["oracle"] - wide["reversed"]).to_numpy(), n_boot=2000)
    assert pair["ci_high"] - pair["ci_low"] > 1.3 * (case_high - case_low) and pair["n_targets"] == 10


def test_target_intervals_switch_to_the_bootstrap_at_the_threshold_and_say_so():
    from intertask.stats import MIN_TARGETS_FOR_BOOTSTRAP, target_interval

    for n_targets, kind in ((MIN_TARGETS_FOR_BOOTSTRAP - 1, "t"), (MIN_TARGETS_FOR_BOOTSTRAP, "bootstrap")):
        matrix = _clustered(n_targets=n_targets, n_seeds=2)
        ev = evaluate_frames(matrix, _predictions(matrix, ("reversed", "oracle")), n_boot=300)
        row = ev.summary.set_index(["method", "metric"]).loc[("reversed", "top_k_score")]
        cases = ev.cases[ev.cases.method == "reversed"]
        assert row["interval"] == kind and row["n_targets"] == n_targets
        assert (row["ci_low"], row["ci_high"]) == target_interval(cases.top_k_score, cases.target, n_boot=300)
        assert set(paired_table(ev, "top_k_score").interval) == {kind}
        assert set(quality_by_steps(ev).interval) == {kind}


def test_negative_scores_give_nan_ndcg_and_regret_and_a_count():
    matrix = _matrix()
    low = (matrix.target == "t2") & (matrix.seed == 0)
    matrix.loc[low, "score"] -= 100  # a regression target: Pearson × 100 can be negative
    matrix.loc[low, "baseline"] -= 100
    matrix["gain"] = matrix["score"] - matrix["baseline"]
    ev = evaluate_frames(matrix, _predictions(matrix, ("oracle",)), n_boot=200)
    case = ev.cases.set_index(["target", "seed"]).loc[("t2", 0)]
    assert math.isnan(case["ndcg"]) and math.isnan(case["regret_at_k"]) and np.isfinite(case["top_k_score"])
    summary = ev.summary.set_index("metric")
    assert summary.at["ndcg", "n"] == 5 and summary.at["ndcg", "n_undefined"] == 1
    assert summary.at["regret_at_k", "n_undefined"] == 1 and summary.at["top_k_score", "n_undefined"] == 0
    assert summary.at["ndcg", "mean"] == pytest.approx(1.0)


def test_regret_and_top_k_have_their_own_k():
    matrix = _matrix()
    ev = evaluate_frames(matrix, _predictions(matrix, ("reversed",)))
    assert ev.config["k"] == 3 and ev.config["top_k"] == 2  # the paper's script
    truth = matrix[(matrix.target == "t1") & (matrix.seed == 0)].sort_values("source")
    case = ev.cases.set_index(["target", "seed"]).loc[("t1", 0)]
    assert case["regret_at_k"] == pytest.approx(regret_at_k(truth.score, -truth.score, 3))
    assert case["top_k_score"] == pytest.approx(np.sort(truth.score.to_numpy())[:2].mean())
    with pytest.raises(IntertaskError, match="top_k must be an integer >= 1, got 0"):
        evaluate_frames(matrix, _predictions(matrix, ("reversed",)), top_k=0)


def test_k_at_least_number_of_sources_gives_zero_regret():
    matrix = _matrix()
    ev = evaluate_frames(matrix, _predictions(matrix), k=10, top_k=10)
    assert np.allclose(ev.cases.regret_at_k, 0.0)
    scores = matrix.groupby(["target", "seed"]).score.mean().to_numpy()
    reversed_top = ev.cases[ev.cases.method == "reversed"].sort_values(["target", "seed"]).top_k_score
    assert reversed_top.to_numpy() == pytest.approx(scores)


def test_undefined_cases_are_excluded_and_counted():
    matrix = _matrix(targets=("t1",), seeds=(0,))
    matrix.loc[:, "score"] = matrix["baseline"] - 1.0  # no source helps: ndcg_gain undefined
    matrix["gain"] = -1.0
    ev = evaluate_frames(matrix, _predictions(matrix, ("oracle",)))
    row = ev.summary.set_index("metric").loc["ndcg_gain"]
    assert row["n"] == 0 and math.isnan(row["mean"])


def test_by_tag_splits_reasoning_targets():
    matrix = _matrix()
    ev = evaluate_frames(matrix, _predictions(matrix), tags={"t1": ("reasoning",), "t2": ("nli",)})
    counts = ev.by_tag.set_index(["group", "method", "metric"])["n"]
    assert counts["reasoning", "oracle", "ndcg"] == 2 and counts["other", "oracle", "ndcg"] == 4
    assert set(evaluate_frames(matrix, _predictions(matrix)).by_tag.group) == {"other"}


def test_paired_table_and_steps_and_json():
    matrix = _matrix()
    predictions = _predictions(matrix)
    predictions.loc[predictions.method == "constant", "method"] = "oracle@5"
    predictions.loc[predictions.method == "oracle@5", "target_steps"] = 5
    ev = evaluate_frames(matrix, predictions)
    pairs = paired_table(ev, "ndcg").set_index(["method_a", "method_b"])
    assert len(pairs) == 6
    assert pairs.at[("oracle", "reversed"), "win_rate"] == 1.0
    assert pairs.at[("oracle", "reversed"), "win_rate"] + pairs.at[("reversed", "oracle"), "win_rate"] == 1.0
    assert pairs.at[("oracle", "reversed"), "mean_diff"] == pytest.approx(-pairs.at[("reversed", "oracle"), "mean_diff"])
    regret_pairs = paired_table(ev, "regret_at_k").set_index(["method_a", "method_b"])
    assert regret_pairs.at[("reversed", "oracle"), "win_rate"] < 0.5  # lower regret is better
    steps = quality_by_steps(ev, "ndcg")
    assert steps[steps.family == "oracle"].target_steps.tolist() == [5, 100]
    assert set(steps.n_targets) == {3} and set(pairs.n_targets) == {3}
    data = json.loads(json.dumps(ev.to_dict()))
    assert data["config"]["k"] == 3 and len(data["cases"]) == 18
    with pytest.raises(IntertaskError, match="unknown metric 'ndgc'"):
        paired_table(ev, "ndgc")


def test_input_validation_names_the_problem():
    matrix = _matrix()
    good = _predictions(matrix, ("oracle",))
    with pytest.raises(IntertaskError, match=r"matrix lacks column\(s\) \['score'\]"):
        evaluate_frames(matrix.drop(columns="score"), good)
    with pytest.raises(IntertaskError, match=r"predictions lacks column\(s\) \['predicted'\]"):
        evaluate_frames(matrix, good.drop(columns="predicted"))
    missing = good.drop(index=good.index[(good.target == "t2") & (good.seed == 1) & (good.source == "c")])
    with pytest.raises(IntertaskError, match="method 'oracle', target 't2', seed 1: source 'c' has no prediction"):
        evaluate_frames(matrix, missing)
    extra = pd.concat([good, good.iloc[[0]].assign(source="zzz")])
    with pytest.raises(IntertaskError, match="source 'zzz' is not in the matrix"):
        evaluate_frames(matrix, extra)
    with pytest.raises(IntertaskError, match="predictions has more than one row for method='oracle'"):
        evaluate_frames(matrix, pd.concat([good, good.iloc[[0]]]))
    bad = good.copy()
    bad.loc[bad.index[3], "predicted"] = np.inf
    with pytest.raises(IntertaskError, match="column 'predicted' must be finite numbers"):
        evaluate_frames(matrix, bad)
    with pytest.raises(IntertaskError, match="k must be an integer >= 1, got 0"):
        evaluate_frames(matrix, good, k=0)
    shifted = matrix.copy()
    shifted.loc[0, "baseline"] += 1
    with pytest.raises(IntertaskError, match="matrix: baseline differs between the rows of setting 'default', "
                                             "target 't1', seed 0"):
        evaluate_frames(shifted, good)
    with pytest.raises(IntertaskError, match="cannot match predictions to the matrix"):
        evaluate_frames(matrix, good.assign(seed=good.seed.astype(str)))


def test_selectors_to_evaluation_end_to_end():
    from intertask.selection import TaskProfile, make_selector

    sizes = {"a": 100, "b": 4000, "c": 900, "d": 20}
    sources = [TaskProfile(name, n) for name, n in sizes.items()]
    matrix = _matrix(targets=("t1", "t2"))
    frames = []
    for name in ("data_size", "random"):
        selector = make_selector(name).fit(sources)
        for target in ("t1", "t2"):
            for seed in (0, 1):
                frames.append(prediction_rows(selector, TaskProfile(target, 50), seed))
    predictions = pd.concat(frames, ignore_index=True)
    assert set(predictions.columns) >= {"method", "target", "seed", "source", "predicted", "cost_seconds"}
    rows = predictions[(predictions.method == "data_size") & (predictions.target == "t1") & (predictions.seed == 0)]
    assert dict(zip(rows.source, rows.predicted)) == {k: float(v) for k, v in sizes.items()}
    ev = evaluate_frames(matrix, predictions)
    assert set(ev.cases.method) == {"data_size", "random"} and len(ev.cases) == 8
    assert (ev.cases.target_steps == 0).all() and (ev.cases.cost_seconds >= 0).all()
