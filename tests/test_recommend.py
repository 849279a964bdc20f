"""recommend(): the ranking holds every source and method, the verdict is filled, JSON and reports
work, --verify measures gains, and bad targets fail with one clear line and write nothing."""

from __future__ import annotations

import csv
import importlib
import json

import numpy as np
import pandas as pd
import pytest

from intertask.backbones import load_backbone
from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend import ranking as rk
from intertask.recommend.library import Library, LibrarySource, vocabulary_counts
from intertask.recommend.library_write import write_library
from intertask.recommend.recommend import recommend
from intertask.recommend.verdict import Evidence, make_verdict
from intertask.selection import PROMPT_METHODS
from intertask.selection.profiles import mean_embedding
from intertask.tasks.toy import toy_task
from intertask.training import RunSpec, TrainConfig, train_packed

SOURCES = ["toy_sentiment_food", "toy_topic4", "toy_parity", "toy_sentiment_travel"]
FAST = dict(budget_steps=8, seeds=2)


@pytest.fixture(scope="module")
def encoder():
    return load_backbone("tiny-encoder")


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory, encoder):
    """A 4-source tiny-encoder library with two prompts per source and a made-up history."""
    config = lambda seed: TrainConfig(backbone="tiny-encoder", prompt_length=4, steps=8, batch_size=8,
                                      eval_every=4, seed=seed, max_length=32)
    tasks = {name: toy_task(name) for name in SOURCES}
    specs = [RunSpec(f"{n}-{s}", tasks[n], config(s)) for n in SOURCES for s in (0, 1)]
    results = {r.run_id: r for r in train_packed(specs, encoder, "cpu")}
    sources = [LibrarySource(
        name=n, n_train=len(tasks[n].train), tags=tasks[n].tags,
        prompts={s: results[f"{n}-{s}"].prompt.numpy() for s in (0, 1)},
        scores={s: results[f"{n}-{s}"].validation_score for s in (0, 1)},
        text_embedding=mean_embedding(encoder, [ex.text for ex in tasks[n].train]),
        vocabulary=vocabulary_counts(ex.text for ex in tasks[n].train)) for n in SOURCES]
    rng = np.random.default_rng(0)
    history = TransferMatrix.from_frame(pd.DataFrame(
        [{"target": t, "source": n, "seed": s, "baseline": 55.0 + s,
          "score": 55.0 + s + float(rng.normal(2.0 if "sentiment" in n else -1.0, 1.0))}
         for t in ("toy_topic2", "hist_other") for n in SOURCES for s in range(3)]))
    centroids = {"toy_topic2": mean_embedding(encoder, [ex.text for ex in toy_task("toy_topic2").train])}
    library = Library(backbone={"name": "tiny-encoder", "hidden_size": 32, "prompt_length": 4}, sources=sources,
                      history=history, target_embeddings=centroids, training={"head_init": "probe"},
                      created_at="now", intertask_version="test")
    return write_library(library, tmp_path_factory.mktemp("lib") / "tiny")


def test_recommend_end_to_end(library_dir, encoder):
    rec = recommend("toy_topic2", library_dir=library_dir, progress=False, backbone=encoder, **FAST)
    ranking = rec.ranking
    assert sorted(ranking["source"]) == sorted(SOURCES)
    assert ranking["combined_rank"].tolist() == [1, 2, 3, 4]
    assert ranking["mean_rank"].is_monotonic_increasing
    methods = set(PROMPT_METHODS) | {"text_embedding", "vocab_overlap", "data_size", "logme", "random"}
    assert set(rec.methods) == methods and {f"score_{m}" for m in methods} <= set(ranking.columns)
    assert ranking[["stability", "method_topk"]].apply(lambda c: c.between(0, 1).all()).all()
    assert rec.stats["top_k"] == 1  # a third of a 4-source library
    assert ranking["stability"].sum() == pytest.approx(1.0)  # one source on top per seed
    assert ranking["expected_gain"].notna().all() and ranking["p_negative"].between(0, 1).all()
    # the history makes the sentiment sources gain on average, the others lose
    gains = dict(zip(ranking["source"], ranking["expected_gain"]))
    assert gains["toy_sentiment_food"] > 0 > gains["toy_topic4"]
    assert [c.name for c in rec.verdict.criteria] == ["cheap signal", "stable across seeds", "similar source"]
    assert rec.verdict.headline and rec.stats["seed_stability_spearman"] is not None
    assert len(rec.stats["target_validation_scores"]) == 2
    data = json.loads(json.dumps(rec.to_dict()))
    assert data["target"] == "toy_topic2" and len(data["ranking"]) == 4 and data["verify"] is None


