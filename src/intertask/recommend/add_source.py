"""A library that grows source by source, without a study store.

    intertask library create DIR --backbone minilm            # an empty library, the default protocol
    intertask library add-source DIR reviews.csv news.jsonl   # train, profile and add each source

`create_library` writes an empty library: a backbone, the source protocol (manifest
`source_training`: the seeds and the `TrainConfig` of a source run) and the target protocol
(`training`, what recommend's and the history's target runs reuse), both from a study config when
given, else the shipped library's (configs/library.toml).

`add_sources` adds tasks as sources, one at a time. Per source: its seeds train together under
the source protocol (`train_packed`); the seed with the best validation score is the one that
transfers (`LibrarySource.best_seed`), the others are kept as the measured seed spread; then what
the selectors need is computed — the text-embedding centroid and vocabulary (as `library build`
does), the ESM-LogME map when the library's sources carry maps, and the leak check's text
fingerprints when they carry fingerprints (an empty library gets both). The library is then
rewritten with the new source (`write_library`: a temporary sibling renamed into place), so a
killed run keeps every source already added, and a rerun skips the sources the library holds.
Every task is loaded and checked before any training, so a bad name or file costs nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from intertask import __version__
from intertask.errors import IntertaskError
from intertask.paths import utc_now
from intertask.recommend.library import Library, LibrarySource, load_library, vocabulary_counts
from intertask.recommend.library_format import DEFAULT_SOURCE_TRAINING, TRAINING_FIELDS
from intertask.recommend.library_write import check_library_out, write_library
from intertask.tasks.task import TaskKind

DEFAULT_PROMPT_LENGTH = 20
# configs/library.toml's target protocol (TRAINING_FIELDS of its [target_training]): the shipped library's.
DEFAULT_TARGET_TRAINING = {"batch_size": 8, "class_weights": False, "grad_clip": 1.0, "head_init": "probe",
                           "head_lr": 0.01, "init": "vocab", "max_length": 64, "optimizer": "adamw",
                           "prompt_lr": 0.1, "weight_decay": 0.0}


@dataclass
class AddedSources:
    """What `add_sources` did: sources `added` (in order) and `skipped` (already in the library)."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def create_library(out_dir, backbone: str = "minilm", study_config=None, device: str = "cpu") -> Path:
    """Write an empty library for `backbone` at `out_dir` (absent or an empty folder) and return it.

    With `study_config` (a `StudyConfig` or a TOML path) the backbone, prompt length, source
    protocol (its source seeds and source phase) and target protocol (its target phase) are the
    study's; otherwise the default protocol with `DEFAULT_PROMPT_LENGTH` prompt tokens.
    """
    from intertask.backbones import load_backbone
    from intertask.recommend.build import source_protocol
    from intertask.study.config import StudyConfig
    from intertask.study.plan import resolve_train_config

    out = Path(out_dir)
    if check_library_out(out, "library") and any(out.iterdir()):
        raise IntertaskError(f"{str(out)!r} already holds a library; add sources to it with "
                             f"`intertask library add-source {out} TASK`, or choose a new folder")
    prompt_length, protocol, training = DEFAULT_PROMPT_LENGTH, copy.deepcopy(DEFAULT_SOURCE_TRAINING), \
        dict(DEFAULT_TARGET_TRAINING)
    if study_config is not None:
        config = study_config if isinstance(study_config, StudyConfig) else StudyConfig.from_toml(study_config)
        backbone, prompt_length, protocol = config.backbone, config.training.prompt_length, source_protocol(config)
        target = resolve_train_config(config, config.target_training, seed=0, snapshots=False).to_dict()
        training = {k: target[k] for k in TRAINING_FIELDS}
    model = load_backbone(backbone, device=device)  # an unknown backbone fails here; its width goes in the manifest
    library = Library(backbone={"name": backbone, "hidden_size": int(model.hidden_size), "prompt_length": prompt_length},
                      sources=[], training=training, source_training=protocol, created_at=utc_now(),
                      intertask_version=__version__)
    return write_library(library, out, "library")


