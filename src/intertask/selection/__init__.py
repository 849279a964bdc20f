"""Task selection: predict which source task helps a target, one module per method family.

`make_selector(name, **params)` builds a registered method; every selector follows
`intertask.selection.base.Selector`: `fit(sources)`, then `score(target)` -> `[n_sources]`,
higher = predicted more helpful, with `cost_` set after scoring.
"""

from __future__ import annotations

from functools import partial

from intertask.errors import IntertaskError, did_you_mean
from intertask.selection.base import Selector, TaskProfile
from intertask.selection.embedding_free import DataSizeSelector, RandomSelector, VocabOverlapSelector
from intertask.selection.esm_logme import EsmLogMESelector
from intertask.selection.logme import LogMESelector, logme_score
from intertask.selection.prompt_similarity import (
    METHODS as PROMPT_METHODS,
    PromptIndex,
    PromptSimilaritySelector,
)
from intertask.selection.text_embedding import TextEmbeddingSelector

SELECTORS = {
    "random": RandomSelector,
    "data_size": DataSizeSelector,
    "vocab_overlap": VocabOverlapSelector,
    "text_embedding": TextEmbeddingSelector,
    "logme": LogMESelector,
    "esm_logme": EsmLogMESelector,
    **{m: partial(PromptSimilaritySelector, method=m) for m in PROMPT_METHODS},
}


def make_selector(name: str, **params) -> Selector:
    """A new, unfitted selector registered under `name`, built with `params`."""
    if name not in SELECTORS:
        raise IntertaskError(
            f"unknown selection method '{name}'{did_you_mean(name, SELECTORS)}; "
            f"choose from {', '.join(SELECTORS)}"
        )
    try:
        return SELECTORS[name](**params)
    except TypeError as err:
        raise IntertaskError(f"bad parameters for method '{name}': {err}") from None


__all__ = [
    "SELECTORS", "Selector", "TaskProfile", "make_selector", "RandomSelector", "DataSizeSelector",
    "VocabOverlapSelector", "TextEmbeddingSelector", "LogMESelector", "logme_score",
    "PromptSimilaritySelector", "PromptIndex", "PROMPT_METHODS",
]
