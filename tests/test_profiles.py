"""task_profile: deterministic sampling, embeddings that are the mean of the backbone's features,
features read through a prompt, and what the selectors need."""

from __future__ import annotations

import numpy as np
import pytest

from intertask.backbones import load_backbone
from intertask.selection import make_selector
from intertask.selection.logme import logme_score
from intertask.selection.profiles import PROFILE_TEXTS, mean_embedding, profile_texts, sample_examples, task_profile
from intertask.tasks.toy import toy_task


@pytest.fixture(scope="module")
def encoder():
    return load_backbone("tiny-encoder")


def test_sample_is_deterministic_and_bounded():
    task = toy_task("toy_topic4", n_train=100)
    first = sample_examples(task, max_texts=30, seed=1)
    assert len(first) == 30 and first == sample_examples(task, max_texts=30, seed=1)
    assert first != sample_examples(task, max_texts=30, seed=2)
    assert sample_examples(task, max_texts=500) == task.train  # small tasks are kept whole


def test_default_sample_has_more_texts_than_the_backbone_has_features(encoder):
    # LogME ranks like the reference implementations only with N > D (selection.logme)
    class Wide:  # a backbone wider than PROFILE_TEXTS
        hidden_size = PROFILE_TEXTS + 100

        def features(self, texts, prompt=None):
            return np.zeros((len(texts), self.hidden_size))

    assert profile_texts(encoder.hidden_size) == PROFILE_TEXTS > 384  # MiniLM's width
    task = toy_task("toy_topic4", n_train=PROFILE_TEXTS + 200)
    assert len(task_profile(task, encoder).texts) == PROFILE_TEXTS
    wide = task_profile(task, Wide())
    assert len(wide.texts) == Wide.hidden_size + 1 == wide.features(None).shape[1] + 1


def test_profile_fields(encoder):
    task = toy_task("toy_parity", n_train=40)
    prompt = np.random.default_rng(0).normal(size=(4, 32)).astype(np.float32)
    profile = task_profile(task, encoder, prompt=prompt, snapshots={2: prompt * 0}, max_texts=25, prompt_steps=7)
    assert profile.name == "toy_parity" and profile.n_train == 40 and profile.tags == ("reasoning",)
    assert len(profile.texts) == 25 and profile.labels.shape == (25,)
    expected = np.asarray(encoder.features(profile.texts)).mean(axis=0)
    np.testing.assert_allclose(profile.text_embedding, expected, rtol=1e-5, atol=1e-6)
    plain, through = profile.features(None), profile.features(prompt)
    assert plain.shape == through.shape == (25, 32)
    assert not np.allclose(plain, through)  # the prompt changes what the backbone reads
    assert profile.prompt_steps == 7 and set(profile.snapshots) == {2}


def test_text_backbone_is_used_for_embeddings(encoder):
    class Constant:
        def features(self, texts, prompt=None):
            return np.ones((len(texts), 5))

    profile = task_profile(toy_task("toy_topic2"), encoder, text_backbone=Constant())
    np.testing.assert_array_equal(profile.text_embedding, np.ones(5, dtype=np.float32))


def test_profiles_feed_the_selectors(encoder):
    same, other = np.eye(4, 32, dtype=np.float32), np.eye(4, 32, k=4, dtype=np.float32)
    sources = [task_profile(toy_task("toy_topic4", n_train=60), encoder, prompt=same * 2),
               task_profile(toy_task("toy_sentiment_food", n_train=90), encoder, prompt=other)]
    target = task_profile(toy_task("toy_topic2"), encoder, prompt=same)

    def scores(name):
        return make_selector(name).fit(sources).score(target)

    np.testing.assert_array_equal(scores("data_size"), [60, 90])
    cosine = [float(s.text_embedding @ target.text_embedding
                    / np.linalg.norm(s.text_embedding) / np.linalg.norm(target.text_embedding)) for s in sources]
    np.testing.assert_allclose(scores("text_embedding"), cosine, rtol=1e-5)
    np.testing.assert_allclose(scores("max_pairwise"), [1.0, 0.0], atol=1e-6)  # the same rows (scaled), then orthogonal
    direct = [logme_score(target.features(s.prompt), target.labels) for s in sources]
    np.testing.assert_allclose(scores("logme"), direct)
    overlap = scores("vocab_overlap")
    assert overlap[0] > overlap[1]  # the topic source shares the target's topic words


def test_mean_embedding_needs_texts(encoder):
    with pytest.raises(ValueError, match="at least one text"):
        mean_embedding(encoder, [])