def test_reasoning_target_warns_and_methods_subset(library_dir, encoder):
    rec = recommend("toy_parity", library_dir=library_dir, methods=["max_pairwise", "text_embedding"],
                    progress=False, backbone=encoder, **FAST)
    assert rec.methods == ["max_pairwise", "text_embedding"]
    assert sorted(rec.ranking["source"]) == sorted(set(SOURCES) - {"toy_parity"})  # not its own source
    assert not any(c.startswith("score_logme") for c in rec.ranking.columns)
    assert any("reasoning-like" in w for w in rec.verdict.warnings)


def test_esm_logme_needs_the_librarys_maps(library_dir, encoder, tmp_path):
    import shutil

    from intertask.recommend.esm_maps import add_esm_maps

    with pytest.raises(IntertaskError, match="has no embedding space maps for esm_logme; add them with "
                                             "`intertask library add-esm"):
        recommend("toy_topic2", library_dir=library_dir, methods=["esm_logme"], progress=False, backbone=encoder,
                  **FAST)
    with_maps = shutil.copytree(library_dir, tmp_path / "with_maps")
    add_esm_maps(with_maps, backbone=encoder)
    rec = recommend("toy_topic2", library_dir=with_maps, methods=["esm_logme", "logme"], progress=False,
                    backbone=encoder, **FAST)
    scores = rec.ranking.set_index("source")
    assert scores["score_esm_logme"].notna().all() and scores["score_logme"].notna().all()


def test_verify_measures_gains(library_dir, encoder):
    rec = recommend("toy_topic2", library_dir=library_dir, verify_k=2, verify_seeds=2, progress=False,
                    backbone=encoder, methods=["text_embedding", "data_size"], budget_steps=8, seeds=1)
    verify = rec.verify
    assert verify["source"].tolist() != [] and set(verify["source"]) == set(rec.ranking["source"][:2])
    assert (verify["ci_low"] <= verify["mean_gain"]).all() and (verify["mean_gain"] <= verify["ci_high"]).all()
    assert (verify["n_seeds"] == 2).all()
    np.testing.assert_allclose(verify["mean_gain"], verify["transfer_score"] - verify["baseline_score"], atol=1e-9)
    assert rec.choice in set(verify["source"]) | {"(no intermediate task)"}
    assert any("history already holds" in w for w in rec.verdict.warnings)  # toy_topic2 is in the history
    assert rec.stats["seed_stability_spearman"] is None
    assert "one target seed" in rec.verdict.criteria[1].detail


