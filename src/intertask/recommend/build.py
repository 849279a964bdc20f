"""`build_library`: a source library from a study store, or from a study config run first.

From a store (each of its studies read once, `read_study`): every finished `source` run becomes
one prompt of its source (one per source seed); the sources' text-embedding centroids,
vocabularies and embedding space maps (ESM-LogME) are computed from their tasks (resolved by name
with the studies' task options); finished transfers (the studies' transfer matrices) become the
history, and each historical target's centroid is computed when its task loads.
From a TOML config: the study is run first (`run_study`) into `store_path` (default
`<out_dir>/.store`, kept across rebuilds so an interrupted build resumes).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from intertask import __version__
from intertask.backbones import load_backbone
from intertask.errors import IntertaskError
from intertask.paths import utc_now
from intertask.matrix.table import KEY
from intertask.matrix.transfer import TransferMatrix
from intertask.recommend.esm_maps import source_esm_map
from intertask.recommend.leakage import source_fingerprints
from intertask.recommend.library import (DEFAULT_SOURCE_TRAINING, TRAINING_FIELDS, Library, LibrarySource,
                                         load_library, vocabulary_counts)
from intertask.recommend.library_write import check_library_out, write_library
from intertask.selection.profiles import PROFILE_TEXTS, example_text, mean_embedding, prompt_array, sample_examples
from intertask.study.config import StudyConfig, resolve_train_config
from intertask.study.export import read_study
from intertask.study.runner import run_study
from intertask.study.store import Store
from intertask.tasks.registry import load_task

log = logging.getLogger(__name__)


def text_centroid(task, backbone) -> np.ndarray:
    """The mean text embedding of up to `PROFILE_TEXTS` of the task's examples (the seeded sample
    every profile reads)."""
    examples = sample_examples(task, max_texts=PROFILE_TEXTS, seed=0)
    return mean_embedding(backbone, [example_text(ex) for ex in examples])


def _target_training(store: Store, source_row: dict) -> dict:
    """The `TRAINING_FIELDS` settings of the latest study's target phase (what its baselines and
    transfers trained with), for recommend's own target runs. A store without a readable study config
    falls back to the source run's settings, with a warning: recommend then trains targets on the
    source protocol."""
    try:
        config = StudyConfig.from_json(store.studies()[-1]["config_json"])
        settings = resolve_train_config(config, config.target_training, seed=0, snapshots=False).to_dict()
    except (IndexError, KeyError, ValueError, IntertaskError) as err:
        log.warning("store %s: no readable study config (%s); recommend's target runs will use the source "
                    "runs' training settings", store.path, err)
        settings = json.loads(source_row.get("config_json") or "{}")
    return {k: settings[k] for k in TRAINING_FIELDS if k in settings}


def _history(matrices: list[TransferMatrix], sources: list[str]) -> TransferMatrix:
    """The studies' transfers from the library's `sources` that have a baseline (the first study's row
    where several hold the same one), without the cases whose baseline did not learn (logged)."""
    frames = [m.frame for m in matrices if len(m)]
    if not frames:
        return TransferMatrix.empty()
    frame = pd.concat(frames, ignore_index=True).drop_duplicates(list(KEY))
    matrix = TransferMatrix(frame[frame["source"].isin(sources) & frame["gain"].notna()].reset_index(drop=True))
    floored = matrix.not_learned()
    if floored:
        log.warning("history leaves out %d (target, seed) case(s) whose baseline did not clear its floor: %s",
                    len(floored), ", ".join(f"{t}/{s}" for _, t, s in floored))
    return matrix.learned_only()
def source_protocol(config: StudyConfig) -> dict:
    """The library's source protocol (manifest `source_training`) of a study config: its source
    seeds and the resolved `TrainConfig` of its source phase without seed, backbone and prompt
    length (which the library's backbone sets)."""
    train = resolve_train_config(config, config.source_training, seed=0, snapshots=False).to_dict()
    return {"seeds": list(config.source_seeds),
            "train": {k: v for k, v in train.items() if k not in ("seed", "backbone", "prompt_length")}}


def _store_source_protocol(store: Store) -> dict:
    """The source protocol of the store's latest study (the default when it has no readable config)."""
    try:
        return source_protocol(StudyConfig.from_json(store.studies()[-1]["config_json"]))
    except (IndexError, KeyError, ValueError, IntertaskError):
        return copy.deepcopy(DEFAULT_SOURCE_TRAINING)


def library_from_store(store_path, backbone=None, device: str = "cpu") -> Library:
    """Collect a `Library` (not yet written) from the study store at `store_path`."""
    views = [read_study(store_path, s["name"]) for s in Store(store_path).studies()]  # each read once
    options, where, rows = {}, {}, {}
    for view in views:  # later studies win
        options.update(view.task_options)
        for row in view.runs[view.runs["finished"] & (view.runs["kind"] == "source")].to_dict(orient="records"):
            where[row["run_id"]], rows[row["run_id"]] = view, row
    rows = list(rows.values())
    if not rows:
        raise IntertaskError(f"store {str(store_path)!r} holds no finished source runs; run the study first "
                             "(`intertask study run CONFIG --store PATH`)")
    backbones = sorted({r["backbone"] for r in rows})
    if len(backbones) != 1:
        raise IntertaskError(f"store {str(store_path)!r} mixes backbones {', '.join(backbones)}; "
                             "a library belongs to one backbone")
    if backbone is None:
        backbone = load_backbone(backbones[0], device=device)
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    sources, shape = [], None
    for name in sorted(by_task):
        task = load_task(name, options.get(name))
        prompts = {int(r["seed"]): prompt_array(where[r["run_id"]].artifact(r["run_id"]).prompt)
                   for r in by_task[name]}
        scores = {int(r["seed"]): float(r["validation_score"]) for r in by_task[name]}
        shapes = {p.shape for p in prompts.values()} | ({shape} if shape else set())
        if len(shapes) != 1:
            raise IntertaskError(f"store {str(store_path)!r}: source prompts differ in shape {sorted(shapes)}; "
                                 "build the library from runs with one prompt length")
        shape = next(iter(shapes))
        sources.append(LibrarySource(
            name=name, n_train=len(task.train), tags=tuple(task.tags), prompts=prompts, scores=scores,
            text_embedding=text_centroid(task, backbone),
            vocabulary=vocabulary_counts(example_text(ex) for ex in task.train)))
        sources[-1].esm_map = source_esm_map(task, backbone, sources[-1].prompt)
        sources[-1].fingerprints = source_fingerprints(task)
    history = _history([view.matrix for view in views], sorted(by_task))
    targets = {}
    for name in history.targets:
        try:
            targets[name] = text_centroid(load_task(name, options.get(name)), backbone)
        except IntertaskError as err:
            log.warning("no text-embedding centroid for historical target %s: %s", name, err)
    training = _target_training(Store(store_path), rows[0])
    return Library(backbone={"name": backbones[0], "hidden_size": int(shape[1]), "prompt_length": int(shape[0])},
                   sources=sources, history=history, target_embeddings=targets, training=training,
                   source_training=_store_source_protocol(Store(store_path)), created_at=utc_now(),
                   intertask_version=__version__)


def build_library(store_path_or_config, out_dir, store_path=None, device: str = "cpu", progress=True,
                  backbone=None, with_history: bool = False) -> Path:
    """Build the library at `out_dir` from a study store directory, or from a study TOML config.

    With a config (a `.toml` path or a `StudyConfig`), its source runs are trained first into
    `store_path` (default `<out_dir>/.store`; finished runs are reused), as study
    `<name>-sources`; `with_history=True` runs the whole study instead (baselines and transfers
    too), so the library also carries historical gains. Returns `out_dir`; nothing is written to
    `out_dir` on error. When `out_dir` already holds a library, the history it measured is kept
    for every source whose prompt did not change (`keep_measured_history`).
    """
    check_library_out(Path(out_dir))  # before any training: a bad out_dir must not cost a study
    source = store_path_or_config
    if isinstance(source, StudyConfig) or (isinstance(source, (str, Path)) and Path(source).suffix == ".toml"):
        config = source if isinstance(source, StudyConfig) else StudyConfig.from_toml(source)
        if not with_history:
            config = dataclasses.replace(config, name=f"{config.name}-sources", targets=(), task_options={
                k: v for k, v in config.task_options.items() if k in config.sources})
        store = Path(store_path) if store_path else Path(out_dir) / ".store"
        run_study(config, store, progress=progress)
        source = store
    elif not Path(source).is_dir():
        raise IntertaskError(f"{str(source)!r} is neither a study config (.toml) nor a study store directory")
    library = library_from_store(source, backbone=backbone, device=device)
    if (Path(out_dir) / "manifest.json").is_file():
        keep_measured_history(library, load_library(out_dir))
    return write_library(library, out_dir)


def keep_measured_history(library: Library, previous: Library) -> None:
    """Carry `previous`'s history (rows `library measure` appended) into the rebuilt `library`:
    rows of sources whose transferred prompt is unchanged are kept (the store's own rows win), so
    a rebuild that adds a source leaves only that source's column to measure."""
    unchanged = {s.name for s in library.sources if s.name in previous.source_names
                 and np.array_equal(s.prompt, previous.source(s.name).prompt)}
    kept = previous.history.frame[previous.history.frame["source"].isin(unchanged)]
    if kept.empty:
        return
    merged = pd.concat([library.history.frame, kept], ignore_index=True) if len(library.history) else kept
    library.history = TransferMatrix(merged.drop_duplicates(list(KEY)).reset_index(drop=True))
    for name in kept["target"].unique():
        if name in previous.target_embeddings:
            library.target_embeddings.setdefault(name, previous.target_embeddings[name])
