"""Tiny synthetic tasks, made in memory from word lists: for tests and for trying the tool in seconds.

Sentences mix filler words with a few signal words; the label is a function of the signal words.
Related toy tasks share signal words (the sentiment pair, the topic pair), so transfer between
them is real and measurable, while `toy_parity` needs counting and is tagged `reasoning`.
Everything is deterministic in (name, seed).
"""

from __future__ import annotations

import random

from intertask.errors import IntertaskError, did_you_mean
from intertask.tasks.task import Example, Task, TaskKind

_FILLER = "the a this that it was is very quite rather some my our their on in at with of".split()
_POSITIVE = "good great excellent lovely superb fine happy pleasant wonderful bright".split()
_NEGATIVE = "bad awful terrible poor sad dull horrible nasty gloomy weak".split()
_TOPICS = {
    "sport": "match goal team player score coach league ball".split(),
    "food": "pizza bread cheese soup salad sugar pepper rice".split(),
    "music": "song guitar piano melody drum band chord singer".split(),
    "travel": "train airport hotel ticket beach map passport flight".split(),
}


def _sentence(rng: random.Random, signal: list[str], n_signal: int = 2, length: int = 9) -> str:
    words = [rng.choice(_FILLER) for _ in range(length - n_signal)] + [rng.choice(signal) for _ in range(n_signal)]
    rng.shuffle(words)
    return " ".join(words)


def _sentiment(rng: random.Random, topics: list[str]) -> tuple[str, int]:
    label = rng.randrange(2)
    words = _sentence(rng, _POSITIVE if label else _NEGATIVE).split()
    words.insert(rng.randrange(len(words)), rng.choice(_TOPICS[rng.choice(topics)]))
    return " ".join(words), label


def _topic(rng: random.Random, topics: list[str]) -> tuple[str, int]:
    label = rng.randrange(len(topics))
    return _sentence(rng, _TOPICS[topics[label]], n_signal=3), label


def _parity(rng: random.Random, topics: list[str]) -> tuple[str, int]:
    n_positive = rng.randrange(0, 4)
    words = [rng.choice(_FILLER) for _ in range(7)] + [rng.choice(_POSITIVE) for _ in range(n_positive)]
    rng.shuffle(words)
    return " ".join(words), n_positive % 2


# name -> (generator, label names, generator topics, tags)
_SPECS = {
    "toy_sentiment_food": (_sentiment, ("negative", "positive"), ["food"], ("sentiment",)),
    "toy_sentiment_travel": (_sentiment, ("negative", "positive"), ["travel"], ("sentiment",)),
    "toy_topic4": (_topic, tuple(_TOPICS), list(_TOPICS), ("topic",)),
    "toy_topic2": (_topic, ("sport", "music"), ["sport", "music"], ("topic",)),
    "toy_parity": (_parity, ("even", "odd"), [], ("reasoning",)),
}
TOY_TASKS = tuple(_SPECS)


def toy_task(name: str, n_train: int = 64, n_eval: int = 32, seed: int = 0) -> Task:
    """A synthetic classification task with `n_train` train and `n_eval` validation/test examples."""
    if name not in _SPECS:
        raise IntertaskError(f"unknown toy task {name!r}{did_you_mean(name, _SPECS)}")
    make, labels, topics, tags = _SPECS[name]
    rng = random.Random(f"{name}:{seed}")

    def split(n: int) -> list[Example]:
        return [Example(text, label) for text, label in (make(rng, topics) for _ in range(n))]

    return Task(
        name=name,
        kind=TaskKind.CLASSIFICATION,
        train=split(n_train),
        validation=split(n_eval),
        test=split(n_eval),
        labels=labels,
        metrics=("accuracy",),
        tags=tags,
        source="toy",
        description="synthetic toy task made in memory",
    ).validate()
