"""Prompt task embeddings: each vectorised similarity against a direct, one-pair-at-a-time
computation in float64, plus shapes, snapshots and errors."""

import math

import numpy as np
import pytest

from intertask.errors import IntertaskError
from intertask.selection import TaskProfile, make_selector
from intertask.selection.prompt_similarity import METHODS, PromptIndex, prompt_similarity


def _cos(a, b):
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb) if na > 0 and nb > 0 else 0.0


def _unit(prompt):
    out = []
    for token in prompt.tolist():
        norm = math.sqrt(sum(x * x for x in token))
        out.append([x / norm for x in token] if norm > 0 else [0.0] * len(token))
    return out


def direct(source, target, method, stride=2):
    """The definitions of the module docstring, with plain Python loops."""
    s, t = _unit(source), _unit(target)
    h = len(s[0])
    if method == "feature_mean":
        return _cos([sum(tok[j] for tok in s) / len(s) for j in range(h)],
                    [sum(tok[j] for tok in t) / len(t) for j in range(h)])
    if method == "flatten":
        return _cos([x for tok in s for x in tok], [x for tok in t for x in tok])
    if method == "unigram":
        return _cos([sum(tok) / h for tok in s], [sum(tok) / h for tok in t])
    if method == "bigram":
        firsts = range(0, len(s) - 1, stride)
        return sum(_cos(s[i] + s[i + 1], t[i] + t[i + 1]) for i in firsts) / len(firsts)
    return sum(max(_cos(a, b) for b in t) for a in s) / len(s)


@pytest.fixture
def prompts():
    rng = np.random.default_rng(0)
    library = rng.normal(size=(7, 6, 5)) * rng.uniform(0.1, 10, size=(7, 6, 1))
    library[2, 3] = 0.0  # a zero token stays zero
    target = rng.normal(size=(6, 5))
    target[0] = 0.0
    return library, target


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("chunk_size", [1, 3, 128])
def test_vectorised_matches_direct(prompts, method, chunk_size):
    library, target = prompts
    fast = PromptIndex(library, chunk_size=chunk_size).scores(target, method)
    slow = [direct(p, target, method) for p in library]
    assert fast == pytest.approx(slow, abs=1e-5)


def test_bigram_defaults_to_the_papers_disjoint_pairs(prompts):
    library, target = prompts
    fast = prompt_similarity(library, target, "bigram")
    assert fast == pytest.approx([direct(p, target, "bigram", stride=2) for p in library], abs=1e-5)
    assert not np.allclose(fast, prompt_similarity(library, target, "bigram", stride=1))
    overlapping = prompt_similarity(library, target, "bigram", stride=1)
    assert overlapping == pytest.approx([direct(p, target, "bigram", stride=1) for p in library], abs=1e-5)
    # by hand, P = 4 unit tokens: pairs (0, 1) and (2, 3) only; pair (1, 2) would score 0
    e = np.eye(4)
    source, target = np.stack([e[0], e[1], e[2], e[3]]), np.stack([e[0], e[1], e[2], e[3]])
    target[1], target[2] = -e[1], -e[2]  # pair (1, 2) is opposite: cos = -1
    # pair (0,1): ([1,0,0,0,0,1,0,0] . [1,0,0,0,0,-1,0,0]) / 2 = 0; pair (2,3) likewise 0
    assert make_selector("bigram").fit([TaskProfile("s", 1, prompt=source)]).score(
        TaskProfile("t", 1, prompt=target)).tolist() == pytest.approx([0.0])
    assert prompt_similarity(source, target, "bigram", stride=1).tolist() == pytest.approx([-1 / 3])


@pytest.mark.parametrize("method", ["feature_mean", "max_pairwise"])
def test_length_free_methods_accept_other_target_lengths(prompts, method):
    library, target = prompts
    short = target[:3]
    assert prompt_similarity(library, short, method) == pytest.approx(
        [direct(p, short, method) for p in library], abs=1e-5)


@pytest.mark.parametrize("method", ["flatten", "unigram", "bigram"])
def test_positional_methods_need_equal_lengths(prompts, method):
    library, target = prompts
    with pytest.raises(IntertaskError, match=f"method '{method}' compares prompts position by position"):
        prompt_similarity(library, target[:3], method)


def test_hand_computed_max_pairwise_and_token_scale_invariance():
    source = np.array([[1.0, 0.0], [0.0, 2.0]])
    target = np.array([[0.0, 5.0], [3.0, 3.0]])
    # token 1 of source: best cos = 1/sqrt(2) (vs [3, 3]); token 2: 1 (vs [0, 5])
    expected = (1 / math.sqrt(2) + 1.0) / 2
    assert prompt_similarity(source, target, "max_pairwise")[0] == pytest.approx(expected)
    rescaled = source * np.array([[7.0], [0.1]])  # each token rescaled: nothing changes
    for method in METHODS:
        assert prompt_similarity(rescaled, target, method) == pytest.approx(
            prompt_similarity(source, target, method), abs=1e-6)
    assert prompt_similarity(source, source, "flatten")[0] == pytest.approx(1.0)


def test_shape_and_value_errors(prompts):
    library, target = prompts
    with pytest.raises(IntertaskError, match=r"target prompt must be \[P, 5\]"):
        prompt_similarity(library, target[:, :4], "feature_mean")
    with pytest.raises(IntertaskError, match=r"unknown prompt similarity 'max_pairwse' \(did you mean"):
        prompt_similarity(library, target, "max_pairwse")
    with pytest.raises(IntertaskError, match=r"prompts must be a non-empty \[S, P, H\] array"):
        PromptIndex(np.ones(3))
    with pytest.raises(IntertaskError, match="prompts contain NaN"):
        PromptIndex(np.full((1, 2, 2), np.nan))
    with pytest.raises(IntertaskError, match="bigram: stride must be an integer >= 1"):
        prompt_similarity(library, target, "bigram", stride=0)


def test_selector_uses_snapshots_and_reports_steps(prompts):
    library, target = prompts
    sources = [TaskProfile(f"s{i}", 100, prompt=p) for i, p in enumerate(library)]
    early = target * 0.5 + 1.0
    profile = TaskProfile("t", 10, prompt=target, prompt_steps=300, snapshots={50: early})
    selector = make_selector("max_pairwise").fit(sources)
    assert selector.score(profile) == pytest.approx([direct(p, target, "max_pairwise") for p in library], abs=1e-5)
    assert selector.cost_["target_steps"] == 300
    at_50 = make_selector("max_pairwise", step=50).fit(sources)
    assert at_50.score(profile) == pytest.approx([direct(p, early, "max_pairwise") for p in library], abs=1e-5)
    assert at_50.cost_["target_steps"] == 50
    with pytest.raises(IntertaskError, match=r"needs the target prompt at step 70; target 't' has snapshots at \[50\]"):
        make_selector("bigram", step=70).fit(sources).score(profile)


def test_selector_rejects_mixed_source_shapes(prompts):
    library, _ = prompts
    sources = [TaskProfile("a", 1, prompt=library[0]), TaskProfile("b", 1, prompt=library[1][:4])]
    with pytest.raises(IntertaskError, match=r"all source prompts must have the same \[P, H\] shape"):
        make_selector("feature_mean").fit(sources)
    assert make_selector("flatten").get_params() == {"method": "flatten", "step": None, "stride": 2,
                                                     "chunk_size": 128}