def test_cli_json_and_report(library_dir, tmp_path, capsys):
    report = tmp_path / "out" / "rec.md"
    code = run(["recommend", "--target", "toy_topic2", "--library", str(library_dir), "--budget-steps", "6",
                "--seeds", "2", "--methods", "max_pairwise,vocab_overlap,random", "--json", "--report", str(report)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {"verdict", "ranking", "stats"} <= set(data) and len(data["ranking"]) == len(SOURCES)
    assert report.is_file() and "Which intermediate task" in report.read_text()


def test_cli_table(library_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "160")
    report = tmp_path / "rec.html"
    assert run(["recommend", "--target", "toy_topic2", "--library", str(library_dir), "--budget-steps", "6",
                "--seeds", "2", "--methods", "text_embedding,data_size", "--verify", "1", "--verify-seeds", "1",
                "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "cheap signal" in out and all(name in out for name in SOURCES)
    assert "too few seeds for an interval" in out  # one seed: no interval, not a zero-width one
    assert "verified transfers" in out and "final choice" in out
    assert "<h2>Verification</h2>" in report.read_text()
    assert "top-k" in out and "similar" in out and "score_" not in out


def test_cli_narrow_terminal_keeps_the_table_readable(library_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["recommend", "--target", "toy_topic2", "--library", str(library_dir), "--budget-steps", "4",
                "--seeds", "2", "--methods", "max_pairwise,data_size"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == "" and lines[0].strip()  # not a terminal: no bar, no blank lines before the verdict
    assert max(len(line) for line in lines) <= 80
    assert all(any(name in line for line in lines) for name in SOURCES)


def test_report_path_under_a_file_fails_before_training(library_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run(["recommend", "--target", "toy_topic2", "--library", str(library_dir),
                "--report", str(blocker / "rec.html")]) == 2
    assert "error: --report '" in (err := capsys.readouterr().err) and "file is a file, not a folder" in err


def _write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("name, rows, header, message", [
    ("one_label", [(f"good movie number {i}", "pos") for i in range(30)], ("text", "label"), "single label"),
    ("tiny", [(f"movie {i}", "ab"[i % 2]) for i in range(12)], ("text", "label"), "has 12 labelled examples; "
     "recommend needs at least 20"),
    ("no_text", [(f"movie {i}", "ab"[i % 2]) for i in range(30)], ("sentence", "label"), "no column 'text'"),
])
def test_bad_targets(library_dir, tmp_path, capsys, name, rows, header, message):
    target = _write_csv(tmp_path / f"{name}.csv", rows, header)
    with pytest.raises(IntertaskError, match=message):
        recommend(str(target), library_dir=library_dir, progress=False, **FAST)
    report = tmp_path / "report.html"
    assert run(["recommend", "--target", str(target), "--library", str(library_dir), "--report", str(report)]) == 2
    assert message.split(";")[0] in capsys.readouterr().err
    assert not report.exists() and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_text_column_option(library_dir, tmp_path, encoder):
    rows = [(f"the {w} was great" if i % 2 else f"the {w} was awful", "pn"[i % 2])
            for i, w in enumerate(["pizza", "soup", "bread", "rice"] * 10)]
    target = _write_csv(tmp_path / "reviews.csv", rows, ("review", "stars"))
    rec = recommend(str(target), library_dir=library_dir, text_column="review", label_column="stars",
                    methods=["vocab_overlap"], progress=False, backbone=encoder, **FAST)
    assert rec.target == "reviews" and len(rec.ranking) == len(SOURCES)


def test_missing_shipped_library(monkeypatch, tmp_path):
    module = importlib.import_module("intertask.recommend.recommend")  # the package exports a function of that name
    monkeypatch.setattr(module, "default_library_dir", lambda: tmp_path / "absent")
    with pytest.raises(IntertaskError, match="the shipped source library is not built in this checkout"):
        recommend("toy_topic2", progress=False, **FAST)


def test_bad_options(library_dir, encoder):
    with pytest.raises(IntertaskError, match="unknown selection method 'max_pairwse'"):
        recommend("toy_topic2", library_dir=library_dir, methods=["max_pairwse"], progress=False, **FAST)
    with pytest.raises(IntertaskError, match="verify_k 9 exceeds the library's 4 sources"):
        recommend("toy_topic2", library_dir=library_dir, verify_k=9, progress=False, backbone=encoder, **FAST)
    with pytest.raises(IntertaskError, match="built for backbone 'tiny-encoder', not 'tiny-decoder'"):
        recommend("toy_topic2", library_dir=library_dir, progress=False, backbone=load_backbone("tiny-decoder"),
                  **FAST)


# ---- the pieces: rank aggregation, agreement, expected gain, verdict ----------------------------
def test_rank_aggregation_by_hand():
    scores = {"a": np.array([[3.0, 2.0, 1.0]]), "b": np.array([[1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])}
    # a: ranks [1, 2, 3]; b: seed ranks [3, 1, 2] and [2, 3, 1] -> mean [2.5, 2, 1.5]
    np.testing.assert_allclose(rk.combined_scores(scores), [1.75, 2.0, 2.25])
    assert rk.order(rk.combined_scores(scores), ["x", "y", "z"]) == [0, 1, 2]
    assert rk.seed_stability(scores) == pytest.approx(-0.5)  # rho = 1 - 6 * (1 + 4 + 1) / (3 * 8)
    # per seed: [2, 1.5, 2.5] puts y first, [1.5, 2.5, 2] puts x first
    np.testing.assert_allclose(rk.per_seed_top_k_share(scores, 2, k=1), [0.5, 0.5, 0.0])


def test_agreement_beats_random_only_when_methods_agree():
    same = {m: np.arange(12.0)[None] for m in "abcd"}
    assert rk.top_k_agreement(same) == 1.0 > rk.random_top_k_agreement(4, 12)
    scattered = {}
    for i, m in enumerate("abcd"):  # each method puts a different three sources on top
        scores = np.zeros(12)
        scores[3 * i: 3 * i + 3] = [3.0, 2.0, 1.0]
        scattered[m] = scores[None]
    assert rk.top_k_agreement(scattered) == 0.0 < rk.random_top_k_agreement(4, 12)


def test_expected_gain_weights_similar_targets():
    history = pd.DataFrame({"target": ["near", "near", "far", "far"], "source": ["s"] * 4, "seed": [0, 1, 0, 1],
                            "gain": [4.0, 2.0, -10.0, -10.0], "baseline": [50.0, 52.0, 40.0, 40.0]})
    centroids = {"near": np.array([1.0, 0.0]), "far": np.array([-1.0, 0.1])}
    gain, p_neg = rk.expected_gains(history, ["s", "none"], np.array([1.0, 0.0]), centroids)
    assert gain[0] == pytest.approx(3.0) and p_neg[0] == 0.0 and np.isnan(gain[1])
    uniform, _ = rk.expected_gains(history, ["s"], None, centroids)
    assert uniform[0] == pytest.approx(-3.5)
    assert rk.history_noise(history, np.array([1.0, 0.0]), centroids) == pytest.approx(np.std([50, 52], ddof=1))


def _verdict(agreement=0.9, agreement_random=0.5, stability=0.8, similarity=0.9, **more):
    return make_verdict(Evidence("src", agreement=agreement, agreement_random=agreement_random,
                                 stability=stability, similarity=similarity, **more))


def test_verdict_criteria_and_warnings():
    good = _verdict(target_score=80.0, chance_score=50.0, top_expected_gain=3.0, noise=1.0)
    assert all(c.passed for c in good.criteria) and good.warnings == ()
    assert good.headline.startswith("Use 'src'")
    bad = _verdict(agreement=0.2, stability=None, similarity=0.1, reasoning_tag=True, top_expected_gain=0.5,
                   noise=2.0)
    assert not any(c.passed for c in bad.criteria) and bad.headline.startswith("No reliable cheap signal")
    assert len(bad.warnings) == 2 and "within the seed noise" in bad.warnings[1]
    assert _verdict(stability=0.1).headline.startswith("Leaning 'src'")
    assert _verdict(stability=0.1, similarity=0.1).headline.startswith("Weak evidence for 'src'")
    near_chance = _verdict(target_score=52.0, chance_score=50.0)
    assert "near chance" in near_chance.warnings[0]
    no_prompt = _verdict(stability=None, n_seeds=3)
    losing = _verdict(best_expected_gain=-1.2)
    assert any("no source is expected to help" in w and "-1.2" in w for w in losing.warnings)
    assert not any("expected to help" in w for w in _verdict(best_expected_gain=0.4).warnings)
    assert (losing.advice, good.advice, bad.advice) == ("target alone", "transfer", "weak evidence")
    assert losing.headline.startswith("Train on the target alone") and "-1.2" in losing.headline
    assert "train on the target alone" not in bad.headline  # methods agreeing by chance say nothing about the gain
    assert "no prompt-based method" in no_prompt.criteria[1].detail
    assert good.to_dict()["criteria"][0] == {"name": "cheap signal", "passed": True,
                                             "detail": good.criteria[0].detail}


def test_verdict_says_when_the_short_target_runs_did_not_learn():
    unlearned = _verdict(n_seeds=3, learned_seeds=0)
    assert unlearned.headline.startswith("The target did not learn in its short runs")
    assert "more budget steps" in unlearned.headline and "left out" in unlearned.headline
    partly = _verdict(n_seeds=3, learned_seeds=1)
    assert partly.headline.startswith("Use 'src'") and any("only 1 of 3 target seeds" in w for w in partly.warnings)
    assert not any("target seeds cleared" in w for w in _verdict(n_seeds=3, learned_seeds=3).warnings)


def test_short_runs_at_their_floor_leave_the_prompt_methods_out(library_dir, encoder, monkeypatch):
    """When no short run clears its floor, the combined ranking rests on the other methods only."""
    module = importlib.import_module("intertask.recommend.recommend")  # the package re-exports a function of that name
    monkeypatch.setattr(module, "learned", lambda score, floor: False)
    rec = recommend("toy_topic2", library_dir=library_dir, progress=False, backbone=encoder,
                    methods=["max_pairwise", "text_embedding", "data_size"], **FAST)
    assert rec.stats["target_runs_learned"] == 0 and len(rec.stats["target_test_floors"]) == 2
    assert rec.verdict.headline.startswith("The target did not learn")
    ranks = {m: rk.ranks_of(rec.ranking[f"score_{m}"].to_numpy()) for m in ("text_embedding", "data_size")}
    np.testing.assert_allclose(rec.ranking["mean_rank"], (ranks["text_embedding"] + ranks["data_size"]) / 2)
