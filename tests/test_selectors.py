"""Selectors: the shared interface and errors, the embedding-free methods, text embeddings, LogME."""

import numpy as np
import pytest

from intertask.errors import IntertaskError
from intertask.selection import REFERENCE_METHODS, SELECTORS, TaskProfile, make_selector, methods_for
from intertask.selection.embedding_free import top_words
from intertask.selection.logme import logme_fit, logme_score

EXPECTED_METHODS = {"random", "data_size", "vocab_overlap", "text_embedding", "logme", "esm_logme",
                    "feature_mean", "flatten", "unigram", "bigram", "max_pairwise"}


def _pool():
    return [
        TaskProfile("movies", 5000, ["a great movie", "the movie was bad"],
                    text_embedding=np.array([1.0, 0.0, 0.0])),
        TaskProfile("news", 800, ["the market fell", "stocks rose today"],
                    text_embedding=np.array([0.0, 1.0, 0.0])),
        TaskProfile("mixed", 12000, ["a bad market movie"], text_embedding=np.array([1.0, 1.0, 0.0])),
    ]


def test_registry_has_every_method_and_suggests_names():
    assert set(SELECTORS) == EXPECTED_METHODS
    for name in SELECTORS:
        assert make_selector(name).name == name
    with pytest.raises(IntertaskError, match=r"unknown selection method 'max_pairwse' \(did you mean: max_pairwise"):
        make_selector("max_pairwse")
    with pytest.raises(IntertaskError, match="bad parameters for method 'random'"):
        make_selector("random", sed=3)


def test_registry_says_which_methods_fit_a_target_kind():
    assert methods_for("classification") == list(SELECTORS)
    # both LogMEs need class or float labels
    assert methods_for("multiple_choice") == [m for m in SELECTORS if m not in ("logme", "esm_logme")]
    assert methods_for("multiple_choice", ["logme", "random", "random"]) == ["random"]
    with pytest.raises(IntertaskError, match=r"unknown selection method 'logmee' \(did you mean: logme"):
        methods_for("regression", ["logmee"])
    assert REFERENCE_METHODS == ("random",)


def test_score_before_fit_and_bad_pools_raise():
    with pytest.raises(IntertaskError, match=r"method 'data_size': call fit\(sources\) before score"):
        make_selector("data_size").score(TaskProfile("t", 1))
    with pytest.raises(IntertaskError, match="needs at least one source"):
        make_selector("data_size").fit([])
    with pytest.raises(IntertaskError, match="source names must be unique; repeated: a"):
        make_selector("data_size").fit([TaskProfile("a", 1), TaskProfile("a", 2)])


def test_missing_artifacts_are_named():
    with pytest.raises(IntertaskError, match="method 'max_pairwise' needs a target prompt; target 't' has none"):
        make_selector("max_pairwise").fit([TaskProfile("s", 1, prompt=np.ones((2, 3)))]).score(TaskProfile("t", 1))
    with pytest.raises(IntertaskError, match="method 'text_embedding' needs a source text_embedding"):
        make_selector("text_embedding").fit([TaskProfile("s", 1)])
    with pytest.raises(IntertaskError, match="method 'logme' needs a target features callable"):
        make_selector("logme").fit([TaskProfile("s", 1)]).score(TaskProfile("t", 1, labels=np.zeros(3)))
    with pytest.raises(IntertaskError, match="method 'vocab_overlap' needs a target training texts"):
        make_selector("vocab_overlap").fit(_pool()).score(TaskProfile("t", 1))


def test_random_is_deterministic_per_seed_and_target_and_order_free():
    pool = _pool()
    target = TaskProfile("t", 10)
    first = make_selector("random", seed=1).fit(pool).score(target)
    assert np.array_equal(first, make_selector("random", seed=1).fit(pool).score(target))
    assert not np.array_equal(first, make_selector("random", seed=2).fit(pool).score(target))
    assert not np.array_equal(first, make_selector("random", seed=1).fit(pool).score(TaskProfile("u", 10)))
    reordered = make_selector("random", seed=1).fit(pool[::-1]).score(target)
    assert np.array_equal(first, reordered[::-1])
    assert np.all((first >= 0) & (first < 1))


def test_data_size_and_cost():
    selector = make_selector("data_size").fit(_pool())
    assert selector.score(TaskProfile("t", 10)).tolist() == [5000.0, 800.0, 12000.0]
    assert selector.source_names_ == ["movies", "news", "mixed"]
    assert set(selector.cost_) == {"seconds", "target_steps"}
    assert selector.cost_["target_steps"] == 0 and selector.cost_["seconds"] >= 0


