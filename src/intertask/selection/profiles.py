"""Building a `TaskProfile` for a task: what every selector needs, from one task and one backbone.

`task_profile(task, backbone, prompt=...)` samples up to `max_texts` training examples
deterministically (same `seed` -> same sample; default `profile_texts(backbone.hidden_size)`:
`PROFILE_TEXTS` = 512, more than the backbone's features so that LogME sees N > D), embeds them with `text_backbone` (default: the
backbone itself; MiniLM's pooled output is a sentence embedding) and averages the embeddings
into the task's `text_embedding` (`[D]`). LogME reads the task through a source prompt lazily:
`profile.features(source_prompt)` = `backbone.features(sampled_texts, prompt=source_prompt)`
(`[N, H]`), aligned with `profile.labels` (`[N]`).

Example
-------
>>> from intertask.backbones import load_backbone
>>> from intertask.tasks.toy import toy_task
>>> profile = task_profile(toy_task("toy_topic2"), load_backbone("tiny-encoder"))
>>> profile.text_embedding.shape, len(profile.texts) == len(profile.labels)
((32,), True)
"""

from __future__ import annotations

import random

import numpy as np

from intertask.selection.base import TaskProfile


PROFILE_TEXTS = 512  # target texts sampled by default: > MiniLM's 384 features


def profile_texts(hidden_size: int) -> int:
    """How many training examples a profile samples by default for a backbone with `hidden_size`
    features: max(PROFILE_TEXTS, hidden_size + 1), so LogME has more examples than features
    (N > D) whenever the task has that many. With N ≤ D the evidence is still exact
    (`selection.logme`) but the reference implementations, which drop a −(D − N)/2 · log α term,
    rank sources differently (even reversed); with N > D they agree.

    >>> profile_texts(384), profile_texts(576)
    (512, 577)
    """
    return max(PROFILE_TEXTS, int(hidden_size) + 1)


def sample_examples(task, max_texts: int = PROFILE_TEXTS, seed: int = 0) -> list:
    """Up to `max_texts` training examples of `task`, a deterministic sample in (task, seed)."""
    train = list(task.train)
    if len(train) <= max_texts:
        return train
    rng = random.Random(f"profile:{task.name}:{seed}")
    keep = sorted(rng.sample(range(len(train)), max_texts))
    return [train[i] for i in keep]


def prompt_array(prompt) -> np.ndarray:
    """A prompt (`[P, H]` torch tensor, any device, or array) as a float32 numpy array."""
    if hasattr(prompt, "detach"):
        prompt = prompt.detach().float().cpu().numpy()
    return np.asarray(prompt, dtype=np.float32)


def example_text(example) -> str:
    """The text an example shows a sentence encoder: `text`, or `"text text_pair"` for pairs."""
    return example.text if not example.text_pair else f"{example.text} {example.text_pair}"


def mean_embedding(backbone, texts: list[str]) -> np.ndarray:
    """Mean of `backbone.features(texts)` over the texts: `[N]` texts -> `[D]` float32."""
    if not texts:
        raise ValueError("mean_embedding needs at least one text")
    features = np.asarray(backbone.features(list(texts)), dtype=np.float64)
    return features.mean(axis=0).astype(np.float32)


def task_profile(
    task,
    backbone,
    prompt: np.ndarray | None = None,
    snapshots: dict[int, np.ndarray] | None = None,
    text_backbone=None,
    max_texts: int | None = None,
    seed: int = 0,
    prompt_steps: int | None = None,
) -> TaskProfile:
    """The `TaskProfile` of `task` read by `backbone`.

    Parameters
    ----------
    task : a validated `Task`.
    backbone : the frozen backbone the prompts belong to (`features(texts, prompt=None)`).
    prompt : `[P, H]` the task's trained prompt (a source's) or short-run prompt (a target's).
    snapshots : `{step: [P, H]}` earlier prompts of the same run, if any.
    text_backbone : the sentence encoder for `text_embedding`; default `backbone`.
    max_texts : at most this many training examples are sampled for texts, labels, embeddings;
        None: `profile_texts(backbone.hidden_size)`.
    seed : the sampling seed (same seed, same sample).
    prompt_steps : training steps behind `prompt` (reported as a selector's `target_steps`).
    """
    if max_texts is None:
        max_texts = profile_texts(backbone.hidden_size)
    examples = sample_examples(task, max_texts=max_texts, seed=seed)
    texts = [example_text(ex) for ex in examples]
    labels = np.asarray([ex.label for ex in examples])
    encoder = text_backbone if text_backbone is not None else backbone

    def features(source_prompt: np.ndarray | None) -> np.ndarray:
        return np.asarray(backbone.features(texts, prompt=source_prompt), dtype=np.float64)

    return TaskProfile(
        name=task.name,
        n_train=len(task.train),
        texts=texts,
        labels=labels,
        tags=tuple(task.tags),
        prompt=None if prompt is None else np.asarray(prompt, dtype=np.float32),
        text_embedding=mean_embedding(encoder, texts),
        features=features,
        snapshots={int(k): np.asarray(v, dtype=np.float32) for k, v in (snapshots or {}).items()},
        prompt_steps=prompt_steps,
    )
