import math

import pytest

from intertask.errors import IntertaskError
from intertask.tasks.metrics import METRICS, compute_metrics, get_metric


def test_hand_computed_binary_case():
    # gold [0,0,1,1], predicted [0,1,1,1]: TP1=2 FP1=1 FN1=0, TP0=1 FP0=0 FN0=1
    scores = compute_metrics(["accuracy", "macro_f1", "matthews"], [0, 0, 1, 1], [0, 1, 1, 1])
    assert scores["accuracy"] == pytest.approx(75.0)
    assert scores["macro_f1"] == pytest.approx(100 * (2 / 3 + 4 / 5) / 2)
    assert scores["matthews"] == pytest.approx(100 * 4 / math.sqrt(48))


def test_multiclass_matthews_and_f1_by_hand():
    gold = [0, 1, 2, 2]
    pred = [0, 2, 2, 1]
    # c = 2 correct, s = 4, p = (1,1,2), t = (1,1,2): (2*4 - (1+1+4)) / sqrt((16-6)(16-6)) = 0.2
    scores = compute_metrics(["matthews", "macro_f1", "accuracy"], gold, pred)
    assert scores["matthews"] == pytest.approx(20.0)
    # F1: class0 = 1, class1 = 0, class2 = 2*1/(2+1+1) = 0.5
    assert scores["macro_f1"] == pytest.approx(100 * 1.5 / 3)
    assert scores["accuracy"] == pytest.approx(50.0)


def test_perfect_and_inverted_predictions():
    assert compute_metrics(["matthews"], [0, 1, 0, 1], [0, 1, 0, 1])["matthews"] == pytest.approx(100)
    assert compute_metrics(["matthews"], [0, 1, 0, 1], [1, 0, 1, 0])["matthews"] == pytest.approx(-100)
    # constant prediction: MCC undefined -> 0
    assert compute_metrics(["matthews"], [0, 1, 0, 1], [1, 1, 1, 1])["matthews"] == 0.0


def test_class_only_predicted_counts_in_macro_f1():
    # class 2 never in gold but predicted once: its F1 is 0 and it is averaged in
    scores = compute_metrics(["macro_f1"], [0, 0, 1, 1], [0, 0, 1, 2])
    assert scores["macro_f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)


def test_regression_correlations():
    gold = [1.0, 2.0, 3.0, 4.0]
    pred = [1.0, 4.0, 9.0, 16.0]  # monotone, not linear
    scores = compute_metrics(["pearson", "spearman"], gold, pred)
    assert scores["spearman"] == pytest.approx(100.0)
    assert 90 < scores["pearson"] < 100
    assert compute_metrics(["pearson"], gold, [2.0, 2.0, 2.0, 2.0])["pearson"] == 0.0


def test_every_metric_declares_direction():
    assert set(METRICS) == {"accuracy", "macro_f1", "matthews", "pearson", "spearman"}
    assert all(m.higher_is_better for m in METRICS.values())


def test_unknown_metric_suggests_close_names():
    with pytest.raises(IntertaskError, match=r"unknown metric 'acuracy' \(did you mean: accuracy\?\)"):
        get_metric("acuracy")
    with pytest.raises(IntertaskError, match="unknown metric 'f1_macro'"):
        compute_metrics(["f1_macro"], [0], [0])


def test_length_mismatch_and_empty():
    with pytest.raises(IntertaskError, match="equal length"):
        compute_metrics(["accuracy"], [0, 1], [0])
    with pytest.raises(IntertaskError, match="zero examples"):
        compute_metrics(["accuracy"], [], [])


def test_floor_is_the_best_constant_prediction():
    from intertask.tasks.metrics import floor_score

    gold = [0] * 6 + [1] * 3 + [2]
    assert floor_score("accuracy", gold) == pytest.approx(60.0)
    # macro-F1 of always predicting the majority class: F1 = 2*0.6/1.6 over 3 present classes
    assert floor_score("macro_f1", gold) == pytest.approx(100 * (2 * 0.6 / 1.6) / 3)
    assert floor_score("accuracy", [1, 1, 0], choices=4) == pytest.approx(200 / 3)
    assert floor_score("pearson", [0.1, 0.5, 2.0]) == 0.0
    with pytest.raises(IntertaskError, match="zero examples"):
        floor_score("accuracy", [])


def test_a_constant_predictor_is_not_learned():
    from intertask.tasks.metrics import LEARNED_MARGIN, compute_metrics, floor_score, learned

    gold = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    for metric in ("accuracy", "macro_f1"):
        floor = floor_score(metric, gold)
        for constant in (0, 1):
            score = compute_metrics([metric], gold, [constant] * len(gold))[metric]
            assert score <= floor and not learned(score, floor)
        assert learned(compute_metrics([metric], gold, gold)[metric], floor)
    assert learned(70.0 + LEARNED_MARGIN, 70.0) and not learned(70.0 + LEARNED_MARGIN - 0.1, 70.0)
    assert not learned(float("nan"), 50.0) and not learned(90.0, float("nan"))


def test_a_score_exactly_the_margin_above_its_floor_is_learned():
    from intertask.tasks.metrics import LEARNED_MARGIN, learned
    # accuracy-like scores 100·i/N on N examples whose exact difference is the margin, yet differ
    # from it in floating point (the numerics report's cases); every such pair counts as learned
    pairs = [(100 * 7 / 60, 100 * 4 / 60), (100 * 41 / 500, 100 * 16 / 500)]
    assert all(score - floor < LEARNED_MARGIN for score, floor in pairs)  # the rounding the test is about
    assert all(learned(score, floor) for score, floor in pairs)
    boundary = [(100 * (i + 25) / 500, 100 * i / 500) for i in range(476)]  # 25 of 500 examples = 5 points
    assert all(learned(score, floor) for score, floor in boundary)
    assert not learned(100 * 40 / 500, 100 * 16 / 500)  # one example short of the margin


def test_binomial_standard_error():
    from intertask.tasks.metrics import binomial_se

    assert binomial_se(50.0, 100) == pytest.approx(5.0)
    assert binomial_se(100.0, 10) == 0.0
    assert math.isnan(binomial_se(50.0, 0))
