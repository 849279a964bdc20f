"""Look up a task by name or spec, and list the known tasks.

`get_task(spec)` resolves, in order:
1. a toy task name (`intertask.tasks.toy.TOY_TASKS`),
2. an offline-suite name (`intertask.tasks.suite.SUITE_NAMES`; converted on first use),
3. an existing file or folder (`load_file`, with `file_options` such as `text_column`),
4. `hf:NAME[:CONFIG]` (`load_hf`; NAME may be a `save_to_disk` folder).
Anything else raises `IntertaskError` with close toy and suite names.
"""

from __future__ import annotations

from pathlib import Path

from intertask.errors import IntertaskError, did_you_mean
from intertask.tasks.task import SPLITS, Task
from intertask.tasks.toy import TOY_TASKS, toy_task


def known_names() -> tuple[str, ...]:
    """Names `get_task` accepts without a path: toy tasks, then the offline suite."""
    from intertask.tasks.suite import SUITE_NAMES

    return TOY_TASKS + SUITE_NAMES


def get_task(spec: str, progress: bool = True, **file_options) -> Task:
    """The validated `Task` named by `spec` (see the module docstring for the resolution order)."""
    from intertask.tasks.loaders import load_file, load_hf
    from intertask.tasks.suite import SUITE, load_suite_task

    spec = str(spec)
    if spec in TOY_TASKS:
        return toy_task(spec)
    if spec in SUITE:
        return load_suite_task(spec, progress=progress)
    if spec.startswith("hf:"):
        name, _, config = spec[3:].partition(":")
        if not name:
            raise IntertaskError("hf: needs a dataset name, e.g. hf:glue:sst2 or hf:/path/to/saved_dataset")
        if Path(spec[3:]).is_dir():
            name, config = spec[3:], ""
        return load_hf(name, config or None, **file_options)
    if Path(spec).exists():
        return load_file(spec, **file_options)
    looks_like_path = any(c in spec for c in "/\\.")
    hint = did_you_mean(spec, known_names())
    if looks_like_path:
        raise IntertaskError(f"file not found: {spec}; check the path")
    raise IntertaskError(
        f"unknown task {spec!r}{hint}; use a toy or suite name (`intertask tasks list`), a file path, or hf:NAME"
    )


def load_task(name: str, options: dict | None = None) -> Task:
    """`get_task(name, **options)` without progress output: a task named in a study, with the
    loading options the study recorded for it (studies, evaluation and library builds use this)."""
    return get_task(name, progress=False, **(options or {}))


def list_tasks(include_toy: bool = False, prepare: bool = True, progress: bool = True) -> list[dict]:
    """One row per task: name, role (source / target / toy), source, sizes per split, n labels, tags,
    the recorded probe learnability of suite tasks (`suite_learnability`, None for toy tasks), and
    `unavailable`: why a suite task is not converted (its archive cannot be had), else None.

    Suite tasks not yet converted are converted first when `prepare` (one pass over each archive
    that can be had: `prepare_available`); without `prepare` they are listed unconverted.
    """
    from intertask.tasks.suite import SUITE, SUITE_NAMES, is_prepared, prepare_available, suite_learnability, suite_meta

    unavailable = {}
    if prepare and not all(is_prepared(n) for n in SUITE_NAMES):
        unavailable = prepare_available(progress=progress)
    rows = []
    if include_toy:
        for name in TOY_TASKS:
            task = toy_task(name)
            rows.append({"name": name, "role": "toy", "source": task.source, "kind": task.kind.value,
                         "sizes": task.sizes(), "n_labels": task.num_labels, "labels": list(task.labels),
                         "tags": list(task.tags), "metrics": list(task.metrics), "learnability": None,
                         "unavailable": None})
    for name in SUITE_NAMES:
        spec = SUITE[name]
        if not is_prepared(name):
            rows.append({"name": name, "role": spec.role, "source": spec.archive,
                         "kind": None, "sizes": {s: None for s in SPLITS}, "n_labels": None, "labels": [],
                         "tags": list(spec.tags), "metrics": list(spec.metrics),
                         "learnability": suite_learnability(name),
                         "unavailable": unavailable.get(spec.archive, "not converted yet")})
            continue
        meta = suite_meta(name)
        rows.append({"name": name, "role": meta["role"], "source": meta["source"], "kind": meta["kind"],
                     "sizes": {s: meta["sizes"][s] for s in SPLITS}, "n_labels": len(meta["labels"]),
                     "labels": meta["labels"], "tags": list(spec.tags), "metrics": list(spec.metrics),
                     "learnability": suite_learnability(name), "unavailable": None})
    return rows