def test_top_words_and_vocab_overlap_hand_computed():
    assert top_words(["B b a", "c a b"], 2) == {"a", "b"}
    assert top_words(["z y x"], 2) == {"x", "y"}  # frequency ties broken alphabetically
    assert top_words(["Don't STOP", "don't"], 1) == {"don't"}
    target = TaskProfile("t", 10, ["the bad movie market"])  # V_t = {the, bad, movie, market}
    scores = make_selector("vocab_overlap").fit(_pool()).score(target)
    # movies: {a, great, movie, the, was, bad} -> the, bad, movie = 3/4
    # news: {the, market, fell, stocks, rose, today} -> the, market = 2/4
    # mixed: {a, bad, market, movie} -> bad, market, movie = 3/4
    assert scores.tolist() == [0.75, 0.5, 0.75]
    small = make_selector("vocab_overlap", top_k=1).fit(_pool()).score(TaskProfile("t", 1, ["movie movie the"]))
    # V_t = {movie}; top-1 of movies = {movie}; news and mixed: all counts 1, so {fell} and {a}
    assert small.tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(IntertaskError, match="top_k must be an integer >= 1"):
        make_selector("vocab_overlap", top_k=0).fit(_pool())


def test_text_embedding_cosine():
    target = TaskProfile("t", 10, text_embedding=np.array([1.0, 0.0, 1.0]))
    scores = make_selector("text_embedding").fit(_pool()).score(target)
    assert scores == pytest.approx([1 / np.sqrt(2), 0.0, 0.5])
    with pytest.raises(IntertaskError, match="embed all tasks with the same encoder"):
        make_selector("text_embedding").fit(_pool()).score(TaskProfile("t", 1, text_embedding=np.ones(4)))


