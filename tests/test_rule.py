"""recommend's ranking rule: chosen on held-out history targets only, stored as checked JSON, and
falling back to the selectors where the history cannot speak for a target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from intertask.matrix.transfer import TransferMatrix
from intertask.recommend import rule as rl
from intertask.recommend.held_out import held_out, rule_cases
from intertask.recommend.library import Library, LibrarySource
from intertask.recommend.library_format import combination_problem
from intertask.recommend.library_cases import ShortRun, TargetRuns
from intertask.tasks.task import Task, TaskKind

SOURCES = [f"s{i}" for i in range(8)]
TARGETS = [f"t{i}" for i in range(6)]


def _world(seed=0):
    """Six targets and eight sources. A source's gain is its own quality plus noise, so the other
    targets' history predicts it; selector `good` sees the gain, `bad` is noise."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(scale=2.0, size=len(SOURCES))
    embeddings = {t: rng.normal(size=8) + 3.0 for t in TARGETS}  # all alike: every cosine is high
    rows, collected = [], []
    for t in TARGETS:
        gain = quality + rng.normal(scale=1.0, size=len(SOURCES))
        for seed_ in (0, 1):
            g = gain + rng.normal(scale=0.5, size=len(SOURCES))
            rows.append(pd.DataFrame({"target": t, "source": SOURCES, "seed": seed_, "score": 70.0 + g,
                                      "baseline": 70.0, "gain": g, "floor": 50.0, "learned": True}))
        scores = {"good": (gain + rng.normal(scale=1.0, size=len(SOURCES)))[None],
                  "bad": rng.normal(size=len(SOURCES))[None], "random": rng.normal(size=len(SOURCES))[None]}
        collected.append(TargetRuns(t, list(SOURCES), scores, [ShortRun(70.0, 70.0, 50.0)], embeddings[t],
                                    budget_steps=4, methods=["good", "bad", "random"]))
    history = TransferMatrix.from_frame(pd.concat(rows, ignore_index=True)).frame
    sources = [LibrarySource(name=s, n_train=100 * (i + 1), tags=("intent",) if i % 2 else ("sentiment",),
                             prompts={0: np.zeros((2, 8), np.float32)}, scores={0: 80.0},
                             text_embedding=rng.normal(size=8), vocabulary=[]) for i, s in enumerate(SOURCES)]
    library = Library(backbone={"name": "tiny-encoder", "hidden_size": 8, "prompt_length": 2}, sources=sources,
                      history=TransferMatrix(history), target_embeddings=embeddings)
    tasks = {t: Task(t, TaskKind.CLASSIFICATION, [], [], [], labels=("a", "b"), tags=("intent",)) for t in TARGETS}
    return library, history, tasks, collected


def _scrambled(history, target, seed=9):
    changed = history.copy()
    mask = (changed.target == target).to_numpy()
    changed.loc[mask, "gain"] = np.random.default_rng(seed).permutation(changed.loc[mask, "gain"].to_numpy())
    changed.loc[mask, "score"] = changed.loc[mask, "baseline"] + changed.loc[mask, "gain"]
    return changed


