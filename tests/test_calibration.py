"""Printed risk and verdicts against what happened, on hand-checked numbers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from intertask.recommend import calibration


def _result():
    """Two targets, two sources, two seeds; recommend put `a` first on t1 and `b` first on t2."""
    matrix = pd.DataFrame({
        "target": ["t1"] * 4 + ["t2"] * 4, "source": ["a", "a", "b", "b"] * 2, "seed": [0, 1] * 4,
        "gain": [2.0, 4.0, -1.0, 1.0, -3.0, -1.0, 0.5, 1.5], "baseline": [70.0, 72.0] * 2 + [60.0, 61.0] * 2})

    def rec(top, advice, p_neg, gain):
        ranking = pd.DataFrame({"source": [top, "b" if top == "a" else "a"], "p_negative": p_neg,
                                "expected_gain": gain})
        return SimpleNamespace(top_source=top, ranking=ranking, stats={"rule": "expected_gain"},
                               verdict=SimpleNamespace(advice=advice, headline="h"))

    recommendations = {"t1": rec("a", "transfer", [0.1, 0.9], [1.0, -1.0]),
                       "t2": rec("b", "target alone", [0.5, 0.3], [0.0, 2.0])}
    return SimpleNamespace(recommendations=recommendations, matrix=matrix)


def test_verdicts_are_judged_by_the_top_sources_gain_over_seeds():
    table = calibration.verdict_table(_result()).set_index("target")
    assert table.at["t1", "gains"] == [2.0, 4.0] and table.at["t1", "mean_gain"] == 3.0
    # t-interval over two seeds: 3 ± 12.706 · 1.414 / 1.414
    assert table.at["t1", "ci_low"] == pytest.approx(3 - 12.706, abs=1e-3)
    assert table.at["t1", "outcome"] == "unclear" and table.at["t1", "right"]  # transfer, mean gain > 0
    assert table.at["t2", "mean_gain"] == 1.0 and not table.at["t2", "right"]  # target alone, yet b gained


def test_top_choice_counts_within_one_baseline_seed_sd_of_the_best():
    table = calibration.top_choice_table(_result()).set_index("target")
    assert table.at["t1", "best_source"] == "a" and table.at["t1", "within"]
    # t2: b (+1.0) is the best; a would be −2.0, more than the baseline SD 0.707 below it
    assert table.at["t2", "top_gain"] == 1.0 and table.at["t2", "baseline_sd"] == pytest.approx(np.sqrt(0.5))


def test_reliability_and_brier_against_the_base_rate():
    result = _result()
    history = result.matrix
    rows = calibration.risk_rows(result, history)
    assert len(rows) == 8
    t1 = rows[rows.target == "t1"]
    assert (t1.base_rate == 0.5).all()  # t2's transfers: two of four negative
    assert t1.set_index(["source", "seed"]).at[("a", 0), "other_mean"] == -2.0  # a's mean gain on t2
    table = calibration.reliability_table(rows).set_index("bin")
    assert table["n"].sum() == 8
    assert table.at["[0.8, 1.0]", "n"] == 2 and table.at["[0.8, 1.0]", "observed"] == 0.5  # t1/b: −1, +1
    assert table.at["[0.0, 0.2)", "observed"] == 0.0  # t1/a: +2, +4
    brier = calibration.brier_table(rows, n_boot=50).set_index("quantity")
    # t1: (0.1² · 2 + 0.1² + 0.9²) / 4 = 0.21; t2: a at 0.3 lost twice, b at 0.5 gained twice:
    # (0.7² · 2 + 0.5² · 2) / 4 = 0.37
    assert brier.at["Brier of the printed P(negative)", "mean"] == pytest.approx((0.21 + 0.37) / 2)
    # base rate on t1: t2's negative share 0.5 -> 0.25; on t2: t1's 0.25 -> (0.75² · 2 + 0.25² · 2) / 4 = 0.3125
    assert brier.at["Brier of the base rate (other targets' negative share)", "mean"] == pytest.approx(0.28125)
    assert brier.at["Brier of the printed P(negative)", "n_targets"] == 2