def _direct_evidence(f, y, alpha, beta):
    """log p(y | F, α, β) / N from the definition, with A = αI + βFᵀF (no SVD)."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                - beta / 2 * np.sum((f @ m - y) ** 2) - alpha / 2 * m @ m
                - np.linalg.slogdet(a)[1] / 2)
    return evidence / n, m


def test_logme_matches_direct_evidence_at_its_fixed_point():
    n, d = 120, 8
    rng = np.random.default_rng(n)
    f = rng.normal(size=(n, d))
    y = f[:, 0] - 0.5 * f[:, 1] + 0.3 * rng.normal(size=n)
    evidence, alpha, beta, converged = logme_fit(f, y, max_iter=500, tol=1e-12)
    assert converged
    direct, m = _direct_evidence(f, y, alpha, beta)
    assert evidence == pytest.approx(direct, rel=1e-9, abs=1e-9)
    # the fixed point: alpha = gamma / |m|^2, beta = (N - gamma) / |Fm - y|^2
    sigma = np.linalg.eigvalsh(f.T @ f)
    gamma = np.sum(beta * sigma / (alpha + beta * sigma))
    assert alpha == pytest.approx(gamma / (m @ m), rel=1e-6)
    assert beta == pytest.approx((n - gamma) / np.sum((f @ m - y) ** 2), rel=1e-6)


def test_logme_more_features_than_examples_matches_direct_evidence():
    # N < D: the data can be fit exactly and beta keeps growing; compare after a few updates,
    # where the direct formula is still well conditioned (the (D - r) log alpha term matters)
    rng = np.random.default_rng(15)
    f = rng.normal(size=(15, 40))
    y = f[:, 0] - 0.5 * f[:, 1] + 0.3 * rng.normal(size=15)
    evidence, alpha, beta, converged = logme_fit(f, y, max_iter=10, tol=0.0, fallback=False)
    assert not converged
    assert evidence == pytest.approx(_direct_evidence(f, y, alpha, beta)[0], rel=1e-8)


def test_logme_reports_non_convergence_when_features_outnumber_examples_and_falls_back():
    # D > N: after the default 100 updates the fixed point is still crawling (off by ~2.5e-5);
    # the fit says so and returns the maximum of the profile evidence, which is where the
    # fixed point ends up after thousands of updates
    rng = np.random.default_rng(1)
    f = rng.normal(size=(30, 80))
    y = (rng.integers(0, 3, size=30) == 0).astype(float)
    stalled = logme_fit(f, y, fallback=False)
    fit = logme_fit(f, y)
    patient = logme_fit(f, y, max_iter=5000, tol=1e-12, fallback=False)
    assert not stalled.converged and not fit.converged and patient.converged
    assert fit.evidence > stalled.evidence + 1e-5
    assert fit.evidence == pytest.approx(patient.evidence, abs=1e-10)
    assert fit.alpha / fit.beta == pytest.approx(patient.alpha / patient.beta, rel=1e-4)
    assert fit.evidence == pytest.approx(_direct_evidence(f, y, fit.alpha, fit.beta)[0], rel=1e-8)


def _n_space_evidence(f, y, alpha, beta):
    """log N(y; 0, F Fᵀ/α + I/β) / N: the marginal likelihood in N-space, independent of the D-space formula."""
    lam, v = np.linalg.eigh(f @ f.T)
    var = np.maximum(lam, 0) / alpha + 1 / beta
    return -0.5 * (len(y) * np.log(2 * np.pi) + np.sum(np.log(var)) + np.sum((v.T @ y) ** 2 / var)) / len(y)


def test_logme_reports_the_larger_evidence_when_the_fixed_point_converges_to_a_local_maximum():
    # the numerics report's reproducer (shared/reports/numerics-2026-12-04.md §2, its rep 10): one
    # dominant column and two near-collinear ones make the evidence bimodal in α; the fixed point
    # converges at log α ≈ 4.9 while the global maximum lies at log α ≈ 31
    rng = np.random.default_rng(0)
    for _ in range(11):
        f = rng.normal(size=(50, 20))
        f[:, 0] *= 1e6
        f[:, 1] = f[:, 2] + 1e-9 * rng.normal(size=50)
        y = (rng.integers(0, 2, 50) == 0).astype(float)
    local = logme_fit(f, y, fallback=False)
    fit = logme_fit(f, y)
    assert local.converged and fit.converged
    assert fit.evidence > local.evidence + 0.1  # -1.0799 vs -1.2573
    assert fit.evidence == pytest.approx(logme_fit(f, y, max_iter=1).evidence, abs=1e-12)  # = the profile route
    assert fit.evidence == pytest.approx(_n_space_evidence(f, y, fit.alpha, fit.beta), abs=1e-5)
    assert local.evidence == pytest.approx(_n_space_evidence(f, y, local.alpha, local.beta), abs=1e-5)  # 1e6 scale: ~3e-6 apart
    assert logme_score(f, y.astype(int)) >= fit.evidence - 1e-12  # the classes' mean uses the larger one too


def test_logme_selector_counts_unconverged_fits(caplog):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=30)
    features = rng.normal(size=(30, 80))
    target = TaskProfile("t", 30, ["x"], labels=labels, features=lambda prompt: features)
    selector = make_selector("logme").fit([TaskProfile("s", 10, ["y"], prompt=np.ones((2, 3)))])
    with caplog.at_level("WARNING"):
        selector.score(target)
    assert selector.unconverged_ >= 1
    assert "did not converge in 100 updates" in caplog.text


def test_logme_classification_averages_one_hot_columns():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=90)
    f = rng.normal(size=(90, 5))
    per_class = [logme_fit(f, (labels == c).astype(float)).evidence for c in range(3)]
    assert logme_score(f, labels) == pytest.approx(np.mean(per_class))


def test_logme_prefers_separable_features():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    separable = np.eye(3)[labels] * 3 + 0.3 * rng.normal(size=(120, 3))
    separable = np.c_[separable, rng.normal(size=(120, 5))]
    noise = rng.normal(size=(120, 8))
    assert logme_score(separable, labels) > logme_score(noise, labels)
    shuffled = rng.permutation(labels)
    assert logme_score(separable, labels) > logme_score(separable, shuffled)


def test_logme_zero_features_are_finite_and_worst():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    zero = logme_score(np.zeros((40, 4)), labels)
    assert np.isfinite(zero)
    assert zero < logme_score(np.c_[labels + 0.1 * rng.normal(size=40), rng.normal(size=40)], labels)


def test_logme_errors():
    with pytest.raises(IntertaskError, match=r"labels must be \[N\] = \[4\]"):
        logme_score(np.ones((4, 2)), np.zeros(3, int))
    with pytest.raises(IntertaskError, match="at least two classes"):
        logme_score(np.random.default_rng(0).normal(size=(4, 2)), np.zeros(4, int))
    with pytest.raises(IntertaskError, match="all regression labels are equal"):
        logme_score(np.ones((4, 2)), np.full(4, 0.5))
    with pytest.raises(IntertaskError, match="features contain NaN"):
        logme_score(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]))


def test_logme_selector_reads_target_through_each_source_prompt():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 30)
    seen = []

    def features(prompt):
        seen.append(None if prompt is None else float(prompt[0, 0]))
        useful = float(prompt[0, 0])  # the "good" source prompt exposes the label
        return np.c_[useful * labels + 0.2 * rng.normal(size=60), rng.normal(size=(60, 3))]

    sources = [TaskProfile("good", 100, prompt=np.full((2, 4), 3.0)),
               TaskProfile("useless", 100, prompt=np.zeros((2, 4)))]
    target = TaskProfile("t", 60, labels=labels, features=features)
    scores = make_selector("logme").fit(sources).score(target)
    assert seen == [3.0, 0.0]
    assert scores[0] > scores[1]
