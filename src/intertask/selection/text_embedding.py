"""Text embeddings: cosine between mean sentence embeddings of two tasks' examples.

Reference: Vu et al., "Exploring and Predicting Transferability across NLP Tasks" (EMNLP 2020,
https://arxiv.org/abs/2005.00770), TextEmb; here the sentence encoder is MiniLM and the task
embedding (`TaskProfile.text_embedding`, `[D]`) is the mean of its examples' embeddings.
"""

from __future__ import annotations

import numpy as np

from intertask.errors import IntertaskError
from intertask.selection.base import Selector, TaskProfile


def cosine_scores(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """cos(matrix[i], vector) for each row: `[S, D]`, `[D]` -> `[S]`; a zero vector gives 0."""
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    dots = matrix @ vector
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


class TextEmbeddingSelector(Selector):
    """score(s, t) = cos(e_s, e_t) with e_x = `TaskProfile.text_embedding` (`[D]`)."""

    name = "text_embedding"
    needs_source = ("text_embedding",)
    needs_target = ("text_embedding",)

    def _fit(self, sources: list[TaskProfile]) -> None:
        dims = {np.shape(s.text_embedding) for s in sources}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise IntertaskError(
                f"text_embedding: every source embedding must be one vector of the same size; "
                f"got shapes {sorted(dims)}"
            )
        self.embeddings_ = np.stack([np.asarray(s.text_embedding, np.float64) for s in sources])

    def _score(self, target: TaskProfile) -> np.ndarray:
        vector = np.asarray(target.text_embedding, np.float64)
        if vector.shape != self.embeddings_.shape[1:]:
            raise IntertaskError(
                f"text_embedding: target '{target.name}' embedding has shape {vector.shape}, "
                f"sources have {self.embeddings_.shape[1:]}; embed all tasks with the same encoder"
            )
        return cosine_scores(self.embeddings_, vector)