def test_a_held_out_targets_own_results_change_nothing_about_its_prediction():
    library, history, tasks, collected = _world()
    before = held_out(library, history, tasks, collected)
    changed = _scrambled(history, "t2")
    after = held_out(library.__class__(**{**library.__dict__, "history": TransferMatrix(changed)}), changed, tasks,
                     collected)
    columns = ["source", "expected_gain", "p_negative"]
    pd.testing.assert_frame_equal(before.recommendations["t2"].ranking[columns],
                                  after.recommendations["t2"].ranking[columns])
    assert before.rules["t2"] == after.rules["t2"]
    assert before.recommendations["t2"].verdict == after.recommendations["t2"].verdict
    own = lambda result: result.predictions[result.predictions.target == "t2"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(own(before), own(after))
    # ... while its results do inform every other target
    others = [t for t in TARGETS if t != "t2"]
    assert any(not np.allclose(before.recommendations[t].ranking.sort_values("source")["expected_gain"],
                               after.recommendations[t].ranking.sort_values("source")["expected_gain"])
               for t in others)


def test_the_rule_choice_never_reads_the_left_out_target():
    library, history, tasks, collected = _world()

    def choose(hist):
        cases, _ = rule_cases(collected, hist)
        signals = rl.SignalSource(hist, {r.target: r.text_embedding for r in collected}, library.target_embeddings,
                                  {}, {})
        return rl.choose_rule(cases, signals, ["good", "bad"], leave_out=frozenset({"t4"}))

    assert choose(history) == choose(_scrambled(history, "t4"))
    assert choose(history)["n_targets"] == 5


def test_choice_prefers_what_predicts_over_noise():
    library, history, tasks, collected = _world()
    result = held_out(library, history, tasks, collected)
    final = result.final_rule
    assert final["rule"] in {"good", "expected_gain", "learned"} and final["fallback"] == "good"
    table = final["candidates"]
    best = max(table, key=lambda name: table[name]["ndcg"])
    assert table[best]["shortfall"] == 0.0
    preferred = [name for name in rl.candidates(["good", "bad"]) if name in table]
    kept = preferred.index(final["rule"])
    assert table[final["rule"]]["shortfall"] <= table[final["rule"]]["shortfall_se"]
    assert all(table[name]["shortfall"] > table[name]["shortfall_se"] for name in preferred[:kept])
    assert table["bad"]["ndcg"] < table["good"]["ndcg"]
    assert combination_problem(final) is None
    assert set(result.predictions.method) >= {"recommend", "recommend_mean_rank", "recommend_learned",
                                              "expected_gain", "good", "bad", "random"}


def test_the_one_standard_error_rule_keeps_the_preferred_candidate_unless_it_is_measurably_worse():
    order = ["expected_gain", "mean_rank", "learned"]
    # learned leads by 0.01 on the mean, but by +0.06 / -0.04 per target: within one standard error
    noisy = pd.DataFrame({"expected_gain": [0.70, 0.60, 0.65, 0.75], "mean_rank": [0.5, 0.5, 0.5, 0.5],
                          "learned": [0.76, 0.56, 0.71, 0.71]})
    chosen, best, shortfall = rl.one_standard_error_choice(noisy, order)
    assert (chosen, best) == ("expected_gain", "learned")
    assert shortfall["expected_gain"][0] == pytest.approx(0.01)
    assert shortfall["expected_gain"][0] <= shortfall["expected_gain"][1]
    # the same lead on every target is beyond any noise: the best wins
    steady = noisy.assign(learned=noisy["expected_gain"] + 0.01)
    assert rl.one_standard_error_choice(steady, order)[0] == "learned"
    # a target only one candidate scores does not count against the other
    partial = noisy.assign(mean_rank=[0.5, np.nan, np.nan, np.nan])
    assert rl.one_standard_error_choice(partial, order)[2]["mean_rank"] == (pytest.approx(0.76 - 0.5), 0.0)


def _signal(nearest, gain=(1.0, 3.0, 2.0)):
    gain = np.asarray(gain, np.float64)
    return rl.HistorySignal(gain, np.zeros(3), np.zeros(3), np.zeros(3), nearest)


def test_a_target_unlike_the_history_falls_back_to_the_selectors():
    scores = {"good": np.array([[3.0, 2.0, 1.0]]), "bad": np.array([[1.0, 1.0, 1.0]])}
    rule = {"rule": "expected_gain", "fallback": "good", "reason": "it won", "min_similarity": 0.5, "model": None}
    ranked, name, why = rl.order_scores(rule, scores, _signal(0.9))
    assert name == "expected_gain" and np.argsort(-ranked).tolist() == [1, 2, 0] and why == "it won"
    ranked, name, why = rl.order_scores(rule, scores, _signal(0.2))
    assert name == "good" and np.argsort(-ranked).tolist() == [0, 1, 2]
    assert "resembles none of the history targets (nearest cosine 0.20 < 0.50)" in why
    _, name, why = rl.order_scores(rule, scores, _signal(0.9, gain=(np.nan,) * 3))
    assert name == "good" and "no source has history" in why
    _, name, why = rl.order_scores({**rule, "rule": "logme"}, scores, _signal(0.9))
    assert name == "mean_rank" and "needs logme, which did not run here" in why
    _, name, why = rl.order_scores(None, scores, _signal(0.9))
    assert name == "mean_rank" and "no rule" in why


@pytest.mark.parametrize("change, problem", [
    ({"rule": "logme"}, "field 'rule' names 'logme', which is neither a rule nor one of its members"),
    ({"fallback": "expected_gain"}, "field 'fallback' must not read the history"),
    ({"format": "x"}, "field 'format' must be"),
    ({"rule": "learned", "model": {"features": ["good"], "weights": [1.0, 2.0], "intercept": 0.0, "alpha": 1.0}},
     "field 'model.weights' must hold one weight per feature"),
    ({"rule": "learned", "model": None}, "model"),
    ({"min_similarity": "high"}, "field 'min_similarity' must be a number or null"),
])
def test_a_stored_rule_is_checked(change, problem):
    good = {"format": rl.FORMAT, "rule": "expected_gain", "fallback": "good", "members": ["good", "bad"],
            "reason": "r", "metric": "ndcg", "n_targets": 5, "min_similarity": 0.4, "model": None,
            "candidates": {"good": {"ndcg": 0.8, "regret_at_k": 1.0, "n_targets": 5}}}
    assert combination_problem(good) is None
    assert problem in combination_problem({**good, **change})
