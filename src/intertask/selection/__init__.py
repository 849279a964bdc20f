"""Task selection: predict which source task helps a target, one module per method family.

`SELECTORS` is the registry (name -> class or factory; a new method is one line there, its facts
are attributes of its class). `make_selector(name, **params)` builds a registered method; every
selector follows `intertask.selection.base.Selector`: `fit(sources)`, then `score(target)` ->
`[n_sources]`, higher = predicted more helpful, with `cost_` set after scoring.
`methods_for(kind)` lists the methods that can score a target of that kind; `PROMPT_METHODS`
compare target prompts (scored per target seed, `@<step>` pins a snapshot); `REFERENCE_METHODS`
are reported but not aggregated.
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
from intertask.tasks.task import TaskKind

SELECTORS = {
    "random": RandomSelector,
    "data_size": DataSizeSelector,
    "vocab_overlap": VocabOverlapSelector,
    "text_embedding": TextEmbeddingSelector,
    "logme": LogMESelector,
    "esm_logme": EsmLogMESelector,
    **{m: partial(PromptSimilaritySelector, method=m) for m in PROMPT_METHODS},
}


def check_method(name: str) -> None:
    """Raise `IntertaskError` naming close registered names when `name` is not registered."""
    if name not in SELECTORS:
        raise IntertaskError(
            f"unknown selection method '{name}'{did_you_mean(name, SELECTORS)}; "
            f"choose from {', '.join(SELECTORS)}"
        )


def selector_class(name: str) -> type[Selector]:
    """The `Selector` subclass registered under `name` (its class attributes are the method's facts)."""
    check_method(name)
    factory = SELECTORS[name]
    return factory.func if isinstance(factory, partial) else factory


REFERENCE_METHODS = tuple(name for name in SELECTORS if selector_class(name).reference)


def methods_for(kind: TaskKind, methods=None) -> list[str]:
    """`methods` (default: every registered one, in registry order), without repeats, less those
    that cannot score a target of `kind`; an unknown name raises with close names."""
    wanted = list(dict.fromkeys(methods if methods is not None else SELECTORS))
    for name in wanted:
        check_method(name)
    return [name for name in wanted if TaskKind(kind) in selector_class(name).task_kinds]


def make_selector(name: str, **params) -> Selector:
    """A new, unfitted selector registered under `name`, built with `params`."""
    check_method(name)
    try:
        return SELECTORS[name](**params)
    except TypeError as err:
        raise IntertaskError(f"bad parameters for method '{name}': {err}") from None


__all__ = [
    "SELECTORS", "REFERENCE_METHODS", "Selector", "TaskProfile", "check_method", "make_selector", "methods_for",
    "selector_class", "RandomSelector", "DataSizeSelector", "VocabOverlapSelector", "TextEmbeddingSelector", "LogMESelector", "logme_score",
    "PromptSimilaritySelector", "PromptIndex", "PROMPT_METHODS",
]
