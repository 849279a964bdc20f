"""Selectors that need no model: random, data size, vocabulary overlap.

References: Lin et al., "Exploring the Effectiveness and Consistency of Task Selection in
Intermediate-Task Transfer Learning" (ACL SRW 2024, https://arxiv.org/abs/2407.16245), which
uses these as baselines; vocabulary overlap follows Gururangan et al., "Don't Stop Pretraining"
(ACL 2020), as used for task similarity by Vu et al. (EMNLP 2020).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np

from intertask.errors import IntertaskError
from intertask.selection.base import Selector, TaskProfile

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class RandomSelector(Selector):
    """A uniform random score in [0, 1) per source.

    The score of source `s` for target `t` is a hash of `(seed, t, s)` mapped to [0, 1), so it is
    deterministic per (seed, target name), does not depend on the order of the pool, and differs
    between seeds.
    """

    name = "random"
    reference = True

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _score(self, target: TaskProfile) -> np.ndarray:
        def draw(source: str) -> float:
            key = f"{self.seed}\0{target.name}\0{source}".encode()
            value = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
            return value / 2.0**64

        return np.array([draw(name) for name in self.source_names_])


class DataSizeSelector(Selector):
    """Score = the source's number of training examples (larger sources first)."""

    name = "data_size"

    def _score(self, target: TaskProfile) -> np.ndarray:
        return np.array([float(s.n_train) for s in self.sources_])


def ranked_words(texts: list[str]) -> list[tuple[str, int]]:
    """The word types of `texts` with their counts, most frequent first.

    Words are maximal runs of `[a-z0-9]` (with an optional `'suffix`) in the lowercased text;
    frequency ties are broken alphabetically so the order is deterministic.

    >>> ranked_words(["The cat", "the dog", "a Dog"])[:2]
    [('dog', 2), ('the', 2)]
    """
    counts = Counter(w for text in texts for w in _WORD.findall(text.lower()))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def top_words(texts: list[str], top_k: int) -> set[str]:
    """The `top_k` most frequent word types of `texts` (`ranked_words`).

    >>> sorted(top_words(["The cat", "the dog", "a Dog"], 2))
    ['dog', 'the']
    """
    return {word for word, _ in ranked_words(texts)[:top_k]}


class VocabOverlapSelector(Selector):
    """Share of the target's frequent words that are also frequent in the source.

    score(s, t) = |V_s ∩ V_t| / |V_t|, where V_x = `top_words(texts of x, top_k)` (default
    top_k = 1000 lowercased word types, no stop-word removal). A target without any word
    scores 0 for every source.
    """

    name = "vocab_overlap"
    needs_source = ("texts",)
    needs_target = ("texts",)

    def __init__(self, top_k: int = 1000):
        self.top_k = top_k

    def _fit(self, sources: list[TaskProfile]) -> None:
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise IntertaskError(f"vocab_overlap: top_k must be an integer >= 1, got {self.top_k!r}")
        self.vocabularies_ = [top_words(s.texts, self.top_k) for s in sources]

    def _score(self, target: TaskProfile) -> np.ndarray:
        vocab = top_words(target.texts, self.top_k)
        if not vocab:
            return np.zeros(len(self.vocabularies_))
        return np.array([len(v & vocab) / len(vocab) for v in self.vocabularies_])