def source_config(library: Library, seed: int):
    """The `TrainConfig` of one source run of `library` with `seed` (its source protocol)."""
    from intertask.training import TrainConfig

    return TrainConfig.from_dict({**library.source_training["train"], "seed": seed,
                                  "backbone": library.backbone["name"],
                                  "prompt_length": int(library.backbone["prompt_length"])})


def load_source(spec, text_column: str | None = None, label_column: str | None = None):
    """The task named by `spec` (suite name or file), checked to be trainable as a source."""
    from intertask.tasks.registry import get_task

    options = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    task = get_task(str(spec), progress=False, **options).validate()
    if not task.train or not task.validation:
        raise IntertaskError(f"source {task.name!r} needs train and validation examples (the better seed is "
                             "chosen on validation); give it more labelled data")
    if task.kind is TaskKind.CLASSIFICATION and len({ex.label for ex in task.train}) < 2:
        raise IntertaskError(f"source {task.name!r} has a single label in its training data; "
                             "a classifier needs at least two labels")
    return task


def train_source(task, library: Library, backbone, device: str = "cpu", progress=None) -> LibrarySource:
    """`task` as a source of `library`: its seeds trained together under the source protocol, then
    its selector data (centroid, vocabulary; ESM map and fingerprints where the library has them)."""
    from intertask.recommend.build import text_centroid
    from intertask.recommend.esm_maps import source_esm_map
    from intertask.recommend.leakage import has_fingerprints, source_fingerprints
    from intertask.selection.profiles import example_text, prompt_array
    from intertask.training import RunSpec, train_packed

    seeds = library.source_training["seeds"]
    specs = [RunSpec(f"{task.name}-source-seed{seed}", task, source_config(library, seed)) for seed in seeds]
    results = train_packed(specs, backbone, device, progress)
    source = LibrarySource(
        name=task.name, n_train=len(task.train), tags=tuple(task.tags),
        prompts={int(r.seed): prompt_array(r.prompt) for r in results},
        scores={int(r.seed): float(r.validation_score) for r in results},
        text_embedding=text_centroid(task, backbone),
        vocabulary=vocabulary_counts(example_text(ex) for ex in task.train))
    if all(s.esm_map is not None for s in library.sources):
        source.esm_map = source_esm_map(task, backbone, source.prompt)
    if has_fingerprints(library):
        source.fingerprints = source_fingerprints(task)
    return source


def add_sources(library_dir, specs, text_column: str | None = None, label_column: str | None = None,
                device: str = "cpu", progress=None, backbone=None) -> AddedSources:
    """Add the tasks `specs` (suite names or files) to the library at `library_dir` as sources,
    one at a time, each written atomically; tasks the library already holds are skipped.

    `progress(event, done, total)` receives the training steps of each source and, per source
    added, the event `"sources"`. `backbone` (optional) is an already loaded backbone of the
    library's kind. Raises `IntertaskError` for a bad library or task before any training.
    """
    from intertask.backbones import load_backbone

    library = load_library(library_dir)
    if not specs:
        raise IntertaskError("give at least one TASK (a suite name or a CSV/TSV/JSONL/Parquet file) to add")
    tasks = [load_source(spec, text_column, label_column) for spec in specs]
    names = [t.name for t in tasks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise IntertaskError(f"two sources would be named {repeated[0]!r}; rename one of the files")
    report = AddedSources(skipped=[n for n in names if n in library.source_names])
    todo = [t for t in tasks if t.name not in library.source_names]
    if not todo:
        return report
    if backbone is None:
        backbone = load_backbone(library.backbone["name"], device=device)
    elif backbone.name != library.backbone["name"]:
        raise IntertaskError(f"library {str(library_dir)!r} was built for backbone "
                             f"{library.backbone['name']!r}, not {backbone.name!r}")
    for i, task in enumerate(todo):
        library.sources.append(train_source(task, library, backbone, device, progress))
        write_library(library, library_dir, "library")
        report.added.append(task.name)
        if progress:
            progress("sources", i + 1, len(todo))
    return report
