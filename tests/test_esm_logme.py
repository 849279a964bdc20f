"""ESM-LogME: the ridge map recovers linear maps, the selector equals prompt-LogME when the prompt's
effect is linear, precomputed maps are used as given, and missing maps fail with one line."""

import numpy as np
import pytest

from intertask.errors import IntertaskError
from intertask.selection import TaskProfile, make_selector
from intertask.selection.esm_logme import apply_esm_map, fit_esm_map

H = 6


def _linear_world(n_sources=4, seed=0):
    """Sources whose prompt acts linearly on the base features: features(P) = base @ P[:H] + P[H]."""
    rng = np.random.default_rng(seed)
    prompts = [np.vstack([np.eye(H) + 0.5 * rng.normal(size=(H, H)), rng.normal(size=H)]) for _ in range(n_sources)]

    def profile(name, n, labels=None):
        base = rng.normal(size=(n, H))
        if labels is not None:  # make the labels visible in one direction of the base features
            base[:, 0] += 2.0 * labels

        def features(prompt):
            return base if prompt is None else base @ prompt[:H] + prompt[H]
        return TaskProfile(name, n, ["x"], labels=labels, features=features)

    sources = []
    for i, prompt in enumerate(prompts):
        source = profile(f"s{i}", 80)
        source.prompt = prompt
        sources.append(source)
    labels = np.repeat([0, 1], 30)
    return sources, profile("t", 60, labels)


def test_fit_esm_map_recovers_an_affine_map_and_shrinks_with_ridge():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, H))
    a, b = rng.normal(size=(H, 3)), rng.normal(size=3)
    w = fit_esm_map(x, x @ a + b, ridge=1e-10)
    assert w.shape == (H + 1, 3) and w.dtype == np.float32
    np.testing.assert_allclose(w[:H], a, atol=1e-4)
    np.testing.assert_allclose(w[H], b, atol=1e-4)
    shrunk = fit_esm_map(x, x @ a + b, ridge=10.0)
    assert np.linalg.norm(shrunk[:H]) < np.linalg.norm(w[:H])
    np.testing.assert_allclose(apply_esm_map(w, x), x @ a + b, atol=1e-3)
    with pytest.raises(IntertaskError, match=r"base and prompted features must be \[N, H\] with the same N"):
        fit_esm_map(x, x[:10])


def test_esm_logme_equals_prompt_logme_when_the_prompt_acts_linearly():
    sources, target = _linear_world()
    esm = make_selector("esm_logme", ridge=1e-10).fit(sources).score(target)
    prompt = make_selector("logme").fit(sources).score(target)
    np.testing.assert_allclose(esm, prompt, rtol=1e-5)
    assert np.argsort(esm).tolist() == np.argsort(prompt).tolist()


def test_esm_logme_uses_precomputed_maps_without_reading_source_features():
    sources, target = _linear_world()
    fitted = make_selector("esm_logme").fit(sources)
    stored = [TaskProfile(s.name, s.n_train, esm_map=m) for s, m in zip(sources, fitted.maps_)]
    np.testing.assert_allclose(make_selector("esm_logme").fit(stored).score(target), fitted.score(target))
    assert fitted.cost_["target_steps"] == 0


def test_esm_logme_errors_name_the_problem():
    sources, target = _linear_world()
    with pytest.raises(IntertaskError, match="source 's0' has neither .*intertask library add-esm"):
        make_selector("esm_logme").fit([TaskProfile("s0", 10, ["x"])])
    narrow = [TaskProfile("s0", 10, esm_map=np.zeros((4, 3), np.float32))]
    with pytest.raises(IntertaskError, match="target features have width 6, the maps expect 3"):
        make_selector("esm_logme").fit(narrow).score(target)
    with pytest.raises(IntertaskError, match="maps differ in shape"):
        make_selector("esm_logme").fit(narrow + [TaskProfile("s1", 10, esm_map=np.zeros((7, 6)))])
