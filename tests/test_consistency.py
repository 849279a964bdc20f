"""Consistency of a transfer matrix across seeds and settings, on a matrix small enough to check by hand."""

import math

import pandas as pd
import pytest

from intertask.evaluation.consistency import ALL, consistency, target_groups
from intertask.matrix.table import from_long_table

# setting s1: target A has a (both seeds gain), b (both lose), c (one each); target B: a mixed, b gains, c mixed
S1 = {("A", 50.0): {"a": (55, 56), "b": (45, 44), "c": (51, 49)},
      ("B", 70.0): {"a": (71, 69), "b": (72, 75), "c": (60, 80)}}


def _matrix():
    rows = []
    for setting in ("s1", "s2"):
        for (target, baseline), scores in S1.items():
            for source, values in scores.items():
                if setting == "s2" and target == "A":  # s2 swaps a and b on A: the opposite ranking
                    values = S1[("A", 50.0)][{"a": "b", "b": "a"}.get(source, source)]
                for seed, score in enumerate(values):
                    rows.append({"setting": setting, "target": target, "source": source, "seed": seed,
                                 "score": float(score), "baseline": baseline})
    return from_long_table(pd.DataFrame(rows))


def _row(frame, **keys):
    mask = pd.Series(True, index=frame.index)
    for key, value in keys.items():
        mask &= frame[key] == value
    assert mask.sum() == 1
    return frame[mask].iloc[0]


def test_hand_checked_agreement_spearman_and_counts():
    result = consistency(_matrix(), {"A": "g1", "B": "g2"}, n_boot=500)
    a1 = _row(result.by_target, setting="s1", target="A")
    assert a1["sign_agreement"] == pytest.approx(2 / 3) and a1["negative_share"] == pytest.approx(1 / 3)
    assert a1["seed_spearman"] == pytest.approx(1.0) and a1["n_seed_pairs"] == 1 and a1["group"] == "g1"
    b1 = _row(result.by_target, setting="s1", target="B")
    assert b1["sign_agreement"] == pytest.approx(1 / 3) and b1["seed_spearman"] == pytest.approx(-0.5)

    pooled = _row(result.by_setting, setting=ALL, metric="sign_agreement")
    assert pooled["mean"] == pytest.approx(0.5) and pooled["n_targets"] == 2 and pooled["n_cells"] == 12
    # 2 targets (means 2/3 and 1/3): the Student-t interval over targets, 0.5 ± t_{1, 0.975} · (√2/6) / √2
    assert pooled["interval"] == "t"
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((0.5 - 12.706204736 / 6, 0.5 + 12.706204736 / 6))
    assert _row(result.by_group, group="g1", metric="sign_agreement")["mean"] == pytest.approx(2 / 3)

    between = result.between_settings.iloc[0]
    assert (between["setting_a"], between["setting_b"], between["n_targets"]) == ("s1", "s2", 2)
    assert between["spearman"] == pytest.approx(0.0)  # A reversed (−1), B identical (+1)
    assert _row(result.between_settings, setting_a=ALL)[["spearman", "n_targets"]].tolist() == [pytest.approx(0.0), 2]
    assert result.targets["target"].tolist() == ["B", "A"]  # least consistent across seeds first
    assert _row(result.targets, target="A")["setting_spearman"] == pytest.approx(-1.0)


def test_published_cell_summaries_stand_in_for_baselines_and_absent_ones_give_nan():
    matrix = _matrix().drop(columns=["baseline", "mean_relative_gain", "positive_share"])
    published = from_long_table(matrix.assign(positive_share=1.0, mean_relative_gain=-3.0))
    result = consistency(published)
    assert (result.by_target["sign_agreement"] == 1.0).all() and (result.by_target["negative_share"] == 1.0).all()
    bare = consistency(from_long_table(matrix))
    row = _row(bare.by_setting, setting="s1", metric="sign_agreement")
    assert math.isnan(row["mean"]) and row["n_cells"] == 0
    assert _row(bare.by_setting, setting="s1", metric="seed_spearman")["n_targets"] == 2


def test_target_groups_use_taskweb_categories_then_suite_tags():
    groups = target_groups(["copa", "rte", "causal_judgment", "mystery"])
    assert groups == {"copa": "commonsense", "rte": "nli", "causal_judgment": "reasoning", "mystery": "other"}
